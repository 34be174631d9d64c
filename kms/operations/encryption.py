"""Encrypt, Decrypt and ReEncrypt."""

from __future__ import annotations

from kms.operations.base import OperationsBase


class EncryptionOperations(OperationsBase):
    pass
