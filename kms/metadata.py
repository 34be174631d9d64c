"""The ``KeyMetadata`` response member, built from a key row (which fields appear when: spec/kms-real-responses.md 2.1).
https://docs.aws.amazon.com/kms/latest/APIReference/API_KeyMetadata.html
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kms.crypto.specs import SPECS
from kms.enums import ExpirationModel, KeySpec, KeyState, KeyUsage, MultiRegionKeyType
from kms.models import KmsCustomKeyStore, KmsKey

_ALGORITHM_MEMBER = {
    KeyUsage.ENCRYPT_DECRYPT: "EncryptionAlgorithms",
    KeyUsage.SIGN_VERIFY: "SigningAlgorithms",
    KeyUsage.GENERATE_VERIFY_MAC: "MacAlgorithms",
    KeyUsage.KEY_AGREEMENT: "KeyAgreementAlgorithms",
    KeyUsage.ENCAPSULATE_DECAPSULATE: "EncapsulationAlgorithms",
}
_LEGACY_SPECS = frozenset(s for s in KeySpec if not s.value.startswith(("ML_", "ECC_NIST_EDWARDS")))
"""Specs that also exist in the deprecated CustomerMasterKeySpec enum."""


def algorithms(key: KmsKey) -> dict[str, list[str]]:
    """``{"EncryptionAlgorithms": [...]}`` or the member the key's usage has."""
    found = SPECS[key.key_spec].usages.get(key.key_usage, ())
    return {_ALGORITHM_MEMBER[key.key_usage]: [a.value for a in found]}


def family(session: Session, key: KmsKey) -> list[KmsKey]:
    """Every row of a multi-Region key (primary first, then replicas by creation)."""
    rows = list(session.scalars(
        select(KmsKey).where(KmsKey.account_id == key.account_id, KmsKey.key_id == key.key_id)
        .order_by(KmsKey.created_at)))
    return sorted(rows, key=lambda r: r.region != r.primary_region)


def multi_region_configuration(session: Session, key: KmsKey) -> dict[str, Any]:
    rows = family(session, key)
    primary = next((r for r in rows if r.region == key.primary_region), key)
    return {
        "MultiRegionKeyType": (MultiRegionKeyType.PRIMARY if key.region == key.primary_region
                               else MultiRegionKeyType.REPLICA).value,
        "PrimaryKey": {"Arn": primary.arn, "Region": primary.region},
        "ReplicaKeys": [{"Arn": r.arn, "Region": r.region} for r in rows if r.region != key.primary_region],
    }


def key_metadata(session: Session, key: KmsKey) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "AWSAccountId": key.account_id,
        "KeyId": key.key_id,
        "Arn": key.arn,
        "CreationDate": key.created_at,
        "Enabled": key.state is KeyState.ENABLED,
        "Description": key.description,
        "KeyUsage": key.key_usage.value,
        "KeyState": key.state.value,
        "Origin": key.origin.value,
        "KeyManager": key.key_manager.value,
        "KeySpec": key.key_spec.value,
        "MultiRegion": key.multi_region,
    }
    if key.key_spec in _LEGACY_SPECS:
        metadata["CustomerMasterKeySpec"] = key.key_spec.value
    metadata.update(algorithms(key))
    if key.deletion_date is not None:
        metadata["DeletionDate"] = key.deletion_date
    if key.state is KeyState.PENDING_REPLICA_DELETION and key.pending_window_days is not None:
        metadata["PendingDeletionWindowInDays"] = key.pending_window_days
    if key.expiration_model is not None:
        metadata["ExpirationModel"] = key.expiration_model.value
        if key.expiration_model is ExpirationModel.KEY_MATERIAL_EXPIRES and key.material_expires_at is not None:
            metadata["ValidTo"] = key.material_expires_at
    if key.key_spec is KeySpec.SYMMETRIC_DEFAULT and key.current_material_id and key.state is not KeyState.CREATING:
        metadata["CurrentKeyMaterialId"] = key.current_material_id
    if key.custom_key_store_id is not None:
        metadata["CustomKeyStoreId"] = key.custom_key_store_id
        store = session.get(KmsCustomKeyStore, key.custom_key_store_id)
        if store is not None and store.cluster_id is not None:  # the store's current cluster (spec 4.7)
            metadata["CloudHsmClusterId"] = store.cluster_id
    if key.multi_region:
        metadata["MultiRegionConfiguration"] = multi_region_configuration(session, key)
    return metadata
