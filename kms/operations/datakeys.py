"""GenerateDataKey(+WithoutPlaintext), GenerateDataKeyPair(+WithoutPlaintext) and GenerateRandom."""

from __future__ import annotations

from kms.operations.base import OperationsBase


class DataKeyOperations(OperationsBase):
    pass
