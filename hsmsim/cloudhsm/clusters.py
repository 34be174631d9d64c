"""Cluster operations: CreateCluster, DescribeClusters, ModifyCluster, DeleteCluster, InitializeCluster.

https://docs.aws.amazon.com/cloudhsm/latest/APIReference/API_Operations.html
"""

from __future__ import annotations

from datetime import timedelta
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from hsmsim.aws.context import RequestContext
from hsmsim.cloudhsm import actions, network
from hsmsim.cloudhsm.base import OperationsBase
from hsmsim.cloudhsm.certificates import CertificateCheckError, check_cluster_certificate
from hsmsim.cloudhsm.enums import BackupState, ClusterMode, ClusterState, HsmState, HsmType, NetworkType
from hsmsim.cloudhsm.errors import CloudHsmInvalidRequestException, CloudHsmResourceNotFoundException
from hsmsim.cloudhsm.models import Backup, Cluster
from hsmsim.cloudhsm.transitions import STATE_MESSAGES
from hsmsim.cloudhsm.views import cluster_view
from hsmsim.core.ids import base32_id, hex_id

DEFAULT_RETENTION_DAYS = 90
RETENTION_DAYS_RANGE = range(7, 380)
HSM_TYPE_ROLLBACK_WINDOW = timedelta(days=7)
DELETABLE_STATES = {ClusterState.UNINITIALIZED, ClusterState.INITIALIZED, ClusterState.ACTIVE, ClusterState.DEGRADED}


class ClusterOperations(OperationsBase):
    def create_cluster(
        self,
        ctx: RequestContext,
        hsm_type: str,
        subnet_ids: list[str],
        backup_retention_policy: dict[str, str] | None = None,
        source_backup_id: str | None = None,
        network_type: str | None = None,
        tag_list: list[dict[str, str]] | None = None,
        mode: str | None = None,
    ) -> dict[str, Any]:
        """https://docs.aws.amazon.com/cloudhsm/latest/APIReference/API_CreateCluster.html"""
        kind = _hsm_type(hsm_type)
        cluster_mode = ClusterMode(mode) if mode else ClusterMode.FIPS
        if cluster_mode is ClusterMode.NON_FIPS and kind is HsmType.HSM1_MEDIUM:
            raise CloudHsmInvalidRequestException("Mode NON_FIPS is only available with HsmType hsm2m.medium.")
        subnet_mapping = _subnet_mapping(ctx.region, subnet_ids)
        retention = _retention_days(backup_retention_policy)
        source = self._source_backup(ctx, source_backup_id, kind, cluster_mode) if source_backup_id else None
        in_region = self.session.scalar(
            select(func.count())
            .select_from(Cluster)
            .where(
                Cluster.account_id == ctx.account_id,
                Cluster.region == ctx.region,
                Cluster.state != ClusterState.DELETED,
            )
        )
        quota = self.runtime.config.quotas.clusters_per_region
        if in_region >= quota:
            raise CloudHsmInvalidRequestException(
                f"Cluster limit exceeded: this account already has {in_region} clusters in {ctx.region} "
                f"(quota: {quota})."
            )
        cluster = Cluster(
            cluster_id=base32_id("cluster"),
            account_id=ctx.account_id,
            region=ctx.region,
            created_at=self.now,
            hsm_type=kind.value,
            mode=cluster_mode,
            network_type=NetworkType(network_type) if network_type else NetworkType.IPV4,
            vpc_id=network.vpc_id(ctx.account_id, ctx.region),
            security_group=hex_id("sg"),
            subnet_mapping=subnet_mapping,
            backup_retention_days=retention,
            source_backup_id=source.backup_id if source else None,
            cluster_certificate_pem=source.cluster_certificate_pem if source else None,
            trust_anchor_pem=source.trust_anchor_pem if source else None,
        )
        self.runtime.lifecycle.enter(cluster, ClusterState.CREATE_IN_PROGRESS, self.now)
        self.session.add(cluster)
        self.session.flush()
        if source is not None:
            actions.restore_users(self.step, cluster.cluster_id, self.runtime.vault.users(source.backup_id))
        self._put_tags(cluster.cluster_id, tag_list)
        return {"Cluster": cluster_view(cluster, self._tags(cluster.cluster_id))}

    def describe_clusters(
        self,
        ctx: RequestContext,
        filters: dict[str, list[str]] | None = None,
        next_token: str | None = None,
        max_results: int | None = None,
    ) -> dict[str, Any]:
        """https://docs.aws.amazon.com/cloudhsm/latest/APIReference/API_DescribeClusters.html"""
        query = select(Cluster).where(
            Cluster.account_id == ctx.account_id,
            Cluster.region == ctx.region,
            *self._filter_conditions(filters, CLUSTER_FILTERS),
        )
        clusters = list(self.session.scalars(query.order_by(Cluster.created_at, Cluster.cluster_id)))
        page, token = self._page(clusters, next_token, max_results)
        tags = self._tags_by_resource([c.cluster_id for c in page])
        return {"Clusters": [cluster_view(c, tags[c.cluster_id]) for c in page], "NextToken": token}

    def modify_cluster(
        self,
        ctx: RequestContext,
        cluster_id: str,
        hsm_type: str | None = None,
        backup_retention_policy: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """https://docs.aws.amazon.com/cloudhsm/latest/APIReference/API_ModifyCluster.html"""
        cluster = self._cluster(ctx, cluster_id)
        if hsm_type is None and backup_retention_policy is None:
            raise CloudHsmInvalidRequestException("Specify HsmType or BackupRetentionPolicy to modify.")
        if cluster.state in (ClusterState.DELETE_IN_PROGRESS, ClusterState.DELETED):
            raise CloudHsmInvalidRequestException(f"Cluster '{cluster_id}' is {cluster.state.value}.")
        if backup_retention_policy is not None:
            cluster.backup_retention_days = _retention_days(backup_retention_policy)
            for backup in self.session.scalars(select(Backup).where(Backup.cluster_id == cluster.cluster_id)):
                backup.retention_days = cluster.backup_retention_days
                if backup.expires_at is not None or backup.state is BackupState.READY:
                    backup.expires_at = actions.retention_expiry(backup)
        if hsm_type is not None:
            self._migrate_hsm_type(cluster, _hsm_type(hsm_type))
        return {"Cluster": cluster_view(cluster, self._tags(cluster.cluster_id))}

    def _migrate_hsm_type(self, cluster: Cluster, target: HsmType) -> None:
        """HSM type migration (spec 1.7): a full backup, then MODIFY_IN_PROGRESS; back within 7 days is a rollback."""
        if cluster.hsm_type == target.value:
            return
        if cluster.state is not ClusterState.ACTIVE:
            raise CloudHsmInvalidRequestException(
                f"Cluster '{cluster.cluster_id}' is {cluster.state.value}; the HSM type can only change while ACTIVE."
            )
        rollback = (
            cluster.previous_hsm_type == target.value
            and cluster.hsm_type_rollback_expiration is not None
            and self.now <= cluster.hsm_type_rollback_expiration
        )
        if not rollback and target is not HsmType.HSM2M_MEDIUM:
            raise CloudHsmInvalidRequestException(
                f"Cluster '{cluster.cluster_id}' cannot migrate from {cluster.hsm_type} to {target.value}."
            )
        if actions.active_hsm(cluster) is not None:
            actions.take_backup(self.step, cluster, self.now)
        if rollback:
            cluster.previous_hsm_type = None
            cluster.hsm_type_rollback_expiration = None
            self.runtime.lifecycle.enter(cluster, ClusterState.ROLLBACK_IN_PROGRESS, self.now)
        else:
            cluster.previous_hsm_type = cluster.hsm_type
            cluster.hsm_type_rollback_expiration = self.now + HSM_TYPE_ROLLBACK_WINDOW
            self.runtime.lifecycle.enter(cluster, ClusterState.MODIFY_IN_PROGRESS, self.now)
        cluster.hsm_type = target.value
        for hsm in cluster.hsms:
            hsm.hsm_type = target.value

    def delete_cluster(self, ctx: RequestContext, cluster_id: str) -> dict[str, Any]:
        """https://docs.aws.amazon.com/cloudhsm/latest/APIReference/API_DeleteCluster.html"""
        cluster = self._cluster(ctx, cluster_id)
        if cluster.state not in DELETABLE_STATES:
            raise CloudHsmInvalidRequestException(
                f"Cluster '{cluster_id}' is {cluster.state.value} and cannot be deleted."
            )
        if cluster.hsms:
            raise CloudHsmInvalidRequestException(
                f"Cluster '{cluster_id}' still contains {len(cluster.hsms)} HSM(s). Delete all HSMs before deleting the cluster."
            )
        self.runtime.lifecycle.enter(cluster, ClusterState.DELETE_IN_PROGRESS, self.now)
        cluster.state_message = STATE_MESSAGES[ClusterState.DELETE_IN_PROGRESS]
        cluster.next_daily_backup_at = None
        return {"Cluster": cluster_view(cluster, self._tags(cluster.cluster_id))}

    def initialize_cluster(
        self, ctx: RequestContext, cluster_id: str, signed_cert: str, trust_anchor: str
    ) -> dict[str, Any]:
        """https://docs.aws.amazon.com/cloudhsm/latest/APIReference/API_InitializeCluster.html"""
        cluster = self._cluster(ctx, cluster_id)
        if cluster.state is not ClusterState.UNINITIALIZED:
            raise CloudHsmInvalidRequestException(
                f"Cluster '{cluster_id}' is {cluster.state.value}; only an UNINITIALIZED cluster can be initialized."
            )
        if not any(h.state is HsmState.ACTIVE for h in cluster.hsms) or not cluster.csr_pem:
            raise CloudHsmInvalidRequestException(
                f"Cluster '{cluster_id}' has no active HSM yet: create an HSM and wait until it is ACTIVE, "
                "then sign the cluster CSR."
            )
        try:
            check_cluster_certificate(cluster.csr_pem, signed_cert, trust_anchor, now=self.now)
        except CertificateCheckError as error:
            raise CloudHsmInvalidRequestException(str(error)) from None
        cluster.cluster_certificate_pem = signed_cert
        cluster.trust_anchor_pem = trust_anchor
        self.runtime.lifecycle.enter(cluster, ClusterState.INITIALIZE_IN_PROGRESS, self.now)
        cluster.state_message = STATE_MESSAGES[ClusterState.INITIALIZE_IN_PROGRESS]
        return {"State": cluster.state.value, "StateMessage": cluster.state_message}

    def _source_backup(self, ctx: RequestContext, reference: str, kind: HsmType, mode: ClusterMode) -> Backup:
        """A READY backup named by id or ARN; another account's only if its resource policy shares it."""
        backup_id, account_id = reference, ctx.account_id
        if reference.startswith("arn:"):
            parts = reference.split(":")
            if len(parts) != 6 or not parts[5].startswith("backup/"):
                raise CloudHsmInvalidRequestException(f"'{reference}' is not a backup ARN.")
            backup_id, account_id = parts[5].removeprefix("backup/"), parts[4]
            if parts[3] != ctx.region:
                raise CloudHsmInvalidRequestException(
                    f"Backup '{reference}' is in region {parts[3]}; copy it to {ctx.region} first."
                )
        backup = self.session.get(Backup, backup_id)
        shared = backup is not None and actions.policy_shares_with(backup.resource_policy, ctx.account_id)
        if (
            backup is None
            or backup.region != ctx.region
            or backup.account_id != account_id
            or (account_id != ctx.account_id and not shared)
        ):
            raise CloudHsmResourceNotFoundException(f"Backup '{reference}' not found.")
        if backup.state is not BackupState.READY:
            raise CloudHsmInvalidRequestException(f"Backup '{backup_id}' is {backup.state.value}, not READY.")
        if backup.mode is not mode:
            raise CloudHsmInvalidRequestException(
                f"Backup '{backup_id}' was taken from a {backup.mode.value} cluster; it can only restore a "
                f"{backup.mode.value} cluster."
            )
        if kind is HsmType.HSM1_MEDIUM and backup.hsm_type == HsmType.HSM2M_MEDIUM.value:
            raise CloudHsmInvalidRequestException(
                f"Backup '{backup_id}' of an hsm2m.medium cluster cannot restore an hsm1.medium cluster."
            )
        return backup


CLUSTER_FILTERS: dict[str, Callable[[list[str]], Any]] = {
    "clusterIds": lambda values: Cluster.cluster_id.in_(values),
    "vpcIds": lambda values: Cluster.vpc_id.in_(values),
    "states": lambda values: Cluster.state.in_([_cluster_state(v) for v in values]),
}


def _hsm_type(value: str) -> HsmType:
    try:
        return HsmType(value)
    except ValueError:
        valid = ", ".join(t.value for t in HsmType)
        raise CloudHsmInvalidRequestException(f"HsmType '{value}' is not supported. Valid types: {valid}.") from None


def _cluster_state(value: str) -> ClusterState:
    try:
        return ClusterState(value)
    except ValueError:
        raise CloudHsmInvalidRequestException(f"Invalid cluster state '{value}' in filter 'states'.") from None


def _retention_days(policy: dict[str, str] | None) -> int:
    if policy is None:
        return DEFAULT_RETENTION_DAYS
    value = policy.get("Value")
    if policy.get("Type") != "DAYS" or value is None or not value.isdigit():
        raise CloudHsmInvalidRequestException("BackupRetentionPolicy must be of Type DAYS with a Value in days.")
    days = int(value)
    if days not in RETENTION_DAYS_RANGE:
        raise CloudHsmInvalidRequestException(
            f"Backup retention of {days} days is out of range: specify 7 to 379 days."
        )
    return days


def _subnet_mapping(region: str, subnet_ids: list[str]) -> dict[str, str]:
    """One subnet per Availability Zone (spec 1.6); see :mod:`hsmsim.cloudhsm.network` for how AZs are chosen."""
    mapping: dict[str, str] = {}
    for subnet_id in subnet_ids:
        zone = network.availability_zone(region, subnet_id)
        if mapping.get(zone) == subnet_id:
            raise CloudHsmInvalidRequestException(f"Subnet '{subnet_id}' is listed more than once.")
        if zone in mapping:
            raise CloudHsmInvalidRequestException(
                f"Subnets '{mapping[zone]}' and '{subnet_id}' are both in Availability Zone {zone}. "
                "Specify at most one subnet per Availability Zone."
            )
        mapping[zone] = subnet_id
    return mapping
