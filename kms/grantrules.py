"""Grants as an authorization: who a grant lets use a key, for which operations, under which constraints.

https://docs.aws.amazon.com/kms/latest/developerguide/grants.html — a grant allows its grantee principal the
grant's operations on the key; ``EncryptionContextEquals`` needs the request's encryption context to be exactly
the constraint's, ``EncryptionContextSubset`` to contain every pair of it
(https://docs.aws.amazon.com/kms/latest/APIReference/API_GrantConstraints.html). Constraints bind only operations
that take an encryption context. The simulator's callers are account roots, so a grant to any principal of an
account (``arn:aws:iam::<account>:…`` or the account id) counts for that account.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from kms.models import KmsGrant

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

    def permits(self, caller_account: str, operation: str, context: Mapping[str, str] | None) -> bool:
        if self.grantee_account != caller_account or operation not in self.operations:
            return False
        if operation not in CONTEXT_OPERATIONS:
            return True
        given = dict(context or {})
        if self.context_equals is not None and given != dict(self.context_equals):
            return False
        if self.context_subset is not None and any(given.get(k) != v for k, v in self.context_subset.items()):
            return False
        return True


def rule_of(grant: KmsGrant) -> GrantRule:
    constraints = grant.constraints or {}
    return GrantRule(
        grantee_account=account_of(grant.grantee_principal),
        operations=frozenset(grant.operations),
        context_equals=constraints.get("EncryptionContextEquals"),
        context_subset=constraints.get("EncryptionContextSubset"),
    )


def grant_rules(session: Session, key_arn: str) -> tuple[GrantRule, ...]:
    return tuple(rule_of(g) for g in session.scalars(select(KmsGrant).where(KmsGrant.key_arn == key_arn)))
