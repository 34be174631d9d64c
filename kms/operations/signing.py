"""Sign, Verify and GetPublicKey.

https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html, API_Verify.html, API_GetPublicKey.html.
Checks run in this order: key state, key usage (recorded to win over the algorithm, spec 3.2), the algorithm for
the key spec (AWS's wording as quoted in JackOfMostTrades/aws-kms-pkcs11#18), then the message type and length.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import serialization

from hsmsim.aws.context import RequestContext
from hsmsim.aws.errors import ValidationException
from kms.crypto import signatures
from kms.crypto.specs import SPECS, is_symmetric
from kms.enums import KeyUsage, MessageType, SigningAlgorithm
from kms.errors import (
    InvalidKeyUsageException,
    KMSInvalidSignatureException,
    UnsupportedOperationException,
)
from kms.keyview import KeyView
from kms.operations.base import OperationsBase

_FROM_METADATA = ("CustomerMasterKeySpec", "EncryptionAlgorithms", "SigningAlgorithms", "KeyAgreementAlgorithms",
                  "EncapsulationAlgorithms")
"""GetPublicKey members that say the same as the key's KeyMetadata (the legacy spec only for legacy specs)."""


def incompatible_algorithm(algorithm: str, view: KeyView) -> InvalidKeyUsageException:
    """``Algorithm ECDSA_SHA_256 is incompatible with key spec ECC_NIST_P521.`` (as AWS words it)."""
    return InvalidKeyUsageException(f"Algorithm {algorithm} is incompatible with key spec {view.spec.value}.")


class SigningOperations(OperationsBase):
    def _signing_key(self, ctx: RequestContext, key_id: str, operation: str, grant_tokens: list[str] | None,
                     signing_algorithm: str, message_type: str | None, message: bytes) -> tuple[
                         KeyView, SigningAlgorithm, MessageType]:
        """The checks Sign and Verify share, in AWS's order."""
        self.check_grant_tokens(grant_tokens)
        view = self.key_for(ctx, key_id, operation)
        self.require_usage(view, KeyUsage.SIGN_VERIFY, operation)
        algorithm = SigningAlgorithm(signing_algorithm)
        if algorithm not in SPECS[view.spec].usages[KeyUsage.SIGN_VERIFY]:
            raise incompatible_algorithm(algorithm.value, view)
        kind = MessageType(message_type or MessageType.RAW.value)
        try:
            signatures.check_message(view.spec, algorithm, kind, message)
        except signatures.BadSigningInput as error:
            raise ValidationException(str(error)) from None
        return view, algorithm, kind

    def sign(
        self,
        ctx: RequestContext,
        *,
        key_id: str,
        message: bytes,
        signing_algorithm: str,
        message_type: str | None = None,
        grant_tokens: list[str] | None = None,
        dry_run: bool | None = None,
    ) -> dict[str, Any]:
        view, algorithm, kind = self._signing_key(ctx, key_id, "Sign", grant_tokens, signing_algorithm,
                                                  message_type, message)
        self.dry_run(dry_run)
        if signatures.signing_is_heavy(algorithm):
            self.heavy()
        signature = signatures.sign(view.private_key(), algorithm, kind, message)
        self.record_use(ctx, view, "Sign")
        return {"KeyId": view.arn, "Signature": signature, "SigningAlgorithm": algorithm.value}

    def verify(
        self,
        ctx: RequestContext,
        *,
        key_id: str,
        message: bytes,
        signature: bytes,
        signing_algorithm: str,
        message_type: str | None = None,
        grant_tokens: list[str] | None = None,
        dry_run: bool | None = None,
    ) -> dict[str, Any]:
        """A bad signature is ``KMSInvalidSignatureException`` without a message, never ``SignatureValid: false``."""
        view, algorithm, kind = self._signing_key(ctx, key_id, "Verify", grant_tokens, signing_algorithm,
                                                  message_type, message)
        self.dry_run(dry_run)
        if signatures.verifying_is_heavy(algorithm):
            self.heavy()
        public_key = view.private_key().public_key()
        if not signatures.verify(public_key, algorithm, kind, message, signature):
            raise KMSInvalidSignatureException()
        self.record_use(ctx, view, "Verify")
        return {"KeyId": view.arn, "SignatureValid": True, "SigningAlgorithm": algorithm.value}

    def get_public_key(self, ctx: RequestContext, *, key_id: str, grant_tokens: list[str] | None = None) -> dict[str, Any]:
        """The DER SubjectPublicKeyInfo of an asymmetric key of any usage, with what the key may be used for.

        GetPublicKey is not one of KMS's cryptographic operations, so it does not count for GetKeyLastUsage.
        """
        self.check_grant_tokens(grant_tokens)
        view = self.key_for(ctx, key_id, "GetPublicKey")
        if is_symmetric(view.spec):
            raise UnsupportedOperationException(
                f"{view.arn} key spec is {view.spec.value} which is not valid for GetPublicKey.")
        public_der = view.private_key().public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        result: dict[str, Any] = {"KeyId": view.arn, "PublicKey": public_der, "KeySpec": view.spec.value,
                                  "KeyUsage": view.usage.value}
        result.update({member: view.metadata[member] for member in _FROM_METADATA if member in view.metadata})
        return result
