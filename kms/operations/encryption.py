"""Encrypt, Decrypt and ReEncrypt.

https://docs.aws.amazon.com/kms/latest/APIReference/API_Encrypt.html, API_Decrypt.html, API_ReEncrypt.html.
Symmetric keys seal a :mod:`kms.crypto.ciphertext` blob under their current material; the blob names the key
and the material, so Decrypt works without ``KeyId`` and old material keeps decrypting after a rotation.
RSA ``ENCRYPT_DECRYPT`` keys use real RSAES-OAEP (:mod:`kms.crypto.rsa_encryption`), so a ciphertext made
offline with the public key decrypts here. Recorded behaviour (spec/kms-real-responses.md 1.6–1.8, 3.2):
a key of the wrong usage is named before the algorithm or the size is looked at; a KeyId that did not encrypt
a symmetric blob is ``IncorrectKeyException`` (even for an HMAC key); a bad blob or context is
``InvalidCiphertextException`` without a message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from cryptography.hazmat.primitives.asymmetric import rsa

from hsmsim.aws.context import RequestContext
from hsmsim.aws.errors import ValidationException
from kms.crypto.ciphertext import MalformedCiphertext, open_blob, read_header, seal
from kms.crypto.rsa_encryption import (
    RsaDecryptionFailed,
    is_oaep,
    max_plaintext_bytes,
    oaep_decrypt,
    oaep_encrypt,
)
from kms.crypto.specs import SPECS
from kms.enums import EncryptionAlgorithm, KeySpec, KeyUsage
from kms.errors import (
    IncorrectKeyException,
    InvalidCiphertextException,
    InvalidKeyUsageException,
    KMSInvalidStateException,
    UnsupportedOperationException,
)
from kms.keystates import check_key_state
from kms.keyview import KeyView
from kms.operations.base import OperationsBase

INCORRECT_KEY_MESSAGE = "The key ID in the request does not identify a CMK that can perform this operation."
ASYMMETRIC_CONTEXT_MESSAGE = "EncryptionContext is not supported when encrypting/decrypting with asymmetric CMKs."
IGNORE_CIPHERTEXT = "IGNORE_CIPHERTEXT"


def missing_member(member: str) -> ValidationException:
    """AWS's wording for a member that this request needs although the model marks it optional."""
    return ValidationException(
        f"1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null")


def recipient_unsupported(operation: str) -> UnsupportedOperationException:
    """``Recipient`` carries a Nitro Enclave/NitroTPM attestation document; there is no attested environment here."""
    return UnsupportedOperationException(
        f"{operation} with a Recipient is not supported by hsmsim: there are no AWS Nitro Enclaves or NitroTPM "
        "attestation documents to verify here. Call without Recipient to receive the plaintext.")


def algorithm_of(value: str | None) -> EncryptionAlgorithm:
    """``EncryptionAlgorithm`` defaults to SYMMETRIC_DEFAULT (the protocol layer checked the enum)."""
    return EncryptionAlgorithm(value or EncryptionAlgorithm.SYMMETRIC_DEFAULT.value)


def ignores_ciphertext(dry_run: bool | None, modifiers: Iterable[str] | None) -> bool:
    """DryRun with ``IGNORE_CIPHERTEXT``: only the keys are checked, not the ciphertext."""
    return bool(dry_run) and IGNORE_CIPHERTEXT in (modifiers or ())


def seal_symmetric(view: KeyView, plaintext: bytes, context: Mapping[str, str] | None) -> tuple[bytes, str]:
    """A symmetric blob under the key's current material, and that material's id."""
    material_id = view.current_material_id
    if material_id is None or material_id not in view.materials:
        raise KMSInvalidStateException(f"{view.arn} is pending import.")
    return seal(view.aead(material_id), view.account_id, view.key_id, material_id, plaintext, context), material_id


def check_encryption_key(view: KeyView, algorithm: EncryptionAlgorithm, context: Mapping[str, str] | None,
                         operation: str) -> None:
    """Usage first (recorded ordering), then the algorithm, then the context asymmetric keys cannot take."""
    OperationsBase.require_usage(view, KeyUsage.ENCRYPT_DECRYPT, operation)
    if algorithm not in SPECS[view.spec].usages[KeyUsage.ENCRYPT_DECRYPT]:
        raise InvalidKeyUsageException(
            f"Algorithm {algorithm.value} is incompatible with key spec {view.spec.value}.")
    if algorithm is not EncryptionAlgorithm.SYMMETRIC_DEFAULT and context:
        raise ValidationException(ASYMMETRIC_CONTEXT_MESSAGE)


def check_plaintext_size(view: KeyView, algorithm: EncryptionAlgorithm, plaintext: bytes) -> None:
    """RSA-OAEP holds at most k − 2·hLen − 2 bytes (recorded message, spec 1.6)."""
    if is_oaep(algorithm):
        limit = max_plaintext_bytes(SPECS[view.spec].size, algorithm)
        if len(plaintext) > limit:
            raise ValidationException(f"Algorithm {algorithm.value} and key spec {view.spec.value} cannot "
                                      f"encrypt data larger than {limit} bytes.")


def _rsa_private_key(view: KeyView) -> rsa.RSAPrivateKey:
    return cast(rsa.RSAPrivateKey, view.private_key())


@dataclass(frozen=True)
class Opened:
    """A decrypted ciphertext: the key that decrypted it and, for a symmetric blob, the material used."""

    view: KeyView
    plaintext: bytes
    algorithm: EncryptionAlgorithm
    material_id: str | None

    def __repr__(self) -> str:  # never print the plaintext
        return f"Opened({self.view.arn}, {self.algorithm})"


class EncryptionOperations(OperationsBase):
    # -- shared by Decrypt and ReEncrypt ---------------------------------------------------------------------

    def encrypt_under(self, view: KeyView, algorithm: EncryptionAlgorithm, plaintext: bytes,
                      context: Mapping[str, str] | None) -> tuple[bytes, str | None]:
        """The ciphertext, and the material id for a symmetric key; the key was checked already."""
        if algorithm is EncryptionAlgorithm.SYMMETRIC_DEFAULT:
            return seal_symmetric(view, plaintext, context)
        self.heavy()  # parsing the private key (for its public half) is slow for large moduli
        return oaep_encrypt(_rsa_private_key(view).public_key(), algorithm, plaintext), None

    def authorize_source(self, ctx: RequestContext, key_id: str | None, algorithm: EncryptionAlgorithm,
                         context: Mapping[str, str] | None, operation: str, member: str) -> KeyView:
        """DryRun with IGNORE_CIPHERTEXT: the named key must be able to decrypt; the ciphertext is not read."""
        if key_id is None:
            raise missing_member(member)
        view = self.key_for(ctx, key_id, operation, context=context)
        check_encryption_key(view, algorithm, context, operation)
        return view

    def open_ciphertext(self, ctx: RequestContext, blob: bytes, key_id: str | None, algorithm: EncryptionAlgorithm,
                        context: Mapping[str, str] | None, operation: str, member: str) -> Opened:
        """Decrypt ``blob``; ``operation`` is the key-state row and the name in key-usage errors."""
        if algorithm is EncryptionAlgorithm.SYMMETRIC_DEFAULT:
            return self._open_symmetric(ctx, blob, key_id, context, operation)
        if key_id is None:  # an RSA ciphertext names no key
            raise missing_member(member)
        view = self.key_for(ctx, key_id, operation, context=context)
        check_encryption_key(view, algorithm, context, operation)
        self.heavy()
        try:
            plaintext = oaep_decrypt(_rsa_private_key(view), algorithm, blob)
        except RsaDecryptionFailed:
            raise InvalidCiphertextException() from None
        return Opened(view, plaintext, algorithm, None)

    def _open_symmetric(self, ctx: RequestContext, blob: bytes, key_id: str | None,
                        context: Mapping[str, str] | None, operation: str) -> Opened:
        """The blob names its key and material. A KeyId that names another key (of any kind) is
        IncorrectKeyException; a key the header names that does not exist is NotFoundException with AWS's
        message (the key was deleted, or the blob comes from another region)."""
        requested = self.key_for(ctx, key_id, operation, context=context) if key_id is not None else None
        try:
            header = read_header(blob)
        except MalformedCiphertext:
            raise InvalidCiphertextException() from None
        if requested is not None and (requested.key_id, requested.account_id) != (header.key_id, header.account_id):
            raise IncorrectKeyException(INCORRECT_KEY_MESSAGE)
        view = requested
        if view is None:
            view = self.resolver.view_for_ciphertext(ctx, header.account_id, header.key_id, operation, context)
            check_key_state(operation, view.arn, view.state)
        if view.spec is not KeySpec.SYMMETRIC_DEFAULT or header.material_id not in view.materials:
            raise InvalidCiphertextException()
        try:
            plaintext = open_blob(view.aead(header.material_id), blob, context)
        except MalformedCiphertext:
            raise InvalidCiphertextException() from None
        return Opened(view, plaintext, EncryptionAlgorithm.SYMMETRIC_DEFAULT, header.material_id)

    # -- operations ------------------------------------------------------------------------------------------

    def encrypt(
        self,
        ctx: RequestContext,
        *,
        key_id: str,
        plaintext: bytes,
        encryption_context: dict[str, str] | None = None,
        grant_tokens: list[str] | None = None,
        encryption_algorithm: str | None = None,
        dry_run: bool | None = None,
    ) -> dict[str, Any]:
        self.check_grant_tokens(grant_tokens)
        algorithm = algorithm_of(encryption_algorithm)
        view = self.key_for(ctx, key_id, "Encrypt", context=encryption_context)
        check_encryption_key(view, algorithm, encryption_context, "Encrypt")
        check_plaintext_size(view, algorithm, plaintext)
        self.dry_run(dry_run)
        ciphertext, _ = self.encrypt_under(view, algorithm, plaintext, encryption_context)
        self.record_use(ctx, view, "Encrypt")
        return {"CiphertextBlob": ciphertext, "KeyId": view.arn, "EncryptionAlgorithm": algorithm.value}

    def decrypt(
        self,
        ctx: RequestContext,
        *,
        ciphertext_blob: bytes | None = None,
        encryption_context: dict[str, str] | None = None,
        grant_tokens: list[str] | None = None,
        key_id: str | None = None,
        encryption_algorithm: str | None = None,
        recipient: dict[str, Any] | None = None,
        dry_run: bool | None = None,
        dry_run_modifiers: list[str] | None = None,
    ) -> dict[str, Any]:
        self.check_grant_tokens(grant_tokens)
        if recipient is not None:
            raise recipient_unsupported("Decrypt")
        algorithm = algorithm_of(encryption_algorithm)
        if ignores_ciphertext(dry_run, dry_run_modifiers):
            self.authorize_source(ctx, key_id, algorithm, encryption_context, "Decrypt", "keyId")
            self.dry_run(True)
        if ciphertext_blob is None:
            raise missing_member("ciphertextBlob")
        opened = self.open_ciphertext(ctx, ciphertext_blob, key_id, algorithm, encryption_context, "Decrypt", "keyId")
        self.dry_run(dry_run)
        self.record_use(ctx, opened.view, "Decrypt")
        result: dict[str, Any] = {"KeyId": opened.view.arn, "Plaintext": opened.plaintext,
                                  "EncryptionAlgorithm": algorithm.value}
        if opened.material_id is not None:
            result["KeyMaterialId"] = opened.material_id
        return result

    def re_encrypt(
        self,
        ctx: RequestContext,
        *,
        destination_key_id: str,
        ciphertext_blob: bytes | None = None,
        source_encryption_context: dict[str, str] | None = None,
        source_key_id: str | None = None,
        destination_encryption_context: dict[str, str] | None = None,
        source_encryption_algorithm: str | None = None,
        destination_encryption_algorithm: str | None = None,
        grant_tokens: list[str] | None = None,
        dry_run: bool | None = None,
        dry_run_modifiers: list[str] | None = None,
    ) -> dict[str, Any]:
        """Decrypt under the source key (state row ReEncryptFrom), encrypt under the destination (ReEncryptTo);
        the plaintext never leaves the server. The source is checked first (recorded: an HMAC key as source
        and destination is IncorrectKeyException, not a destination usage error)."""
        self.check_grant_tokens(grant_tokens)
        source_algorithm = algorithm_of(source_encryption_algorithm)
        destination_algorithm = algorithm_of(destination_encryption_algorithm)
        if ignores_ciphertext(dry_run, dry_run_modifiers):
            self.authorize_source(ctx, source_key_id, source_algorithm, source_encryption_context, "ReEncryptFrom",
                                  "sourceKeyId")
            self._destination(ctx, destination_key_id, destination_algorithm, destination_encryption_context)
            self.dry_run(True)
        if ciphertext_blob is None:
            raise missing_member("ciphertextBlob")
        opened = self.open_ciphertext(ctx, ciphertext_blob, source_key_id, source_algorithm,
                                      source_encryption_context, "ReEncryptFrom", "sourceKeyId")
        destination = self._destination(ctx, destination_key_id, destination_algorithm,
                                         destination_encryption_context)
        check_plaintext_size(destination, destination_algorithm, opened.plaintext)
        self.dry_run(dry_run)
        ciphertext, material_id = self.encrypt_under(destination, destination_algorithm, opened.plaintext,
                                                     destination_encryption_context)
        self.record_use(ctx, opened.view, "ReEncrypt")
        self.record_use(ctx, destination, "ReEncrypt")
        result: dict[str, Any] = {
            "CiphertextBlob": ciphertext,
            "SourceKeyId": opened.view.arn,
            "KeyId": destination.arn,
            "SourceEncryptionAlgorithm": source_algorithm.value,
            "DestinationEncryptionAlgorithm": destination_algorithm.value,
        }
        if opened.material_id is not None:
            result["SourceKeyMaterialId"] = opened.material_id
        if material_id is not None:
            result["DestinationKeyMaterialId"] = material_id
        return result

    def _destination(self, ctx: RequestContext, key_id: str, algorithm: EncryptionAlgorithm,
                     context: Mapping[str, str] | None) -> KeyView:
        view = self.key_for(ctx, key_id, "ReEncryptTo", context=context)
        check_encryption_key(view, algorithm, context, "ReEncryptTo")
        return view
