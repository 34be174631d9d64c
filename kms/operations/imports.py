"""Importing key material: GetParametersForImport, ImportKeyMaterial, DeleteImportedKeyMaterial.

https://docs.aws.amazon.com/kms/latest/APIReference/API_ImportKeyMaterial.html and its siblings; recorded behaviour
in spec/kms-real-responses.md 1.13 and 3.6. Symmetric encryption keys can hold several imported materials: the
first one becomes CURRENT, later ``ImportType=NEW_KEY_MATERIAL`` imports wait as PENDING_ROTATION until
RotateKeyOnDemand. Asymmetric and HMAC keys hold exactly one material for life.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from hsmsim.aws.context import RequestContext
from hsmsim.aws.errors import ValidationException
from kms.crypto.specs import load_private_key, private_key_der, public_key_der
from kms.crypto.wrapping import UnwrapError, generate_wrapping_key, unwrap_material
from kms.enums import (
    ExpirationModel,
    ImportState,
    ImportType,
    KeyMaterialState,
    KeySpec,
    Origin,
    WrappingAlgorithm,
    WrappingKeySpec,
)
from kms.errors import (
    IncorrectKeyMaterialException,
    InvalidCiphertextException,
    KMSInvalidStateException,
    NotFoundException,
    UnsupportedOperationException,
)
from kms.imports import (
    IMPORT_TOKEN_LIFETIME,
    MAX_VALIDITY,
    CheckedMaterial,
    check_material,
    drop_bytes,
    fingerprint,
    imported_material_id,
    issue_import_token,
    new_token_id,
    redeem_import_token,
    settle_after_import,
    settle_after_loss,
    store_bytes,
    token_wrapping_context,
)
from kms.materials import add_material, materials_of
from kms.metadata import family
from kms.models import KmsImportToken, KmsKey, KmsKeyMaterial
from kms.operations.base import OperationsBase


def _require_external(key: KmsKey) -> None:
    """Recorded: ``<arn> origin is AWS_KMS which is not valid for this operation.``"""
    if key.origin is not Origin.EXTERNAL:
        raise UnsupportedOperationException(f"{key.arn} origin is {key.origin.value} which is not valid for this operation.")


def _check_expiration(model: ExpirationModel, valid_to: datetime | None, now: datetime) -> None:
    """ValidTo is required with KEY_MATERIAL_EXPIRES (the default), refused otherwise, in (now, now + 365 days]."""
    if model is ExpirationModel.KEY_MATERIAL_EXPIRES:
        if valid_to is None:
            raise ValidationException("A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES")
        if valid_to <= now:
            raise ValidationException("The validTo date must be in the future.")
        if valid_to > now + MAX_VALIDITY:
            raise ValidationException("The validTo date must be no more than 365 days from the current date.")
    elif valid_to is not None:
        raise ValidationException("A validTo date must not be set if the ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE")


class ImportOperations(OperationsBase):
    def get_parameters_for_import(
        self, ctx: RequestContext, *, key_id: str, wrapping_algorithm: str, wrapping_key_spec: str
    ) -> dict[str, Any]:
        """A fresh RSA wrapping key pair and the import token naming it, both valid for 24 hours."""
        key = self.key_row(ctx, key_id, "GetParametersForImport")
        _require_external(key)
        algorithm, spec = WrappingAlgorithm(wrapping_algorithm), WrappingKeySpec(wrapping_key_spec)
        if algorithm is WrappingAlgorithm.SM2PKE or spec is WrappingKeySpec.SM2:
            raise UnsupportedOperationException(
                "The SM2 wrapping key spec and the SM2PKE wrapping algorithm are only supported in the China Regions.")
        if algorithm is WrappingAlgorithm.RSAES_PKCS1_V1_5:
            raise UnsupportedOperationException(
                "The RSAES_PKCS1_V1_5 wrapping algorithm is no longer supported. Use RSAES_OAEP_SHA_256 or "
                "RSA_AES_KEY_WRAP_SHA_256.")
        private_key = generate_wrapping_key(spec)
        token_id = new_token_id()
        valid_to = self.now() + IMPORT_TOKEN_LIFETIME
        row = KmsImportToken(
            token_id=token_id, key_arn=key.arn, wrapping_algorithm=algorithm, wrapping_key_spec=spec,
            wrapped_private_key=self.runtime.domain_key.wrap(private_key_der(private_key),
                                                             token_wrapping_context(token_id)),
            valid_to=valid_to,
        )
        token = issue_import_token(self.step, key, row)
        return {"KeyId": key.arn, "ImportToken": token, "PublicKey": public_key_der(private_key),
                "ParametersValidTo": valid_to}

    def import_key_material(
        self,
        ctx: RequestContext,
        *,
        key_id: str,
        import_token: bytes,
        encrypted_key_material: bytes,
        valid_to: datetime | None = None,
        expiration_model: str | None = None,
        import_type: str | None = None,
        key_material_description: str | None = None,
        key_material_id: str | None = None,
    ) -> dict[str, Any]:
        now = self.now()
        model = ExpirationModel(expiration_model or ExpirationModel.KEY_MATERIAL_EXPIRES.value)
        _check_expiration(model, valid_to, now)
        key = self.key_row(ctx, key_id, "ImportKeyMaterial")
        _require_external(key)
        symmetric = key.key_spec is KeySpec.SYMMETRIC_DEFAULT
        if not symmetric and (key_material_id is not None or key_material_description is not None):
            raise ValidationException("KeyMaterialId and KeyMaterialDescription can only be used with symmetric "
                                      "encryption keys.")
        token = redeem_import_token(self.step, key, import_token)
        checked = self._unwrap(key, token, encrypted_key_material)
        materials = materials_of(self.session, key)
        kind = ImportType(import_type) if import_type else (
            ImportType.EXISTING_KEY_MATERIAL if materials else ImportType.NEW_KEY_MATERIAL)
        if kind is ImportType.NEW_KEY_MATERIAL:
            row = self._import_new(key, materials, checked, key_material_id, now)
        else:
            row = self._reimport(key, materials, checked, key_material_id)
        row.expiration_model = model
        row.valid_to = valid_to if model is ExpirationModel.KEY_MATERIAL_EXPIRES else None
        if key_material_description is not None:
            row.description = key_material_description
        self.session.flush()
        settle_after_import(self.step, key, now)
        return {"KeyId": key.arn, "KeyMaterialId": row.material_id}

    def _unwrap(self, key: KmsKey, token: KmsImportToken, encrypted: bytes) -> CheckedMaterial:
        der = self.runtime.domain_key.unwrap(token.wrapped_private_key, token_wrapping_context(token.token_id))
        private_key = load_private_key(der)
        assert isinstance(private_key, rsa.RSAPrivateKey)
        try:
            material = unwrap_material(private_key, token.wrapping_algorithm, encrypted)
        except UnwrapError:
            raise InvalidCiphertextException() from None
        return check_material(key.key_spec, material)

    def _import_new(self, key: KmsKey, materials: list[KmsKeyMaterial], checked: CheckedMaterial,
                    key_material_id: str | None, now: datetime) -> KmsKeyMaterial:
        """The first material becomes CURRENT; later ones (symmetric keys only) wait for RotateKeyOnDemand."""
        if key_material_id is not None:
            raise ValidationException("You cannot specify a key material ID with ImportType set to NEW_KEY_MATERIAL.")
        secret = self.runtime.secret
        new_id = imported_material_id(secret, key, checked.material)
        if any(m.fingerprint == fingerprint(secret, checked.material) for m in materials):
            raise IncorrectKeyMaterialException(
                f"New key material was expected, but the key material (id: {new_id}) is already associated with "
                f"KMS key {key.arn}.")
        if materials and key.key_spec is not KeySpec.SYMMETRIC_DEFAULT:
            raise UnsupportedOperationException(
                f"{key.arn} already has key material. Only symmetric encryption keys accept new key material.")
        pending = next((m for m in materials if m.state is KeyMaterialState.PENDING_ROTATION), None)
        if pending is not None:
            raise KMSInvalidStateException(
                f"New key material (id: {new_id}) cannot be imported into KMS key {key.arn}, because another key "
                f"material (id: {pending.material_id}) is pending rotation.")
        state = KeyMaterialState.PENDING_ROTATION if materials else KeyMaterialState.CURRENT
        row = add_material(self.session, self.runtime.domain_key, key, checked.material, now, state=state,
                           material_id=new_id)
        row.import_state = ImportState.IMPORTED
        row.fingerprint = fingerprint(secret, checked.material)
        if state is KeyMaterialState.CURRENT:
            for region_row in family(self.session, key):
                region_row.current_material_id = new_id
                region_row.public_key_der = checked.public_key_der
        return row

    def _reimport(self, key: KmsKey, materials: list[KmsKeyMaterial], checked: CheckedMaterial,
                  key_material_id: str | None) -> KmsKeyMaterial:
        """The same bytes again (after deletion or expiry, or to change the expiration)."""
        if not materials:
            raise IncorrectKeyMaterialException(
                f"KMS key {key.arn} has no key material to reimport. Use ImportType NEW_KEY_MATERIAL.")
        found = fingerprint(self.runtime.secret, checked.material)
        if key_material_id is not None:
            target = next((m for m in materials if m.material_id == key_material_id), None)
            if target is None:
                raise NotFoundException(f"Key material {key_material_id} is not associated with KMS key {key.arn}.")
        else:
            target = next((m for m in materials if m.fingerprint == found), None)
        if target is None or target.fingerprint != found:
            raise IncorrectKeyMaterialException(
                f"The key material is not the key material that was previously imported into KMS key {key.arn}.")
        store_bytes(self.runtime.domain_key, target, checked.material)
        if target.state is KeyMaterialState.CURRENT:  # a replica of a multi-Region key learns it here
            key.current_material_id = target.material_id
            key.public_key_der = checked.public_key_der
        return target

    def delete_imported_key_material(
        self, ctx: RequestContext, *, key_id: str, key_material_id: str | None = None
    ) -> dict[str, Any]:
        """Makes the key unusable until the same material is imported again (PendingImport, except while pending
        deletion). Material pending rotation is not yet part of the key: it is simply dropped."""
        key = self.key_row(ctx, key_id, "DeleteImportedKeyMaterial")
        _require_external(key)
        materials = materials_of(self.session, key)
        wanted = key_material_id or key.current_material_id
        target = next((m for m in materials if m.material_id == wanted), None)
        if target is None:
            if key_material_id is not None:
                raise NotFoundException(f"Key material {key_material_id} is not associated with KMS key {key.arn}.")
            return {"KeyId": key.arn}  # nothing imported yet: no effect
        now = self.now()
        if target.state is KeyMaterialState.PENDING_ROTATION:
            self.session.delete(target)
            self.session.flush()
            settle_after_import(self.step, key, now)
        else:
            drop_bytes(target)
            settle_after_loss(self.step, key, materials, now)
        return {"KeyId": key.arn, "KeyMaterialId": target.material_id}

