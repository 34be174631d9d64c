"""Imported key material (BYOK). Owned by the import work."""

from __future__ import annotations

from datetime import datetime

from kms.models import KmsKey
from kms.runtime import Step


def expire_imported_material(step: Step, key: KmsKey, at: datetime) -> None:
    """Timer: imported material reached its ValidTo; the key goes back to PendingImport."""
    raise NotImplementedError("import expiry")
