"""Custom key store rows: lookups, the checks CreateCustomKeyStore and UpdateCustomKeyStore make against the
cluster, the list entry, and the kmsuser password (stored only wrapped by the KMS domain key).

https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateCustomKeyStore.html (spec 3.1–3.2, 3.7–3.8).
"""

from __future__ import annotations

import secrets
from typing import Any

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from hsmsim.cloudhsm.enums import ClusterState, HsmState
from hsmsim.cloudhsm.models import Cluster
from kms.domainkey import DomainKey
from kms.enums import ConnectionState, CustomKeyStoreType
from kms.errors import (
    CloudHsmClusterInUseException,
    CloudHsmClusterInvalidConfigurationException,
    CloudHsmClusterNotActiveException,
    CloudHsmClusterNotFoundException,
    CustomKeyStoreInvalidStateException,
    CustomKeyStoreNotFoundException,
    IncorrectTrustAnchorException,
)
from kms.models import KmsCustomKeyStore

MAX_STORES = 10
"""Custom key stores per account and Region (any type, any state; not adjustable)."""
ACTIVE_CLUSTER_STATES = {ClusterState.ACTIVE, ClusterState.MODIFY_IN_PROGRESS, ClusterState.ROLLBACK_IN_PROGRESS,
                         ClusterState.UPDATE_IN_PROGRESS, ClusterState.DEGRADED}


def new_store_id() -> str:
    return "cks-" + secrets.token_hex(9)[:17]


def password_context(store_id: str) -> bytes:
    return f"kms-keystore-password/{store_id}".encode()


def wrap_password(domain_key: DomainKey, store_id: str, password: str) -> bytes:
    return domain_key.wrap(password.encode(), password_context(store_id))


def unwrap_password(domain_key: DomainKey, store: KmsCustomKeyStore) -> str:
    assert store.wrapped_password is not None
    return domain_key.unwrap(store.wrapped_password, password_context(store.custom_key_store_id)).decode()


def get_store(session: Session, account_id: str, region: str, store_id: str) -> KmsCustomKeyStore:
    store = session.get(KmsCustomKeyStore, store_id)
    if store is None or (store.account_id, store.region) != (account_id, region):
        raise CustomKeyStoreNotFoundException(f"Custom key store '{store_id}' does not exist in this account and region.")
    return store


def stores_of(session: Session, account_id: str, region: str) -> list[KmsCustomKeyStore]:
    return list(session.scalars(select(KmsCustomKeyStore).where(
        KmsCustomKeyStore.account_id == account_id, KmsCustomKeyStore.region == region)
        .order_by(KmsCustomKeyStore.created_seq)))


def require_state(store: KmsCustomKeyStore, allowed: set[ConnectionState], operation: str) -> None:
    """CustomKeyStoreInvalidStateException (spec 3.8) unless the store is in one of ``allowed``."""
    if store.state not in allowed:
        wanted = " or ".join(sorted(s.value for s in allowed))
        raise CustomKeyStoreInvalidStateException(
            f"{operation} cannot run on custom key store {store.custom_key_store_id}: its connection state is "
            f"{store.state.value}, and it must be {wanted}.")


def entry(store: KmsCustomKeyStore) -> dict[str, Any]:
    """A CustomKeyStoresListEntry: ConnectionErrorCode only while FAILED; never the password."""
    result: dict[str, Any] = {
        "CustomKeyStoreId": store.custom_key_store_id,
        "CustomKeyStoreName": store.name,
        "ConnectionState": store.state.value,
        "CreationDate": store.created_at,
        "CustomKeyStoreType": store.store_type.value,
    }
    if store.store_type is CustomKeyStoreType.AWS_CLOUDHSM:
        result["CloudHsmClusterId"] = store.cluster_id
        result["TrustAnchorCertificate"] = store.trust_anchor_pem
    if store.state is ConnectionState.FAILED and store.error_code is not None:
        result["ConnectionErrorCode"] = store.error_code.value
    return result


# -- the cluster -----------------------------------------------------------------------------------------------


def find_cluster(session: Session, account_id: str, region: str, cluster_id: str) -> Cluster | None:
    cluster = session.get(Cluster, cluster_id)
    if cluster is None or (cluster.account_id, cluster.region) != (account_id, region):
        return None
    if cluster.state in (ClusterState.DELETED, ClusterState.DELETE_IN_PROGRESS):
        return None
    return cluster


def _certificate(pem: str | None) -> bytes | None:
    """A certificate's DER, or None if ``pem`` is not one (PEM text compared as certificates, not as text)."""
    if not pem:
        return None
    try:
        return x509.load_pem_x509_certificate(pem.encode()).tbs_certificate_bytes
    except (ValueError, TypeError):
        return None


def related(first: Cluster, second: Cluster) -> bool:
    """Two clusters share a backup history when they have the same cluster certificate (spec 3.2 step 6)."""
    mine = _certificate(first.cluster_certificate_pem)
    return mine is not None and mine == _certificate(second.cluster_certificate_pem)


def active_zones(cluster: Cluster) -> set[str]:
    return {h.availability_zone for h in cluster.hsms if h.state is HsmState.ACTIVE}


def check_configuration(cluster: Cluster) -> None:
    """≥2 ACTIVE HSMs in different Availability Zones, private subnets in ≥2 zones (spec 3.2 step 9)."""
    if len(set(cluster.subnet_mapping)) < 2:
        raise CloudHsmClusterInvalidConfigurationException(
            f"The CloudHSM cluster {cluster.cluster_id} must have private subnets in at least two Availability Zones.")
    if len(active_zones(cluster)) < 2:
        raise CloudHsmClusterInvalidConfigurationException(
            f"The CloudHSM cluster {cluster.cluster_id} must contain active HSMs in at least two Availability Zones.")


def check_cluster(session: Session, account_id: str, region: str, cluster_id: str, *,
                  store_id: str | None, trust_anchor: str | None) -> Cluster:
    """The cluster a store may use: found, not used by (nor related to the cluster of) another store, ACTIVE, with
    ``trust_anchor`` (if given) as its trust anchor, and configured for KMS."""
    cluster = find_cluster(session, account_id, region, cluster_id)
    if cluster is None:
        raise CloudHsmClusterNotFoundException(f"AWS CloudHSM cluster {cluster_id} not found.")
    # "already associated with a custom key store in the account, or shares a backup history with [one] in the
    # account" (CloudHsmClusterInUseException, CreateCustomKeyStore API reference): other accounts' stores do not count.
    in_account = select(KmsCustomKeyStore).where(KmsCustomKeyStore.account_id == account_id,
                                                 KmsCustomKeyStore.region == region,
                                                 KmsCustomKeyStore.cluster_id.is_not(None))
    for other in session.scalars(in_account):
        if other.custom_key_store_id == store_id:
            continue
        if other.cluster_id == cluster_id:
            raise CloudHsmClusterInUseException(
                f"AWS CloudHSM cluster {cluster_id} is already associated with custom key store "
                f"{other.custom_key_store_id}.")
        used = session.get(Cluster, other.cluster_id)
        if used is not None and related(cluster, used):
            raise CloudHsmClusterInUseException(
                f"AWS CloudHSM cluster {cluster_id} shares a backup history with cluster {used.cluster_id}, which "
                f"is associated with custom key store {other.custom_key_store_id}.")
    if cluster.state not in ACTIVE_CLUSTER_STATES:
        raise CloudHsmClusterNotActiveException(
            f"AWS CloudHSM cluster {cluster_id} is {cluster.state.value}; it must be ACTIVE (initialized and "
            "activated).")
    if trust_anchor is not None:
        given = _certificate(trust_anchor)
        if given is None or given != _certificate(cluster.trust_anchor_pem):
            raise IncorrectTrustAnchorException(
                f"The trust anchor certificate in the request is not the trust anchor certificate of AWS CloudHSM "
                f"cluster {cluster_id}.")
    check_configuration(cluster)
    return cluster
