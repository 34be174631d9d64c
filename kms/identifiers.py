"""KMS identifiers: key ids, key ARNs, alias names and alias ARNs, and AWS's messages about them.

https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#key-id — a key id is a lower-case UUID, a
multi-Region key id is ``mrk-`` and 32 hex digits; ARNs are ``arn:<partition>:kms:<region>:<account>:key/<id>``
and ``…:alias/<name>``. Recorded messages (spec/kms-real-responses.md 1.4, 3.11): a malformed id is echoed
(``Invalid keyId '…'``), a well-formed unknown one is named by its ARN in the caller's region
(``Key '…' does not exist``), an ARN of another region is ``Invalid arn <region>``.
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from enum import Enum

from kms.errors import NotFoundException

KEY_ID = re.compile(r"^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$")
ARN = re.compile(r"^arn:(aws|aws-cn|aws-us-gov):kms:([a-z0-9-]+):(\d{12}):(key|alias)/(.+)$")
ALIAS_PREFIX = "alias/"
AWS_ALIAS_PREFIX = "alias/aws/"


class IdentifierKind(Enum):
    KEY = "key"
    ALIAS = "alias"


@dataclass(frozen=True)
class KeyReference:
    """A parsed ``KeyId`` parameter: which account and region it points into and what it names there."""

    kind: IdentifierKind
    account_id: str
    region: str
    name: str
    """The key id (``kind=KEY``) or the alias name with its ``alias/`` prefix (``kind=ALIAS``)."""
    raw: str
    is_arn: bool


def partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def key_arn(account_id: str, region: str, key_id: str) -> str:
    return f"arn:{partition(region)}:kms:{region}:{account_id}:key/{key_id}"


def alias_arn(account_id: str, region: str, alias_name: str) -> str:
    return f"arn:{partition(region)}:kms:{region}:{account_id}:{alias_name}"


def new_key_id(multi_region: bool) -> str:
    return f"mrk-{secrets.token_hex(16)}" if multi_region else str(uuid.uuid4())


def new_material_id() -> str:
    """A backing-key id: 64 lower-case hex characters (the model's BackingKeyIdType)."""
    return secrets.token_hex(32)


def parse_key_reference(raw: str, account_id: str, region: str, *, allow_alias: bool) -> KeyReference:
    """Parse a ``KeyId`` parameter in the caller's scope.

    :raises NotFoundException: ``Invalid keyId '…'`` for a malformed id (or an alias where none is allowed),
        ``Invalid arn <region>`` for an ARN of another region.
    """
    match = ARN.match(raw)
    if match:
        _partition, arn_region, arn_account, kind, name = match.groups()
        if arn_region != region:
            raise NotFoundException(f"Invalid arn {arn_region}")
        if kind == "alias":
            if not allow_alias:
                raise NotFoundException(f"Invalid keyId '{raw}'")
            return KeyReference(IdentifierKind.ALIAS, arn_account, region, f"alias/{name}", raw, True)
        if not KEY_ID.match(name):
            raise NotFoundException(f"Invalid keyId '{raw}'")
        return KeyReference(IdentifierKind.KEY, arn_account, region, name, raw, True)
    if raw.startswith(ALIAS_PREFIX) and allow_alias:
        return KeyReference(IdentifierKind.ALIAS, account_id, region, raw, raw, False)
    if raw.startswith("arn:"):
        raise NotFoundException(f"Invalid arn {raw}")
    if not KEY_ID.match(raw):
        raise NotFoundException(f"Invalid keyId '{raw}'")
    return KeyReference(IdentifierKind.KEY, account_id, region, raw, raw, False)


def key_not_found(account_id: str, region: str, key_id: str) -> NotFoundException:
    return NotFoundException(f"Key '{key_arn(account_id, region, key_id)}' does not exist")


def alias_not_found(account_id: str, region: str, alias_name: str) -> NotFoundException:
    return NotFoundException(f"Alias {alias_arn(account_id, region, alias_name)} is not found.")
