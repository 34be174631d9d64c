"""ConnectCustomKeyStore's sequence against the cluster, disconnect, and the keys' availability.

https://docs.aws.amazon.com/kms/latest/developerguide/connect-keystore.html and fix-keystore.html (spec 3.3–3.6).
ConnectCustomKeyStore only moves the store to CONNECTING; the sequence runs when CONNECTING falls due on the
simulated clock (kms.transitions; the delay profile decides when), in AWS's order: the cluster, its subnets, an
ACTIVE HSM, the network plumbing, then the ``kmsuser`` login — found, not logged in anywhere, not locked, the
stored password right (a wrong one counts toward the lockout) — and the rotation of kmsuser's password to a secret
only KMS knows. KMS then stays logged in (a live session of the cluster, like any CLI or PKCS#11 login) until the
store is disconnected. Any failure leaves the store FAILED with its ConnectionErrorCode.

While a store is not CONNECTED its keys are ``Unavailable`` (PendingDeletion keys stay PendingDeletion); the state
they return to is kept in ``KmsKey.state_before_update``.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hsmsim.cloudhsm.enums import HsmState
from hsmsim.cloudhsm.models import HsmUser
from hsmsim.cloudhsm.users import CRYPTO_USER, MAX_FAILED_LOGINS
from kms.enums import ConnectionErrorCode, ConnectionState, KeyState
from kms.keystores.sessions import KMSUSER
from kms.keystores.stores import find_cluster, unwrap_password, wrap_password
from kms.models import KmsCustomKeyStore, KmsKey
from kms.runtime import KMSRuntime, Step

log = logging.getLogger(__name__)


# -- the keys of a store --------------------------------------------------------------------------------------


def keys_of(session: Session, store_id: str) -> list[KmsKey]:
    return list(session.scalars(select(KmsKey).where(KmsKey.custom_key_store_id == store_id)))


def make_unavailable(key: KmsKey) -> None:
    if key.state not in (KeyState.UNAVAILABLE, KeyState.PENDING_DELETION):
        key.state_before_update, key.state = key.state, KeyState.UNAVAILABLE


def make_available(key: KmsKey) -> None:
    if key.state is KeyState.UNAVAILABLE:
        key.state, key.state_before_update = key.state_before_update or KeyState.ENABLED, None


def settle(session: Session, key: KmsKey) -> None:
    """A key of a store that is not CONNECTED shows Unavailable (after CancelKeyDeletion, for instance)."""
    if key.custom_key_store_id is None:
        return
    store = session.get(KmsCustomKeyStore, key.custom_key_store_id)
    if store is None or store.state is not ConnectionState.CONNECTED:
        make_unavailable(key)


def set_underlying(key: KmsKey, state: KeyState) -> bool:
    """EnableKey/DisableKey on an Unavailable key succeed and take effect when the store connects (spec 4.3)."""
    if key.state is KeyState.UNAVAILABLE:
        key.state_before_update = state
        return True
    return False


# -- connecting and disconnecting ---------------------------------------------------------------------------


def _failure(step: Step, store: KmsCustomKeyStore) -> ConnectionErrorCode | None:
    """Run the sequence; None once KMS is logged in as kmsuser with a freshly rotated password."""
    runtime, session = step.runtime, step.session
    cluster_id = store.cluster_id or ""

    def injected(code: ConnectionErrorCode) -> bool:
        return runtime.faults.take(cluster_id, code)

    if injected(ConnectionErrorCode.INTERNAL_ERROR):
        return ConnectionErrorCode.INTERNAL_ERROR
    cluster = find_cluster(session, store.account_id, store.region, cluster_id)
    if cluster is None:
        return ConnectionErrorCode.CLUSTER_NOT_FOUND
    if injected(ConnectionErrorCode.SUBNET_NOT_FOUND):
        return ConnectionErrorCode.SUBNET_NOT_FOUND
    if not any(h.state is HsmState.ACTIVE for h in cluster.hsms):
        return ConnectionErrorCode.INSUFFICIENT_CLOUDHSM_HSMS
    for code in (ConnectionErrorCode.INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET, ConnectionErrorCode.NETWORK_ERRORS):
        if injected(code):
            return code
    user = session.get(HsmUser, (cluster_id, KMSUSER))
    if user is None or user.role != CRYPTO_USER:
        return ConnectionErrorCode.USER_NOT_FOUND
    if runtime.cloudhsm.sessions.count(cluster_id, KMSUSER):
        return ConnectionErrorCode.USER_LOGGED_IN
    if user.locked:
        return ConnectionErrorCode.USER_LOCKED_OUT
    password = unwrap_password(runtime.domain_key, store)
    if user.password_hash is None or not runtime.cloudhsm.passwords.verify(password, user.password_hash):
        user.failed_logins += 1
        user.locked = user.failed_logins >= MAX_FAILED_LOGINS
        return ConnectionErrorCode.INVALID_CREDENTIALS
    rotated, user.password_hash = runtime.next_passwords.take()  # made ahead (kms.keystores.passwords)
    user.failed_logins = 0
    runtime.cloudhsm.passwords.remember(rotated, user.password_hash)
    store.wrapped_password = wrap_password(runtime.domain_key, store.custom_key_store_id, rotated)
    store_id = store.custom_key_store_id
    step.uow.after_commit(lambda: runtime.keystore_sessions.open(store_id, cluster_id))
    return None


def connection_due(step: Step, store: KmsCustomKeyStore, at: datetime) -> None:
    """CONNECTING fell due (the store has just entered CONNECTED): connect for real, or fail."""
    code = _failure(step, store)
    if code is None:
        store.error_code = None
        for key in keys_of(step.session, store.custom_key_store_id):
            make_available(key)
        return
    log.info("custom key store %s failed to connect: %s", store.custom_key_store_id, code.value)
    step.runtime.lifecycle.enter(store, ConnectionState.FAILED, at)
    store.error_code = code


def start_disconnect(step: Step, store: KmsCustomKeyStore) -> None:
    """DisconnectCustomKeyStore: DISCONNECTING at once; every key of the store is Unavailable from now on."""
    step.runtime.lifecycle.enter(store, ConnectionState.DISCONNECTING, step.runtime.now())
    for key in keys_of(step.session, store.custom_key_store_id):
        make_unavailable(key)


def disconnection_due(step: Step, store: KmsCustomKeyStore, at: datetime) -> None:
    """DISCONNECTING fell due: KMS logs kmsuser out; the error code of a failed connection is cleared."""
    store.error_code = None
    runtime, store_id = step.runtime, store.custom_key_store_id
    step.uow.after_commit(lambda: runtime.keystore_sessions.close(store_id))


def log_in_again(runtime: KMSRuntime, session: Session) -> int:
    """At start-up (sessions live in memory): KMS logs in again as kmsuser for every CONNECTED store."""
    count = 0
    for store in session.scalars(select(KmsCustomKeyStore).where(KmsCustomKeyStore.state == ConnectionState.CONNECTED)):
        if store.cluster_id and session.get(HsmUser, (store.cluster_id, KMSUSER)) is not None:
            runtime.keystore_sessions.open(store.custom_key_store_id, store.cluster_id)
            count += 1
    return count
