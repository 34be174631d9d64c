"""The KMS key-state table: which operation works on a key in which state, and AWS's error when it does not.

The table is the one of https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html (spec 5.2), written as
data. A cell is ``ok`` or the footnote whose error applies. Conditional cells (rotation of imported keys,
GetParametersForImport on AWS_KMS keys, …) are ``ok`` here and checked by the operation, as AWS's footnotes say.
Operations added after the table was published follow their closest sibling (noted per row).
"""

from __future__ import annotations

from collections.abc import Callable

from kms.enums import KeyState
from kms.errors import (
    DisabledException,
    KMSError,
    KMSInvalidStateException,
    UnsupportedOperationException,
)

_COLUMNS = (
    KeyState.ENABLED,
    KeyState.DISABLED,
    KeyState.PENDING_DELETION,
    KeyState.PENDING_REPLICA_DELETION,
    KeyState.PENDING_IMPORT,
    KeyState.UNAVAILABLE,
    KeyState.CREATING,
    KeyState.UPDATING,
)

# operation                           Enabled Disabled PendDel PendReplDel PendImport Unavail Creating Updating
_TABLE = """
CancelKeyDeletion                     4       4        ok      ok          4          4       4        4
CreateAlias                           ok      ok       3       3           ok         ok      ok       ok
CreateGrant                           ok      1        3       3           5          ok      14       ok
Decrypt                               ok      1        3       3           5          11      14       ok
DeleteAlias                           ok      ok       ok      ok          ok         ok      ok       ok
DeleteImportedKeyMaterial             ok      ok       ok      ok          ok         ok      14       15
DescribeKey                           ok      ok       ok      ok          ok         ok      ok       ok
DisableKey                            ok      ok       3       3           5          ok      14       15
DisableKeyRotation                    ok      1        3       3           6          ok      14       ok
EnableKey                             ok      ok       3       3           5          ok      14       15
EnableKeyRotation                     ok      1        3       3           6          ok      14       ok
Encrypt                               ok      1        3       3           5          11      14       ok
GenerateDataKey                       ok      1        3       3           5          11      14       ok
GenerateDataKeyPair                   ok      1        3       3           5          11      14       ok
GenerateDataKeyPairWithoutPlaintext   ok      1        3       3           5          11      14       ok
GenerateDataKeyWithoutPlaintext       ok      1        3       3           5          11      14       ok
GenerateMac                           ok      1        3       3           5          11      14       ok
GetKeyPolicy                          ok      ok       ok      ok          ok         ok      ok       ok
GetKeyRotationStatus                  ok      ok       ok      ok          6          ok      ok       ok
GetParametersForImport                ok      ok       3       3           ok         ok      14       15
GetPublicKey                          ok      1        3       3           5          11      14       ok
ImportKeyMaterial                     ok      ok       3       3           ok         ok      14       ok
ListGrants                            ok      ok       ok      ok          ok         ok      ok       ok
ListKeyPolicies                       ok      ok       ok      ok          ok         ok      ok       ok
ListKeyRotations                      ok      ok       ok      ok          ok         ok      ok       ok
ListResourceTags                      ok      ok       ok      ok          ok         ok      ok       ok
PutKeyPolicy                          ok      ok       ok      ok          ok         ok      ok       ok
ReEncryptFrom                         ok      1        3       3           5          11      14       ok
ReEncryptTo                           ok      1        3       3           5          11      14       ok
ReplicateKey                          ok      1        3       3           5          11      14       15
RetireGrant                           ok      ok       ok      ok          ok         ok      ok       ok
RevokeGrant                           ok      ok       ok      ok          ok         ok      ok       ok
RotateKeyOnDemand                     ok      1        3       3           5          11      14       15
ScheduleKeyDeletion                   ok      ok       3       3           ok         ok      ok       15
Sign                                  ok      1        3       3           5          11      14       ok
TagResource                           ok      ok       3       3           ok         ok      ok       ok
UntagResource                         ok      ok       3       3           ok         ok      ok       ok
UpdateAliasTarget                     ok      ok       3       3           ok         ok      ok       ok
UpdateKeyDescription                  ok      ok       3       3           ok         ok      ok       ok
UpdatePrimaryRegion                   ok      1        3       3           5          11      14       ok
Verify                                ok      1        3       3           5          11      14       ok
VerifyMac                             ok      1        3       3           5          11      14       ok
DeriveSharedSecret                    ok      1        3       3           5          11      14       ok
Encapsulate                           ok      1        3       3           5          11      14       ok
Decapsulate                           ok      1        3       3           5          11      14       ok
GetKeyLastUsage                       ok      ok       ok      ok          ok         ok      ok       ok
"""
# DeriveSharedSecret, Encapsulate and Decapsulate follow Decrypt; GetKeyLastUsage follows DescribeKey.
# ReEncrypt is checked twice: ReEncryptFrom on the source key, ReEncryptTo on the destination.
# UpdateAliasTarget is UpdateAlias's rule for the new target (footnote 10: the old one may be pending deletion).


def _pending_word(state: KeyState) -> str:
    return "pending replica deletion" if state is KeyState.PENDING_REPLICA_DELETION else "pending deletion"


_FOOTNOTES: dict[str, Callable[[str, KeyState], KMSError]] = {
    "1": lambda arn, state: DisabledException(f"{arn} is disabled."),
    "3": lambda arn, state: KMSInvalidStateException(f"{arn} is {_pending_word(state)}."),
    "4": lambda arn, state: KMSInvalidStateException(f"{arn} is not pending deletion."),
    "5": lambda arn, state: KMSInvalidStateException(f"{arn} is pending import."),
    "6": lambda arn, state: UnsupportedOperationException(f"{arn} origin is EXTERNAL which is not valid for this operation."),
    "11": lambda arn, state: KMSInvalidStateException(f"{arn} is unavailable."),
    "14": lambda arn, state: KMSInvalidStateException(f"{arn} is creating."),
    "15": lambda arn, state: KMSInvalidStateException(f"{arn} is updating."),
}


def _parse(table: str) -> dict[str, dict[KeyState, str]]:
    rules: dict[str, dict[KeyState, str]] = {}
    for line in table.strip().splitlines():
        operation, *cells = line.split()
        if len(cells) != len(_COLUMNS) or any(c != "ok" and c not in _FOOTNOTES for c in cells):
            raise ValueError(f"bad key-state row: {line!r}")
        rules[operation] = dict(zip(_COLUMNS, cells, strict=True))
    return rules


KEY_STATE_RULES = _parse(_TABLE)


def check_key_state(operation: str, arn: str, state: KeyState) -> None:
    """Raise AWS's error if ``operation`` cannot run on a key in ``state``."""
    cell = KEY_STATE_RULES[operation][state]
    if cell != "ok":
        raise _FOOTNOTES[cell](arn, state)
