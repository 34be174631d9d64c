"""Sign, Verify and GetPublicKey."""

from __future__ import annotations

from kms.operations.base import OperationsBase


class SigningOperations(OperationsBase):
    pass
