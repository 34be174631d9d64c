"""From a ``KeyId`` parameter to a key: a row for the control plane, a cached :class:`KeyView` for crypto.

Resolution follows AWS's rules (kms.identifiers): key id, key ARN, alias name or alias ARN where allowed; a key
in another account only by ARN. Views come from the :class:`~kms.keyview.KeyCache` when possible; without a
database session (the hot path on the event loop) a miss raises :class:`~kms.keyview.NeedsUnitOfWork`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hsmsim.aws.context import RequestContext
from kms.grantrules import grant_rules
from kms.identifiers import (
    IdentifierKind,
    KeyReference,
    alias_not_found,
    key_not_found,
    parse_key_reference,
)
from kms.keystores.backing import BackingMaterials, HsmAead, backing_of
from kms.keyview import KeyView, NeedsUnitOfWork
from kms.materials import sealed_materials
from kms.metadata import key_metadata
from kms.models import KmsAlias, KmsKey
from kms.policies import IDENTITY_ONLY_OPERATIONS, Caller, authorize, authorize_identity
from kms.runtime import KMSRuntime

AliasFallback = Callable[[Session, KeyReference], str | None]
"""Resolves an alias with no row (AWS managed aliases are bound lazily); returns a key id or None."""


def caller_of(ctx: RequestContext) -> Caller | None:
    """The verified principal of a request (``hsmsim serve --credentials``); ``None`` without credentials, where
    the caller is its account's root as it always was."""
    if not ctx.authenticated:
        return None
    return Caller(ctx.account_id, ctx.principal, ctx.iam_policy)


def authorize_operation(ctx: RequestContext) -> None:
    """IAM's check of an operation that acts on no key (CreateKey, ListKeys, GenerateRandom, …): with credentials,
    the caller's IAM policy must allow it on ``*`` (kms.policies.authorize_identity); nothing for other
    operations, whose key policies decide."""
    if ctx.operation in IDENTITY_ONLY_OPERATIONS:
        authorize_identity(caller_of(ctx), ctx.operation)


class KeyResolver:
    def __init__(self, runtime: KMSRuntime, session: Session | None, alias_fallback: AliasFallback | None = None):
        self._runtime = runtime
        self._session = session
        self._alias_fallback = alias_fallback

    @property
    def session(self) -> Session:
        if self._session is None:
            raise NeedsUnitOfWork()
        return self._session

    # -- rows ----------------------------------------------------------------------------------------------

    def reference(self, ctx: RequestContext, raw: str, *, allow_alias: bool) -> KeyReference:
        return parse_key_reference(raw, ctx.account_id, ctx.region, allow_alias=allow_alias)

    def key_id_of(self, ref: KeyReference) -> str:
        if ref.kind is IdentifierKind.KEY:
            return ref.name
        alias = self.session.get(KmsAlias, (ref.account_id, ref.region, ref.name))
        if alias is not None and alias.target_key_id is not None:
            return alias.target_key_id
        found = self._alias_fallback(self.session, ref) if self._alias_fallback else None
        if found is None:
            raise alias_not_found(ref.account_id, ref.region, ref.name)
        return found

    def row(self, ctx: RequestContext, raw: str, *, allow_alias: bool = False) -> KmsKey:
        """The key row ``raw`` names; ``NotFoundException`` with AWS's message otherwise."""
        ref = self.reference(ctx, raw, allow_alias=allow_alias)
        key = self.row_by_id(ref.account_id, ref.region, self.key_id_of(ref))
        self.authorize(ctx, key)
        return key

    def authorize(self, ctx: RequestContext, key: KmsKey) -> None:
        """The key policy, or else a grant, decides
        (https://docs.aws.amazon.com/kms/latest/developerguide/control-access.html): ``AccessDeniedException``
        unless one lets the caller (an account's root) run the operation."""
        authorize(key.policy, caller_account=ctx.account_id, key_arn=key.arn, key_account=key.account_id,
                  region=key.region, operation=ctx.operation, grants=lambda: grant_rules(self.session, key.arn),
                  caller=caller_of(ctx))

    @staticmethod
    def authorize_view(ctx: RequestContext, view: KeyView, action: str,
                       context: Mapping[str, str] | None = None) -> None:
        """:meth:`authorize` for a cached key and one action (``ReEncryptFrom`` for ReEncrypt's source). A policy
        Allow for (caller, action) is remembered with the view, which is dropped whenever the policy or a grant
        changes; a grant is checked per request (its constraints depend on the encryption context). With a
        verified principal the decision is remembered per (principal, IAM policy, action), and not at all when a
        policy has encryption-context conditions."""
        decision: tuple[str | None, ...] = (
            (ctx.account_id, ctx.principal, ctx.iam_policy, action) if ctx.authenticated else (ctx.account_id, action))
        if decision in view.allowed:
            return
        if authorize(view.policy, caller_account=ctx.account_id, key_arn=view.arn, key_account=view.account_id,
                     region=view.region, operation=action, grants=lambda: view.grants, context=context,
                     caller=caller_of(ctx)):
            view.allowed.add(decision)

    def row_by_id(self, account_id: str, region: str, key_id: str) -> KmsKey:
        key = self.session.scalar(select(KmsKey).where(
            KmsKey.account_id == account_id, KmsKey.region == region, KmsKey.key_id == key_id))
        if key is None:
            raise key_not_found(account_id, region, key_id)
        return key

    # -- views ---------------------------------------------------------------------------------------------

    def view(self, ctx: RequestContext, raw: str, *, allow_alias: bool = True, action: str | None = None,
             context: Mapping[str, str] | None = None) -> KeyView:
        """The key ``raw`` names, as an in-memory view (cached), if the caller may run ``action`` (default: the
        request's operation) with it."""
        cache = self._runtime.cache
        ref = self.reference(ctx, raw, allow_alias=allow_alias)
        key_id = ref.name if ref.kind is IdentifierKind.KEY else cache.key_id_of(ref.account_id, ref.region, ref.name)
        view = None if key_id is None else self._fresh(cache.view(ref.account_id, ref.region, key_id))
        if view is None:
            generation = cache.generation
            view = self.build(self.row_by_id(ref.account_id, ref.region, self.key_id_of(ref)))
            cache.store(generation, view, names=(ref.name,) if ref.kind is IdentifierKind.ALIAS else ())
        self.authorize_view(ctx, view, action or ctx.operation, context)
        return view

    def view_by_id(self, account_id: str, region: str, key_id: str) -> KeyView:
        """The view of a key named by id alone (a ciphertext header names its key this way)."""
        cache = self._runtime.cache
        found = self._fresh(cache.view(account_id, region, key_id))
        if found is not None:
            return found
        generation = cache.generation
        view = self.build(self.row_by_id(account_id, region, key_id))
        cache.store(generation, view)
        return view

    def view_for_ciphertext(self, ctx: RequestContext, account_id: str, key_id: str, action: str,
                            context: Mapping[str, str] | None) -> KeyView:
        """The key a ciphertext header names, in the caller's region, if the caller may run ``action`` with it."""
        view = self.view_by_id(account_id, ctx.region, key_id)
        self.authorize_view(ctx, view, action, context)
        return view

    def build(self, key: KmsKey) -> KeyView:
        session = self.session
        due = [t for t in (key.due_at, key.material_expires_at, key.next_rotation_at) if t is not None]
        materials: Mapping[str, bytes]
        current, hsm_aead = key.current_material_id, None
        if key.custom_key_store_id is not None:
            backing = backing_of(session, key)
            materials, current = BackingMaterials(backing.backing_key_id), backing.backing_key_id
            hsm_aead = HsmAead(self._runtime.cloudhsm.hsm, self._runtime.handles, backing)
        else:
            materials = sealed_materials(session, self._runtime.domain_key, key)
        return KeyView(
            arn=key.arn,
            account_id=key.account_id,
            region=key.region,
            key_id=key.key_id,
            spec=key.key_spec,
            usage=key.key_usage,
            origin=key.origin,
            key_manager=key.key_manager,
            state=key.state,
            current_material_id=current,
            materials=materials,
            hsm_aead=hsm_aead,
            metadata=key_metadata(session, key),
            fresh_until=min(due) if due else None,
            custom_key_store_id=key.custom_key_store_id,
            policy=key.policy,
            grants=grant_rules(session, key.arn),
        )

    def _fresh(self, view: KeyView | None) -> KeyView | None:
        if view is None:
            return None
        if view.fresh_until is not None and self._runtime.now() >= view.fresh_until:
            return None
        return view

    def now(self) -> datetime:
        return self._runtime.now()
