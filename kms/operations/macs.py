"""GenerateMac and VerifyMac."""

from __future__ import annotations

from kms.operations.base import OperationsBase


class MacOperations(OperationsBase):
    pass
