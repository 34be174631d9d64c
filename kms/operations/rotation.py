"""Key rotation: EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus, RotateKeyOnDemand, ListKeyRotations.

https://docs.aws.amazon.com/kms/latest/APIReference/API_EnableKeyRotation.html and its siblings; the domain rules
(timer, catch-up, multi-Region) are in :mod:`kms.rotation`. Recorded behaviour (spec/kms-real-responses.md 1.14,
1.17, 2.2, 3.7): the key-state check runs before the key-type check; a non-symmetric key is
``UnsupportedOperationException`` without a message; GetKeyRotationStatus carries ``RotationPeriodInDays`` and
``NextRotationDate`` only while automatic rotation is on; ListKeyRotations always carries ``Truncated``
(``false`` when the list is complete: all nine recorded responses do) and ``NextMarker`` only when truncated.

RotateKeyOnDemand completes before it returns (AWS finishes it asynchronously within seconds), so
GetKeyRotationStatus never shows an ``OnDemandRotationStartDate``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hsmsim.aws.context import RequestContext
from hsmsim.aws.errors import ValidationException
from kms.enums import (
    KeyManager,
    KeyMaterialState,
    KeySpec,
    KeyState,
    Origin,
    RotationType,
)
from kms.errors import (
    ConflictException,
    KMSInvalidStateException,
    LimitExceededException,
    UnsupportedOperationException,
)
from kms.materials import materials_of
from kms.metadata import family
from kms.models import KmsKey, KmsKeyMaterial
from kms.operations.base import OperationsBase
from kms.paging import page_of
from kms.rotation import (
    CONFLICT_WINDOW,
    DEFAULT_ROTATION_PERIOD_DAYS,
    ON_DEMAND_ROTATION_LIMIT,
    is_replica,
    make_current,
    rotate_with_new_material,
    schedule_row,
)

ALL_KEY_MATERIAL = "ALL_KEY_MATERIAL"
_NOT_ROTATING = frozenset({KeyState.PENDING_DELETION, KeyState.PENDING_REPLICA_DELETION})


def _unsupported_origin(key: KmsKey) -> UnsupportedOperationException:
    return UnsupportedOperationException(f"{key.arn} origin is {key.origin.value} which is not valid for this operation.")


class RotationOperations(OperationsBase):
    # -- checks ----------------------------------------------------------------------------------------------

    @staticmethod
    def _require_rotatable(key: KmsKey, *, automatic: bool) -> None:
        """Only customer managed symmetric encryption keys rotate; automatic rotation not with imported material,
        on-demand rotation of imported material since 2025-11; never in a custom key store or on a replica."""
        if key.key_manager is KeyManager.AWS:
            raise UnsupportedOperationException(f"{key.arn} is an AWS managed key and cannot be modified.")
        if key.key_spec is not KeySpec.SYMMETRIC_DEFAULT:
            raise UnsupportedOperationException(include_message=False)
        allowed = (Origin.AWS_KMS,) if automatic else (Origin.AWS_KMS, Origin.EXTERNAL)
        if key.origin not in allowed:
            raise _unsupported_origin(key)
        if is_replica(key):
            raise UnsupportedOperationException(f"{key.arn} is not a multi-region primary key.")

    # -- automatic rotation ------------------------------------------------------------------------------------

    def enable_key_rotation(self, ctx: RequestContext, *, key_id: str, rotation_period_in_days: int | None = None) -> None:
        """The first rotation comes one period after enabling (or after changing the period)."""
        key = self.key_row(ctx, key_id, "EnableKeyRotation")
        self._require_rotatable(key, automatic=True)
        period = rotation_period_in_days or DEFAULT_ROTATION_PERIOD_DAYS
        self._set_schedule(key, period, self.now() + timedelta(days=period))

    def disable_key_rotation(self, ctx: RequestContext, *, key_id: str) -> None:
        key = self.key_row(ctx, key_id, "DisableKeyRotation")
        self._require_rotatable(key, automatic=True)
        self._set_schedule(key, None, None)

    def _set_schedule(self, key: KmsKey, period: int | None, next_rotation: datetime | None) -> None:
        """Every region of a multi-Region key shows the setting; only the primary's row carries the timer."""
        for row in family(self.session, key):
            row.rotation_enabled = period is not None
            row.rotation_period_days = period
            row.next_rotation_at = next_rotation if row.arn == key.arn else None

    def get_key_rotation_status(self, ctx: RequestContext, *, key_id: str) -> dict[str, Any]:
        """A replica reports its primary's settings; a key pending deletion reports ``false`` (its setting comes
        back when the deletion is cancelled); keys that cannot rotate automatically report ``false``."""
        key = self.key_row(ctx, key_id, "GetKeyRotationStatus")
        if key.origin is Origin.AWS_CLOUDHSM:  # spec 4.4: not supported for keys in a CloudHSM key store
            raise _unsupported_origin(key)
        source = schedule_row(self.session, key)
        result: dict[str, Any] = {"KeyId": key.arn, "KeyRotationEnabled": False}
        rotating = key.state not in _NOT_ROTATING and source.state not in _NOT_ROTATING
        if source.rotation_enabled and rotating and source.next_rotation_at is not None:
            result.update(KeyRotationEnabled=True, RotationPeriodInDays=source.rotation_period_days,
                          NextRotationDate=source.next_rotation_at)
        return result

    # -- on demand ---------------------------------------------------------------------------------------------

    def rotate_key_on_demand(self, ctx: RequestContext, *, key_id: str) -> dict[str, Any]:
        """AWS_KMS keys get fresh material; EXTERNAL keys switch to the material imported with
        ``ImportType=NEW_KEY_MATERIAL`` (PENDING_ROTATION). The automatic schedule does not move."""
        key = self.key_row(ctx, key_id, "RotateKeyOnDemand")
        self._require_rotatable(key, automatic=False)
        now = self.now()
        pending = None
        if key.origin is Origin.EXTERNAL:
            pending = next((m for m in materials_of(self.session, key)
                            if m.state is KeyMaterialState.PENDING_ROTATION and m.wrapped is not None), None)
            if pending is None:
                raise KMSInvalidStateException(f"No available key material pending rotation for the key: {key.arn}.")
        if key.on_demand_rotations >= ON_DEMAND_ROTATION_LIMIT:
            raise LimitExceededException(
                "The on-demand rotations limit has been reached for the given keyId. "
                f"No more on-demand rotations can be performed for this key: {key.arn}")
        scheduled = schedule_row(self.session, key).next_rotation_at
        if scheduled is not None and scheduled - now <= CONFLICT_WINDOW:
            raise ConflictException(f"An automatic rotation of {key.arn} is scheduled to begin within the next "
                                    "20 minutes. Try again after it completed.")
        if pending is None:
            rotate_with_new_material(self.step, key, RotationType.ON_DEMAND, now)
        else:
            make_current(self.session, key, pending, RotationType.ON_DEMAND, now)
        key.on_demand_rotations += 1
        return {"KeyId": key.arn}

    # -- history -----------------------------------------------------------------------------------------------

    def list_key_rotations(
        self,
        ctx: RequestContext,
        *,
        key_id: str,
        include_key_material: str | None = None,
        limit: int | None = None,
        marker: str | None = None,
    ) -> dict[str, Any]:
        """ROTATIONS_ONLY (default): the completed rotations; ALL_KEY_MATERIAL adds the first material and
        imported material pending rotation. Oldest first."""
        key = self.key_row(ctx, key_id, "ListKeyRotations")
        if key.origin is Origin.AWS_CLOUDHSM:
            raise _unsupported_origin(key)
        symmetric = key.key_spec is KeySpec.SYMMETRIC_DEFAULT
        if include_key_material is not None and not symmetric:
            raise ValidationException("Input parameter includeKeyMaterial can only be used with symmetric keys.")
        every = include_key_material == ALL_KEY_MATERIAL
        rows = [m for m in materials_of(self.session, key) if symmetric and (every or m.rotation_date is not None)]
        page, paging = page_of(rows, limit, marker)
        return {"Rotations": [self._entry(key, m) for m in page], **paging}

    @staticmethod
    def _entry(key: KmsKey, material: KmsKeyMaterial) -> dict[str, Any]:
        entry: dict[str, Any] = {"KeyId": key.arn, "KeyMaterialId": material.material_id,
                                 "KeyMaterialState": material.state.value}
        if key.origin is Origin.EXTERNAL:
            if material.description is not None:
                entry["KeyMaterialDescription"] = material.description
            if material.import_state is not None:
                entry["ImportState"] = material.import_state.value
            if material.expiration_model is not None:
                entry["ExpirationModel"] = material.expiration_model.value
            if material.valid_to is not None:
                entry["ValidTo"] = material.valid_to
        if material.rotation_date is not None and material.rotation_type is not None:
            entry.update(RotationDate=material.rotation_date, RotationType=material.rotation_type.value)
        return entry
