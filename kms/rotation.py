"""Key rotation (symmetric keys): automatic on the simulated clock and on demand. Owned by the rotation work."""

from __future__ import annotations

from datetime import datetime

from kms.models import KmsKey
from kms.runtime import Step


def rotate_automatically(step: Step, key: KmsKey, at: datetime) -> None:
    """Timer: new material at ``key.next_rotation_at``; the next rotation one period later."""
    raise NotImplementedError("automatic rotation")
