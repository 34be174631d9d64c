"""AWS managed keys: the ``alias/aws/<service>`` keys AWS creates in an account the first time they are used.

https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#aws-managed-key — a symmetric key with
``KeyManager=AWS``, rotated every year, whose key policy lets the account's principals use it through the
service and read its metadata, but not manage it (so DisableKey, PutKeyPolicy, TagResource, … are denied by the
policy: ``AccessDeniedException``). ListAliases shows the predefined aliases of the services below even before
their key exists (without ``TargetKeyId``).

Descriptions recorded against AWS (spec/kms-real-responses.md §2.1): ``Default key that protects my S3 objects
when no other key is defined`` and ``… my DynamoDB data …``; the other services follow the same pattern.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from hsmsim.aws.context import RequestContext
from hsmsim.aws.errors import ServiceError
from kms.enums import KeyManager, KeySpec, KeyState, KeyUsage, Origin
from kms.identifiers import AWS_ALIAS_PREFIX, IdentifierKind, KeyReference, new_key_id
from kms.models import KmsAlias
from kms.policies import root_arn

if TYPE_CHECKING:
    from kms.operations.keys import KeyOperations

ROTATION_PERIOD_DAYS = 365


class NotAuthorizedException(ServiceError):
    """``alias/aws/`` names are AWS's: creating, updating or deleting one is refused with this non-modeled error,
    whose body carries no message (as moto reproduces it; AWS does not document the error)."""

    code = "NotAuthorizedException"
    include_message = False


@dataclass(frozen=True)
class ManagedService:
    protects: str
    """What the description says the key protects (``S3 objects``)."""
    endpoint: str
    """The service's endpoint prefix, the value of ``kms:ViaService`` (``s3`` → ``s3.<region>.amazonaws.com``)."""
    title: str
    """The service's name in the key policy's statement id."""


MANAGED_SERVICES: dict[str, ManagedService] = {
    "acm": ManagedService("ACM private keys", "acm", "ACM"),
    "backup": ManagedService("backups", "backup", "AWS Backup"),
    "codecommit": ManagedService("CodeCommit repositories", "codecommit", "CodeCommit"),
    "dynamodb": ManagedService("DynamoDB data", "dynamodb", "Amazon DynamoDB"),
    "ebs": ManagedService("EBS volumes", "ec2", "EBS"),
    "ecr": ManagedService("ECR repositories", "ecr", "Amazon ECR"),
    "elasticfilesystem": ManagedService("EFS filesystems", "elasticfilesystem", "EFS"),
    "es": ManagedService("Elasticsearch domains", "es", "Amazon Elasticsearch Service"),
    "firehose": ManagedService("Kinesis Firehose data", "firehose", "Kinesis Firehose"),
    "fsx": ManagedService("FSx filesystems", "fsx", "FSx"),
    "glue": ManagedService("Glue data", "glue", "AWS Glue"),
    "kafka": ManagedService("MSK clusters", "kafka", "Amazon MSK"),
    "kinesis": ManagedService("Kinesis data", "kinesis", "Amazon Kinesis"),
    "lambda": ManagedService("Lambda functions", "lambda", "Lambda"),
    "rds": ManagedService("RDS database volumes", "rds", "RDS"),
    "redshift": ManagedService("Redshift data", "redshift", "Redshift"),
    "s3": ManagedService("S3 objects", "s3", "Amazon S3"),
    "secretsmanager": ManagedService("Secrets Manager data", "secretsmanager", "AWS Secrets Manager"),
    "sns": ManagedService("SNS data", "sns", "SNS"),
    "sqs": ManagedService("SQS messages", "sqs", "SQS"),
    "ssm": ManagedService("SSM parameters", "ssm", "SSM"),
    "xray": ManagedService("X-Ray data", "xray", "X-Ray"),
}
MANAGED_ALIAS_NAMES = tuple(f"{AWS_ALIAS_PREFIX}{service}" for service in sorted(MANAGED_SERVICES))


def is_reserved(alias_name: str) -> bool:
    return alias_name.startswith(AWS_ALIAS_PREFIX)


def description(service: str) -> str:
    return f"Default key that protects my {MANAGED_SERVICES[service].protects} when no other key is defined"


def managed_key_policy(account_id: str, region: str, service: str) -> str:
    """The key policy of an AWS managed key: use through the service for the account, metadata reads directly."""
    info = MANAGED_SERVICES[service]
    return json.dumps({
        "Version": "2012-10-17",
        "Id": f"auto-{service}-1",
        "Statement": [
            {
                "Sid": f"Allow access through {info.title} for all principals in the account that are authorized "
                       f"to use {info.title}",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                           "kms:CreateGrant", "kms:DescribeKey"],
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:CallerAccount": account_id,
                                               "kms:ViaService": f"{info.endpoint}.{region}.amazonaws.com"}},
            },
            {
                "Sid": "Allow direct access to key metadata to the account",
                "Effect": "Allow",
                "Principal": {"AWS": root_arn(account_id, region)},
                "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"],
                "Resource": "*",
            },
        ],
    }, indent=2)


def bind_managed_alias(keys: KeyOperations, ref: KeyReference) -> str | None:
    """The alias fallback: create the AWS managed key an ``alias/aws/<service>`` reference names (key row,
    material and alias) and return its key id; ``None`` for any other name."""
    if ref.kind is not IdentifierKind.ALIAS or not is_reserved(ref.name):
        return None
    service = ref.name.removeprefix(AWS_ALIAS_PREFIX)
    if service not in MANAGED_SERVICES:
        return None
    ctx = RequestContext(service="kms", operation="CreateKey", account_id=ref.account_id, region=ref.region,
                         request_id="")
    key = keys.new_key(
        ctx, key_id=new_key_id(False), region=ref.region, spec=KeySpec.SYMMETRIC_DEFAULT,
        usage=KeyUsage.ENCRYPT_DECRYPT, origin=Origin.AWS_KMS, manager=KeyManager.AWS,
        description=description(service), policy=managed_key_policy(ref.account_id, ref.region, service),
        multi_region=False, state=KeyState.ENABLED,
    )
    keys.generate_first_material(key)
    key.rotation_enabled = True
    key.rotation_period_days = ROTATION_PERIOD_DAYS
    now = key.created_at
    key.next_rotation_at = now + timedelta(days=ROTATION_PERIOD_DAYS)
    keys.session.merge(KmsAlias(account_id=ref.account_id, region=ref.region, alias_name=ref.name,
                                target_key_id=key.key_id, created_at=now, updated_at=now))
    keys.session.flush()
    return key.key_id
