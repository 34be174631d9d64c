"""Domain actions shared by the operations and the lifecycle hooks (backups, retention, users)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select

from hsmsim.cloudhsm.enums import BackupState, ClusterState, HsmState
from hsmsim.cloudhsm.models import Backup, Cluster, Hsm, HsmKey, HsmKeyShare, HsmUser, Tag
from hsmsim.cloudhsm.runtime import Step
from hsmsim.core.ids import base32_id

DAILY_BACKUP_INTERVAL = timedelta(hours=24)
"""AWS backs up every active cluster at least once every 24 hours (spec 1.8)."""


def new_backup_id() -> str:
    return base32_id("backup")


def active_hsm(cluster: Cluster) -> Hsm | None:
    return next((h for h in cluster.hsms if h.state is HsmState.ACTIVE), None)


def users_snapshot(step: Step, cluster_id: str) -> list[dict[str, Any]]:
    """The users of the cluster, each with the keys it owns and whom each is shared with (the key material
    itself is in the token snapshot: objects whose ``CKA_ID`` is the key reference)."""
    rows = step.session.scalars(select(HsmUser).where(HsmUser.cluster_id == cluster_id).order_by(HsmUser.username))
    keys = step.session.scalars(select(HsmKey).where(HsmKey.cluster_id == cluster_id).order_by(HsmKey.key_reference))
    shares: dict[str, list[str]] = {}
    for share in step.session.scalars(select(HsmKeyShare).where(HsmKeyShare.cluster_id == cluster_id)):
        shares.setdefault(share.key_reference, []).append(share.username)
    owned: dict[str, list[dict[str, Any]]] = {}
    for k in keys:
        owned.setdefault(k.owner, []).append({
            "key_reference": k.key_reference,
            "label": k.label,
            "key_class": k.key_class,
            "key_type": k.key_type,
            "pair_reference": k.pair_reference,
            "shared_with": sorted(shares.get(k.key_reference, [])),
        })
    return [
        {
            "username": u.username,
            "role": u.role,
            "password_hash": u.password_hash,
            "failed_logins": u.failed_logins,
            "locked": u.locked,
            "keys": owned.get(u.username, []),
        }
        for u in rows
    ]


def forget_users(step: Step, cluster_id: str) -> None:
    """Remove the cluster's users with their keys' ownership and shares."""
    step.session.execute(delete(HsmKeyShare).where(HsmKeyShare.cluster_id == cluster_id))
    step.session.execute(delete(HsmKey).where(HsmKey.cluster_id == cluster_id))
    step.session.execute(delete(HsmUser).where(HsmUser.cluster_id == cluster_id))


def restore_users(step: Step, cluster_id: str, users: list[dict[str, Any]]) -> None:
    """Replace the cluster's users, keys and shares with a snapshot's (backups made before keys have none)."""
    forget_users(step, cluster_id)
    owned = []
    for entry in users:
        user = dict(entry)
        owned += [(user["username"], key) for key in user.pop("keys", [])]
        step.session.add(HsmUser(cluster_id=cluster_id, **user))
    step.session.flush()
    shares = []
    for owner, key in owned:
        key = dict(key)
        shares += [(key["key_reference"], name) for name in key.pop("shared_with", [])]
        step.session.add(HsmKey(cluster_id=cluster_id, owner=owner, **key))
    step.session.flush()
    step.session.add_all(HsmKeyShare(cluster_id=cluster_id, key_reference=r, username=n) for r, n in shares)
    step.session.flush()


def retention_expiry(backup: Backup) -> datetime | None:
    """When retention deletes ``backup`` (None: never, e.g. ``NeverExpires`` or a copy in another region)."""
    if backup.never_expires or backup.retention_days is None or backup.state is not BackupState.READY:
        return None
    return backup.created_at + timedelta(days=backup.retention_days)


def take_backup(step: Step, cluster: Cluster, now: datetime, source: Hsm | None = None) -> Backup:
    """Snapshot an active HSM of ``cluster`` (its token; the users with their keys' ownership) into a new backup.

    The snapshot is taken now; the backup row is ``CREATE_IN_PROGRESS`` until its transition makes it ``READY``.
    """
    source = source or active_hsm(cluster)
    if source is None:
        raise ValueError(f"cluster {cluster.cluster_id} has no active HSM to back up")
    backup = Backup(
        backup_id=new_backup_id(),
        account_id=cluster.account_id,
        region=cluster.region,
        cluster_id=cluster.cluster_id,
        created_at=now,
        never_expires=False,
        hsm_type=cluster.hsm_type,
        mode=cluster.mode,
        retention_days=cluster.backup_retention_days,
        cluster_certificate_pem=cluster.cluster_certificate_pem,
        trust_anchor_pem=cluster.trust_anchor_pem,
    )
    vault = step.runtime.vault
    vault.take(backup.backup_id, source.token_serial, users_snapshot(step, cluster.cluster_id))
    step.uow.on_rollback(lambda: vault.discard(backup.backup_id))
    step.runtime.lifecycle.enter(backup, BackupState.CREATE_IN_PROGRESS, now)
    step.session.add(backup)
    return backup


def latest_backup(step: Step, cluster_id: str) -> Backup | None:
    return step.session.scalar(
        select(Backup)
        .where(Backup.cluster_id == cluster_id, Backup.state.in_([BackupState.READY, BackupState.CREATE_IN_PROGRESS]))
        .order_by(Backup.created_at.desc())
        .limit(1)
    )


def release_retention_holds(step: Step, cluster_id: str | None) -> None:
    """A newer backup exists: earlier ones held back as the cluster's last backup fall under retention again."""
    if cluster_id is None:
        return
    for backup in step.session.scalars(
        select(Backup).where(Backup.cluster_id == cluster_id, Backup.state == BackupState.READY)
    ):
        backup.expires_at = retention_expiry(backup)


def remove_backup(step: Step, backup: Backup) -> None:
    """Delete the row and, once committed, the snapshot."""
    vault = step.runtime.vault
    backup_id = backup.backup_id
    step.session.execute(delete(Tag).where(Tag.resource_id == backup_id))
    step.uow.after_commit(lambda: vault.discard(backup_id))


def policy_shares_with(policy: str | None, account_id: str) -> bool:
    """Whether a backup's resource policy shares it with ``account_id`` (named, or everyone with ``"*"``)."""
    return policy is not None and (account_id in policy or '"*"' in policy)


def schedule_daily_backup(cluster: Cluster, now: datetime) -> None:
    if cluster.state is ClusterState.ACTIVE and cluster.next_daily_backup_at is None:
        cluster.next_daily_backup_at = now + DAILY_BACKUP_INTERVAL
