"""The CloudHSM v2 lifecycle as data (spec 1.3 and 1.8): what moves on by itself, to what, after how long."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete

from hsmsim.cloudhsm import actions, drift
from hsmsim.cloudhsm.enums import BackupState, ClusterState, HsmState
from hsmsim.cloudhsm.models import Backup, Cluster, Hsm, Tag
from hsmsim.cloudhsm.runtime import Step
from hsmsim.config import Delay
from hsmsim.core.lifecycle import Timer, Transition
from hsmsim.hsm import HSMError

log = logging.getLogger(__name__)

BACKUP_DELETION_WINDOW = timedelta(days=7)
"""DeleteBackup keeps a backup restorable for 7 days (spec 1.8)."""
DELETED_CLUSTER_VISIBLE = timedelta(days=1)
"""How long a DELETED cluster stays visible in DescribeClusters (IaC waiters poll for DELETED)."""

STATE_MESSAGES = {
    ClusterState.INITIALIZE_IN_PROGRESS: "Cluster is initializing. State will change to INITIALIZED upon completion.",
    ClusterState.DELETE_IN_PROGRESS: "The cluster is being deleted.",
}


def _cluster_created(step: Step, cluster: Cluster, at: datetime) -> None:
    cluster.state_message = None


def _cluster_initialized(step: Step, cluster: Cluster, at: datetime) -> None:
    cluster.state_message = "Cluster is initialized."


def _cluster_settled(step: Step, cluster: Cluster, at: datetime) -> None:
    cluster.state_message = None
    actions.schedule_daily_backup(cluster, at)  # a daily backup that fell due meanwhile was skipped


def _cluster_deleted(step: Step, cluster: Cluster, at: datetime) -> None:
    cluster.state_message = "The cluster has been deleted."
    cluster.next_daily_backup_at = None
    actions.forget_users(step, cluster.cluster_id)  # the users with their keys' ownership and shares


def _cluster_purged(step: Step, cluster: Cluster, at: datetime) -> None:
    step.session.execute(delete(Tag).where(Tag.resource_id == cluster.cluster_id))


def _hsm_created(step: Step, hsm: Hsm, at: datetime) -> None:
    hsm.state_message = "HSM created."
    # The new HSM was restored from a backup taken at CreateHsm: keys written since then come from an active peer.
    peer = next((h for h in hsm.cluster.hsms if h is not hsm and h.state is HsmState.ACTIVE), None)
    if peer is not None:
        try:
            step.runtime.hsm.replicate(peer.token_serial, [hsm.token_serial])
        except HSMError as error:  # never block the lifecycle; the HSM keeps its backup's contents
            log.error("HSM %s could not catch up with %s: %s", hsm.hsm_id, peer.hsm_id, error)
    actions.schedule_daily_backup(hsm.cluster, at)
    drift.schedule_sync_check(hsm.cluster, at)


def _hsm_removed(step: Step, hsm: Hsm, at: datetime) -> None:
    softhsm, serial = step.runtime.hsm, hsm.token_serial
    if serial in softhsm.tokens():  # a DEGRADED HSM may have lost its token (see Simulator.reconcile)
        step.uow.after_commit(lambda: softhsm.delete_token(serial))


def _backup_ready(step: Step, backup: Backup, at: datetime) -> None:
    backup.expires_at = actions.retention_expiry(backup)
    actions.release_retention_holds(step, backup.cluster_id)


def _backup_purged(step: Step, backup: Backup, at: datetime) -> None:
    actions.remove_backup(step, backup)


def _backup_delay(backup: Backup) -> str:
    return Delay.BACKUP_COPY.value if backup.copied_at is not None else Delay.BACKUP_CREATE.value


def _cluster_created_state(cluster: Cluster) -> ClusterState:
    # A cluster restored from a backup is ACTIVE with no HSMs: no CSR, initialisation or activation (spec 1.9).
    return ClusterState.ACTIVE if cluster.source_backup_id else ClusterState.UNINITIALIZED


TRANSITIONS = [
    Transition(Cluster, ClusterState.CREATE_IN_PROGRESS, _cluster_created_state, Delay.CLUSTER_CREATE, _cluster_created),
    Transition(Cluster, ClusterState.INITIALIZE_IN_PROGRESS, ClusterState.INITIALIZED, Delay.CLUSTER_INITIALIZE, _cluster_initialized),
    Transition(Cluster, ClusterState.MODIFY_IN_PROGRESS, ClusterState.ACTIVE, Delay.CLUSTER_MODIFY, _cluster_settled),
    Transition(Cluster, ClusterState.ROLLBACK_IN_PROGRESS, ClusterState.ACTIVE, Delay.CLUSTER_MODIFY, _cluster_settled),
    Transition(Cluster, ClusterState.DELETE_IN_PROGRESS, ClusterState.DELETED, Delay.CLUSTER_DELETE, _cluster_deleted),
    Transition(Cluster, ClusterState.DELETED, None, DELETED_CLUSTER_VISIBLE, _cluster_purged),
    Transition(Hsm, HsmState.CREATE_IN_PROGRESS, HsmState.ACTIVE, Delay.HSM_CREATE, _hsm_created),
    Transition(Hsm, HsmState.DELETE_IN_PROGRESS, None, Delay.HSM_DELETE, _hsm_removed),
    Transition(Backup, BackupState.CREATE_IN_PROGRESS, BackupState.READY, _backup_delay, _backup_ready),
    Transition(Backup, BackupState.PENDING_DELETION, None, BACKUP_DELETION_WINDOW, _backup_purged),
]


def _daily_backup(step: Step, cluster: Cluster, now: datetime) -> None:
    if cluster.state is ClusterState.ACTIVE and actions.active_hsm(cluster) is not None:
        actions.take_backup(step, cluster, now)
        cluster.next_daily_backup_at = now + actions.DAILY_BACKUP_INTERVAL
    else:
        cluster.next_daily_backup_at = None  # rescheduled when an HSM becomes active again


def _retention_expired(step: Step, backup: Backup, now: datetime) -> None:
    latest = actions.latest_backup(step, backup.cluster_id) if backup.cluster_id else None
    if latest is None or latest.backup_id == backup.backup_id:
        backup.expires_at = None  # the service never deletes a cluster's last backup (spec 1.8)
        return
    actions.remove_backup(step, backup)
    step.session.delete(backup)


TIMERS = [
    Timer(Cluster, "next_daily_backup_at", _daily_backup),
    Timer(Backup, "expires_at", _retention_expired),
    Timer(Cluster, "next_sync_check_at", drift.sync_check),
]
