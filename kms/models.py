"""SQLAlchemy tables of the KMS service.

A key row is one KMS key in one account and region; a multi-Region key has one row per region, all with the same
``key_id`` (``mrk-…``). Key material rows belong to ``(account_id, key_id)``, not to a region, so a primary and its
replicas share their material as in AWS. Material is stored only wrapped by the domain key
(:mod:`kms.domainkey`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Enum, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hsmsim.core.db import Base, UTCDateTime
from kms.enums import (
    ConnectionErrorCode,
    ConnectionState,
    CustomKeyStoreType,
    ExpirationModel,
    ImportState,
    KeyManager,
    KeyMaterialState,
    KeySpec,
    KeyState,
    KeyUsage,
    Origin,
    RotationType,
    WrappingAlgorithm,
    WrappingKeySpec,
)


def _enum(cls: type) -> Enum:
    return Enum(cls, native_enum=False, length=48, validate_strings=True)


class KmsKey(Base):
    __tablename__ = "kms_keys"
    __table_args__ = (
        Index("ix_kms_keys_scope_id", "account_id", "region", "key_id", unique=True),
        Index("ix_kms_keys_scope_order", "account_id", "region", "created_seq"),
    )

    arn: Mapped[str] = mapped_column(String(256), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(12))
    region: Mapped[str] = mapped_column(String(32))
    key_id: Mapped[str] = mapped_column(String(64))
    created_seq: Mapped[int] = mapped_column(Integer)
    """Creation order within the account and region: ListKeys pages by it."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    description: Mapped[str] = mapped_column(Text, default="")
    key_spec: Mapped[KeySpec] = mapped_column(_enum(KeySpec))
    key_usage: Mapped[KeyUsage] = mapped_column(_enum(KeyUsage))
    origin: Mapped[Origin] = mapped_column(_enum(Origin))
    key_manager: Mapped[KeyManager] = mapped_column(_enum(KeyManager))
    state: Mapped[KeyState] = mapped_column(_enum(KeyState))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    """When the state moves on by itself (kms.transitions)."""
    state_before_update: Mapped[KeyState | None] = mapped_column(_enum(KeyState))
    """The state a key in ``Creating``/``Updating`` returns to (an Updating key keeps Enabled or Disabled), and the
    state an ``Unavailable`` key of a custom key store returns to when its store connects."""
    deletion_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pending_window_days: Mapped[int | None] = mapped_column(Integer)
    policy: Mapped[str] = mapped_column(Text)
    public_key_der: Mapped[bytes | None] = mapped_column(LargeBinary)
    """The public half of an asymmetric key (not secret)."""
    current_material_id: Mapped[str | None] = mapped_column(String(64))
    expiration_model: Mapped[ExpirationModel | None] = mapped_column(_enum(ExpirationModel))
    material_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    """ValidTo of imported material: the key returns to PendingImport then (timer)."""
    # Rotation (symmetric keys).
    rotation_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    rotation_period_days: Mapped[int | None] = mapped_column(Integer)
    next_rotation_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    on_demand_rotations: Mapped[int] = mapped_column(Integer, default=0)
    # Multi-Region keys: every row of the family names the primary's region.
    multi_region: Mapped[bool] = mapped_column(Boolean, default=False)
    primary_region: Mapped[str | None] = mapped_column(String(32))
    # Custom key stores (kms.keystores): the store of an AWS_CLOUDHSM key. While the store is not CONNECTED the key
    # is Unavailable and ``state_before_update`` holds the state it returns to when the store connects.
    custom_key_store_id: Mapped[str | None] = mapped_column(String(64), index=True)
    # GetKeyLastUsage: flushed from memory by kms.usage.
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_operation: Mapped[str | None] = mapped_column(String(64))
    last_used_request_id: Mapped[str | None] = mapped_column(String(64))


class KmsKeyMaterial(Base):
    __tablename__ = "kms_key_materials"

    account_id: Mapped[str] = mapped_column(String(12), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    material_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    """64 lower-case hex characters, as AWS's BackingKeyIdType."""
    ordinal: Mapped[int] = mapped_column(Integer)
    """Oldest first: ListKeyRotations lists in this order."""
    wrapped: Mapped[bytes | None] = mapped_column(LargeBinary)
    """``DomainKey.wrap(material)``; ``None`` once imported material was deleted (its id and history remain)."""
    state: Mapped[KeyMaterialState] = mapped_column(_enum(KeyMaterialState))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rotation_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rotation_type: Mapped[RotationType | None] = mapped_column(_enum(RotationType))
    # Imported material only.
    import_state: Mapped[ImportState | None] = mapped_column(_enum(ImportState))
    expiration_model: Mapped[ExpirationModel | None] = mapped_column(_enum(ExpirationModel))
    valid_to: Mapped[datetime | None] = mapped_column(UTCDateTime)
    description: Mapped[str | None] = mapped_column(String(256))
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    """HMAC of the imported material under a server secret: re-imports must bring the same bytes."""


class KmsAlias(Base):
    __tablename__ = "kms_aliases"

    account_id: Mapped[str] = mapped_column(String(12), primary_key=True)
    region: Mapped[str] = mapped_column(String(32), primary_key=True)
    alias_name: Mapped[str] = mapped_column(String(256), primary_key=True)
    target_key_id: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class KmsTag(Base):
    __tablename__ = "kms_tags"

    key_arn: Mapped[str] = mapped_column(String(256), primary_key=True)
    tag_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    tag_value: Mapped[str] = mapped_column(String(256))
    position: Mapped[int] = mapped_column(Integer)


class KmsGrant(Base):
    __tablename__ = "kms_grants"

    grant_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    key_arn: Mapped[str] = mapped_column(String(256), index=True)
    account_id: Mapped[str] = mapped_column(String(12))
    name: Mapped[str | None] = mapped_column(String(256))
    grantee_principal: Mapped[str | None] = mapped_column(String(256))
    """``None`` when the grantee is a service principal (``grantee_service_principal``)."""
    grantee_service_principal: Mapped[str | None] = mapped_column(String(128))
    retiring_principal: Mapped[str | None] = mapped_column(String(256), index=True)
    retiring_service_principal: Mapped[str | None] = mapped_column(String(128), index=True)
    issuing_account: Mapped[str] = mapped_column(String(256))
    operations: Mapped[list[str]] = mapped_column(JSON)
    constraints: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """GrantConstraints as given: encryption-context maps and/or a ``SourceArn`` string."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_seq: Mapped[int] = mapped_column(Integer, index=True)
    """Creation order over all grants: the list operations page by it."""


class KmsImportToken(Base):
    __tablename__ = "kms_import_tokens"

    token_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_arn: Mapped[str] = mapped_column(String(256), index=True)
    wrapping_algorithm: Mapped[WrappingAlgorithm] = mapped_column(_enum(WrappingAlgorithm))
    wrapping_key_spec: Mapped[WrappingKeySpec] = mapped_column(_enum(WrappingKeySpec))
    wrapped_private_key: Mapped[bytes] = mapped_column(LargeBinary)
    """The RSA wrapping private key (PKCS#8 DER), itself wrapped by the domain key."""
    valid_to: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class KmsCustomKeyStore(Base):
    """A custom key store (kms.keystores). The kmsuser password is stored only wrapped by the domain key."""

    __tablename__ = "kms_custom_key_stores"
    __table_args__ = (Index("ix_kms_cks_scope_name", "account_id", "region", "name", unique=True),)

    custom_key_store_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(12))
    region: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(256))
    store_type: Mapped[CustomKeyStoreType] = mapped_column(_enum(CustomKeyStoreType))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_seq: Mapped[int] = mapped_column(Integer)
    """Creation order over all stores: DescribeCustomKeyStores pages by it."""
    cluster_id: Mapped[str | None] = mapped_column(String(32), index=True)
    trust_anchor_pem: Mapped[str | None] = mapped_column(Text)
    wrapped_password: Mapped[bytes | None] = mapped_column(LargeBinary)
    """``DomainKey.wrap(kmsuser password)``: what the user gave, replaced by KMS's own at every connect."""
    state: Mapped[ConnectionState] = mapped_column(_enum(ConnectionState))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    """When CONNECTING or DISCONNECTING settles (kms.transitions)."""
    error_code: Mapped[ConnectionErrorCode | None] = mapped_column(_enum(ConnectionErrorCode))
    """Why the last connection failed; shown only while FAILED."""


class KmsBackingKey(Base):
    """The key in the CloudHSM cluster behind an AWS_CLOUDHSM KMS key: its key reference (``CKA_ID``) there."""

    __tablename__ = "kms_backing_keys"

    key_arn: Mapped[str] = mapped_column(String(256), primary_key=True)
    custom_key_store_id: Mapped[str] = mapped_column(String(64), index=True)
    key_reference: Mapped[str] = mapped_column(String(18))
    backing_key_id: Mapped[str] = mapped_column(String(64))
    """64 hex characters (BackingKeyIdType): the material id the key's ciphertext blobs name."""
