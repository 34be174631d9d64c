"""Key policies: AWS's default policy, the checks PutKeyPolicy/CreateKey make on a policy document, and the
evaluation of a key policy for a caller.

https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html and
https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html

Without ``hsmsim serve --credentials`` the caller is always an account's root principal
(``arn:aws:iam::<account>:root``). Evaluation is
an approximation of IAM's: an explicit ``Deny`` wins, otherwise an ``Allow`` whose principal, action and
condition match is needed. Conditions on the caller's account (``kms:CallerAccount``, ``aws:PrincipalAccount``,
``aws:PrincipalArn``) are evaluated; ``kms:ViaService`` counts as satisfied (the simulator cannot tell a call
made by an AWS service on the caller's behalf from a direct one); other condition keys are treated permissively
(an Allow applies, a Deny does not).

With ``hsmsim serve --credentials FILE`` the caller is a principal (:class:`Caller`: an IAM user or role ARN, or
the account's root) and :func:`authorize` follows the KMS developer guide's "Determining access"
(https://docs.aws.amazon.com/kms/latest/developerguide/determining-access.html) and the IAM User Guide's "Policy
evaluation logic": an explicit ``Deny`` in the key policy or the caller's IAM policy wins; a key policy statement
naming the caller's ARN allows it on its own (in the key's account); a statement naming the account
(``arn:aws:iam::<account>:root`` or the bare account id) delegates to the caller's IAM policy (from the credentials
file), which must then allow the action on the key; another account's principal needs both. The account's root is
not governed by IAM. Conditions also see ``aws:PrincipalArn`` (the caller's ARN), ``kms:EncryptionContext:<key>``,
``kms:EncryptionContextKeys`` and ``kms:GrantIsForAWSResource`` (always false), with IAM's rules for a key missing
from the request (``...IfExists``, negated operators, ``Null``) and the ``ForAllValues:``/``ForAnyValue:`` set
operators; grants authorize their grantee principal by ARN (kms.grantrules).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import lru_cache
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


def check_lockout(policy: str, account_id: str, region: str, caller: Caller | None = None,
                  key_arn: str | None = None) -> None:
    """The key policy lockout safety check: the new policy must let the caller call PutKeyPolicy again
    (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html#prevent-unmanageable-key).
    With a verified ``caller``: that principal (named, or through its account and IAM policy)."""
    if caller is not None:
        check_lockout_for(policy, caller, key_arn or f"arn:{partition(region)}:kms:{region}:{account_id}:key/*",
                          region)
        return
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


@dataclass(frozen=True, slots=True)
class Caller:
    """A verified caller (``hsmsim serve --credentials``): its account, its ARN and its IAM policy (JSON text)."""

    account: str
    principal: str
    iam_policy: str | None = None

    @property
    def is_root(self) -> bool:
        return self.principal.endswith(":root")

    def names(self, name: str, region: str) -> str | None:
        """How a policy's principal ``name`` covers this caller: ``"direct"`` (its ARN, or ``*``), ``"account"``
        (its account's root ARN or id: delegated to IAM, direct for the root itself) or ``None``."""
        if name == "*" or name == self.principal:
            return "direct"
        if name == self.account or name == root_arn(self.account, region):
            return "direct" if self.is_root else "account"
        return None


def authorize(policy: str, *, caller_account: str, key_arn: str, key_account: str, region: str,
              operation: str, grants: Callable[[], Iterable[GrantRule]] = tuple,
              context: Mapping[str, str] | None = None, caller: Caller | None = None) -> bool:
    """Raise AWS's ``AccessDeniedException`` unless the key policy, or else a grant, lets the caller's account run
    ``operation``. Returns whether the decision holds for any request of that caller and operation (a policy
    Allow) rather than this request only (a grant, whose constraints depend on the encryption context, or a policy
    with encryption-context conditions).

    Another account's key is refused outright for operations AWS does not allow across accounts. With a verified
    ``caller`` (credentials on) the principal rules of :func:`authorize_principal` apply.
    """
    if operation in NOT_KEY_POLICY_OPERATIONS:
        return True
    if caller is not None:
        return authorize_principal(policy, caller=caller, key_arn=key_arn, key_account=key_account, region=region,
                                   operation=operation, grants=grants, context=context)
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


def _block_holds(conditions: Any, evaluate: Callable[[str, str, list[Any]], bool | None], *, unknown: bool) -> bool:
    """Whether a statement's ``Condition`` block holds: every clause ``evaluate(operator, key, values)`` is true;
    a clause it cannot decide (``None``: a key or operator not modelled) counts as ``unknown``. ``kms:ViaService``
    always holds (no AWS service calls through the simulator)."""
    if not isinstance(conditions, dict):
        return True
    for operator, clauses in conditions.items():
        if not isinstance(clauses, dict) or not isinstance(operator, str):
            continue
        for key, expected in clauses.items():
            if not isinstance(key, str) or key.lower() == "kms:viaservice":
                continue
            held = evaluate(operator, key, _as_list(expected))
            if held is None:
                if not unknown:
                    return False
                continue
            if not held:
                return False
    return True


def _conditions_hold(conditions: Any, caller_account: str, region: str, *, unknown: bool) -> bool:
    """Whether a statement's ``Condition`` block holds for the caller (``unknown`` for keys not modelled)."""
    facts = {"kms:calleraccount": caller_account, "aws:principalaccount": caller_account,
             "aws:principalarn": root_arn(caller_account, region)}

    def evaluate(operator: str, key: str, expected: list[Any]) -> bool | None:
        name = key.lower()
        return _compare(operator, facts[name], expected) if name in facts else None

    return _block_holds(conditions, evaluate, unknown=unknown)


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


# -- evaluation for a verified principal (hsmsim serve --credentials) --------------------------------------------


def denied(principal: str, operation: str, key_arn: str, reason: str) -> AccessDeniedException:
    """AWS's message: ``User: <arn> is not authorized to perform: kms:<op> on resource: <key arn> <reason>``."""
    action = f"kms:{operation}"
    return AccessDeniedException(f"User: {principal} is not authorized to perform: {action} on resource: {key_arn} "
                                 + reason.format(action=action))


NO_RESOURCE_POLICY = "because no resource-based policy allows the {action} action"
NO_IDENTITY_POLICY = "because no identity-based policy allows the {action} action"
RESOURCE_DENY = "with an explicit deny in a resource-based policy"
IDENTITY_DENY = "with an explicit deny in an identity-based policy"


def authorize_principal(policy: str, *, caller: Caller, key_arn: str, key_account: str, region: str,
                        operation: str, grants: Callable[[], Iterable[GrantRule]] = tuple,
                        context: Mapping[str, str] | None = None) -> bool:
    """:func:`authorize` for a verified principal; returns whether the decision may be cached for (principal,
    operation)."""
    if caller.account != key_account and operation not in CROSS_ACCOUNT_OPERATIONS | RE_ENCRYPT_ACTIONS:
        raise denied(caller.principal, operation, key_arn, NO_RESOURCE_POLICY)
    facts = Facts(caller, context)
    deny, direct, delegated = evaluate_key_policy(policy, caller, region, operation, facts)
    if deny:
        raise denied(caller.principal, operation, key_arn, RESOURCE_DENY)
    iam = True if caller.is_root else evaluate_identity_policy(caller.iam_policy, key_arn, operation, facts)
    if iam is False:
        raise denied(caller.principal, operation, key_arn, IDENTITY_DENY)
    if caller.account == key_account:
        allowed = direct or (delegated and iam is True)
    else:  # another account's principal: the key policy and its own account's IAM policy must both allow
        allowed = (direct or delegated) and iam is True
    if allowed:
        return not (_mentions_context(policy) or _mentions_context(caller.iam_policy))
    if any(rule.permits_principal(caller, operation, context, iam is True) for rule in grants()):
        return False
    if (delegated or (direct and caller.account != key_account)) and iam is not True:
        raise denied(caller.principal, operation, key_arn, NO_IDENTITY_POLICY)
    raise denied(caller.principal, operation, key_arn, NO_RESOURCE_POLICY)


IDENTITY_ONLY_OPERATIONS = frozenset({
    "CreateKey", "ListKeys", "ListAliases", "GenerateRandom", "ListRetirableGrants", "CreateCustomKeyStore",
    "DescribeCustomKeyStores", "UpdateCustomKeyStore", "ConnectCustomKeyStore", "DisconnectCustomKeyStore",
    "DeleteCustomKeyStore",
})
"""Operations authorized by IAM policies alone, on resource ``*`` (the KMS permissions reference,
https://docs.aws.amazon.com/kms/latest/developerguide/kms-api-permissions-reference.html, and the Service
Authorization Reference, which lists no resource type for them). CreateAlias, UpdateAlias and DeleteAlias need
IAM on the alias ARN as well as the key policy on the key (:func:`authorize_identity` with the alias ARN)."""


def authorize_identity(caller: Caller | None, operation: str, resource: str = "*") -> None:
    """An operation (or part of one) that only IAM policies govern: with a verified ``caller`` that is not its
    account's root, its IAM policy must allow ``kms:<operation>`` on ``resource`` with no explicit Deny;
    ``AccessDeniedException`` in AWS's words otherwise (recorded: ``User: <arn> is not authorized to perform:
    kms:CreateKey on resource: * because no identity-based policy allows the kms:CreateKey action``). Without
    credentials (``caller`` is ``None``) and for the root (not governed by IAM, absent SCPs) nothing is checked."""
    if caller is None or caller.is_root:
        return
    verdict = evaluate_identity_policy(caller.iam_policy, resource, operation, Facts(caller, None))
    if verdict is False:
        raise denied(caller.principal, operation, resource, IDENTITY_DENY)
    if verdict is not True:
        raise denied(caller.principal, operation, resource, NO_IDENTITY_POLICY)


def check_lockout_for(policy: str, caller: Caller, key_arn: str, region: str) -> None:
    """The lockout safety check for a verified principal: the new policy must let *this* caller call
    PutKeyPolicy again (named, or through its account and its IAM policy)."""
    try:
        authorize_principal(policy, caller=caller, key_arn=key_arn, key_account=caller.account, region=region,
                            operation="PutKeyPolicy")
    except AccessDeniedException:
        raise MalformedPolicyDocumentException(LOCKOUT_MESSAGE) from None


@lru_cache(maxsize=1024)
def _parsed(policy: str) -> tuple[dict[str, Any], ...]:
    try:
        statements = _statements(policy)
    except MalformedPolicyDocumentException:
        return ()
    return tuple(statement for statement in statements if isinstance(statement, dict))


@lru_cache(maxsize=1024)
def _mentions_context(policy: str | None) -> bool:
    """Whether a decision under this policy may depend on the request's encryption context (not cacheable)."""
    return policy is not None and "kms:encryptioncontext" in policy.lower()


class Facts:
    """The condition keys of one request of a verified caller (the IAM User Guide's "request context")."""

    MISSING = object()

    def __init__(self, caller: Caller, context: Mapping[str, str] | None) -> None:
        self._single = {"kms:calleraccount": caller.account, "aws:principalaccount": caller.account,
                        "aws:principalarn": caller.principal, "kms:grantisforawsresource": "false"}
        self._context = dict(context or {})

    def get(self, key: str) -> Any:
        """A value (str), a list for a multivalued key, :attr:`MISSING` for a known key absent from this request,
        or ``None`` for a key the simulator does not model."""
        name = key.lower()
        if name in self._single:
            return self._single[name]
        if name == "kms:encryptioncontextkeys":
            return list(self._context) if self._context else self.MISSING
        if name.startswith("kms:encryptioncontext:"):
            wanted = key[len("kms:encryptioncontext:"):]
            if wanted in self._context:
                return self._context[wanted]
            lowered = {k.lower(): v for k, v in self._context.items()}
            return lowered.get(wanted.lower(), self.MISSING)
        return None


def evaluate_key_policy(policy: str, caller: Caller, region: str, operation: str,
                        facts: Facts) -> tuple[bool, bool, bool]:
    """(explicit deny, an Allow naming the caller, an Allow naming the caller's account) in a key policy."""
    action = f"kms:{operation}"
    deny = direct = delegated = False
    for statement in _parsed(policy):
        if not _action_matches(statement, action):
            continue
        how = _principal_kind(statement, caller, region)
        if how is None:
            continue
        is_deny = statement.get("Effect") == "Deny"
        if not _conditions_hold_for(statement.get("Condition"), facts, unknown=not is_deny):
            continue
        if is_deny:
            deny = True
        elif statement.get("Effect") == "Allow":
            direct = direct or how == "direct"
            delegated = delegated or how == "account"
    return deny, direct, delegated


def evaluate_identity_policy(policy: str | None, key_arn: str, operation: str, facts: Facts) -> bool | None:
    """An IAM (identity-based) policy for the action on the key: ``True``, ``False`` (explicit deny) or ``None``."""
    if policy is None:
        return None
    action = f"kms:{operation}"
    allowed = False
    for statement in _parsed(policy):
        if not (_action_matches(statement, action) and _resource_matches(statement, key_arn)):
            continue
        is_deny = statement.get("Effect") == "Deny"
        if not _conditions_hold_for(statement.get("Condition"), facts, unknown=not is_deny):
            continue
        if is_deny:
            return False
        allowed = allowed or statement.get("Effect") == "Allow"
    return True if allowed else None


def _resource_matches(statement: dict[str, Any], arn: str) -> bool:
    if "NotResource" in statement:
        return not any(isinstance(p, str) and fnmatchcase(arn, p) for p in _as_list(statement["NotResource"]))
    return any(isinstance(p, str) and fnmatchcase(arn, p) for p in _as_list(statement.get("Resource", "*")))


def _principal_kind(statement: dict[str, Any], caller: Caller, region: str) -> str | None:
    if "Principal" in statement:
        kinds = {caller.names(name, region) for name in _principal_names(statement["Principal"])
                 if isinstance(name, str)}
        return "direct" if "direct" in kinds else "account" if "account" in kinds else None
    # NotPrincipal excludes the principals it names; naming the account excludes its root only, not its users
    excluded = [name for name in _principal_names(statement.get("NotPrincipal")) if isinstance(name, str)]
    return None if any(caller.names(name, region) == "direct" for name in excluded) else "direct"


_NEGATED = ("StringNotEquals", "StringNotLike", "ArnNotEquals", "ArnNotLike", "StringNotEqualsIgnoreCase")


def _conditions_hold_for(conditions: Any, facts: Facts, *, unknown: bool) -> bool:
    """A statement's ``Condition`` block for a verified caller (IAM's rules; ``unknown`` for keys not modelled)."""
    return _block_holds(conditions, lambda operator, key, values: _condition_holds(operator, facts.get(key), values),
                        unknown=unknown)


def _condition_holds(operator: str, actual: Any, expected: list[Any]) -> bool | None:
    """One condition; ``None`` for a key or operator not modelled."""
    if actual is None:
        return None
    qualifier, _, op = operator.rpartition(":")
    if op == "Null":
        wants_missing = [str(v).lower() for v in expected]
        return ("true" if actual is Facts.MISSING else "false") in wants_missing
    if_exists = op.endswith("IfExists")
    op = op.removesuffix("IfExists")
    if actual is Facts.MISSING:
        if qualifier == "ForAllValues":
            return True
        if if_exists:
            return True
        if qualifier == "ForAnyValue":
            return False
        return op in _NEGATED
    values = actual if isinstance(actual, list) else [actual]
    results = [_compare_one(op, value, expected) for value in values]
    if any(result is None for result in results):
        return None
    if qualifier == "ForAllValues":
        return all(results)
    return any(results)  # ForAnyValue, a single value, or a multivalued key without a qualifier


def _compare_one(op: str, actual: str, expected: list[Any]) -> bool | None:
    if op == "Bool":
        return actual.lower() in {str(v).lower() for v in expected}
    if op == "StringNotEqualsIgnoreCase":
        return actual.lower() not in {v.lower() for v in expected if isinstance(v, str)}
    return _compare(op, actual, expected)
