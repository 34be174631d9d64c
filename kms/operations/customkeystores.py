"""Custom key stores (AWS CloudHSM and external key stores): not in this version.

They have their own issue; until it lands, each operation answers UnsupportedOperationException with a message
that says so, and nothing pretends to succeed.
"""

from __future__ import annotations

from typing import Any

from hsmsim.aws.context import RequestContext
from kms.errors import UnsupportedOperationException
from kms.operations.base import OperationsBase

_MESSAGE = ("{operation} is not available in this hsmsim version: custom key stores (AWS CloudHSM and external) "
            "are not implemented yet.")


def _unsupported(ctx: RequestContext) -> UnsupportedOperationException:
    return UnsupportedOperationException(_MESSAGE.format(operation=ctx.operation))


class CustomKeyStoreOperations(OperationsBase):
    def create_custom_key_store(self, ctx: RequestContext, **_: Any) -> dict[str, Any]:
        raise _unsupported(ctx)

    def connect_custom_key_store(self, ctx: RequestContext, **_: Any) -> dict[str, Any]:
        raise _unsupported(ctx)

    def disconnect_custom_key_store(self, ctx: RequestContext, **_: Any) -> dict[str, Any]:
        raise _unsupported(ctx)

    def delete_custom_key_store(self, ctx: RequestContext, **_: Any) -> dict[str, Any]:
        raise _unsupported(ctx)

    def describe_custom_key_stores(self, ctx: RequestContext, **_: Any) -> dict[str, Any]:
        raise _unsupported(ctx)

    def update_custom_key_store(self, ctx: RequestContext, **_: Any) -> dict[str, Any]:
        raise _unsupported(ctx)
