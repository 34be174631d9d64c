"""GenerateDataKey(+WithoutPlaintext), GenerateDataKeyPair(+WithoutPlaintext) and GenerateRandom.

https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKey.html, API_GenerateDataKeyPair.html,
API_GenerateRandom.html. Data keys and the private halves of data key pairs come back sealed as ordinary
symmetric blobs under the KMS key (so Decrypt returns them, honouring the encryption context); only a
symmetric encryption KMS key can protect them.
"""

from __future__ import annotations

import os
from typing import Any

from hsmsim.aws.context import RequestContext
from hsmsim.aws.errors import ValidationException
from kms.crypto.datakeypairs import generate_data_key_pair, is_generatable
from kms.enums import ConnectionState, DataKeySpec, KeySpec, KeyUsage, Origin
from kms.errors import (
    InvalidKeyUsageException,
    UnsupportedOperationException,
)
from kms.keystores.backing import random_from_cluster
from kms.keystores.stores import get_store, require_state
from kms.keyview import KeyView
from kms.operations.base import OperationsBase
from kms.operations.encryption import recipient_unsupported, seal_symmetric

DATA_KEY_BYTES = {DataKeySpec.AES_256: 32, DataKeySpec.AES_128: 16}
ONE_OF_SIZE_MESSAGE = "Please specify either number of bytes or key spec."


def data_key_size(number_of_bytes: int | None, key_spec: str | None) -> int:
    """Exactly one of NumberOfBytes (1–1024, range checked by the protocol layer) and KeySpec."""
    if (number_of_bytes is None) == (key_spec is None):
        raise ValidationException(ONE_OF_SIZE_MESSAGE)
    return number_of_bytes if number_of_bytes is not None else DATA_KEY_BYTES[DataKeySpec(key_spec)]


def require_symmetric_encryption_key(view: KeyView, operation: str) -> None:
    """Usage first (recorded message), then ``You cannot generate a data key with an asymmetric CMK`` for an
    RSA ENCRYPT_DECRYPT key (the message AWS returns, as seen through S3 and Secrets Manager)."""
    OperationsBase.require_usage(view, KeyUsage.ENCRYPT_DECRYPT, operation)
    if view.spec is not KeySpec.SYMMETRIC_DEFAULT:
        raise InvalidKeyUsageException("You cannot generate a data key with an asymmetric CMK")


class DataKeyOperations(OperationsBase):
    def _data_key(self, ctx: RequestContext, operation: str, *, key_id: str, context: dict[str, str] | None,
                  number_of_bytes: int | None, key_spec: str | None, grant_tokens: list[str] | None,
                  dry_run: bool | None, with_plaintext: bool) -> dict[str, Any]:
        self.check_grant_tokens(grant_tokens)
        size = data_key_size(number_of_bytes, key_spec)
        view = self.key_for(ctx, key_id, operation, context=context)
        require_symmetric_encryption_key(view, operation)
        self.dry_run(dry_run)
        plaintext = os.urandom(size)
        blob, material_id = seal_symmetric(view, plaintext, context)
        self.record_use(ctx, view, operation)
        result: dict[str, Any] = {"CiphertextBlob": blob, "KeyId": view.arn, "KeyMaterialId": material_id}
        if with_plaintext:
            result["Plaintext"] = plaintext
        return result

    def generate_data_key(
        self,
        ctx: RequestContext,
        *,
        key_id: str,
        encryption_context: dict[str, str] | None = None,
        number_of_bytes: int | None = None,
        key_spec: str | None = None,
        grant_tokens: list[str] | None = None,
        recipient: dict[str, Any] | None = None,
        dry_run: bool | None = None,
    ) -> dict[str, Any]:
        if recipient is not None:
            raise recipient_unsupported("GenerateDataKey")
        return self._data_key(ctx, "GenerateDataKey", key_id=key_id, context=encryption_context,
                              number_of_bytes=number_of_bytes, key_spec=key_spec, grant_tokens=grant_tokens,
                              dry_run=dry_run, with_plaintext=True)

    def generate_data_key_without_plaintext(
        self,
        ctx: RequestContext,
        *,
        key_id: str,
        encryption_context: dict[str, str] | None = None,
        key_spec: str | None = None,
        number_of_bytes: int | None = None,
        grant_tokens: list[str] | None = None,
        dry_run: bool | None = None,
    ) -> dict[str, Any]:
        return self._data_key(ctx, "GenerateDataKeyWithoutPlaintext", key_id=key_id, context=encryption_context,
                              number_of_bytes=number_of_bytes, key_spec=key_spec, grant_tokens=grant_tokens,
                              dry_run=dry_run, with_plaintext=False)

    def _data_key_pair(self, ctx: RequestContext, operation: str, *, key_id: str, key_pair_spec: str,
                       context: dict[str, str] | None, grant_tokens: list[str] | None, dry_run: bool | None,
                       with_plaintext: bool) -> dict[str, Any]:
        self.check_grant_tokens(grant_tokens)
        view = self.key_for(ctx, key_id, operation, context=context)
        require_symmetric_encryption_key(view, operation)
        if view.origin is Origin.AWS_CLOUDHSM:  # spec 4.4: no data key pairs under keys in a CloudHSM key store
            raise UnsupportedOperationException(
                f"{view.arn} origin is AWS_CLOUDHSM which is not valid for this operation.")
        if not is_generatable(key_pair_spec):
            raise UnsupportedOperationException(
                f"KeyPairSpec {key_pair_spec} is not supported in this region by hsmsim: no maintained library "
                "implements it here.")
        self.dry_run(dry_run)
        if key_pair_spec.startswith("RSA_"):
            self.heavy()  # RSA key generation takes up to seconds; ECC, Ed25519 and ML-KEM take microseconds
        pair = generate_data_key_pair(key_pair_spec)
        blob, material_id = seal_symmetric(view, pair.private_key_der, context)
        self.record_use(ctx, view, operation)
        result: dict[str, Any] = {"PrivateKeyCiphertextBlob": blob, "PublicKey": pair.public_key_der,
                                  "KeyId": view.arn, "KeyPairSpec": key_pair_spec, "KeyMaterialId": material_id}
        if with_plaintext:
            result["PrivateKeyPlaintext"] = pair.private_key_der
        return result

    def generate_data_key_pair(
        self,
        ctx: RequestContext,
        *,
        key_id: str,
        key_pair_spec: str,
        encryption_context: dict[str, str] | None = None,
        grant_tokens: list[str] | None = None,
        recipient: dict[str, Any] | None = None,
        dry_run: bool | None = None,
    ) -> dict[str, Any]:
        if recipient is not None:
            raise recipient_unsupported("GenerateDataKeyPair")
        return self._data_key_pair(ctx, "GenerateDataKeyPair", key_id=key_id, key_pair_spec=key_pair_spec,
                                   context=encryption_context, grant_tokens=grant_tokens, dry_run=dry_run,
                                   with_plaintext=True)

    def generate_data_key_pair_without_plaintext(
        self,
        ctx: RequestContext,
        *,
        key_id: str,
        key_pair_spec: str,
        encryption_context: dict[str, str] | None = None,
        grant_tokens: list[str] | None = None,
        dry_run: bool | None = None,
    ) -> dict[str, Any]:
        return self._data_key_pair(ctx, "GenerateDataKeyPairWithoutPlaintext", key_id=key_id,
                                   key_pair_spec=key_pair_spec, context=encryption_context,
                                   grant_tokens=grant_tokens, dry_run=dry_run, with_plaintext=False)

    def generate_random(
        self,
        ctx: RequestContext,
        *,
        number_of_bytes: int | None = None,
        custom_key_store_id: str | None = None,
        recipient: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Without a store the bytes come from the OS CSPRNG; with a CloudHSM key store, from C_GenerateRandom in
        one of its cluster's HSMs (the store must be CONNECTED)."""
        if number_of_bytes is None:
            raise ValidationException("NumberOfBytes is required.")
        if recipient is not None:
            raise recipient_unsupported("GenerateRandom")
        if custom_key_store_id is not None:
            store = get_store(self.session, ctx.account_id, ctx.region, custom_key_store_id)
            require_state(store, {ConnectionState.CONNECTED}, "GenerateRandom")
            return {"Plaintext": random_from_cluster(self.runtime, self.session, store, number_of_bytes)}
        return {"Plaintext": os.urandom(number_of_bytes)}
