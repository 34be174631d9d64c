"""The KMS domain key: where key material at rest is protected.

AWS KMS keeps every key's material encrypted under *domain keys* that exist in plaintext only inside its HSMs
(the KMS cryptographic details whitepaper, "Domain keys"). The simulator mirrors that: one AES-256 key, generated
inside a dedicated SoftHSM token (label ``hsmsim-kms``) as sensitive and non-extractable, encrypts every key
material with AES-GCM *inside the token* before the material is stored. The database only ever holds
``wrap(material)``; the plaintext material exists in the server's memory, never on disk.

The additional authenticated data binds a wrapped blob to its key and material id, so a blob copied onto
another row fails to unwrap.

A lost domain key is never replaced silently (issue 10). At start the token and its key are looked up; if either
is missing (a token deleted by hand, or set aside by the start-up repair of :mod:`hsmsim.hsm.repair` because it was
damaged), a new key is made only when nothing in the database is wrapped by the old one (``may_create``; a first
start, or a kill during the first start's creation). Otherwise :class:`DomainKeyLost` stops the server with a
message saying what to restore: a new key could never unwrap what the database holds.
"""

from __future__ import annotations

import os

from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.exceptions import NoSuchKey, PKCS11Error
from pkcs11.mechanisms import GCMParams

from hsmsim.hsm import HSMError, SoftHSM

DOMAIN_TOKEN_LABEL = "hsmsim-kms"
DOMAIN_KEY_LABEL = "kms-domain-key"
_VERSION = b"\x01"
_IV_BYTES = 12


class DomainKeyLost(HSMError):
    """The domain-key token or its key is gone while the database holds what it wrapped."""


class DomainKey:
    """AES-256-GCM wrapping of key material by a non-extractable key in the ``hsmsim-kms`` token."""

    def __init__(self, hsm: SoftHSM, *, may_create: bool = True) -> None:
        """``may_create``: nothing wrapped by an earlier domain key exists, so a missing one may be made anew."""
        self._hsm = hsm
        serials = [s for s, label in hsm.tokens().items() if label == DOMAIN_TOKEN_LABEL]
        with_key = [s for s in serials if self._has_key(s)]
        self.created = not with_key
        """True when this start made a new domain key."""
        if with_key:
            self.token_serial = with_key[0]
        elif not may_create:
            raise DomainKeyLost(
                f"the KMS domain-key token ({DOMAIN_TOKEN_LABEL!r}) "
                f"{'has lost its key' if serials else 'is missing'}, but the database holds key material and "
                "passwords wrapped by it: refusing to start, since a new domain key could never unwrap them. Restore "
                "the data dir's tokens/ from a copy (a damaged token set aside at start is in quarantine/ beside it), "
                "or start on a new data dir."
            )
        elif serials:
            self.token_serial = serials[0]  # a first start cut short between the token and its key
            self._generate(self.token_serial)
        else:
            self.token_serial = self._create()

    def _has_key(self, serial: str) -> bool:
        with self._hsm.session(serial) as session:
            try:
                session.get_key(object_class=ObjectClass.SECRET_KEY, label=DOMAIN_KEY_LABEL)
            except NoSuchKey:
                return False
        return True

    def _create(self) -> str:
        serial = self._hsm.create_token(DOMAIN_TOKEN_LABEL)
        self._generate(serial)
        return serial

    def _generate(self, serial: str) -> None:
        with self._hsm.session(serial, exclusive=True) as session:
            session.generate_key(
                KeyType.AES,
                256,
                label=DOMAIN_KEY_LABEL,
                store=True,
                template={
                    Attribute.SENSITIVE: True,
                    Attribute.EXTRACTABLE: False,
                    Attribute.ENCRYPT: True,
                    Attribute.DECRYPT: True,
                },
            )

    def wrap(self, material: bytes, context: bytes) -> bytes:
        """``version | iv | AES-GCM(material, aad=context)``, computed inside the token."""
        iv = os.urandom(_IV_BYTES)
        try:
            with self._hsm.session(self.token_serial) as session:
                key = session.get_key(object_class=ObjectClass.SECRET_KEY, label=DOMAIN_KEY_LABEL)
                sealed = key.encrypt(material, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(iv, context, 128))
        except PKCS11Error as error:
            raise HSMError(f"domain key wrap failed: {error!r}") from error
        return _VERSION + iv + bytes(sealed)

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        """The material of a :meth:`wrap` blob; :class:`HSMError` if it was altered or belongs elsewhere."""
        if len(wrapped) < 1 + _IV_BYTES + 16 or wrapped[:1] != _VERSION:
            raise HSMError("wrapped key material has an unknown format")
        iv, sealed = wrapped[1 : 1 + _IV_BYTES], wrapped[1 + _IV_BYTES :]
        try:
            with self._hsm.session(self.token_serial) as session:
                key = session.get_key(object_class=ObjectClass.SECRET_KEY, label=DOMAIN_KEY_LABEL)
                return bytes(key.decrypt(sealed, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(iv, context, 128)))
        except PKCS11Error as error:
            raise HSMError(f"domain key unwrap failed: {error!r}") from error
