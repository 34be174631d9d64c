"""What every KMS operation group shares: the runtime, the unit of work (if any), key resolution with the
key-state table, and the checks AWS makes on every cryptographic call (key usage, grant tokens, DryRun)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy.orm import Session

from hsmsim.aws.context import RequestContext
from kms.enums import KeyUsage
from kms.errors import DryRunOperationException, InvalidKeyUsageException
from kms.keystates import check_key_state
from kms.keyview import KeyView, NeedsThread, NeedsUnitOfWork
from kms.models import KmsKey
from kms.resolver import AliasFallback, KeyResolver
from kms.runtime import KMSRuntime, Step

DRY_RUN_MESSAGE = "The request would have succeeded, but the DryRun option is set."


class OperationsBase:
    """Built per request. ``step`` is ``None`` on the hot path (no database); ``inline`` says the request runs
    on the event loop, where heavy work must move to a thread (:meth:`heavy`)."""

    alias_fallback: AliasFallback | None = None
    """Set by the aliases group: binds AWS managed aliases lazily."""

    def __init__(self, runtime: KMSRuntime, step: Step | None, *, inline: bool = False) -> None:
        self.runtime = runtime
        self._step = step
        self.inline = inline
        self.resolver = KeyResolver(runtime, step.session if step else None, self.alias_fallback)

    @property
    def step(self) -> Step:
        if self._step is None:
            raise NeedsUnitOfWork()
        return self._step

    @property
    def session(self) -> Session:
        return self.step.session

    def now(self) -> datetime:
        return self.runtime.now()

    def heavy(self) -> None:
        """Call before CPU-heavy work (RSA private operations, key generation): leaves the event loop."""
        if self.inline:
            raise NeedsThread()

    # -- keys ----------------------------------------------------------------------------------------------

    def key_for(self, ctx: RequestContext, key_id: str, operation: str, *, allow_alias: bool = True,
                context: Mapping[str, str] | None = None) -> KeyView:
        """The key of a cryptographic operation, if the key policy or a grant lets the caller run ``operation``
        (with the request's encryption ``context``), checked against the key-state table."""
        view = self.resolver.view(ctx, key_id, allow_alias=allow_alias, action=operation, context=context)
        check_key_state(operation, view.arn, view.state)
        return view

    def key_row(self, ctx: RequestContext, key_id: str, operation: str | None, *, allow_alias: bool = False) -> KmsKey:
        """The key row of a management operation, checked against the key-state table."""
        key = self.resolver.row(ctx, key_id, allow_alias=allow_alias)
        if operation is not None:
            check_key_state(operation, key.arn, key.state)
        return key

    # -- checks shared by the cryptographic operations -------------------------------------------------------

    @staticmethod
    def require_usage(view: KeyView | KmsKey, usage: KeyUsage, operation: str) -> None:
        """``InvalidKeyUsageException: <arn> key usage is X which is not valid for <operation>.`` (recorded)."""
        actual = view.usage if isinstance(view, KeyView) else view.key_usage
        if actual is not usage:
            raise InvalidKeyUsageException(f"{view.arn} key usage is {actual.value} which is not valid for {operation}.")

    def check_grant_tokens(self, grant_tokens: Iterable[str] | None) -> None:
        self.runtime.grant_tokens.check(grant_tokens)

    @staticmethod
    def dry_run(dry_run: bool | None) -> None:
        """Call once every check passed and before anything changes or is used."""
        if dry_run:
            raise DryRunOperationException(DRY_RUN_MESSAGE)

    def record_use(self, ctx: RequestContext, view: KeyView, operation: str) -> None:
        self.runtime.usage.record(view.arn, operation, self.now(), ctx.request_id)
