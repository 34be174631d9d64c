"""grants."""

from __future__ import annotations

from kms.operations.base import OperationsBase


class GrantOperations(OperationsBase):
    pass
