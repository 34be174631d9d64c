"""Key policies: GetKeyPolicy, PutKeyPolicy, ListKeyPolicies.

https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html (and GetKeyPolicy, ListKeyPolicies).
A key has one policy you manage, ``default``; ``AWS_RAM`` is RAM's (never present here: GetKeyPolicy gives
NotFoundException, PutKeyPolicy the documented ValidationException). PutKeyPolicy enforces the 32 KB key policy
quota (LimitExceededException), the document checks and, unless bypassed, the lockout safety check
(MalformedPolicyDocumentException). GetKeyPolicy returns the stored text as it was put (AWS may re-indent it).
"""

from __future__ import annotations

from typing import Any

from hsmsim.aws.context import RequestContext
from hsmsim.aws.errors import ValidationException
from kms.errors import LimitExceededException, NotFoundException
from kms.operations.base import OperationsBase
from kms.paging import page_of
from kms.policies import (
    DEFAULT_POLICY_NAME,
    MAX_POLICY_CHARACTERS,
    check_lockout,
    validate_policy,
)
from kms.resolver import caller_of

RAM_POLICY_NAME = "AWS_RAM"


class PolicyOperations(OperationsBase):
    def get_key_policy(self, ctx: RequestContext, *, key_id: str, policy_name: str | None = None) -> dict[str, Any]:
        key = self.key_row(ctx, key_id, "GetKeyPolicy")
        name = policy_name or DEFAULT_POLICY_NAME
        if name != DEFAULT_POLICY_NAME:
            raise NotFoundException(f"No such policy exists: {name} for {key.arn}")
        return {"Policy": key.policy, "PolicyName": name}

    def put_key_policy(
        self,
        ctx: RequestContext,
        *,
        key_id: str,
        policy: str,
        policy_name: str | None = None,
        bypass_policy_lockout_safety_check: bool = False,
    ) -> None:
        key = self.key_row(ctx, key_id, "PutKeyPolicy")
        name = policy_name or DEFAULT_POLICY_NAME
        if name == RAM_POLICY_NAME:
            raise ValidationException("The AWS_RAM policy can only be managed by the RAM service.")
        if name != DEFAULT_POLICY_NAME:
            raise ValidationException(f"PolicyName {name} is not valid. The only policy you can set is default.")
        if len(policy) > MAX_POLICY_CHARACTERS:
            raise LimitExceededException(
                f"The key policy is {len(policy)} characters long; the maximum is {MAX_POLICY_CHARACTERS}.")
        validate_policy(policy)
        if not bypass_policy_lockout_safety_check:
            check_lockout(policy, ctx.account_id, ctx.region, caller_of(ctx), key.arn)
        key.policy = policy

    def list_key_policies(
        self, ctx: RequestContext, *, key_id: str, limit: int | None = None, marker: str | None = None
    ) -> dict[str, Any]:
        self.key_row(ctx, key_id, "ListKeyPolicies")
        names, paging = page_of([DEFAULT_POLICY_NAME], limit, marker)
        return {"PolicyNames": names, **paging}
