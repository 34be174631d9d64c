"""CreateGrant, ListGrants, ListRetirableGrants, RetireGrant and RevokeGrant.

https://docs.aws.amazon.com/kms/latest/developerguide/grants.html and the API pages of each operation. Grants are
stored, listed, retired and revoked as AWS does, their tokens are validated wherever a request carries
``GrantTokens``, and they authorize: where the key policy does not allow a caller, a grant to a principal of the
caller's account does, for its operations and within its encryption-context constraints (kms.grantrules). Who
may retire a grant is checked only with ``hsmsim serve --credentials`` (:func:`may_retire`).
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from sqlalchemy import func, select

from hsmsim.aws.context import RequestContext
from hsmsim.aws.errors import ValidationException
from kms.enums import GrantOperation as Op
from kms.enums import KeySpec, KeyUsage
from kms.errors import (
    InvalidGrantIdException,
    InvalidMarkerException,
    LimitExceededException,
    NotFoundException,
)
from kms.grantrules import account_of
from kms.identifiers import partition
from kms.models import KmsGrant, KmsKey
from kms.operations.base import OperationsBase
from kms.paging import decode_marker, encode_marker
from kms.policies import (
    NO_RESOURCE_POLICY,
    Caller,
    Facts,
    denied,
    evaluate_identity_policy,
)
from kms.resolver import caller_of

MAX_GRANTS_PER_KEY = 50_000
"""https://docs.aws.amazon.com/kms/latest/developerguide/resource-limits.html (grants per KMS key)."""
DEFAULT_GRANT_LIMIT = 50
MAX_GRANT_LIMIT = 100
"""ListGrants/ListRetirableGrants: "it must be between 1 and 100 … it defaults to 50" (a larger model-valid Limit
returns at most 100, as "KMS does not return more than the specified number of items, but it might return fewer")."""
GRANT_ID = re.compile(r"^[0-9a-f]{64}$")

_ALWAYS = frozenset({Op.CREATE_GRANT, Op.DESCRIBE_KEY, Op.RETIRE_GRANT})
_SYMMETRIC = frozenset({
    Op.ENCRYPT, Op.DECRYPT, Op.RE_ENCRYPT_FROM, Op.RE_ENCRYPT_TO, Op.GENERATE_DATA_KEY,
    Op.GENERATE_DATA_KEY_WITHOUT_PLAINTEXT, Op.GENERATE_DATA_KEY_PAIR, Op.GENERATE_DATA_KEY_PAIR_WITHOUT_PLAINTEXT,
})
_BY_USAGE = {
    KeyUsage.ENCRYPT_DECRYPT: frozenset({Op.ENCRYPT, Op.DECRYPT, Op.RE_ENCRYPT_FROM, Op.RE_ENCRYPT_TO, Op.GET_PUBLIC_KEY}),
    KeyUsage.SIGN_VERIFY: frozenset({Op.SIGN, Op.VERIFY, Op.GET_PUBLIC_KEY}),
    KeyUsage.GENERATE_VERIFY_MAC: frozenset({Op.GENERATE_MAC, Op.VERIFY_MAC}),
    KeyUsage.KEY_AGREEMENT: frozenset({Op.DERIVE_SHARED_SECRET, Op.GET_PUBLIC_KEY}),
    KeyUsage.ENCAPSULATE_DECAPSULATE: frozenset({Op.ENCAPSULATE, Op.DECAPSULATE, Op.GET_PUBLIC_KEY}),
}
EC_CONSTRAINTS = ("EncryptionContextEquals", "EncryptionContextSubset")
MAX_CONSTRAINT_PAIRS = 8
MAX_CONSTRAINT_CHARS = 384


def permitted_operations(key: KmsKey) -> frozenset[Op]:
    """The grant operations a key supports (the developer guide's "grant operations" by key type)."""
    if key.key_spec is KeySpec.SYMMETRIC_DEFAULT:
        return _ALWAYS | _SYMMETRIC
    return _ALWAYS | _BY_USAGE[key.key_usage]


def check_operations(key: KmsKey, operations: list[str]) -> list[str]:
    """The operations without duplicates; ``ValidationException`` for none or one the key does not support."""
    if not operations:
        raise ValidationException("1 validation error detected: Value '[]' at 'operations' failed to satisfy "
                                  "constraint: Member must have length greater than or equal to 1")
    unique = list(dict.fromkeys(operations))
    unsupported = [op for op in unique if Op(op) not in permitted_operations(key)]
    if unsupported:
        raise ValidationException(
            f"Grant operations {unsupported} are not supported by KMS key {key.arn} "
            f"(KeySpec {key.key_spec.value}, KeyUsage {key.key_usage.value}).")
    return unique


def check_constraints(key: KmsKey, constraints: dict[str, Any] | None) -> dict[str, Any] | None:
    """Encryption-context constraints only on keys whose operations take an encryption context (symmetric
    encryption keys), with at most 8 pairs and 384 characters each (GrantConstraints, create-grant-overview)."""
    if not constraints:
        return None
    for name in EC_CONSTRAINTS:
        context = constraints.get(name)
        if context is None:
            continue
        if key.key_spec is not KeySpec.SYMMETRIC_DEFAULT:
            raise ValidationException(
                f"{name} grant constraints are supported only for operations that take an encryption context: "
                f"KMS key {key.arn} with KeySpec {key.key_spec.value} does not support an encryption context.")
        if len(context) > MAX_CONSTRAINT_PAIRS:
            raise ValidationException(f"{name} can include up to {MAX_CONSTRAINT_PAIRS} encryption context pairs.")
        if sum(len(k) + len(v) for k, v in context.items()) > MAX_CONSTRAINT_CHARS:
            raise ValidationException(f"The encryption context in {name} cannot exceed {MAX_CONSTRAINT_CHARS} characters.")
    return dict(constraints)


def check_principals(grantee: str | None, grantee_service: str | None, retiring: str | None,
                     retiring_service: str | None, constraints: dict[str, Any] | None) -> None:
    """Exactly one grantee; at most one retiring principal; a service grantee needs a SourceArn constraint and a
    retiring principal (CreateGrant request parameters)."""
    if (grantee is None) == (grantee_service is None):
        raise ValidationException("You must specify either GranteePrincipal or GranteeServicePrincipal, but not both.")
    if retiring is not None and retiring_service is not None:
        raise ValidationException("You can specify either RetiringPrincipal or RetiringServicePrincipal, but not both.")
    if grantee_service is not None:
        if not (constraints or {}).get("SourceArn"):
            raise ValidationException("A grant with a GranteeServicePrincipal must have a SourceArn grant constraint.")
        if retiring is None and retiring_service is None:
            raise ValidationException(
                "A grant with a GranteeServicePrincipal must have a RetiringPrincipal or RetiringServicePrincipal.")


def grant_entry(grant: KmsGrant) -> dict[str, Any]:
    """A GrantListEntry (absent members are omitted, as in AWS's ListGrants examples)."""
    entry: dict[str, Any] = {"KeyId": grant.key_arn, "GrantId": grant.grant_id}
    if grant.name is not None:
        entry["Name"] = grant.name
    entry["CreationDate"] = grant.created_at
    optional = {
        "GranteePrincipal": grant.grantee_principal,
        "RetiringPrincipal": grant.retiring_principal,
        "IssuingAccount": grant.issuing_account,
        "Operations": list(grant.operations),
        "Constraints": grant.constraints,
        "GranteeServicePrincipal": grant.grantee_service_principal,
        "RetiringServicePrincipal": grant.retiring_service_principal,
    }
    entry.update({member: value for member, value in optional.items() if value is not None})
    return entry


def grant_properties(grant: KmsGrant) -> tuple[Any, ...]:
    """What a CreateGrant retry with the same Name must repeat to get the same grant back."""
    return (grant.grantee_principal, grant.grantee_service_principal, grant.retiring_principal,
            grant.retiring_service_principal, grant.issuing_account, frozenset(grant.operations), grant.constraints)


def grant_not_found(grant_id: str) -> NotFoundException:
    return NotFoundException(f"Grant ID {grant_id} not found")


def check_grant_id(grant_id: str) -> None:
    """AWS grant ids are 64 hex digits; anything else is ``InvalidGrantIdException``."""
    if not GRANT_ID.match(grant_id):
        raise InvalidGrantIdException(f"Invalid grant ID {grant_id}")


def may_retire(caller: Caller, grant: KmsGrant) -> bool:
    """Who may retire a grant (developer guide, "Retiring and revoking grants"; RetireGrant): its retiring
    principal, its grantee principal if the grant includes RetireGrant, and the account in which the grant was
    created (its root, and its users and roles whose IAM policy allows kms:RetireGrant on the key). A grant's
    account principal (``arn:aws:iam::<account>:root`` or the id) stands for its root and, through IAM, the rest."""
    if caller.principal == grant.retiring_principal:
        return True
    if caller.principal == grant.grantee_principal and "RetireGrant" in grant.operations:
        return True
    accounts = [account_of(grant.issuing_account)]
    retiring = grant.retiring_principal or ""
    if retiring == caller.account or retiring.endswith(":root"):
        accounts.append(account_of(retiring))
    if caller.account not in accounts:
        return False
    return caller.is_root or evaluate_identity_policy(
        caller.iam_policy, grant.key_arn, "RetireGrant", Facts(caller, None)) is True


class GrantOperations(OperationsBase):
    def create_grant(
        self,
        ctx: RequestContext,
        *,
        key_id: str,
        operations: list[str],
        grantee_principal: str | None = None,
        retiring_principal: str | None = None,
        constraints: dict[str, Any] | None = None,
        grant_tokens: list[str] | None = None,
        name: str | None = None,
        dry_run: bool | None = None,
        grantee_service_principal: str | None = None,
        retiring_service_principal: str | None = None,
    ) -> dict[str, Any]:
        """https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateGrant.html — a retry with the same
        ``Name`` and properties returns the existing grant's id (and a new token)."""
        check_principals(grantee_principal, grantee_service_principal, retiring_principal,
                         retiring_service_principal, constraints)
        self.check_grant_tokens(grant_tokens)
        key = self.key_row(ctx, key_id, "CreateGrant")
        unique_operations = check_operations(key, operations)
        stored_constraints = check_constraints(key, constraints)
        grant = KmsGrant(
            key_arn=key.arn, account_id=key.account_id, name=name, grantee_principal=grantee_principal,
            grantee_service_principal=grantee_service_principal, retiring_principal=retiring_principal,
            retiring_service_principal=retiring_service_principal,
            issuing_account=f"arn:{partition(ctx.region)}:iam::{ctx.account_id}:root",
            operations=unique_operations, constraints=stored_constraints,
        )
        existing = self._same_named_grant(grant) if name is not None else None
        if existing is None and self._grant_count(key.arn) >= MAX_GRANTS_PER_KEY:
            raise LimitExceededException(
                f"The grant quota of {MAX_GRANTS_PER_KEY} grants for KMS key {key.arn} has been reached.")
        self.dry_run(dry_run)
        if existing is not None:
            grant = existing
        else:
            grant.grant_id = secrets.token_hex(32)
            grant.created_at = self.now()
            grant.created_seq = (self.session.scalar(select(func.max(KmsGrant.created_seq))) or 0) + 1
            self.session.add(grant)
        return {"GrantToken": self.runtime.grant_tokens.issue(grant.grant_id), "GrantId": grant.grant_id}

    def _same_named_grant(self, wanted: KmsGrant) -> KmsGrant | None:
        candidates = self.session.scalars(select(KmsGrant).where(
            KmsGrant.key_arn == wanted.key_arn, KmsGrant.name == wanted.name))
        return next((grant for grant in candidates if grant_properties(grant) == grant_properties(wanted)), None)

    def _grant_count(self, arn: str) -> int:
        return self.session.scalar(select(func.count()).select_from(KmsGrant).where(KmsGrant.key_arn == arn)) or 0

    # -- listing ---------------------------------------------------------------------------------------------

    def list_grants(
        self,
        ctx: RequestContext,
        *,
        key_id: str,
        limit: int | None = None,
        marker: str | None = None,
        grant_id: str | None = None,
        grantee_principal: str | None = None,
        grantee_service_principal: str | None = None,
    ) -> dict[str, Any]:
        """https://docs.aws.amazon.com/kms/latest/APIReference/API_ListGrants.html"""
        if grantee_principal is not None and grantee_service_principal is not None:
            raise ValidationException("You can specify either GranteePrincipal or GranteeServicePrincipal, but not both.")
        if grant_id is not None:
            check_grant_id(grant_id)
        key = self.key_row(ctx, key_id, "ListGrants")
        filters = [KmsGrant.key_arn == key.arn]
        if grant_id is not None:
            filters.append(KmsGrant.grant_id == grant_id)
        if grantee_principal is not None:
            filters.append(KmsGrant.grantee_principal == grantee_principal)
        if grantee_service_principal is not None:
            filters.append(KmsGrant.grantee_service_principal == grantee_service_principal)
        return self._page(select(KmsGrant).where(*filters), limit, marker)

    def list_retirable_grants(
        self,
        ctx: RequestContext,
        *,
        limit: int | None = None,
        marker: str | None = None,
        retiring_principal: str | None = None,
        retiring_service_principal: str | None = None,
    ) -> dict[str, Any]:
        """https://docs.aws.amazon.com/kms/latest/APIReference/API_ListRetirableGrants.html — grants on keys of
        any account in the caller's region whose retiring principal is the one named."""
        if (retiring_principal is None) == (retiring_service_principal is None):
            raise ValidationException("You must specify either RetiringPrincipal or RetiringServicePrincipal, but not both.")
        principal = (KmsGrant.retiring_principal == retiring_principal if retiring_principal is not None
                     else KmsGrant.retiring_service_principal == retiring_service_principal)
        query = (select(KmsGrant).join(KmsKey, KmsKey.arn == KmsGrant.key_arn)
                 .where(principal, KmsKey.region == ctx.region))
        return self._page(query, limit, marker)

    def _page(self, query: Any, limit: int | None, marker: str | None) -> dict[str, Any]:
        after = decode_marker(marker) or 0
        if not isinstance(after, int) or isinstance(after, bool):
            raise InvalidMarkerException("The marker is invalid.")
        size = min(limit or DEFAULT_GRANT_LIMIT, MAX_GRANT_LIMIT)
        rows = list(self.session.scalars(
            query.where(KmsGrant.created_seq > after).order_by(KmsGrant.created_seq).limit(size + 1)))
        result: dict[str, Any] = {"Grants": [grant_entry(g) for g in rows[:size]]}
        if len(rows) > size:
            result.update(Truncated=True, NextMarker=encode_marker(rows[size - 1].created_seq))
        else:
            result["Truncated"] = False
        return result

    # -- retiring and revoking -------------------------------------------------------------------------------

    def retire_grant(
        self,
        ctx: RequestContext,
        *,
        grant_token: str | None = None,
        key_id: str | None = None,
        grant_id: str | None = None,
        dry_run: bool | None = None,
    ) -> None:
        """https://docs.aws.amazon.com/kms/latest/APIReference/API_RetireGrant.html — by grant token, or by the
        key (id or ARN) and grant id. Who may retire is checked with credentials on (:func:`may_retire`)."""
        if grant_token is None and (key_id is None or grant_id is None):
            raise ValidationException("Either GrantToken, or both KeyId and GrantId, must be specified.")
        if grant_id is not None:
            check_grant_id(grant_id)
        if grant_token is not None:
            named = self.runtime.grant_tokens.grant_id_of(grant_token)
            if grant_id is not None and grant_id != named:
                raise InvalidGrantIdException(f"Grant ID {grant_id} does not match the grant token.")
            grant_id = named
        assert grant_id is not None
        grant = self.session.get(KmsGrant, grant_id)
        if key_id is not None:
            key = self.key_row(ctx, key_id, "RetireGrant")
            if grant is None or grant.key_arn != key.arn:
                raise grant_not_found(grant_id)
        elif grant is None or grant.key_arn.split(":")[3] != ctx.region:  # grants are regional, like their keys
            raise grant_not_found(grant_id)
        caller = caller_of(ctx)
        if caller is not None and not may_retire(caller, grant):
            raise denied(caller.principal, "RetireGrant", grant.key_arn, NO_RESOURCE_POLICY)
        self.dry_run(dry_run)
        self.session.delete(grant)

    def revoke_grant(self, ctx: RequestContext, *, key_id: str, grant_id: str, dry_run: bool | None = None) -> None:
        """https://docs.aws.amazon.com/kms/latest/APIReference/API_RevokeGrant.html"""
        check_grant_id(grant_id)
        key = self.key_row(ctx, key_id, "RevokeGrant")
        grant = self.session.get(KmsGrant, grant_id)
        if grant is None or grant.key_arn != key.arn:
            raise grant_not_found(grant_id)
        self.dry_run(dry_run)
        self.session.delete(grant)

