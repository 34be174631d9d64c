"""DeriveSharedSecret, Encapsulate and Decapsulate.

https://docs.aws.amazon.com/kms/latest/APIReference/API_DeriveSharedSecret.html, API_Encapsulate.html and
API_Decapsulate.html. DeriveSharedSecret returns the raw ECDH secret (AWS-validated, spec 3.12); a PublicKey that
is not DER SPKI is a ValidationException with an empty message (recorded, spec 1.12).
"""

from __future__ import annotations

from typing import Any

from hsmsim.aws.context import RequestContext
from hsmsim.aws.errors import ValidationException
from kms.crypto import keyagreement
from kms.crypto.specs import SPECS
from kms.enums import EncapsulationAlgorithm, KeyAgreementAlgorithm, KeyUsage
from kms.errors import (
    InvalidCiphertextException,
    InvalidKeyUsageException,
    UnsupportedOperationException,
)
from kms.keyview import KeyView
from kms.operations.base import OperationsBase

RECIPIENT_UNSUPPORTED = ("Recipient is not supported by hsmsim: it cannot check Nitro Enclave or NitroTPM "
                         "attestation documents. Call DeriveSharedSecret without Recipient.")


class KeyAgreementOperations(OperationsBase):
    def _checked(self, ctx: RequestContext, key_id: str, operation: str, usage: KeyUsage, algorithm: str,
                 grant_tokens: list[str] | None) -> KeyView:
        self.check_grant_tokens(grant_tokens)
        view = self.key_for(ctx, key_id, operation)
        self.require_usage(view, usage, operation)
        if algorithm not in {a.value for a in SPECS[view.spec].usages[usage]}:
            raise InvalidKeyUsageException(f"Algorithm {algorithm} is incompatible with key spec {view.spec.value}.")
        return view

    def derive_shared_secret(
        self,
        ctx: RequestContext,
        *,
        key_id: str,
        key_agreement_algorithm: str,
        public_key: bytes,
        grant_tokens: list[str] | None = None,
        dry_run: bool | None = None,
        recipient: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        view = self._checked(ctx, key_id, "DeriveSharedSecret", KeyUsage.KEY_AGREEMENT, key_agreement_algorithm,
                             grant_tokens)
        curve = SPECS[view.spec].curve
        assert curve is not None
        try:
            peer = keyagreement.peer_public_key(public_key, curve)
        except keyagreement.UnreadablePublicKey:
            raise ValidationException("", include_message=False) from None
        except keyagreement.WrongPeerKey as error:
            raise ValidationException(
                f"The PublicKey must be on the same elliptic curve as the KMS key ({view.spec.value}); "
                f"the one given is {error}.") from None
        if recipient is not None:
            raise UnsupportedOperationException(RECIPIENT_UNSUPPORTED)
        self.dry_run(dry_run)
        secret = keyagreement.ecdh(view.private_key(), peer)  # type: ignore[arg-type]
        self.record_use(ctx, view, "DeriveSharedSecret")
        return {"KeyId": view.arn, "SharedSecret": secret, "KeyAgreementAlgorithm": KeyAgreementAlgorithm.ECDH.value,
                "KeyOrigin": view.origin.value}

    def encapsulate(
        self,
        ctx: RequestContext,
        *,
        key_id: str,
        encapsulation_algorithm: str,
        grant_tokens: list[str] | None = None,
        dry_run: bool | None = None,
    ) -> dict[str, Any]:
        view = self._checked(ctx, key_id, "Encapsulate", KeyUsage.ENCAPSULATE_DECAPSULATE, encapsulation_algorithm,
                             grant_tokens)
        self.dry_run(dry_run)
        secret, ciphertext = keyagreement.encapsulate(view.private_key())  # type: ignore[arg-type]
        self.record_use(ctx, view, "Encapsulate")
        return {"KeyId": view.arn, "SharedSecret": secret, "SharedSecretCiphertextBlob": ciphertext,
                "EncapsulationAlgorithm": EncapsulationAlgorithm.ML_KEM.value}

    def decapsulate(
        self,
        ctx: RequestContext,
        *,
        key_id: str,
        shared_secret_ciphertext_blob: bytes,
        encapsulation_algorithm: str,
        grant_tokens: list[str] | None = None,
        dry_run: bool | None = None,
    ) -> dict[str, Any]:
        """A ciphertext of the wrong length is InvalidCiphertextException; any other gives 32 bytes (implicit
        rejection), so a tampered ciphertext yields a different secret rather than an error."""
        view = self._checked(ctx, key_id, "Decapsulate", KeyUsage.ENCAPSULATE_DECAPSULATE, encapsulation_algorithm,
                             grant_tokens)
        private_key = view.private_key()
        if not keyagreement.ciphertext_fits(private_key, shared_secret_ciphertext_blob):  # type: ignore[arg-type]
            raise InvalidCiphertextException()
        self.dry_run(dry_run)
        secret = keyagreement.decapsulate(private_key, shared_secret_ciphertext_blob)  # type: ignore[arg-type]
        self.record_use(ctx, view, "Decapsulate")
        return {"KeyId": view.arn, "SharedSecret": secret, "EncapsulationAlgorithm": EncapsulationAlgorithm.ML_KEM.value}
