"""Keys of the HSM users (spec 2.2): generation, listing, deletion, sharing and attributes, with their ownership.

The key material is the token objects (``CKA_ID`` = key reference) on every ACTIVE HSM of the cluster: every change
goes through :meth:`ClusterReplicator.write` and is on every ACTIVE HSM before the call returns; descriptions are
read from one of them. Who owns a key and with whom it is shared are the ``cloudhsm_keys`` / ``cloudhsm_key_shares``
rows (part of every backup, see :func:`hsmsim.cloudhsm.actions.users_snapshot`). The rules:

* only crypto users create and manage keys; the creator owns the key; admins only list keys (references and labels);
* a crypto user sees the keys it owns, the keys shared with it and every public key of the cluster;
* only the owner deletes, shares, unshares or changes attributes; users a key is shared with only use it.

No HTTP here: :mod:`hsmsim.dataplane` calls these functions inside a unit of work.

* https://docs.aws.amazon.com/cloudhsm/latest/userguide/cloudhsm_cli-key-list.html
* https://docs.aws.amazon.com/cloudhsm/latest/userguide/cloudhsm_cli-key-generate-symmetric-aes.html
* https://docs.aws.amazon.com/cloudhsm/latest/userguide/cloudhsm_cli-key-generate-asymmetric-pair-rsa.html
* https://docs.aws.amazon.com/cloudhsm/latest/userguide/cloudhsm_cli-key-share.html (and ``key-unshare``,
  ``key-delete``, ``key-set-attribute``); filters: .../manage-keys-cloudhsm-cli-filtering.html
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Callable, Iterable
from typing import Any

from pkcs11.exceptions import PKCS11Error
from sqlalchemy import delete

from hsmsim.aws.errors import ServiceError, ValidationException
from hsmsim.cloudhsm import keytokens as kt
from hsmsim.cloudhsm import keyviews as kv
from hsmsim.cloudhsm.models import HsmKey, HsmKeyShare, HsmUser
from hsmsim.cloudhsm.runtime import Step
from hsmsim.cloudhsm.users import CRYPTO_USER, AccessDenied, RoleMismatch, UserNotFound, normalize_name

LABEL_LENGTH = range(1, 128)
AES_LENGTHS = (16, 24, 32)
GENERIC_LENGTHS = range(1, 801)
RSA_BITS = range(2048, 4097, 256)
SETTABLE = {"label"} | set().union(*kt.USAGE.values())
"""What ``key set-attribute`` changes (trusted needs an admin and SoftHSM's SO: not simulated)."""
list_keys = kv.list_keys
"""``key list`` (see :mod:`hsmsim.cloudhsm.keyviews`)."""


class ShareConflict(ServiceError):
    code, status = "ShareConflict", 409


# -- helpers ----------------------------------------------------------------------------------------------------


def _crypto_user(user: HsmUser, what: str) -> None:
    if user.role != CRYPTO_USER:
        raise AccessDenied(f"Only crypto users can {what}; '{user.username}' is a {user.role}.")


def _new_reference(step: Step, cluster_id: str, taken: set[str]) -> str:
    while True:
        reference = f"0x{secrets.randbelow(2**40 - 1) + 1:016x}"
        if reference not in taken and step.session.get(HsmKey, (cluster_id, reference)) is None:
            taken.add(reference)
            return reference


def _label(label: Any) -> str:
    if not isinstance(label, str) or len(label) not in LABEL_LENGTH:
        raise ValidationException("Invalid label: labels are 1 to 127 characters long.")
    return label


def _crypto_users(step: Step, cluster_id: str, names: Iterable[str], owner: str) -> list[str]:
    """The crypto users named in ``--share-crypto-users`` (each must exist and not be the owner)."""
    found: list[str] = []
    for raw in names:
        name = normalize_name(raw)
        user = step.session.get(HsmUser, (cluster_id, name))
        if user is None:
            raise UserNotFound(f"User '{name}' does not exist in cluster '{cluster_id}'.")
        if user.role != CRYPTO_USER:
            raise RoleMismatch(f"Keys can only be shared with crypto users; '{name}' is a {user.role}.")
        if name == owner:
            raise ValidationException(f"User '{name}' owns the key; it cannot be shared with its owner.")
        if name not in found:
            found.append(name)
    return found


def _visible_key(step: Step, user: HsmUser, reference: str) -> HsmKey:
    """A key ``user`` may use (owned or shared; a key it cannot see does not exist for it)."""
    reference = kv.parse_reference(reference)
    key = next((k for k in kv.visible_keys(step, user) if k.key_reference == reference), None)
    if key is None:
        raise kv.KeyNotFound(f"Key {reference} not found.")
    return key


def _key(step: Step, user: HsmUser, reference: str, what: str) -> HsmKey:
    """A key ``user`` owns (a key it cannot see does not exist for it)."""
    _crypto_user(user, what)
    key = _visible_key(step, user, reference)
    reference = key.key_reference
    if key.owner != user.username:
        raise AccessDenied(f"Only the owner of key {reference} ('{key.owner}') can {what}.")
    return key


# -- generation -------------------------------------------------------------------------------------------------


def _create(step: Step, user: HsmUser, rows: list[HsmKey], shares: list[str],
            work: Callable[[Any], None]) -> list[dict[str, Any]]:
    """Add the rows (shares go to the last one, the secret or private key), then the token objects."""
    for row in rows:
        step.session.add(row)
    step.session.flush()
    for name in shares:
        step.session.add(HsmKeyShare(cluster_id=user.cluster_id, key_reference=rows[-1].key_reference, username=name))
    step.session.flush()
    undo = [(r.key_reference, r.key_class) for r in rows]
    step.uow.on_rollback(lambda: kv.on_hsms(step, user.cluster_id, lambda s: [kt.destroy(s, *u) for u in undo]))
    kv.on_hsms(step, user.cluster_id, work)
    views = kv.key_views(step, rows, verbose=True)
    if len(views) != len(rows):
        raise kv.HsmFailure(f"The new key objects are missing from an HSM of cluster '{user.cluster_id}'.")
    return views


def _new_secret(step: Step, user: HsmUser, key_type: str, label: str, attributes: dict[str, Any],
                share_with: list[str]) -> tuple[HsmKey, dict[Any, Any], list[str]]:
    """The ownership row, token template and share list of a new secret key owned by ``user``."""
    reference = _new_reference(step, user.cluster_id, set())
    attrs = kt.template(kt.SECRET, key_type, label, reference, attributes)
    shares = _crypto_users(step, user.cluster_id, share_with, user.username)
    row = HsmKey(cluster_id=user.cluster_id, key_reference=reference, owner=user.username, label=label,
                 key_class=kt.SECRET, key_type=key_type)
    return row, attrs, shares


def generate_symmetric(step: Step, user: HsmUser, key_type: str, label: Any, length: Any,
                       attributes: dict[str, Any], share_with: list[str]) -> dict[str, Any]:
    """``key generate-symmetric aes`` (16, 24 or 32 bytes) and ``... generic-secret`` (1 to 800 bytes)."""
    _crypto_user(user, "generate keys")
    label, length = _label(label), kv.integer("key length", length)
    if key_type not in ("aes", "generic-secret"):
        raise ValidationException(f"Invalid symmetric key type '{key_type}': use aes or generic-secret.")
    if length not in (AES_LENGTHS if key_type == "aes" else GENERIC_LENGTHS):
        allowed = "16, 24 or 32" if key_type == "aes" else "1 to 800"
        raise ValidationException(f"Invalid key length {length}: {key_type} keys are {allowed} bytes long.")
    row, attrs, shares = _new_secret(step, user, key_type, label, attributes, share_with)
    views = _create(step, user, [row], shares, lambda s: kt.generate_secret(s, key_type, length, attrs))
    return {"key": views[0]}


def generate_pair(step: Step, user: HsmUser, key_type: str, public_label: Any, private_label: Any,
                  public_attributes: dict[str, Any], private_attributes: dict[str, Any], share_with: list[str],
                  modulus_size_bits: Any = None, public_exponent: Any = None, curve: Any = None) -> dict[str, Any]:
    """``key generate-asymmetric-pair rsa`` (2048-4096 bits in steps of 256, odd exponent >= 65537) and ``... ec``."""
    _crypto_user(user, "generate keys")
    public_label, private_label = _label(public_label), _label(private_label)
    params: dict[str, Any] = {}
    if key_type == "rsa":
        bits = kv.integer("modulus size", modulus_size_bits)
        exponent = kv.integer("public exponent", public_exponent)
        if bits not in RSA_BITS:
            raise ValidationException(f"Invalid modulus size {bits}: use 2048 to 4096 bits in steps of 256.")
        if exponent < 65537 or exponent % 2 == 0 or exponent >= 2**64:
            raise ValidationException(f"Invalid public exponent {exponent}: use an odd number >= 65537.")
        params = {"modulus_bits": bits, "exponent": exponent}
    elif key_type == "ec":
        if curve not in kt.CURVES:
            raise ValidationException(f"Invalid curve '{curve}': use one of {', '.join(kt.CURVES)}.")
        params = {"curve": curve}
    else:
        raise ValidationException(f"Invalid key pair type '{key_type}': use rsa or ec.")
    taken: set[str] = set()
    public_ref, private_ref = _new_reference(step, user.cluster_id, taken), _new_reference(step, user.cluster_id, taken)
    public = kt.template(kt.PUBLIC, key_type, public_label, public_ref, public_attributes)
    private = kt.template(kt.PRIVATE, key_type, private_label, private_ref, private_attributes)
    shares = _crypto_users(step, user.cluster_id, share_with, user.username)
    common = {"cluster_id": user.cluster_id, "owner": user.username, "key_type": key_type}
    rows = [
        HsmKey(key_reference=public_ref, label=public_label, key_class=kt.PUBLIC, pair_reference=private_ref, **common),
        HsmKey(key_reference=private_ref, label=private_label, key_class=kt.PRIVATE, pair_reference=public_ref,
               **common),
    ]
    views = _create(step, user, rows, shares, lambda s: kt.generate_pair(s, key_type, public, private, **params))
    return {"public_key": views[0], "private_key": views[1]}


def unwrap_key(step: Step, user: HsmUser, wrapping_reference: str, mechanism: str, data: Any, key_type: str,
               label: Any, attributes: dict[str, Any], share_with: list[str]) -> dict[str, Any]:
    """``key unwrap``: a secret key (aes or generic-secret) from ``data`` (base64), unwrapped by a key the user may
    use, created like a generated key: on every ACTIVE HSM, owned by the user, ``CKA_ID`` = a new reference."""
    _crypto_user(user, "unwrap keys")
    label = _label(label)
    if key_type not in ("aes", "generic-secret"):
        raise ValidationException(f"Invalid key type '{key_type}': unwrapped keys are aes or generic-secret keys.")
    if mechanism not in kt.UNWRAP_MECHANISMS:
        raise ValidationException(f"Invalid mechanism '{mechanism}': use one of {', '.join(kt.UNWRAP_MECHANISMS)}.")
    try:
        wrapped = base64.b64decode(data, validate=True) if isinstance(data, str) else b""
    except (binascii.Error, ValueError):
        wrapped = b""
    if not wrapped:
        raise ValidationException("Invalid wrapped key: base64 of the wrapped key bytes is required.")
    wrapping = _visible_key(step, user, wrapping_reference)
    wrapping_reference = wrapping.key_reference
    if wrapping.key_class == kt.PUBLIC:
        raise ValidationException(f"Key {wrapping_reference} is a public key: it cannot unwrap.")
    row, attrs, shares = _new_secret(step, user, key_type, label, attributes, share_with)

    def work(session: Any) -> None:
        try:
            kt.unwrap_secret(session, (wrapping_reference, wrapping.key_class), mechanism, wrapped, key_type, attrs)
        except PKCS11Error as error:  # garbage bytes, wrong mechanism, no unwrap right: nothing was created
            raise ValidationException(
                f"Unable to unwrap the key with key {wrapping_reference} and {mechanism}: {type(error).__name__}."
            ) from error

    return {"key": _create(step, user, [row], shares, work)[0]}


# -- management -----------------------------------------------------------------------------------------------------


def delete_key(step: Step, user: HsmUser, reference: str) -> dict[str, str]:
    """``key delete``: the owner only; the other half of a key pair stays."""
    key = _key(step, user, reference, "delete it")
    step.session.execute(
        delete(HsmKeyShare).where(
            HsmKeyShare.cluster_id == key.cluster_id, HsmKeyShare.key_reference == key.key_reference
        )
    )
    step.session.delete(key)
    step.session.flush()
    kv.on_hsms(step, user.cluster_id, lambda s: kt.destroy(s, key.key_reference, key.key_class))
    return {"message": "Key deleted successfully"}


def _share_target(step: Step, key: HsmKey, username: str, role: str) -> str:
    name = normalize_name(username)
    if role != CRYPTO_USER:
        raise ValidationException(f"Keys can only be shared with crypto users, not with the role '{role}'.")
    if key.key_class == kt.PUBLIC:
        raise ValidationException(f"Key {key.key_reference} is a public key: every crypto user can use it already.")
    user = step.session.get(HsmUser, (key.cluster_id, name))
    if user is None:
        raise UserNotFound(f"User '{name}' does not exist in cluster '{key.cluster_id}'.")
    if user.role != role:
        raise RoleMismatch(f"User '{name}' has the role {user.role}, not {role}.")
    if name == key.owner:
        raise ValidationException(f"User '{name}' owns key {key.key_reference}.")
    return name


def share_key(step: Step, user: HsmUser, reference: str, username: str, role: str) -> dict[str, str]:
    """``key share``: the owner gives another crypto user use of the key."""
    key = _key(step, user, reference, "share it")
    name = _share_target(step, key, username, role)
    if step.session.get(HsmKeyShare, (key.cluster_id, key.key_reference, name)) is not None:
        raise ShareConflict(f"Key {key.key_reference} is already shared with '{name}'.")
    step.session.add(HsmKeyShare(cluster_id=key.cluster_id, key_reference=key.key_reference, username=name))
    return {"message": "Key shared successfully"}


def unshare_key(step: Step, user: HsmUser, reference: str, username: str, role: str) -> dict[str, str]:
    """``key unshare``: the owner takes the use of the key back."""
    key = _key(step, user, reference, "unshare it")
    name = _share_target(step, key, username, role)
    share = step.session.get(HsmKeyShare, (key.cluster_id, key.key_reference, name))
    if share is None:
        raise ShareConflict(f"Key {key.key_reference} is not shared with '{name}'.")
    step.session.delete(share)
    return {"message": "Key unshared successfully"}


def set_attribute(step: Step, user: HsmUser, reference: str, name: str, value: Any) -> dict[str, str]:
    """``key set-attribute``: the owner changes the label or a usage flag the key's class has."""
    key = _key(step, user, reference, "change its attributes")
    if name not in SETTABLE:
        raise ValidationException(f"Attribute {name} cannot be set by the user for this operation.")
    if name == "label":
        value = _label(value)
        key.label = value
    elif name in kt.usable(key.key_class, key.key_type):
        value = kt.parse_bool(name, value)
    else:
        raise ValidationException(f"Attribute {name} does not apply to a {key.key_type} {key.key_class}.")
    step.session.flush()
    ref, cls = key.key_reference, key.key_class
    previous = kv.on_hsms(step, user.cluster_id, lambda s: kt.describe(s, ref, cls, key.key_type), write=False)
    if previous is None:
        raise kv.HsmFailure(f"Key {ref} has no token object.")
    if not previous["modifiable"]:
        raise ValidationException(f"Attribute {name} of key {ref} cannot be changed: the key is not modifiable.")

    def change(session: Any) -> None:
        try:
            kt.set_attribute(session, ref, cls, name, value)
        except PKCS11Error as error:  # e.g. AttributeReadOnly: the key was made with modifiable=false
            raise ValidationException(f"Attribute {name} of key {ref} cannot be changed: {error!r}") from error

    undo = previous[name]
    step.uow.on_rollback(
        lambda: kv.on_hsms(step, user.cluster_id, lambda s: kt.set_attribute(s, ref, cls, name, undo))
    )
    kv.on_hsms(step, user.cluster_id, change)
    return {"message": "Attribute set successfully"}
