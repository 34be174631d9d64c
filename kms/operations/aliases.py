"""Aliases: CreateAlias, UpdateAlias, DeleteAlias, ListAliases, and the lazy AWS managed aliases.

https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateAlias.html (and UpdateAlias, DeleteAlias,
ListAliases); names and quotas: https://docs.aws.amazon.com/kms/latest/developerguide/alias-create.html and
https://docs.aws.amazon.com/kms/latest/developerguide/resource-limits.html (50 aliases per key).
Recorded: a name without ``alias/`` (spec/kms-real-responses.md §1.3); messages for a duplicate or unknown alias
as moto reproduces them against AWS (spec/aws-semantics.md §5.1).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hsmsim.aws.context import RequestContext
from hsmsim.aws.errors import ValidationException
from kms.enums import KeySpec
from kms.errors import (
    AlreadyExistsException,
    InvalidMarkerException,
    LimitExceededException,
)
from kms.identifiers import ALIAS_PREFIX, ARN, KeyReference, alias_arn, alias_not_found
from kms.managedkeys import (
    MANAGED_ALIAS_NAMES,
    NotAuthorizedException,
    bind_managed_alias,
    is_reserved,
)
from kms.models import KmsAlias, KmsKey
from kms.operations.base import OperationsBase
from kms.operations.keys import KeyOperations
from kms.paging import decode_marker, encode_marker
from kms.policies import authorize_identity
from kms.resolver import caller_of

ALIASES_PER_KEY = 50
LIST_ALIASES_DEFAULT_LIMIT = 50
LIST_ALIASES_MAX_LIMIT = 100
PREFIX_MESSAGE = ('Alias must start with the prefix "alias/". '
                  'Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html')
_NAME_AFTER_PREFIX = re.compile(r"^[a-zA-Z0-9/_-]+$")


def key_kind(key: KmsKey) -> str:
    """UpdateAlias's notion of key type: symmetric, HMAC or asymmetric."""
    if key.key_spec is KeySpec.SYMMETRIC_DEFAULT:
        return "symmetric"
    return "HMAC" if key.key_spec.value.startswith("HMAC_") else "asymmetric"


class AliasOperations(OperationsBase):
    # -- AWS managed aliases ---------------------------------------------------------------------------------

    def alias_fallback(self, session: Session, ref: KeyReference) -> str | None:
        """An ``alias/aws/<service>`` with no row yet: create its AWS managed key (needs a unit of work)."""
        return bind_managed_alias(KeyOperations(self.runtime, self.step), ref)

    # -- names -----------------------------------------------------------------------------------------------

    @staticmethod
    def check_alias_name(alias_name: str) -> None:
        """``alias/`` prefix (recorded message), AWS's reserved ``alias/aws/``, the characters after the prefix."""
        if not alias_name.startswith(ALIAS_PREFIX):
            raise ValidationException(PREFIX_MESSAGE)
        if is_reserved(alias_name):
            raise NotAuthorizedException()
        if not _NAME_AFTER_PREFIX.match(alias_name.removeprefix(ALIAS_PREFIX)):
            raise ValidationException(f"{alias_name} contains invalid characters for an alias")

    def alias_row(self, ctx: RequestContext, alias_name: str) -> KmsAlias:
        alias = self.session.get(KmsAlias, (ctx.account_id, ctx.region, alias_name))
        if alias is None or alias.target_key_id is None:
            raise alias_not_found(ctx.account_id, ctx.region, alias_name)
        return alias

    def target_key(self, ctx: RequestContext, target_key_id: str, operation: str) -> KmsKey:
        """The key an alias should point to: a key id or key ARN (never an alias), in the caller's account."""
        match = ARN.match(target_key_id)
        if target_key_id.startswith(ALIAS_PREFIX) or (match is not None and match.group(4) == "alias"):
            raise ValidationException("Aliases must refer to keys. Not aliases")
        return self.key_row(ctx, target_key_id, operation)

    @staticmethod
    def authorize_alias(ctx: RequestContext, alias_name: str) -> None:
        """IAM's half of CreateAlias, UpdateAlias and DeleteAlias: with credentials, ``kms:<operation>`` on the
        alias ARN in the caller's IAM policy (the key policy of each affected key is the other half)."""
        authorize_identity(caller_of(ctx), ctx.operation, alias_arn(ctx.account_id, ctx.region, alias_name))

    def check_alias_quota(self, key: KmsKey) -> None:
        count = self.session.scalar(select(func.count()).select_from(KmsAlias).where(
            KmsAlias.account_id == key.account_id, KmsAlias.region == key.region,
            KmsAlias.target_key_id == key.key_id)) or 0
        if count >= ALIASES_PER_KEY:
            raise LimitExceededException(
                f"Too many aliases for {key.arn}: a KMS key can have at most {ALIASES_PER_KEY} aliases.")

    # -- operations ------------------------------------------------------------------------------------------

    def create_alias(self, ctx: RequestContext, *, alias_name: str, target_key_id: str) -> None:
        self.check_alias_name(alias_name)
        self.authorize_alias(ctx, alias_name)
        if self.session.get(KmsAlias, (ctx.account_id, ctx.region, alias_name)) is not None:
            raise AlreadyExistsException(
                f"An alias with the name {alias_arn(ctx.account_id, ctx.region, alias_name)} already exists")
        key = self.target_key(ctx, target_key_id, "CreateAlias")
        self.check_alias_quota(key)
        now = self.now()
        self.session.add(KmsAlias(account_id=ctx.account_id, region=ctx.region, alias_name=alias_name,
                                  target_key_id=key.key_id, created_at=now, updated_at=now))

    def update_alias(self, ctx: RequestContext, *, alias_name: str, target_key_id: str) -> None:
        """The new target must be the same kind of key (symmetric, asymmetric or HMAC) with the same key usage;
        its state is checked with the table's UpdateAlias rule for the new target (footnote 10). The key policies
        of both the current and the new target must allow kms:UpdateAlias."""
        self.check_alias_name(alias_name)
        self.authorize_alias(ctx, alias_name)
        alias = self.alias_row(ctx, alias_name)
        key = self.target_key(ctx, target_key_id, "UpdateAliasTarget")
        current = self.resolver.row_by_id(ctx.account_id, ctx.region, alias.target_key_id or "")
        self.resolver.authorize(ctx, current)
        if key.key_id == current.key_id:
            return
        if key_kind(key) != key_kind(current) or key.key_usage is not current.key_usage:
            raise ValidationException(
                f"{alias_name} points to a {key_kind(current)} key with key usage {current.key_usage.value}; "
                f"it cannot be updated to {key.arn}, a {key_kind(key)} key with key usage {key.key_usage.value}. "
                "The current and new KMS key must be the same type and have the same key usage.")
        self.check_alias_quota(key)
        alias.target_key_id = key.key_id
        alias.updated_at = self.now()

    def delete_alias(self, ctx: RequestContext, *, alias_name: str) -> None:
        self.check_alias_name(alias_name)
        self.authorize_alias(ctx, alias_name)
        alias = self.alias_row(ctx, alias_name)
        self.resolver.authorize(ctx, self.resolver.row_by_id(ctx.account_id, ctx.region, alias.target_key_id or ""))
        self.session.delete(alias)

    def list_aliases(
        self, ctx: RequestContext, *, key_id: str | None = None, limit: int | None = None, marker: str | None = None
    ) -> dict[str, Any]:
        """Sorted by name and paged by it; without ``KeyId`` the predefined AWS aliases whose key does not exist
        yet are listed too, with no ``TargetKeyId`` (as AWS does)."""
        query = select(KmsAlias).where(KmsAlias.account_id == ctx.account_id, KmsAlias.region == ctx.region)
        if key_id is not None:
            key = self.key_row(ctx, key_id, None)
            query = query.where(KmsAlias.target_key_id == key.key_id)
        rows = {alias.alias_name: alias for alias in self.session.scalars(query)}
        names = set(rows) if key_id is not None else set(rows) | set(MANAGED_ALIAS_NAMES)
        after = decode_marker(marker)
        if after is not None and not isinstance(after, str):
            raise InvalidMarkerException("The marker is invalid.")
        ordered = sorted(name for name in names if after is None or name > after)
        size = min(limit or LIST_ALIASES_DEFAULT_LIMIT, LIST_ALIASES_MAX_LIMIT)
        entries = [self.entry(ctx, name, rows.get(name)) for name in ordered[:size]]
        if len(ordered) > size:
            return {"Aliases": entries, "Truncated": True, "NextMarker": encode_marker(ordered[size - 1])}
        return {"Aliases": entries, "Truncated": False}

    @staticmethod
    def entry(ctx: RequestContext, name: str, alias: KmsAlias | None) -> dict[str, Any]:
        entry: dict[str, Any] = {"AliasName": name, "AliasArn": alias_arn(ctx.account_id, ctx.region, name)}
        if alias is not None and alias.target_key_id is not None:
            entry.update(TargetKeyId=alias.target_key_id, CreationDate=alias.created_at,
                         LastUpdatedDate=alias.updated_at)
        return entry
