"""importing key material."""

from __future__ import annotations

from kms.operations.base import OperationsBase


class ImportOperations(OperationsBase):
    pass
