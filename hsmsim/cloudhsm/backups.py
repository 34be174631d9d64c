"""Backup operations and resource policies (spec 1.8).

https://docs.aws.amazon.com/cloudhsm/latest/userguide/backups.html
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from hsmsim.aws.context import RequestContext
from hsmsim.cloudhsm import actions
from hsmsim.cloudhsm.base import OperationsBase
from hsmsim.cloudhsm.enums import BackupState
from hsmsim.cloudhsm.errors import CloudHsmInvalidRequestException, CloudHsmResourceNotFoundException
from hsmsim.cloudhsm.models import Backup
from hsmsim.cloudhsm.transitions import BACKUP_DELETION_WINDOW
from hsmsim.cloudhsm.views import backup_arn, backup_view
from hsmsim.cloudhsm.views import tag_list as tag_list_view



class BackupOperations(OperationsBase):
    def describe_backups(
        self,
        ctx: RequestContext,
        next_token: str | None = None,
        max_results: int | None = None,
        filters: dict[str, list[str]] | None = None,
        shared: bool | None = None,
        sort_ascending: bool | None = None,
    ) -> dict[str, Any]:
        """https://docs.aws.amazon.com/cloudhsm/latest/APIReference/API_DescribeBackups.html"""
        query = select(Backup).where(Backup.region == ctx.region)
        query = query.where(Backup.account_id != ctx.account_id) if shared else query.where(Backup.account_id == ctx.account_id)
        query = query.where(*self._filter_conditions(filters, BACKUP_FILTERS))
        order = (Backup.created_at, Backup.backup_id) if sort_ascending else (Backup.created_at.desc(), Backup.backup_id)
        backups = list(self.session.scalars(query.order_by(*order)))
        if shared:
            backups = [b for b in backups if actions.policy_shares_with(b.resource_policy, ctx.account_id)]
        page, token = self._page(backups, next_token, max_results)
        tags = self._tags_by_resource([b.backup_id for b in page])
        return {"Backups": [backup_view(b, tags[b.backup_id]) for b in page], "NextToken": token}

    def delete_backup(self, ctx: RequestContext, backup_id: str) -> dict[str, Any]:
        """READY -> PENDING_DELETION for 7 days, restorable meanwhile."""
        backup = self._backup(ctx, backup_id)
        if backup.state is not BackupState.READY:
            raise CloudHsmInvalidRequestException(
                f"Backup '{backup_id}' is {backup.state.value}; only a READY backup can be deleted."
            )
        self.runtime.lifecycle.enter(backup, BackupState.PENDING_DELETION, self.now)
        backup.deleted_at = self.now + BACKUP_DELETION_WINDOW
        backup.expires_at = None
        return {"Backup": backup_view(backup, self._tags(backup_id))}

    def restore_backup(self, ctx: RequestContext, backup_id: str) -> dict[str, Any]:
        """PENDING_DELETION -> READY."""
        backup = self._backup(ctx, backup_id)
        if backup.state is not BackupState.PENDING_DELETION:
            raise CloudHsmInvalidRequestException(
                f"Backup '{backup_id}' is {backup.state.value}; only a backup in PENDING_DELETION can be restored."
            )
        self.runtime.lifecycle.enter(backup, BackupState.READY, self.now)
        backup.deleted_at = None
        backup.expires_at = actions.retention_expiry(backup)
        return {"Backup": backup_view(backup, self._tags(backup_id))}

    def modify_backup_attributes(self, ctx: RequestContext, backup_id: str, never_expires: bool) -> dict[str, Any]:
        backup = self._backup(ctx, backup_id)
        if backup.state is BackupState.PENDING_DELETION:
            raise CloudHsmInvalidRequestException(f"Backup '{backup_id}' is PENDING_DELETION; restore it first.")
        backup.never_expires = never_expires
        backup.expires_at = actions.retention_expiry(backup)
        return {"Backup": backup_view(backup, self._tags(backup_id))}

    def copy_backup_to_region(
        self,
        ctx: RequestContext,
        destination_region: str,
        backup_id: str,
        tag_list: list[dict[str, str]] | None = None,
    ) -> dict[str, Any]:
        """A copy in another region: same contents and CreateTimestamp, no cluster, no retention."""
        source = self._backup(ctx, backup_id)
        if destination_region == ctx.region:
            raise CloudHsmInvalidRequestException(
                f"DestinationRegion {destination_region} is the backup's own region; choose another region."
            )
        if source.state is not BackupState.READY:
            raise CloudHsmInvalidRequestException(
                f"Backup '{backup_id}' is {source.state.value}; only a READY backup can be copied."
            )
        copy = Backup(
            backup_id=actions.new_backup_id(),
            account_id=source.account_id,
            region=destination_region,
            cluster_id=None,
            created_at=source.created_at,
            copied_at=self.now,
            never_expires=False,
            source_region=source.region,
            source_backup=source.backup_id,
            source_cluster=source.cluster_id,
            hsm_type=source.hsm_type,
            mode=source.mode,
            retention_days=None,
            cluster_certificate_pem=source.cluster_certificate_pem,
            trust_anchor_pem=source.trust_anchor_pem,
        )
        vault = self.runtime.vault
        vault.copy(source.backup_id, copy.backup_id)
        self.step.uow.on_rollback(lambda: vault.discard(copy.backup_id))
        self.runtime.lifecycle.enter(copy, BackupState.CREATE_IN_PROGRESS, self.now)
        self.session.add(copy)
        self.session.flush()
        self._put_tags(copy.backup_id, tag_list or tag_list_view(self._tags(source.backup_id)))
        return {
            "DestinationBackup": {
                "CreateTimestamp": copy.created_at,
                "SourceRegion": source.region,
                "SourceBackup": source.backup_id,
                "SourceCluster": source.cluster_id,
            }
        }

    # -- resource policies (backups only) --------------------------------------------------------------------

    def put_resource_policy(
        self, ctx: RequestContext, resource_arn: str | None = None, policy: str | None = None
    ) -> dict[str, Any]:
        """https://docs.aws.amazon.com/cloudhsm/latest/APIReference/API_PutResourcePolicy.html"""
        backup = self._policy_backup(ctx, resource_arn)
        if policy is None:
            raise CloudHsmInvalidRequestException("Policy is required.")
        if "\x00" in policy:
            raise CloudHsmInvalidRequestException("Policy must not contain NUL characters.")
        try:
            document = json.loads(policy)
        except ValueError:
            raise CloudHsmInvalidRequestException("Policy is not valid JSON.") from None
        if not isinstance(document, dict) or "Statement" not in document:
            raise CloudHsmInvalidRequestException("Policy must be a JSON policy document with a Statement.")
        if backup.state is not BackupState.READY:
            raise CloudHsmInvalidRequestException(
                f"Backup '{backup.backup_id}' is {backup.state.value}; a policy can only be put on a READY backup."
            )
        backup.resource_policy = policy
        return {"ResourceArn": backup_arn(backup), "Policy": policy}

    def get_resource_policy(self, ctx: RequestContext, resource_arn: str | None = None) -> dict[str, Any]:
        backup = self._policy_backup(ctx, resource_arn)
        return {"Policy": backup.resource_policy}

    def delete_resource_policy(self, ctx: RequestContext, resource_arn: str | None = None) -> dict[str, Any]:
        backup = self._policy_backup(ctx, resource_arn)
        policy, backup.resource_policy = backup.resource_policy, None
        return {"ResourceArn": backup_arn(backup), "Policy": policy}

    def _policy_backup(self, ctx: RequestContext, resource_arn: str | None) -> Backup:
        if not resource_arn:
            raise CloudHsmInvalidRequestException("ResourceArn is required.")
        parts = resource_arn.split(":")
        if len(parts) != 6 or parts[2] != "cloudhsm":
            raise CloudHsmInvalidRequestException(f"'{resource_arn}' is not a CloudHSM ARN.")
        region, account_id, resource = parts[3], parts[4], parts[5]
        if not resource.startswith("backup/"):
            raise CloudHsmInvalidRequestException(
                f"Resource policies are supported on backups only, not on '{resource_arn}'."
            )
        if (account_id, region) != (ctx.account_id, ctx.region):
            raise CloudHsmResourceNotFoundException(f"Backup '{resource_arn}' not found.")
        return self._backup(ctx, resource.removeprefix("backup/"))


BACKUP_FILTERS: dict[str, Callable[[list[str]], Any]] = {
    "backupIds": lambda values: Backup.backup_id.in_(values),
    "sourceBackupIds": lambda values: Backup.source_backup.in_(values),
    "clusterIds": lambda values: Backup.cluster_id.in_(values),
    "states": lambda values: Backup.state.in_([_backup_state(v) for v in values]),
    "neverExpires": lambda values: Backup.never_expires.in_([_boolean(v) for v in values]),
}


def _backup_state(value: str) -> BackupState:
    try:
        return BackupState(value)
    except ValueError:
        raise CloudHsmInvalidRequestException(f"Invalid backup state '{value}' in filter 'states'.") from None


def _boolean(value: str) -> bool:
    if value.lower() not in ("true", "false"):
        raise CloudHsmInvalidRequestException(f"Invalid value '{value}' in filter 'neverExpires': use true or false.")
    return value.lower() == "true"
