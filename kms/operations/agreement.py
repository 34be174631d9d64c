"""DeriveSharedSecret, Encapsulate and Decapsulate."""

from __future__ import annotations

from kms.operations.base import OperationsBase


class KeyAgreementOperations(OperationsBase):
    pass
