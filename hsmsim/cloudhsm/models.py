"""SQLAlchemy tables of the CloudHSM v2 service.

Columns are explicit (no wire-shaped JSON blobs): the response shapes are built at the edge by
:mod:`hsmsim.cloudhsm.views`. Every row carries its account and region; ids are globally unique like AWS's.
The HSM contents themselves live in SoftHSM tokens (``Hsm.token_serial``) and backup snapshots on disk.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, ForeignKeyConstraint, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hsmsim.cloudhsm.enums import BackupState, ClusterMode, ClusterState, HsmState, NetworkType
from hsmsim.core.db import Base, UTCDateTime


def _enum(cls: type) -> Enum:
    return Enum(cls, native_enum=False, length=32, validate_strings=True)


class Cluster(Base):
    __tablename__ = "cloudhsm_clusters"

    cluster_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(12), index=True)
    region: Mapped[str] = mapped_column(String(32), index=True)
    state: Mapped[ClusterState] = mapped_column(_enum(ClusterState))
    state_message: Mapped[str | None] = mapped_column(String(300))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    hsm_type: Mapped[str] = mapped_column(String(32))
    previous_hsm_type: Mapped[str | None] = mapped_column(String(32))
    hsm_type_rollback_expiration: Mapped[datetime | None] = mapped_column(UTCDateTime)
    mode: Mapped[ClusterMode] = mapped_column(_enum(ClusterMode))
    network_type: Mapped[NetworkType] = mapped_column(_enum(NetworkType))
    vpc_id: Mapped[str] = mapped_column(String(32))
    security_group: Mapped[str] = mapped_column(String(32))
    subnet_mapping: Mapped[dict[str, str]] = mapped_column(JSON)
    backup_retention_days: Mapped[int] = mapped_column(Integer)
    source_backup_id: Mapped[str | None] = mapped_column(String(32))
    # Certificates. The CSR and the hardware certificates exist only before initialisation (spec 1.4).
    csr_pem: Mapped[str | None] = mapped_column(Text)
    hsm_certificate_pem: Mapped[str | None] = mapped_column(Text)
    aws_hardware_certificate_pem: Mapped[str | None] = mapped_column(Text)
    manufacturer_hardware_certificate_pem: Mapped[str | None] = mapped_column(Text)
    cluster_certificate_pem: Mapped[str | None] = mapped_column(Text)
    trust_anchor_pem: Mapped[str | None] = mapped_column(Text)
    next_daily_backup_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # When the appliance user next compares the cluster's HSMs (hsmsim.cloudhsm.drift); None below two ACTIVE HSMs.
    next_sync_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)

    # Loaded with the cluster in one extra query per statement (DescribeClusters would otherwise make one per cluster).
    hsms: Mapped[list[Hsm]] = relationship(back_populates="cluster", order_by="Hsm.created_at", lazy="selectin")


class Hsm(Base):
    __tablename__ = "cloudhsm_hsms"

    hsm_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    cluster_id: Mapped[str] = mapped_column(ForeignKey("cloudhsm_clusters.cluster_id"), index=True)
    account_id: Mapped[str] = mapped_column(String(12), index=True)
    region: Mapped[str] = mapped_column(String(32))
    state: Mapped[HsmState] = mapped_column(_enum(HsmState))
    state_message: Mapped[str | None] = mapped_column(String(300))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    availability_zone: Mapped[str] = mapped_column(String(32))
    subnet_id: Mapped[str] = mapped_column(String(32))
    eni_id: Mapped[str] = mapped_column(String(32), unique=True)
    eni_ip: Mapped[str] = mapped_column(String(15))
    eni_ipv6: Mapped[str | None] = mapped_column(String(64))
    hsm_type: Mapped[str] = mapped_column(String(32))
    token_serial: Mapped[str] = mapped_column(String(16), unique=True)

    cluster: Mapped[Cluster] = relationship(back_populates="hsms")


class Backup(Base):
    __tablename__ = "cloudhsm_backups"

    backup_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(12), index=True)
    region: Mapped[str] = mapped_column(String(32), index=True)
    state: Mapped[BackupState] = mapped_column(_enum(BackupState))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    cluster_id: Mapped[str | None] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    copied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    never_expires: Mapped[bool] = mapped_column(Boolean, default=False)
    source_region: Mapped[str | None] = mapped_column(String(32))
    source_backup: Mapped[str | None] = mapped_column(String(32))
    source_cluster: Mapped[str | None] = mapped_column(String(32))
    hsm_type: Mapped[str] = mapped_column(String(32))
    mode: Mapped[ClusterMode] = mapped_column(_enum(ClusterMode))
    # Retention (spec 1.8): copied backups have none; the cluster's last backup is never purged.
    retention_days: Mapped[int | None] = mapped_column(Integer)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    resource_policy: Mapped[str | None] = mapped_column(Text)
    cluster_certificate_pem: Mapped[str | None] = mapped_column(Text)
    trust_anchor_pem: Mapped[str | None] = mapped_column(Text)


class Tag(Base):
    __tablename__ = "cloudhsm_tags"

    resource_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))
    position: Mapped[int] = mapped_column(Integer)


class HsmUser(Base):
    """A user inside the HSMs of a cluster (spec 2). The same on every HSM, part of every backup."""

    __tablename__ = "cloudhsm_users"

    cluster_id: Mapped[str] = mapped_column(ForeignKey("cloudhsm_clusters.cluster_id"), primary_key=True)
    username: Mapped[str] = mapped_column(String(31), primary_key=True)
    role: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str | None] = mapped_column(String(256))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked: Mapped[bool] = mapped_column(Boolean, default=False)


class HsmKey(Base):
    """A key object in the HSMs of a cluster (spec 2.2): who owns it. The key material is the token object whose
    ``CKA_ID`` is the key reference, on every HSM of the cluster; this row is its ownership. Part of every backup."""

    __tablename__ = "cloudhsm_keys"
    __table_args__ = (
        ForeignKeyConstraint(["cluster_id", "owner"], ["cloudhsm_users.cluster_id", "cloudhsm_users.username"]),
    )

    cluster_id: Mapped[str] = mapped_column(ForeignKey("cloudhsm_clusters.cluster_id"), primary_key=True)
    key_reference: Mapped[str] = mapped_column(String(18), primary_key=True)  # "0x" + 16 hex digits
    owner: Mapped[str] = mapped_column(String(31), index=True)
    label: Mapped[str] = mapped_column(String(127))
    key_class: Mapped[str] = mapped_column(String(16))  # secret-key, public-key, private-key
    key_type: Mapped[str] = mapped_column(String(16))  # aes, generic-secret, rsa, ec
    pair_reference: Mapped[str | None] = mapped_column(String(18))  # the other half of a key pair
    # Set when drift repair found the key's object on no ACTIVE HSM (material lost; hsmsim.cloudhsm.drift).
    missing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)


class HsmKeyShare(Base):
    """A crypto user a key is shared with (use only: no delete, share, unshare or attribute change)."""

    __tablename__ = "cloudhsm_key_shares"
    __table_args__ = (
        ForeignKeyConstraint(
            ["cluster_id", "key_reference"], ["cloudhsm_keys.cluster_id", "cloudhsm_keys.key_reference"]
        ),
        ForeignKeyConstraint(["cluster_id", "username"], ["cloudhsm_users.cluster_id", "cloudhsm_users.username"]),
    )

    cluster_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_reference: Mapped[str] = mapped_column(String(18), primary_key=True)
    username: Mapped[str] = mapped_column(String(31), primary_key=True)
