"""Rows to the response shapes of the CloudHSM v2 model (built at the edge, never stored)."""

from __future__ import annotations

from typing import Any

from hsmsim.cloudhsm.enums import BackupPolicy, BackupRetentionType, ClusterState, HsmState, NetworkType
from hsmsim.cloudhsm.models import Backup, Cluster, Hsm, Tag


def backup_arn(backup: Backup) -> str:
    return f"arn:aws:cloudhsm:{backup.region}:{backup.account_id}:backup/{backup.backup_id}"


def tag_list(tags: list[Tag]) -> list[dict[str, str]]:
    return [{"Key": t.key, "Value": t.value} for t in sorted(tags, key=lambda t: t.position)]


def hsm_view(hsm: Hsm, network_type: NetworkType) -> dict[str, Any]:
    view: dict[str, Any] = {
        "AvailabilityZone": hsm.availability_zone,
        "ClusterId": hsm.cluster_id,
        "SubnetId": hsm.subnet_id,
        "EniId": hsm.eni_id,
        "EniIp": hsm.eni_ip,
        "HsmId": hsm.hsm_id,
        "HsmType": hsm.hsm_type,
        "State": hsm.state.value,
        "StateMessage": hsm.state_message,
    }
    if network_type is NetworkType.DUALSTACK:
        view["EniIpV6"] = hsm.eni_ipv6
    return view


def certificates_view(cluster: Cluster) -> dict[str, str]:
    """The CSR and hardware certificates while UNINITIALIZED with an active HSM; the cluster certificate after."""
    if cluster.cluster_certificate_pem:
        return {"ClusterCertificate": cluster.cluster_certificate_pem}
    has_active_hsm = any(h.state is HsmState.ACTIVE for h in cluster.hsms)
    if cluster.state is not ClusterState.UNINITIALIZED or not has_active_hsm or not cluster.csr_pem:
        return {}
    return {
        "ClusterCsr": cluster.csr_pem,
        "HsmCertificate": cluster.hsm_certificate_pem,
        "AwsHardwareCertificate": cluster.aws_hardware_certificate_pem,
        "ManufacturerHardwareCertificate": cluster.manufacturer_hardware_certificate_pem,
    }


def cluster_view(cluster: Cluster, tags: list[Tag]) -> dict[str, Any]:
    return {
        "BackupPolicy": BackupPolicy.DEFAULT.value,
        "BackupRetentionPolicy": {"Type": BackupRetentionType.DAYS.value, "Value": str(cluster.backup_retention_days)},
        "ClusterId": cluster.cluster_id,
        "CreateTimestamp": cluster.created_at,
        "Hsms": [hsm_view(h, cluster.network_type) for h in cluster.hsms],
        "HsmType": cluster.hsm_type,
        "HsmTypeRollbackExpiration": cluster.hsm_type_rollback_expiration,
        "SecurityGroup": cluster.security_group,
        "SourceBackupId": cluster.source_backup_id,
        "State": cluster.state.value,
        "StateMessage": cluster.state_message,
        "SubnetMapping": dict(cluster.subnet_mapping),
        "VpcId": cluster.vpc_id,
        "NetworkType": cluster.network_type.value,
        "Certificates": certificates_view(cluster),
        "TagList": tag_list(tags),
        "Mode": cluster.mode.value,
    }


def backup_view(backup: Backup, tags: list[Tag]) -> dict[str, Any]:
    return {
        "BackupId": backup.backup_id,
        "BackupArn": backup_arn(backup),
        "BackupState": backup.state.value,
        "ClusterId": backup.cluster_id,
        "CreateTimestamp": backup.created_at,
        "CopyTimestamp": backup.copied_at,
        "NeverExpires": backup.never_expires,
        "SourceRegion": backup.source_region,
        "SourceBackup": backup.source_backup,
        "SourceCluster": backup.source_cluster,
        "DeleteTimestamp": backup.deleted_at,
        "TagList": tag_list(tags),
        "HsmType": backup.hsm_type,
        "Mode": backup.mode.value,
    }
