"""Grants as an authorization: who a grant lets use a key, for which operations, under which constraints.

https://docs.aws.amazon.com/kms/latest/developerguide/grants.html — a grant allows its grantee principal the
grant's operations on the key; ``EncryptionContextEquals`` needs the request's encryption context to be exactly
the constraint's, ``EncryptionContextSubset`` to contain every pair of it
(https://docs.aws.amazon.com/kms/latest/APIReference/API_GrantConstraints.html). Constraints bind only operations
that take an encryption context. The simulator's callers are account roots, so a grant to any principal of an
account (``arn:aws:iam::<account>:…`` or the account id) counts for that account.

With ``hsmsim serve --credentials`` the caller is a principal (kms.policies.Caller) and a grant authorizes its
grantee principal by ARN (:meth:`GrantRule.permits_principal`): a grant to an IAM user or role lets that principal
(and no other) use the key; a grant to an account (its root ARN or id) lets its root, and its users and roles whose
IAM policy allows the operation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from kms.models import KmsGrant

if TYPE_CHECKING:
    from kms.policies import Caller

_ACCOUNT_IN_PRINCIPAL = re.compile(r"^(?:arn:aws[a-z-]*:(?:iam|sts)::)?(\d{12})(?::|$)")

CONTEXT_OPERATIONS = frozenset({
    "Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext",
})
"""Grant operations whose requests carry an encryption context (the ones constraints apply to)."""


def account_of(principal: str | None) -> str | None:
    """The account a principal ARN (or bare account id) belongs to; ``None`` for service principals."""
    match = _ACCOUNT_IN_PRINCIPAL.match(principal or "")
    return match.group(1) if match else None


@dataclass(frozen=True)
class GrantRule:
    grantee_account: str | None
    operations: frozenset[str]
    context_equals: Mapping[str, str] | None = None
    context_subset: Mapping[str, str] | None = None
    grantee: str | None = None

    def permits(self, caller_account: str, operation: str, context: Mapping[str, str] | None) -> bool:
        if self.grantee_account != caller_account:
            return False
        return self._within(operation, context)

    def permits_principal(self, caller: Caller, operation: str, context: Mapping[str, str] | None,
                          iam_allows: bool) -> bool:
        """Whether the grant lets a verified principal run ``operation``: the grantee is its ARN, or its account
        (root ARN or id) when the caller is that root or its IAM policy allows the operation."""
        if self.grantee is None:
            return False
        if self.grantee != caller.principal:
            to_account = self.grantee == caller.account or (
                self.grantee.endswith(":root") and account_of(self.grantee) == caller.account)
            if not (to_account and (caller.is_root or iam_allows)):
                return False
        return self._within(operation, context)

    def _within(self, operation: str, context: Mapping[str, str] | None) -> bool:
        if operation not in self.operations:
            return False
        if operation not in CONTEXT_OPERATIONS:
            return True
        given = dict(context or {})
        if self.context_equals is not None and given != dict(self.context_equals):
            return False
        subset = self.context_subset
        return subset is None or all(given.get(k) == v for k, v in subset.items())


def rule_of(grant: KmsGrant) -> GrantRule:
    constraints = grant.constraints or {}
    return GrantRule(
        grantee_account=account_of(grant.grantee_principal),
        operations=frozenset(grant.operations),
        context_equals=constraints.get("EncryptionContextEquals"),
        context_subset=constraints.get("EncryptionContextSubset"),
        grantee=grant.grantee_principal,
    )


def grant_rules(session: Session, key_arn: str) -> tuple[GrantRule, ...]:
    return tuple(rule_of(g) for g in session.scalars(select(KmsGrant).where(KmsGrant.key_arn == key_arn)))
