"""Key objects in an HSM token, in the CloudHSM CLI's vocabulary (PKCS#11 only: no rows, no users, no HTTP).

:mod:`hsmsim.cloudhsm.keystore` runs these functions inside :class:`~hsmsim.cloudhsm.replication.ClusterReplicator`
sessions. Every object gets ``CKA_ID`` = its key reference (8 bytes, big-endian), which is how rows and token
objects are matched. Attribute names, defaults and which ones may be set at creation or later follow AWS:

* Attributes: https://docs.aws.amazon.com/cloudhsm/latest/userguide/cloudhsm_cli-key-attributes-table.html
* Check value: https://docs.aws.amazon.com/cloudhsm/latest/userguide/chsm-cli-key-attribute-details.html
* Output shape: https://docs.aws.amazon.com/cloudhsm/latest/userguide/cloudhsm_cli-key-generate-symmetric-aes.html

Defaults as AWS's CLI documents and prints them: keys are token keys, private (also public keys: CloudHSM has no
public sessions), sensitive (but public keys), **extractable** (AWS's default; pass ``extractable=false`` for a key
that can never leave the HSM) and without usage rights except ``sign``/``verify`` on secret keys.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pkcs11
from asn1crypto.core import OctetString
from asn1crypto.keys import NamedCurve
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.exceptions import AttributeTypeInvalid, UnwrappingKeyHandleInvalid
from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters

from hsmsim.aws.errors import ValidationException

SECRET, PUBLIC, PRIVATE = "secret-key", "public-key", "private-key"
CLASSES = {SECRET: ObjectClass.SECRET_KEY, PUBLIC: ObjectClass.PUBLIC_KEY, PRIVATE: ObjectClass.PRIVATE_KEY}
CURVES = {  # CLI name -> named curve (prime256v1 is OpenSSL's name of secp256r1)
    "secp224r1": "secp224r1",
    "secp256r1": "secp256r1",
    "prime256v1": "secp256r1",
    "secp384r1": "secp384r1",
    "secp521r1": "secp521r1",
    "secp256k1": "secp256k1",
}
FLAGS = {  # CLI name -> PKCS#11 attribute, in the order the CLI prints them
    "encrypt": Attribute.ENCRYPT,
    "decrypt": Attribute.DECRYPT,
    "token": Attribute.TOKEN,
    "always-sensitive": Attribute.ALWAYS_SENSITIVE,
    "derive": Attribute.DERIVE,
    "destroyable": Attribute.DESTROYABLE,
    "extractable": Attribute.EXTRACTABLE,
    "local": Attribute.LOCAL,
    "modifiable": Attribute.MODIFIABLE,
    "never-extractable": Attribute.NEVER_EXTRACTABLE,
    "private": Attribute.PRIVATE,
    "sensitive": Attribute.SENSITIVE,
    "sign": Attribute.SIGN,
    "trusted": Attribute.TRUSTED,
    "unwrap": Attribute.UNWRAP,
    "verify": Attribute.VERIFY,
    "wrap": Attribute.WRAP,
    "wrap-with-trusted": Attribute.WRAP_WITH_TRUSTED,
}
USAGE = {  # the usage flags each class has (PKCS#11); public keys may not derive (AWS)
    SECRET: {"encrypt", "decrypt", "sign", "verify", "wrap", "unwrap", "derive"},
    PUBLIC: {"encrypt", "verify", "wrap"},
    PRIVATE: {"decrypt", "sign", "unwrap", "derive"},
}
AT_CREATION = {  # what ``--attributes`` may set besides usage
    SECRET: {"extractable", "sensitive", "modifiable", "destroyable", "wrap-with-trusted"},
    PUBLIC: {"modifiable", "destroyable"},
    PRIVATE: {"extractable", "sensitive", "modifiable", "destroyable", "wrap-with-trusted"},
}
DEFAULTS = {
    SECRET: {"encrypt": False, "decrypt": False, "sign": True, "verify": True, "wrap": False, "unwrap": False,
             "derive": False, "extractable": True, "sensitive": True},
    PUBLIC: {"encrypt": False, "verify": False, "wrap": False, "derive": False},
    PRIVATE: {"decrypt": False, "sign": False, "unwrap": False, "derive": False, "extractable": True,
              "sensitive": True},
}
UNWRAP_MECHANISMS = {  # what ``key unwrap`` accepts (python-pkcs11 names; OAEP with its SHA-1 default, as SoftHSM)
    "AES_KEY_WRAP": Mechanism.AES_KEY_WRAP,
    "AES_KEY_WRAP_PAD": Mechanism.AES_KEY_WRAP_PAD,
    "RSA_PKCS_OAEP": Mechanism.RSA_PKCS_OAEP,
}
FILTERABLE = {"label", "class", "key-type", "id", "check-value", "key-length-bytes", "public-exponent", "modulus",
              "modulus-size-bits", "ec-point", "curve"}
"""The non-flag attributes ``--filter attr.NAME=VALUE`` may name."""
ABSENT = {"extractable": True}
"""What the CLI prints for a flag the object does not have (SoftHSM public keys have no CKA_EXTRACTABLE)."""


def key_id(reference: str) -> bytes:
    return int(reference, 16).to_bytes(8, "big")


def parse_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValidationException(f"Invalid value {value!r} for attribute {name}: use true or false.")


def usable(key_class: str, key_type: str) -> set[str]:
    """The usage flags a key of this class and type may have (RSA keys cannot derive on hsm1.medium)."""
    return USAGE[key_class] - ({"derive"} if key_type == "rsa" else set())


def template(key_class: str, key_type: str, label: str, reference: str, given: dict[str, Any]) -> dict[Any, Any]:
    """The PKCS#11 template of a new key: AWS's defaults, then the ``--attributes`` the caller gave."""
    allowed = usable(key_class, key_type) | AT_CREATION[key_class]
    flags = dict(DEFAULTS[key_class])
    for name, value in given.items():
        if name not in allowed:
            raise ValidationException(f"Attribute {name} cannot be set when generating a {key_type} {key_class}.")
        flags[name] = parse_bool(name, value)
    flags = {n: v for n, v in flags.items() if n in allowed}
    return {
        Attribute.TOKEN: True,
        Attribute.PRIVATE: True,
        Attribute.LABEL: label,
        Attribute.ID: key_id(reference),
        **{FLAGS[name]: value for name, value in flags.items()},
    }


# -- generation, deletion, changes (run inside ClusterReplicator.write) ------------------------------------------


def generate_secret(session: pkcs11.Session, key_type: str, length: int, attrs: dict[Any, Any]) -> None:
    kind = KeyType.AES if key_type == "aes" else KeyType.GENERIC_SECRET
    session.generate_key(kind, length * 8, store=True, template=attrs)


def generate_pair(session: pkcs11.Session, key_type: str, public: dict[Any, Any], private: dict[Any, Any],
                  modulus_bits: int = 0, exponent: int = 0, curve: str = "") -> None:
    if key_type == "rsa":
        public[Attribute.PUBLIC_EXPONENT] = exponent.to_bytes((exponent.bit_length() + 7) // 8, "big")
        session.generate_keypair(KeyType.RSA, modulus_bits, store=True, public_template=public,
                                 private_template=private)
    else:
        public[Attribute.EC_PARAMS] = encode_named_curve_parameters(CURVES[curve])
        session.generate_keypair(KeyType.EC, store=True, public_template=public, private_template=private)


def unwrap_secret(session: pkcs11.Session, wrapping: tuple[str, str], mechanism: str, wrapped: bytes,
                  key_type: str, attrs: dict[Any, Any]) -> None:
    """C_UnwrapKey of a secret token key with the ``(reference, class)`` key; PKCS11Error if the token refuses."""
    found = _objects(session, *wrapping)
    if not found:
        raise UnwrappingKeyHandleInvalid()
    kind = KeyType.AES if key_type == "aes" else KeyType.GENERIC_SECRET
    found[0].unwrap_key(ObjectClass.SECRET_KEY, kind, wrapped, mechanism=UNWRAP_MECHANISMS[mechanism], store=True,
                        template=attrs)


def _objects(session: pkcs11.Session, reference: str, key_class: str) -> list[Any]:
    search = session.get_objects({Attribute.ID: key_id(reference), Attribute.CLASS: CLASSES[key_class]})
    try:
        return list(search)
    finally:
        search.close()


def destroy(session: pkcs11.Session, reference: str, key_class: str) -> int:
    found = _objects(session, reference, key_class)
    for obj in found:
        obj.destroy()
    return len(found)


def set_attribute(session: pkcs11.Session, reference: str, key_class: str, name: str, value: Any) -> Any:
    """Set ``name`` on the object; returns the previous value (to undo it)."""
    attribute = Attribute.LABEL if name == "label" else FLAGS[name]
    previous = None
    for obj in _objects(session, reference, key_class):
        previous = obj[attribute]
        obj[attribute] = value
    return previous


# -- reading (run inside ClusterReplicator.read) --------------------------------------------------------------------


def _get(obj: Any, attribute: Attribute, default: Any = None) -> Any:
    try:
        return obj[attribute]
    except AttributeTypeInvalid:
        return default


def _hex(data: bytes) -> str:
    return "0x" + bytes(data).hex()


def _spki(obj: Any, key_type: str) -> bytes | None:
    """The DER SubjectPublicKeyInfo of a public key object (or, for RSA, of a private key's public half)."""
    if key_type == "rsa":
        numbers = rsa.RSAPublicNumbers(
            int.from_bytes(obj[Attribute.PUBLIC_EXPONENT], "big"), int.from_bytes(obj[Attribute.MODULUS], "big")
        )
        return numbers.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    return bytes(encode_ec_public_key(obj)) if obj is not None else None


def describe(session: pkcs11.Session, reference: str, key_class: str, key_type: str,
             pair: str | None = None) -> dict[str, Any] | None:
    """The ``attributes`` the CLI prints for a key (None if the token has no such object)."""
    found = _objects(session, reference, key_class)
    if not found:
        return None
    obj = found[0]
    partner = None
    if key_class == PRIVATE and key_type == "ec" and pair is not None:
        partner = next(iter(_objects(session, pair, PUBLIC)), None)
    out: dict[str, Any] = {
        "key-type": key_type,
        "label": obj[Attribute.LABEL],
        "id": _hex(obj[Attribute.ID]),
        "check-value": "0x",
        "class": key_class,
    }
    out.update({name: bool(_get(obj, attr, ABSENT.get(name, False))) for name, attr in FLAGS.items()})
    if key_class == SECRET:
        out["check-value"] = _hex(_get(obj, Attribute.CHECK_VALUE, b""))
        out["key-length-bytes"] = obj[Attribute.VALUE_LEN]
        return out
    spki = _spki(obj if key_class == PUBLIC or key_type == "rsa" else partner, key_type)
    if spki is not None:
        out["check-value"] = _hex(hashlib.sha1(spki).digest()[:3])
    if key_type == "rsa":
        modulus = bytes(obj[Attribute.MODULUS])
        out["key-length-bytes"] = len(modulus)
        out["public-exponent"] = _hex(obj[Attribute.PUBLIC_EXPONENT])
        out["modulus"] = _hex(modulus)
        out["modulus-size-bits"] = len(modulus) * 8
    else:
        source = obj if key_class == PUBLIC else partner
        point = OctetString.load(bytes(source[Attribute.EC_POINT])).native if source is not None else b""
        out["key-length-bytes"] = len(point)
        if point:
            out["ec-point"] = _hex(point)
        out["curve"] = NamedCurve.load(bytes(obj[Attribute.EC_PARAMS])).native
    return out
