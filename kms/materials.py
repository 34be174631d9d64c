"""Key material rows: stored only wrapped by the domain key, unwrapped only into memory."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from kms.domainkey import DomainKey
from kms.enums import KeyMaterialState, RotationType
from kms.identifiers import new_material_id
from kms.keyview import SealedMaterials
from kms.models import KmsKey, KmsKeyMaterial


def wrapping_context(account_id: str, key_id: str, material_id: str) -> bytes:
    """AAD of the domain-key wrap: a wrapped material only unwraps as the material it was stored as."""
    return f"kms-material/{account_id}/{key_id}/{material_id}".encode()


def add_material(
    session: Session,
    domain_key: DomainKey,
    key: KmsKey,
    material: bytes,
    now: datetime,
    *,
    state: KeyMaterialState = KeyMaterialState.CURRENT,
    rotation_type: RotationType | None = None,
    material_id: str | None = None,
) -> KmsKeyMaterial:
    """Wrap ``material`` and add it to ``key``'s family (returns the row; the caller sets further fields)."""
    material_id = material_id or new_material_id()
    ordinal = session.scalar(
        select(func.coalesce(func.max(KmsKeyMaterial.ordinal), 0)).where(
            KmsKeyMaterial.account_id == key.account_id, KmsKeyMaterial.key_id == key.key_id)) or 0
    row = KmsKeyMaterial(
        account_id=key.account_id,
        key_id=key.key_id,
        material_id=material_id,
        ordinal=ordinal + 1,
        wrapped=domain_key.wrap(material, wrapping_context(key.account_id, key.key_id, material_id)),
        state=state,
        created_at=now,
        rotation_date=now if rotation_type is not None else None,
        rotation_type=rotation_type,
    )
    session.add(row)
    return row


def materials_of(session: Session, key: KmsKey) -> list[KmsKeyMaterial]:
    """Every material row of the key's family, oldest first."""
    return list(session.scalars(
        select(KmsKeyMaterial).where(KmsKeyMaterial.account_id == key.account_id, KmsKeyMaterial.key_id == key.key_id)
        .order_by(KmsKeyMaterial.ordinal)))


def sealed_materials(session: Session, domain_key: DomainKey, key: KmsKey) -> SealedMaterials:
    """Every material of the key that still exists (deleted imported material has no bytes), unwrapped lazily."""
    wrapped = {row.material_id: row.wrapped for row in materials_of(session, key) if row.wrapped is not None}
    account_id, key_id = key.account_id, key.key_id  # the view outlives the session: no ORM object inside

    def unwrap_one(material_id: str, blob: bytes) -> bytes:
        return domain_key.unwrap(blob, wrapping_context(account_id, key_id, material_id))

    return SealedMaterials(wrapped, unwrap_one)


def remove_family_materials(session: Session, account_id: str, key_id: str) -> None:
    """Drop a key's materials once no row (no region) of the key is left."""
    remaining = session.scalar(
        select(func.count()).select_from(KmsKey).where(KmsKey.account_id == account_id, KmsKey.key_id == key_id))
    if not remaining:
        session.execute(delete(KmsKeyMaterial).where(
            KmsKeyMaterial.account_id == account_id, KmsKeyMaterial.key_id == key_id))
