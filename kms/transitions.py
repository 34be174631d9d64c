"""The KMS key lifecycle as data: what moves on by itself on the simulated clock.

* ``PendingDeletion`` → gone after the waiting period (ScheduleKeyDeletion's 7-30 days): the key, its aliases,
  grants, tags, import tokens and (when no region of the key is left) its material.
* The deletion of an AWS_CLOUDHSM key also deletes its backing key from the cluster, best effort (spec 4.5).
* Custom key stores: ``CONNECTING`` → the connection sequence (``CONNECTED`` or ``FAILED``), ``DISCONNECTING`` →
  ``DISCONNECTED`` (kms.keystores.connection).
* ``Creating`` (a new replica) and ``Updating`` (UpdatePrimaryRegion) → back to the state they came from.
* Timers: automatic rotation (``next_rotation_at``) and the expiry of imported material (``material_expires_at``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select

from hsmsim.config import Delay
from hsmsim.core.lifecycle import Timer, Transition
from kms.enums import ConnectionState, KeyState
from kms.imports import expire_imported_material
from kms.keystores.backing import delete_backing_key
from kms.keystores.connection import connection_due, disconnection_due
from kms.materials import remove_family_materials
from kms.models import KmsAlias, KmsCustomKeyStore, KmsGrant, KmsImportToken, KmsKey
from kms.rotation import rotate_automatically
from kms.runtime import Step
from kms.tagging import remove_all_tags


def _pending_window(key: KmsKey) -> timedelta:
    return timedelta(days=key.pending_window_days or 30)


def _purge_key(step: Step, key: KmsKey, at: datetime) -> None:
    """The key is deleted: everything that belonged to it goes too."""
    session = step.session
    session.execute(delete(KmsAlias).where(
        KmsAlias.account_id == key.account_id, KmsAlias.region == key.region, KmsAlias.target_key_id == key.key_id))
    session.execute(delete(KmsGrant).where(KmsGrant.key_arn == key.arn))
    session.execute(delete(KmsImportToken).where(KmsImportToken.key_arn == key.arn))
    remove_all_tags(session, key.arn)
    if key.custom_key_store_id is not None:
        delete_backing_key(step, key)
    session.delete(key)
    session.flush()
    remove_family_materials(session, key.account_id, key.key_id)
    if key.multi_region and key.region != key.primary_region:
        _replica_gone(step, key, at)


def _replica_gone(step: Step, replica: KmsKey, at: datetime) -> None:
    """A primary waiting in PendingReplicaDeletion starts its own waiting period once its last replica is gone."""
    rows = list(step.session.scalars(select(KmsKey).where(
        KmsKey.account_id == replica.account_id, KmsKey.key_id == replica.key_id)))
    primary = next((r for r in rows if r.region == r.primary_region), None)
    if primary is not None and primary.state is KeyState.PENDING_REPLICA_DELETION and len(rows) == 1:
        step.runtime.lifecycle.enter(primary, KeyState.PENDING_DELETION, at)
        primary.deletion_date = primary.due_at


def _settled_state(key: KmsKey) -> KeyState:
    return key.state_before_update or KeyState.ENABLED


def _settled(step: Step, key: KmsKey, at: datetime) -> None:
    key.state_before_update = None


TRANSITIONS = [
    Transition(KmsKey, KeyState.PENDING_DELETION, None, _pending_window, on_enter=_purge_key),
    Transition(KmsKey, KeyState.CREATING, _settled_state, Delay.KMS_REPLICATE.value, on_enter=_settled),
    Transition(KmsKey, KeyState.UPDATING, _settled_state, Delay.KMS_UPDATE_PRIMARY.value, on_enter=_settled),
    # Custom key stores: the connection sequence runs when CONNECTING falls due (it may end FAILED instead).
    Transition(KmsCustomKeyStore, ConnectionState.CONNECTING, ConnectionState.CONNECTED, Delay.KMS_CONNECT.value,
               on_enter=connection_due),
    Transition(KmsCustomKeyStore, ConnectionState.DISCONNECTING, ConnectionState.DISCONNECTED,
               Delay.KMS_DISCONNECT.value, on_enter=disconnection_due),
]

TIMERS = [
    Timer(KmsKey, "next_rotation_at", rotate_automatically),
    Timer(KmsKey, "material_expires_at", expire_imported_material),
]
