"""aliases."""

from __future__ import annotations

from kms.operations.base import OperationsBase


class AliasOperations(OperationsBase):
    pass
