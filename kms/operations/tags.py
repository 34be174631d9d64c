"""tags."""

from __future__ import annotations

from kms.operations.base import OperationsBase


class TagOperations(OperationsBase):
    pass
