"""
The credentials file of ``hsmsim serve --credentials FILE``: which access keys exist, their secrets, accounts and
principals.

The file is JSON::

    {"credentials": [
        {"access_key_id": "AKIDALICE", "secret_access_key": "alice-secret", "account_id": "111122223333",
         "principal": "arn:aws:iam::111122223333:user/alice"},
        {"access_key_id": "AKIDADMIN", "secret_access_key": "admin-secret", "account_id": "111122223333"}
    ]}

``principal`` is optional: an IAM user or role ARN of the credential's account (``arn:aws:iam::<acct>:user/<name>``
or ``role/<name>``, with an optional path), or the account's root ``arn:aws:iam::<acct>:root`` (the default). The
ARN forms are those of the IAM User Guide, "IAM identifiers" (IAM ARNs).

``iam_policy`` is optional, for a user or role principal only: the identity-based policy attached to it (a JSON
policy document, as in IAM), which KMS authorization evaluates wherever a key policy's statement for the account's
root delegates to IAM (kms.policies). A user or role without one is allowed nothing by IAM.

:func:`load_credentials` validates the whole file at start and raises :class:`CredentialsFileError` with a message
naming the entry and the problem, so that ``hsmsim serve`` can exit with one clear line. Secret keys never appear in
a message, a ``repr`` or a log line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIELDS = ("access_key_id", "secret_access_key", "account_id", "principal", "iam_policy")
STRING_FIELDS = ("access_key_id", "secret_access_key", "account_id", "principal")
REQUIRED = ("access_key_id", "secret_access_key", "account_id")

# An access key id goes into the Authorization header's Credential (``<id>/<date>/<region>/<service>/aws4_request``):
# no '/', ',', '=' or whitespace. AWS's own are 16-128 characters of [A-Z0-9]; hsmsim takes any of these.
_ACCESS_KEY_ID = re.compile(r"[A-Za-z0-9_.+\-]{1,128}")
_ACCOUNT_ID = re.compile(r"[0-9]{12}")
# IAM ARNs: arn:aws:iam::<account>:root | user/<path/><name> | role/<path/><name> (IAM User Guide, IAM identifiers).
_PRINCIPAL = re.compile(r"arn:aws:iam::([0-9]{12}):(root|(?:user|role)/(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,128})")


class CredentialsFileError(ValueError):
    """The credentials file cannot be used; the message names the file, the entry and the problem."""


@dataclass(frozen=True, slots=True)
class Credential:
    """
    One access key of the credentials file.

    :ivar access_key_id: the id in the request's credential scope.
    :ivar secret_access_key: the secret the signature is checked with (never shown in a ``repr``).
    :ivar account_id: the 12-digit account the key's requests act in.
    :ivar principal: the caller's ARN: the IAM user or role given in the file, else the account's root.
    :ivar iam_policy: the identity-based (IAM) policy of a user or role principal, as JSON text; ``None`` when the
        file gives none (the principal is then allowed nothing by IAM).
    """

    access_key_id: str
    secret_access_key: str = field(repr=False)
    account_id: str
    principal: str
    iam_policy: str | None = None


def iam_policy_problem(document: Any) -> str | None:
    """What is wrong with an ``iam_policy`` document (an identity-based policy: statements with an ``Effect``, an
    ``Action`` or ``NotAction``, optional ``Resource``/``NotResource`` and ``Condition``, no ``Principal``); ``None``
    when it can be used."""
    if not isinstance(document, dict):
        return "must be a policy document object {\"Version\": ..., \"Statement\": [...]}"
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        return "must have at least one Statement"
    for index, statement in enumerate(statements):
        if not isinstance(statement, dict):
            return f"Statement[{index}] must be an object"
        if statement.get("Effect") not in ("Allow", "Deny"):
            return f"Statement[{index}] needs an Effect of Allow or Deny"
        if ("Action" in statement) == ("NotAction" in statement):
            return f"Statement[{index}] needs exactly one of Action and NotAction"
        if "Principal" in statement or "NotPrincipal" in statement:
            return f"Statement[{index}] must not have a Principal (an identity-based policy applies to its identity)"
        if "Resource" in statement and "NotResource" in statement:
            return f"Statement[{index}] must not have both Resource and NotResource"
        for member in ("Action", "NotAction", "Resource", "NotResource"):
            values = statement.get(member, [])
            values = values if isinstance(values, list) else [values]
            if not all(isinstance(value, str) and value for value in values):
                return f"Statement[{index}].{member} must be a string or a list of strings"
        if "Condition" in statement and not isinstance(statement["Condition"], dict):
            return f"Statement[{index}].Condition must be an object"
    return None


def root_principal(account_id: str) -> str:
    """The ARN that stands for a whole account in policies: ``arn:aws:iam::<account>:root``."""
    return f"arn:aws:iam::{account_id}:root"


class CredentialStore(Mapping[str, Credential]):
    """The file's credentials by access key id (read-only)."""

    def __init__(self, credentials: list[Credential], source: str = "") -> None:
        self._by_key = {credential.access_key_id: credential for credential in credentials}
        self.source = source

    def __getitem__(self, access_key_id: str) -> Credential:
        return self._by_key[access_key_id]

    def get(self, access_key_id: str, default: Credential | None = None) -> Credential | None:  # type: ignore[override]
        return self._by_key.get(access_key_id, default)  # (Mapping.get goes through a raised KeyError)

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_key)

    def __len__(self) -> int:
        return len(self._by_key)

    def __repr__(self) -> str:
        return f"CredentialStore({len(self)} credentials from {self.source or 'memory'})"


def load_credentials(path: str | Path) -> CredentialStore:
    """
    Read and validate the credentials file at *path*.

    :raises CredentialsFileError: the file is missing, unreadable, not JSON, or any entry is invalid (the first
        problem found is named).
    """
    name = str(path)
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise CredentialsFileError(f"credentials file {name}: no such file") from None
    except IsADirectoryError:
        raise CredentialsFileError(f"credentials file {name}: is a directory, not a file") from None
    except OSError as error:
        raise CredentialsFileError(f"credentials file {name}: cannot be read ({error.strerror or error})") from None
    except UnicodeDecodeError as error:
        raise CredentialsFileError(f"credentials file {name}: not UTF-8 (byte {error.start})") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise CredentialsFileError(f"credentials file {name}: not JSON: {error.msg} at line {error.lineno} "
                                   f"column {error.colno}") from None
    return CredentialStore(parse_credentials(document, name), name)


def parse_credentials(document: Any, name: str = "credentials") -> list[Credential]:
    """Validate the decoded JSON *document* of a credentials file; :class:`CredentialsFileError` names the problem."""
    def fail(problem: str) -> CredentialsFileError:
        return CredentialsFileError(f"credentials file {name}: {problem}")

    if not isinstance(document, dict):
        raise fail('the top level must be an object {"credentials": [...]}')
    unknown = sorted(set(document) - {"credentials"})
    if unknown:
        raise fail(f"unknown top-level member {unknown[0]!r} (only 'credentials' is allowed)")
    entries = document.get("credentials")
    if not isinstance(entries, list):
        raise fail("'credentials' must be a list of objects")
    if not entries:
        raise fail("'credentials' is empty: give at least one access key")
    credentials: list[Credential] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        where = f"credentials[{index}]"
        if not isinstance(entry, dict):
            raise fail(f"{where} must be an object")
        unknown = sorted(set(entry) - set(FIELDS))
        if unknown:
            raise fail(f"{where}: unknown member {unknown[0]!r} (allowed: {', '.join(FIELDS)})")
        for member in REQUIRED:
            if member not in entry:
                raise fail(f"{where}: {member!r} is missing")
        for member in STRING_FIELDS:
            if member in entry and not isinstance(entry[member], str):
                raise fail(f"{where}: {member!r} must be a string")
        key_id, secret, account = entry["access_key_id"], entry["secret_access_key"], entry["account_id"]
        if not _ACCESS_KEY_ID.fullmatch(key_id):
            raise fail(f"{where}: access_key_id {key_id!r} must be 1-128 characters of A-Z, a-z, 0-9, '_', '.', "
                       "'+', '-'")
        if key_id in seen:
            raise fail(f"{where}: access_key_id {key_id!r} is already used by credentials[{seen[key_id]}]")
        seen[key_id] = index
        if not secret or not secret.isascii() or not secret.isprintable() or secret != secret.strip():
            raise fail(f"{where}: secret_access_key must be non-empty printable ASCII without leading or trailing "
                       "spaces")
        if not _ACCOUNT_ID.fullmatch(account):
            raise fail(f"{where}: account_id {account!r} must be 12 digits")
        principal = entry.get("principal")
        if principal is None:
            principal = root_principal(account)
        else:
            match = _PRINCIPAL.fullmatch(principal)
            if match is None:
                raise fail(f"{where}: principal {principal!r} is not an IAM user or role ARN "
                           "(arn:aws:iam::<account>:user/<name> or arn:aws:iam::<account>:role/<name>)")
            if match.group(1) != account:
                raise fail(f"{where}: principal {principal!r} is not of account {account}")
        iam_policy = None
        if "iam_policy" in entry:
            if principal == root_principal(account):
                raise fail(f"{where}: iam_policy needs an IAM user or role principal (the account's root user is "
                           "not governed by IAM policies)")
            problem = iam_policy_problem(entry["iam_policy"])
            if problem is not None:
                raise fail(f"{where}: iam_policy {problem}")
            iam_policy = json.dumps(entry["iam_policy"])
        credentials.append(Credential(key_id, secret, account, principal, iam_policy))
    return credentials
