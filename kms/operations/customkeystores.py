"""The six custom key store operations, for stores of type AWS_CLOUDHSM (kms.keystores).

https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateCustomKeyStore.html, API_ConnectCustomKeyStore.html,
API_DisconnectCustomKeyStore.html, API_UpdateCustomKeyStore.html, API_DeleteCustomKeyStore.html,
API_DescribeCustomKeyStores.html (spec 3). External key stores (XKS) come with their own issue: they answer
UnsupportedOperationException, and XKS-only members on a CloudHSM store are a ValidationException.
"""

from __future__ import annotations

import hmac
from typing import Any

from sqlalchemy import func, select

from hsmsim.aws.context import RequestContext
from hsmsim.aws.errors import ValidationException
from hsmsim.cloudhsm.models import Backup, Cluster
from kms.enums import ConnectionState, CustomKeyStoreType
from kms.errors import (
    CloudHsmClusterNotActiveException,
    CloudHsmClusterNotFoundException,
    CloudHsmClusterNotRelatedException,
    CustomKeyStoreHasCMKsException,
    CustomKeyStoreNameInUseException,
    CustomKeyStoreNotFoundException,
    LimitExceededException,
    UnsupportedOperationException,
)
from kms.keystores import connection
from kms.keystores.backing import store_has_keys
from kms.keystores.stores import (
    ACTIVE_CLUSTER_STATES,
    MAX_STORES,
    check_cluster,
    entry,
    find_cluster,
    get_store,
    new_store_id,
    related,
    require_state,
    stores_of,
    unwrap_password,
    wrap_password,
)
from kms.models import KmsCustomKeyStore
from kms.operations.base import OperationsBase
from kms.paging import page_of

XKS_UNSUPPORTED = ("External key stores (CustomKeyStoreType EXTERNAL_KEY_STORE) are not supported by this hsmsim "
                   "version; AWS CloudHSM key stores are.")
XKS_MEMBERS = ("xks_proxy_uri_endpoint", "xks_proxy_uri_path", "xks_proxy_vpc_endpoint_service_name",
               "xks_proxy_vpc_endpoint_service_owner", "xks_proxy_authentication_credential", "xks_proxy_connectivity")
_WIRE = {m: "".join(p.capitalize() for p in m.split("_")) for m in XKS_MEMBERS}


def _no_xks(given: dict[str, Any]) -> None:
    present = [name for name in XKS_MEMBERS if given.get(name) is not None]
    if present:
        names = ", ".join(_WIRE[n] for n in present)
        raise ValidationException(f"{names} can be specified only for a custom key store of type EXTERNAL_KEY_STORE.")


def _required(value: str | None, member: str) -> str:
    if value is None:
        raise ValidationException(
            f"{member} is required when CustomKeyStoreType is AWS_CLOUDHSM (the default).")
    return value


class CustomKeyStoreOperations(OperationsBase):
    def _store(self, ctx: RequestContext, store_id: str) -> KmsCustomKeyStore:
        return get_store(self.session, ctx.account_id, ctx.region, store_id)

    @staticmethod
    def _name_free(stores: list[KmsCustomKeyStore], name: str, store_id: str | None = None) -> None:
        """``stores``: the account and region's (the name is unique among them)."""
        if any(s.name == name and s.custom_key_store_id != store_id for s in stores):
            raise CustomKeyStoreNameInUseException(
                f"A custom key store named '{name}' already exists in this account and region.")

    def create_custom_key_store(
        self, ctx: RequestContext, *, custom_key_store_name: str, cloud_hsm_cluster_id: str | None = None,
        trust_anchor_certificate: str | None = None, key_store_password: str | None = None,
        custom_key_store_type: str | None = None, **xks: Any,
    ) -> dict[str, Any]:
        if custom_key_store_type == CustomKeyStoreType.EXTERNAL_KEY_STORE.value:
            raise UnsupportedOperationException(XKS_UNSUPPORTED)
        _no_xks(xks)
        cluster_id = _required(cloud_hsm_cluster_id, "CloudHsmClusterId")
        anchor = _required(trust_anchor_certificate, "TrustAnchorCertificate")
        password = _required(key_store_password, "KeyStorePassword")
        session, domain_key = self.session, self.runtime.domain_key
        existing = stores_of(session, ctx.account_id, ctx.region)
        for store in existing:  # the idempotent retry (spec 3.2 step 2)
            if (store.state is ConnectionState.DISCONNECTED and store.name == custom_key_store_name
                    and store.cluster_id == cluster_id and store.trust_anchor_pem == anchor
                    and hmac.compare_digest(unwrap_password(domain_key, store), password)):
                return {"CustomKeyStoreId": store.custom_key_store_id}
        self._name_free(existing, custom_key_store_name)
        if len(existing) >= MAX_STORES:
            raise LimitExceededException(
                f"This account and region already have {MAX_STORES} custom key stores, the most AWS KMS allows.")
        check_cluster(session, ctx.account_id, ctx.region, cluster_id, store_id=None, trust_anchor=anchor)
        store_id = new_store_id()
        seq = session.scalar(select(func.coalesce(func.max(KmsCustomKeyStore.created_seq), 0))) or 0
        session.add(KmsCustomKeyStore(
            custom_key_store_id=store_id, account_id=ctx.account_id, region=ctx.region, name=custom_key_store_name,
            store_type=CustomKeyStoreType.AWS_CLOUDHSM, created_at=self.now(), created_seq=seq + 1,
            cluster_id=cluster_id, trust_anchor_pem=anchor, state=ConnectionState.DISCONNECTED,
            wrapped_password=wrap_password(domain_key, store_id, password)))
        self.runtime.next_passwords.prepare()  # a connection will follow: its rotated password is made meanwhile
        return {"CustomKeyStoreId": store_id}

    def describe_custom_key_stores(
        self, ctx: RequestContext, *, custom_key_store_id: str | None = None,
        custom_key_store_name: str | None = None, limit: int | None = None, marker: str | None = None,
    ) -> dict[str, Any]:
        stores = stores_of(self.session, ctx.account_id, ctx.region)
        if custom_key_store_id is not None and custom_key_store_name is not None:
            raise ValidationException("Specify either CustomKeyStoreId or CustomKeyStoreName, not both.")
        if custom_key_store_id is not None or custom_key_store_name is not None:
            stores = [s for s in stores if s.custom_key_store_id == custom_key_store_id
                      or s.name == custom_key_store_name]
            if not stores:
                raise CustomKeyStoreNotFoundException(
                    f"Custom key store '{custom_key_store_id or custom_key_store_name}' does not exist in this account "
                    "and region.")
        page, more = page_of(stores, limit, marker)
        return {"CustomKeyStores": [entry(s) for s in page], **more}

    def connect_custom_key_store(self, ctx: RequestContext, *, custom_key_store_id: str) -> dict[str, Any]:
        """Returns at once; the connection runs on the simulated clock (kms.keystores.connection). A cluster that
        exists but is not active is refused synchronously; anything else is found by the sequence."""
        store = self._store(ctx, custom_key_store_id)
        if store.state in (ConnectionState.CONNECTED, ConnectionState.CONNECTING):
            return {}
        require_state(store, {ConnectionState.DISCONNECTED}, "ConnectCustomKeyStore")
        cluster = find_cluster(self.session, ctx.account_id, ctx.region, store.cluster_id or "")
        if cluster is not None and cluster.state not in ACTIVE_CLUSTER_STATES:
            raise CloudHsmClusterNotActiveException(
                f"AWS CloudHSM cluster {cluster.cluster_id} is {cluster.state.value}; it must be ACTIVE.")
        self.runtime.lifecycle.enter(store, ConnectionState.CONNECTING, self.now())
        store.error_code = None
        return {}

    def disconnect_custom_key_store(self, ctx: RequestContext, *, custom_key_store_id: str) -> dict[str, Any]:
        store = self._store(ctx, custom_key_store_id)
        require_state(store, {ConnectionState.CONNECTED, ConnectionState.CONNECTING, ConnectionState.FAILED},
                      "DisconnectCustomKeyStore")
        connection.start_disconnect(self.step, store)
        return {}

    def delete_custom_key_store(self, ctx: RequestContext, *, custom_key_store_id: str) -> dict[str, Any]:
        store = self._store(ctx, custom_key_store_id)
        require_state(store, {ConnectionState.DISCONNECTED}, "DeleteCustomKeyStore")
        if store_has_keys(self.session, store.custom_key_store_id):
            raise CustomKeyStoreHasCMKsException(
                f"Custom key store {store.custom_key_store_id} still has KMS keys (keys pending deletion count): "
                "delete them and wait for the end of their waiting period first.")
        self.session.delete(store)
        return {}

    def update_custom_key_store(
        self, ctx: RequestContext, *, custom_key_store_id: str, new_custom_key_store_name: str | None = None,
        key_store_password: str | None = None, cloud_hsm_cluster_id: str | None = None, **xks: Any,
    ) -> dict[str, Any]:
        """The name while CONNECTED or DISCONNECTED; the password and the cluster only while DISCONNECTED, and
        only a cluster related to the current one (same cluster certificate: e.g. one made from its backup)."""
        store = self._store(ctx, custom_key_store_id)
        _no_xks(xks)
        offline = key_store_password is not None or cloud_hsm_cluster_id is not None
        require_state(store, {ConnectionState.DISCONNECTED} if offline else
                      {ConnectionState.DISCONNECTED, ConnectionState.CONNECTED}, "UpdateCustomKeyStore")
        if new_custom_key_store_name is not None:
            self._name_free(stores_of(self.session, ctx.account_id, ctx.region), new_custom_key_store_name,
                            store.custom_key_store_id)
        if cloud_hsm_cluster_id is not None and cloud_hsm_cluster_id != store.cluster_id:
            session = self.session
            new = find_cluster(session, ctx.account_id, ctx.region, cloud_hsm_cluster_id)
            if new is None:
                raise CloudHsmClusterNotFoundException(f"AWS CloudHSM cluster {cloud_hsm_cluster_id} not found.")
            current = session.get(Cluster, store.cluster_id)  # a deleted cluster's certificate still counts
            backup = session.get(Backup, new.source_backup_id) if new.source_backup_id else None
            from_backup = backup is not None and store.cluster_id in (backup.cluster_id, backup.source_cluster)
            if not from_backup and (current is None or not related(current, new)):
                raise CloudHsmClusterNotRelatedException(
                    f"AWS CloudHSM cluster {cloud_hsm_cluster_id} is not related to cluster {store.cluster_id}: it "
                    "must share its cluster certificate (for example, a cluster created from a backup of it).")
            check_cluster(session, ctx.account_id, ctx.region, cloud_hsm_cluster_id,
                          store_id=store.custom_key_store_id, trust_anchor=None)
            store.cluster_id = cloud_hsm_cluster_id
        if new_custom_key_store_name is not None:
            store.name = new_custom_key_store_name
        if key_store_password is not None:
            store.wrapped_password = wrap_password(self.runtime.domain_key, store.custom_key_store_id,
                                                   key_store_password)
        return {}
