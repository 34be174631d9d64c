"""ReplicateKey and UpdatePrimaryRegion."""

from __future__ import annotations

from kms.operations.base import OperationsBase


class MultiRegionOperations(OperationsBase):
    pass
