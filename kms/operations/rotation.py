"""key rotation."""

from __future__ import annotations

from kms.operations.base import OperationsBase


class RotationOperations(OperationsBase):
    pass
