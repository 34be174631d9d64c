"""Backing keys: the AES-256 keys in the CloudHSM cluster behind AWS_CLOUDHSM KMS keys (spec 4.2, 4.5, 4.6).

KMS, logged in as ``kmsuser``, generates each backing key in the cluster through the CloudHSM key store
(:func:`hsmsim.cloudhsm.keystore.generate_symmetric`): a persistent, sensitive, non-extractable AES-256 secret key
labelled with the KMS key ARN, owned by kmsuser, on every ACTIVE HSM before CreateKey returns. Encrypt and Decrypt
run AES-GCM *inside* an HSM's token (:class:`HsmAead`, a drop-in for the AESGCM the ciphertext blob uses); the key
bytes never leave PKCS#11. The hot path keeps pooled sessions and, in each, a session-object copy of the backing
key made inside the token (:mod:`kms.keystores.backing_handles`), never the key bytes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from pkcs11 import Mechanism
from pkcs11.exceptions import PKCS11Error
from pkcs11.mechanisms import GCMParams
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hsmsim.aws.errors import ServiceError
from hsmsim.cloudhsm import keystore
from hsmsim.cloudhsm import keytokens as kt
from hsmsim.cloudhsm.enums import HsmState
from hsmsim.cloudhsm.models import Cluster, HsmKey, HsmKeyShare, HsmUser
from hsmsim.cloudhsm.runtime import Step as CloudStep
from hsmsim.hsm import HSMError, SoftHSM
from kms.enums import ConnectionState
from kms.errors import KMSInternalException, KMSInvalidStateException
from kms.identifiers import new_material_id
from kms.keystores.backing_handles import Handles
from kms.keystores.sessions import KMSUSER
from kms.models import KmsBackingKey, KmsCustomKeyStore, KmsKey
from kms.runtime import KMSRuntime, Step

log = logging.getLogger(__name__)

BACKING_ATTRIBUTES = {"encrypt": True, "decrypt": True, "sign": False, "verify": False, "extractable": False,
                      "sensitive": True}
"""Spec 4.2: CKA_TOKEN, CKA_PRIVATE (the template's), sensitive, not extractable, encrypt and decrypt."""


def unreachable(cluster_id: str | None) -> KMSInvalidStateException:
    return KMSInvalidStateException(
        f"KMS cannot communicate with your AWS CloudHSM cluster {cluster_id}: it has no ACTIVE HSM that holds the "
        "key material.")


def serials_of(cluster: Cluster | None) -> tuple[str, ...]:
    return tuple(h.token_serial for h in cluster.hsms if h.state is HsmState.ACTIVE) if cluster else ()


@dataclass(frozen=True)
class HsmBacking:
    """What the cryptographic operations need of a backing key: where it is (no key bytes)."""

    cluster_id: str | None
    key_reference: str | None
    """None: the backing key's row is gone (deleted out of band by kmsuser)."""
    backing_key_id: str
    serials: tuple[str, ...]


class BackingMaterials(Mapping[str, bytes]):
    """A KeyView's materials for a backed key: the one backing key id, whose bytes are never in memory."""

    def __init__(self, backing_key_id: str) -> None:
        self._id = backing_key_id

    def __getitem__(self, material_id: str) -> bytes:
        raise KeyError("the key material of an AWS_CLOUDHSM key never leaves the HSM")

    def __contains__(self, material_id: object) -> bool:
        return material_id == self._id

    def __iter__(self) -> Iterator[str]:
        return iter((self._id,))

    def __len__(self) -> int:
        return 1


class HsmAead:
    """AES-GCM in an ACTIVE HSM's token with the backing key; the next HSM serves if one is gone."""

    def __init__(self, hsm: SoftHSM, handles: Handles, backing: HsmBacking) -> None:
        self._hsm, self._handles, self._backing = hsm, handles, backing
        self._cka_id = kt.key_id(backing.key_reference) if backing.key_reference is not None else None

    def _run(self, decrypting: bool, iv: bytes, data: bytes, aad: bytes) -> bytes:
        backing, cka_id = self._backing, self._cka_id
        if cka_id is None or not backing.serials:
            raise unreachable(backing.cluster_id)
        params = GCMParams(iv, aad, 128)
        for serial in backing.serials:
            try:
                with self._hsm.session(serial) as session:
                    try:
                        key = self._handles.key(session, backing.backing_key_id, cka_id)
                    except PKCS11Error:
                        continue  # not on this HSM (deleted out of band): try the next
                    try:
                        if decrypting:
                            return bytes(key.decrypt(data, mechanism=Mechanism.AES_GCM, mechanism_param=params))
                        return bytes(key.encrypt(data, mechanism=Mechanism.AES_GCM, mechanism_param=params))
                    except PKCS11Error as error:
                        self._handles.drop(session, backing.backing_key_id)
                        if decrypting:
                            raise InvalidTag() from error
                        log.warning("AES-GCM failed on HSM token %s: %r", serial, error)
            except HSMError as error:  # the HSM's token is gone: the next ACTIVE HSM serves
                log.info("HSM token %s unusable for KMS: %s", serial, error)
        raise unreachable(backing.cluster_id)

    def encrypt(self, iv: bytes, data: bytes, aad: bytes) -> bytes:
        return self._run(False, iv, data, aad)

    def decrypt(self, iv: bytes, data: bytes, aad: bytes) -> bytes:
        return self._run(True, iv, data, aad)


# -- in a unit of work --------------------------------------------------------------------------------------------


def backing_of(session: Session, key: KmsKey) -> HsmBacking:
    row = session.get(KmsBackingKey, key.arn)
    store = session.get(KmsCustomKeyStore, key.custom_key_store_id)
    cluster_id = store.cluster_id if store else None
    cluster = session.get(Cluster, cluster_id) if cluster_id else None
    reference = row.key_reference if row else None
    if reference is not None and cluster_id and session.get(HsmKey, (cluster_id, reference)) is None:
        reference = None
    return HsmBacking(cluster_id=cluster_id, key_reference=reference,
                      backing_key_id=row.backing_key_id if row else new_material_id(), serials=serials_of(cluster))


def create_backing_key(step: Step, store: KmsCustomKeyStore, key: KmsKey) -> KmsBackingKey:
    """Generate the backing key in the cluster as kmsuser (on every ACTIVE HSM before this returns)."""
    cloud = CloudStep(step.runtime.cloudhsm, step.uow)
    user = step.session.get(HsmUser, (store.cluster_id, KMSUSER))
    if user is None:
        raise unreachable(store.cluster_id)
    try:
        made = keystore.generate_symmetric(cloud, user, "aes", key.arn, 32, dict(BACKING_ATTRIBUTES), [])
    except ServiceError as error:
        log.error("backing key for %s not created in %s: %s", key.arn, store.cluster_id, error.message)
        raise KMSInternalException(f"KMS could not create the key material in AWS CloudHSM cluster "
                                   f"{store.cluster_id}.") from error
    row = KmsBackingKey(key_arn=key.arn, custom_key_store_id=store.custom_key_store_id,
                        key_reference=made["key"]["key-reference"], backing_key_id=new_material_id())
    step.session.add(row)
    return row


def delete_backing_key(step: Step, key: KmsKey) -> bool:
    """Best effort, at the end of the waiting period (spec 4.5): only through a CONNECTED store whose cluster has an
    ACTIVE HSM; otherwise the material stays in the cluster, orphaned. Never from backups."""
    session = step.session
    row = session.get(KmsBackingKey, key.arn)
    if row is None:
        return False
    session.delete(row)
    handles, backing_key_id = step.runtime.handles, row.backing_key_id
    step.uow.after_commit(lambda: handles.forget(backing_key_id))  # the hot path's session copies go too
    store = session.get(KmsCustomKeyStore, row.custom_key_store_id)
    if store is None or store.state is not ConnectionState.CONNECTED or store.cluster_id is None:
        log.warning("backing key %s of %s left in its cluster: the store is not connected", row.key_reference, key.arn)
        return False
    cluster = session.get(Cluster, store.cluster_id)
    serials = serials_of(cluster)
    owned = session.get(HsmKey, (store.cluster_id, row.key_reference))
    if not serials or owned is None or owned.owner != KMSUSER:
        return False
    session.execute(delete(HsmKeyShare).where(HsmKeyShare.cluster_id == store.cluster_id,
                                              HsmKeyShare.key_reference == row.key_reference))
    session.delete(owned)
    replicator, cluster_id, reference = step.runtime.cloudhsm.replicator, store.cluster_id, row.key_reference

    def destroy() -> None:  # after the commit: a crash before it leaves an object with no row, which drift removes
        try:
            replicator.write(cluster_id, serials, lambda s: kt.destroy(s, reference, kt.SECRET))
        except (PKCS11Error, HSMError, RuntimeError) as error:
            log.warning("backing key %s not destroyed in %s (drift repair will): %r", reference, cluster_id, error)

    step.uow.after_commit(destroy)
    return True


def random_from_cluster(runtime: KMSRuntime, session: Session, store: KmsCustomKeyStore, size: int) -> bytes:
    """GenerateRandom with CustomKeyStoreId: C_GenerateRandom in an ACTIVE HSM of the store's cluster."""
    cluster = session.get(Cluster, store.cluster_id) if store.cluster_id else None
    for serial in serials_of(cluster):
        try:
            with runtime.cloudhsm.hsm.session(serial) as pk:
                return bytes(pk.generate_random(size * 8))
        except (PKCS11Error, HSMError) as error:
            log.info("HSM token %s could not generate random bytes: %r", serial, error)
    raise unreachable(store.cluster_id)


def store_has_keys(session: Session, store_id: str) -> bool:
    return session.scalar(select(KmsKey.arn).where(KmsKey.custom_key_store_id == store_id).limit(1)) is not None
