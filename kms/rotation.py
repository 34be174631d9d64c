"""Key rotation (symmetric encryption keys): automatic on the simulated clock and on demand.

https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html — a rotation adds new key material that
becomes CURRENT; the older material stays (NON_CURRENT) so old ciphertexts keep decrypting. The material rows
belong to ``(account, key id)``, so a multi-Region key rotates once, on its primary, and every region's row points
at the new current material.

Automatic rotation: the timer fires at ``next_rotation_at`` (the primary's row) and moves it one period on. When
the clock jumps over several periods, :class:`hsmsim.core.lifecycle.Lifecycle` fires the timer once per elapsed
period, each at its own due time, so the history shows one AUTOMATIC rotation per period with the dates AWS would
have used. While the key is not Enabled (Disabled, pending deletion, …) KMS does not rotate it: the timer only
moves on. Re-enabling a key whose material is older than one period rotates it at once
(https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyRotationStatus.html, "Disabled").
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from kms.crypto.specs import generate_material
from kms.enums import KeyMaterialState, KeyState, RotationType
from kms.materials import add_material, materials_of
from kms.metadata import family
from kms.models import KmsKey, KmsKeyMaterial
from kms.runtime import Step

DEFAULT_ROTATION_PERIOD_DAYS = 365
ON_DEMAND_ROTATION_LIMIT = 25
"""https://docs.aws.amazon.com/kms/latest/developerguide/rotating-keys-on-demand.html (25 since late 2025; the
April 2025 recording in spec/kms-real-responses.md 1.14 still hit the old limit of 10)."""
CONFLICT_WINDOW = timedelta(minutes=20)
"""RotateKeyOnDemand is refused while an automatic rotation is due this soon (the model's ConflictException)."""


def period_of(key: KmsKey) -> timedelta:
    return timedelta(days=key.rotation_period_days or DEFAULT_ROTATION_PERIOD_DAYS)


def is_replica(key: KmsKey) -> bool:
    return key.multi_region and key.region != key.primary_region


def schedule_row(session: Session, key: KmsKey) -> KmsKey:
    """The row that holds the automatic-rotation schedule: the key itself, or for a multi-Region key the region
    whose row carries ``next_rotation_at`` (the primary it was enabled on, even after UpdatePrimaryRegion)."""
    if not key.multi_region:
        return key
    rows = family(session, key)
    scheduled = next((row for row in rows if row.next_rotation_at is not None), None)
    return scheduled or next((row for row in rows if row.region == row.primary_region), key)


def make_current(session: Session, key: KmsKey, material: KmsKeyMaterial, rotation_type: RotationType,
                 at: datetime) -> None:
    """``material`` becomes the key's CURRENT material (in every region); the previous one NON_CURRENT."""
    for row in materials_of(session, key):
        if row.state is KeyMaterialState.CURRENT and row.material_id != material.material_id:
            row.state = KeyMaterialState.NON_CURRENT
    material.state = KeyMaterialState.CURRENT
    material.rotation_type = rotation_type
    material.rotation_date = at
    for row in family(session, key):
        row.current_material_id = material.material_id


def rotate_with_new_material(step: Step, key: KmsKey, rotation_type: RotationType, at: datetime) -> KmsKeyMaterial:
    """Generate fresh AWS_KMS material and make it current."""
    runtime = step.runtime
    material = add_material(step.session, runtime.domain_key, key, generate_material(key.key_spec), at,
                            state=KeyMaterialState.NON_CURRENT, rotation_type=rotation_type)
    step.session.flush()
    make_current(step.session, key, material, rotation_type, at)
    return material


def rotate_automatically(step: Step, key: KmsKey, at: datetime) -> None:
    """Timer: new material at ``key.next_rotation_at`` (if the key is usable then); the next one a period later."""
    if not key.rotation_enabled:
        key.next_rotation_at = None
        return
    if key.state is KeyState.ENABLED:
        rotate_with_new_material(step, key, RotationType.AUTOMATIC, at)
    key.next_rotation_at = at + period_of(key)


def last_rotation_at(session: Session, key: KmsKey) -> datetime:
    """When the current material came to be (its rotation, or the key's creation)."""
    current = [row for row in materials_of(session, key) if row.material_id == key.current_material_id]
    if current:
        return current[0].rotation_date or current[0].created_at
    return key.created_at


def resume_rotation(session: Session, key: KmsKey, now: datetime) -> None:
    """EnableKey: material not rotated for a whole period rotates at once, else the schedule simply resumes."""
    primary = schedule_row(session, key)
    if not primary.rotation_enabled or primary.next_rotation_at is None or primary.state is not KeyState.ENABLED:
        return
    if now - last_rotation_at(session, primary) >= period_of(primary):
        primary.next_rotation_at = min(primary.next_rotation_at, now)
