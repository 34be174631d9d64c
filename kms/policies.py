"""Key policies: AWS's default policy, the checks PutKeyPolicy/CreateKey make on a policy document, and the
evaluation of a key policy for a caller.

https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html and
https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html

The simulator's caller is always an account's root principal (``arn:aws:iam::<account>:root``). Evaluation is
an approximation of IAM's: an explicit ``Deny`` wins, otherwise an ``Allow`` whose principal, action and
condition match is needed. Conditions on the caller's account (``kms:CallerAccount``, ``aws:PrincipalAccount``,
``aws:PrincipalArn``) are evaluated; ``kms:ViaService`` counts as satisfied (the simulator cannot tell a call
made by an AWS service on the caller's behalf from a direct one); other condition keys are treated permissively
(an Allow applies, a Deny does not).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from fnmatch import fnmatchcase
from typing import Any

from hsmsim.aws.errors import AccessDeniedException
from kms.errors import MalformedPolicyDocumentException
from kms.grantrules import GrantRule
from kms.identifiers import partition

DEFAULT_POLICY_NAME = "default"
MAX_POLICY_CHARACTERS = 32768
"""AWS's key policy document quota (32 KB), below the model's 131072."""

LOCKOUT_MESSAGE = "The new key policy will not allow you to update the key policy in the future."
INVALID_PRINCIPALS = "Policy contains a statement with one or more invalid principals."

CROSS_ACCOUNT_OPERATIONS = frozenset({
    "CreateGrant", "Decrypt", "DeriveSharedSecret", "DescribeKey", "Encrypt", "GenerateDataKey",
    "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "GenerateDataKeyWithoutPlaintext", "GenerateMac",
    "GetKeyRotationStatus", "GetPublicKey", "ListGrants", "ReEncrypt", "RetireGrant", "RevokeGrant", "Sign",
    "Verify", "VerifyMac", "Encapsulate", "Decapsulate",
})
"""Operations whose API page says "Cross-account use: Yes"; every other one refuses another account's key."""

RE_ENCRYPT_ACTIONS = frozenset({"ReEncryptFrom", "ReEncryptTo"})
"""The two halves of ReEncrypt, authorized as actions of their own (like kms:ReEncryptFrom in a policy)."""

NOT_KEY_POLICY_OPERATIONS = frozenset({"RetireGrant"})
"""Authorized by something other than the key policy (a grant's retiring principal)."""

_AWS_PRINCIPAL = re.compile(r"^(\*|\d{12}|arn:(aws|aws-cn|aws-us-gov):(iam|sts)::\d{12}:.+)$")


def default_policy(account_id: str, region: str) -> str:
    """The default key policy, in AWS's key order (recorded in ReplicateKey's ReplicaPolicy)."""
    return json.dumps({
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [{
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": root_arn(account_id, region)},
            "Action": "kms:*",
            "Resource": "*",
        }],
    }, indent=2)


def root_arn(account_id: str, region: str) -> str:
    return f"arn:{partition(region)}:iam::{account_id}:root"


# -- validation ------------------------------------------------------------------------------------------------


def validate_policy(policy: str) -> None:
    """``MalformedPolicyDocumentException`` unless ``policy`` is a JSON policy document with statements."""
    for statement in _statements(policy):
        if not isinstance(statement, dict) or statement.get("Effect") not in ("Allow", "Deny"):
            raise MalformedPolicyDocumentException("Each policy statement needs an Effect of Allow or Deny.")
        if "Principal" not in statement and "NotPrincipal" not in statement:
            raise MalformedPolicyDocumentException("Policy contains a statement with no principal.")
        if "Action" not in statement and "NotAction" not in statement:
            raise MalformedPolicyDocumentException("Policy contains a statement with no action.")
        principal = statement.get("Principal", statement.get("NotPrincipal"))
        if not _principals_well_formed(principal):
            raise MalformedPolicyDocumentException(INVALID_PRINCIPALS)


def check_lockout(policy: str, account_id: str, region: str) -> None:
    """The key policy lockout safety check: the new policy must let the caller call PutKeyPolicy again
    (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html#prevent-unmanageable-key)."""
    if evaluate(policy, account_id, region, "PutKeyPolicy") is not True:
        raise MalformedPolicyDocumentException(LOCKOUT_MESSAGE)


def _statements(policy: str) -> list[Any]:
    try:
        document = json.loads(policy)
    except ValueError:
        raise MalformedPolicyDocumentException("The policy is not valid JSON.") from None
    if not isinstance(document, dict):
        raise MalformedPolicyDocumentException("The policy must be a JSON object.")
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise MalformedPolicyDocumentException("The policy must contain at least one Statement.")
    return statements


def _principals_well_formed(principal: Any) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict) or not principal:
        return False
    for kind, values in principal.items():
        if kind not in ("AWS", "Service", "Federated", "CanonicalUser"):
            return False
        items = values if isinstance(values, list) else [values]
        if not items or not all(isinstance(v, str) and v for v in items):
            return False
        if kind == "AWS" and not all(_AWS_PRINCIPAL.match(v) for v in items):
            return False
    return True


# -- evaluation ------------------------------------------------------------------------------------------------


def authorize(policy: str, *, caller_account: str, key_arn: str, key_account: str, region: str,
              operation: str, grants: Callable[[], Iterable[GrantRule]] = tuple,
              context: Mapping[str, str] | None = None) -> bool:
    """Raise AWS's ``AccessDeniedException`` unless the key policy, or else a grant, lets the caller's account run
    ``operation``. Returns whether the decision holds for any request of that caller and operation (a policy
    Allow) rather than this request only (a grant, whose constraints depend on the encryption context).

    Another account's key is refused outright for operations AWS does not allow across accounts.
    """
    if operation in NOT_KEY_POLICY_OPERATIONS:
        return True
    user = root_arn(caller_account, region)
    action = f"kms:{operation}"
    prefix = f"User: {user} is not authorized to perform: {action} on resource: {key_arn}"
    if caller_account != key_account and operation not in CROSS_ACCOUNT_OPERATIONS | RE_ENCRYPT_ACTIONS:
        raise AccessDeniedException(f"{prefix} because no resource-based policy allows the {action} action")
    verdict = evaluate(policy, caller_account, region, operation)
    if verdict is False:
        raise AccessDeniedException(f"{prefix} with an explicit deny in a resource-based policy")
    if verdict is True:
        return True
    if any(rule.permits(caller_account, operation, context) for rule in grants()):
        return False
    raise AccessDeniedException(f"{prefix} because no resource-based policy allows the {action} action")


def evaluate(policy: str, caller_account: str, region: str, operation: str) -> bool | None:
    """``True`` (allowed), ``False`` (explicitly denied) or ``None`` (no statement allows it)."""
    try:
        statements = _statements(policy)
    except MalformedPolicyDocumentException:
        return None
    action = f"kms:{operation}"
    allowed = False
    for statement in statements:
        if not isinstance(statement, dict):
            continue
        if not (_action_matches(statement, action) and _principal_matches(statement, caller_account, region)):
            continue
        deny = statement.get("Effect") == "Deny"
        if not _conditions_hold(statement.get("Condition"), caller_account, region, unknown=not deny):
            continue
        if deny:
            return False
        allowed = allowed or statement.get("Effect") == "Allow"
    return True if allowed else None


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _matches_any(patterns: Iterable[Any], value: str) -> bool:
    return any(isinstance(p, str) and fnmatchcase(value.lower(), p.lower()) for p in patterns)


def _action_matches(statement: dict[str, Any], action: str) -> bool:
    if "Action" in statement:
        return _matches_any(_as_list(statement["Action"]), action)
    return not _matches_any(_as_list(statement.get("NotAction", [])), action)


def _principal_names(principal: Any) -> list[Any]:
    if principal == "*":
        return ["*"]
    if isinstance(principal, dict):
        return _as_list(principal.get("AWS", []))
    return []


def _principal_matches(statement: dict[str, Any], caller_account: str, region: str) -> bool:
    mine = {"*", caller_account, root_arn(caller_account, region)}
    if "Principal" in statement:
        return any(name in mine for name in _principal_names(statement["Principal"]))
    return not any(name in mine for name in _principal_names(statement.get("NotPrincipal")))


def _conditions_hold(conditions: Any, caller_account: str, region: str, *, unknown: bool) -> bool:
    """Whether a statement's ``Condition`` block holds for the caller (``unknown`` for keys not modelled)."""
    if not isinstance(conditions, dict):
        return True
    facts = {"kms:calleraccount": caller_account, "aws:principalaccount": caller_account,
             "aws:principalarn": root_arn(caller_account, region)}
    for operator, clauses in conditions.items():
        if not isinstance(clauses, dict):
            continue
        for key, expected in clauses.items():
            name = key.lower()
            if name == "kms:viaservice":
                continue
            if name not in facts:
                if not unknown:
                    return False
                continue
            held = _compare(operator, facts[name], _as_list(expected))
            if held is None:
                if not unknown:
                    return False
                continue
            if not held:
                return False
    return True


def _compare(operator: str, actual: str, expected: list[Any]) -> bool | None:
    """String/ARN operators on one value; ``None`` for an operator this approximation does not model."""
    op = operator.removesuffix("IfExists")
    values = [v for v in expected if isinstance(v, str)]
    if op in ("StringEquals", "ArnEquals"):
        return actual in values
    if op == "StringEqualsIgnoreCase":
        return actual.lower() in {v.lower() for v in values}
    if op in ("StringLike", "ArnLike"):
        return any(fnmatchcase(actual, v) for v in values)
    if op in ("StringNotEquals", "ArnNotEquals"):
        return actual not in values
    if op in ("StringNotLike", "ArnNotLike"):
        return not any(fnmatchcase(actual, v) for v in values)
    return None
