"""Key policies: AWS's default policy and the checks PutKeyPolicy/CreateKey make on a policy document.

https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html
"""

from __future__ import annotations

import json

from kms.errors import MalformedPolicyDocumentException
from kms.identifiers import partition

DEFAULT_POLICY_NAME = "default"


def default_policy(account_id: str, region: str) -> str:
    """The default key policy, in AWS's key order (recorded in ReplicateKey's ReplicaPolicy)."""
    return json.dumps({
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [{
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{partition(region)}:iam::{account_id}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }],
    }, indent=2)


def validate_policy(policy: str) -> None:
    """``MalformedPolicyDocumentException`` unless ``policy`` is a JSON policy document with statements."""
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
    for statement in statements:
        if not isinstance(statement, dict) or statement.get("Effect") not in ("Allow", "Deny"):
            raise MalformedPolicyDocumentException("Each policy statement needs an Effect of Allow or Deny.")
        if "Principal" not in statement and "NotPrincipal" not in statement:
            raise MalformedPolicyDocumentException("Policy contains a statement with no principal.")
        if "Action" not in statement and "NotAction" not in statement:
            raise MalformedPolicyDocumentException("Policy contains a statement with no action.")
