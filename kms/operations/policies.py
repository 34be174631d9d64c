"""key policies."""

from __future__ import annotations

from kms.operations.base import OperationsBase


class PolicyOperations(OperationsBase):
    pass
