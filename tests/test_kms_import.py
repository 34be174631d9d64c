"""Imported key material (BYOK) through boto3: material wrapped offline with every wrapping algorithm, symmetric,
RSA, ECC and HMAC keys used with the imported bytes, expiry on the simulated clock, deletion and re-import,
import tokens, and rotation to new imported material (spec/kms-real-responses.md 1.13, 1.14, 2.2, 3.6)."""

from __future__ import annotations

import hashlib
import hmac
import os
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

from tests.conftest import ACCOUNT, REGION
from tests.kms_helpers import error_of

DAY = 86400
NO_VALID_TO = "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES"
BLOB_IV = 12


def wrap(public_key_der: bytes, algorithm: str, material: bytes) -> bytes:
    """What a customer does offline: RSA-OAEP, or RSA-OAEP of an AES key followed by AES-KWP (RFC 5649)."""
    public_key = serialization.load_der_public_key(public_key_der)
    assert isinstance(public_key, rsa.RSAPublicKey)
    digest = (hashes.SHA1 if algorithm.endswith("SHA_1") else hashes.SHA256)()
    oaep = padding.OAEP(mgf=padding.MGF1(algorithm=digest), algorithm=digest, label=None)
    if algorithm.startswith("RSAES_OAEP"):
        return public_key.encrypt(material, oaep)
    aes_key = os.urandom(32)
    return public_key.encrypt(aes_key, oaep) + aes_key_wrap_with_padding(aes_key, material)


def import_material(kms: Any, key_id: str, material: bytes, algorithm: str = "RSAES_OAEP_SHA_256",
                    wrapping_spec: str = "RSA_2048", **kwargs: Any) -> dict[str, Any]:
    params = kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm=algorithm, WrappingKeySpec=wrapping_spec)
    kwargs.setdefault("ExpirationModel", "KEY_MATERIAL_DOES_NOT_EXPIRE")
    return kms.import_key_material(KeyId=key_id, ImportToken=params["ImportToken"],
                                   EncryptedKeyMaterial=wrap(params["PublicKey"], algorithm, material), **kwargs)


def decrypt_offline(material: bytes, material_id: str, blob: bytes) -> bytes:
    """The simulator's symmetric blob (kms/crypto/ciphertext.py): a header ending with the material id, a 12-byte
    IV, then AES-256-GCM under the material with the header as additional data (no encryption context here)."""
    header_end = blob.index(bytes.fromhex(material_id)) + 32
    header, iv, body = blob[:header_end], blob[header_end : header_end + BLOB_IV], blob[header_end + BLOB_IV :]
    return AESGCM(material).decrypt(iv, body, header)


def pkcs8(key: Any) -> bytes:
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def server_now(kms: Any, key_id: str) -> Any:
    """The simulated clock, read through the 24-hour validity of fresh import parameters."""
    params = kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                           WrappingKeySpec="RSA_2048")
    return params["ParametersValidTo"] - timedelta(hours=24)


def test_symmetric_import_lifecycle(kms: Any) -> None:
    meta = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
    key_id, arn = meta["KeyId"], meta["Arn"]
    assert meta["KeyState"] == "PendingImport" and meta["Enabled"] is False
    assert "ExpirationModel" not in meta and "CurrentKeyMaterialId" not in meta
    assert error_of(kms.encrypt, KeyId=key_id, Plaintext=b"x") == (
        "KMSInvalidStateException", f"{arn} is pending import.", 400)

    params = kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                           WrappingKeySpec="RSA_2048")
    assert params["KeyId"] == arn
    wrapping_key = serialization.load_der_public_key(params["PublicKey"])
    assert isinstance(wrapping_key, rsa.RSAPublicKey) and wrapping_key.key_size == 2048
    assert timedelta(hours=24) <= params["ParametersValidTo"] - meta["CreationDate"] <= timedelta(hours=24, minutes=5)

    material = os.urandom(32)
    encrypted = wrap(params["PublicKey"], "RSAES_OAEP_SHA_256", material)
    assert error_of(kms.import_key_material, KeyId=key_id, ImportToken=params["ImportToken"],
                    EncryptedKeyMaterial=encrypted) == ("ValidationException", NO_VALID_TO, 400)
    imported = kms.import_key_material(KeyId=key_id, ImportToken=params["ImportToken"],
                                       EncryptedKeyMaterial=encrypted, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    material_id = imported["KeyMaterialId"]
    assert imported["KeyId"] == arn and len(material_id) == 64 and int(material_id, 16) >= 0
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "Enabled" and meta["Enabled"] is True
    assert meta["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE" and "ValidTo" not in meta
    assert meta["CurrentKeyMaterialId"] == material_id

    blob = kms.encrypt(KeyId=key_id, Plaintext=b"imported secret")["CiphertextBlob"]
    assert decrypt_offline(material, material_id, blob) == b"imported secret"
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"imported secret"
    listed = kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    assert listed == [{"KeyId": arn, "KeyMaterialId": material_id, "KeyMaterialState": "CURRENT",
                       "ImportState": "IMPORTED", "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}]

    deleted = kms.delete_imported_key_material(KeyId=key_id)
    assert deleted["KeyId"] == arn and deleted["KeyMaterialId"] == material_id
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "PendingImport" and meta["Enabled"] is False and "ExpirationModel" not in meta
    assert meta["CurrentKeyMaterialId"] == material_id
    assert error_of(kms.decrypt, CiphertextBlob=blob)[1] == f"{arn} is pending import."
    listed = kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    assert listed == [{"KeyId": arn, "KeyMaterialId": material_id, "KeyMaterialState": "CURRENT",
                       "ImportState": "PENDING_IMPORT"}]

    code, _, _ = error_of(import_material, kms, key_id, os.urandom(32))
    assert code == "IncorrectKeyMaterialException"
    again = import_material(kms, key_id, material, algorithm="RSA_AES_KEY_WRAP_SHA_1", wrapping_spec="RSA_3072")
    assert again["KeyMaterialId"] == material_id
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"imported secret"


@pytest.mark.parametrize(("algorithm", "wrapping_spec"), [
    ("RSAES_OAEP_SHA_1", "RSA_2048"),
    ("RSAES_OAEP_SHA_256", "RSA_3072"),
    ("RSA_AES_KEY_WRAP_SHA_1", "RSA_2048"),
    ("RSA_AES_KEY_WRAP_SHA_256", "RSA_4096"),
])
def test_every_wrapping_algorithm(kms: Any, algorithm: str, wrapping_spec: str) -> None:
    key_id = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    material = os.urandom(32)
    params = kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm=algorithm, WrappingKeySpec=wrapping_spec)
    wrapping_key = serialization.load_der_public_key(params["PublicKey"])
    assert isinstance(wrapping_key, rsa.RSAPublicKey) and wrapping_key.key_size == int(wrapping_spec[4:])
    material_id = kms.import_key_material(KeyId=key_id, ImportToken=params["ImportToken"],
                                          EncryptedKeyMaterial=wrap(params["PublicKey"], algorithm, material),
                                          ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")["KeyMaterialId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=algorithm.encode())["CiphertextBlob"]
    assert decrypt_offline(material, material_id, blob) == algorithm.encode()


def test_rsa_signing_key_import(kms: Any) -> None:
    """The recorded combination: an RSA_4096 private key wrapped with RSA_AES_KEY_WRAP_SHA_256 / RSA_4096."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    key_id = kms.create_key(Origin="EXTERNAL", KeySpec="RSA_4096", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    imported = import_material(kms, key_id, pkcs8(private_key), algorithm="RSA_AES_KEY_WRAP_SHA_256",
                               wrapping_spec="RSA_4096")
    assert len(imported["KeyMaterialId"]) == 64
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "Enabled" and "CurrentKeyMaterialId" not in meta
    public = kms.get_public_key(KeyId=key_id)["PublicKey"]
    assert public == private_key.public_key().public_bytes(serialization.Encoding.DER,
                                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    signature = kms.sign(KeyId=key_id, Message=b"signed by imported key",
                         SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256")["Signature"]
    private_key.public_key().verify(signature, b"signed by imported key", padding.PKCS1v15(), hashes.SHA256())

    other = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    code, _, _ = error_of(import_material, kms, key_id, pkcs8(other), algorithm="RSA_AES_KEY_WRAP_SHA_256")
    assert code == "IncorrectKeyMaterialException"
    code, _, _ = error_of(import_material, kms, key_id, pkcs8(private_key), algorithm="RSA_AES_KEY_WRAP_SHA_256",
                          ImportType="NEW_KEY_MATERIAL")
    assert code == "IncorrectKeyMaterialException"


@pytest.mark.parametrize(("spec", "curve", "algorithm", "digest"), [
    ("ECC_NIST_P256", ec.SECP256R1, "RSAES_OAEP_SHA_1", hashes.SHA256),
    ("ECC_NIST_P384", ec.SECP384R1, "RSAES_OAEP_SHA_256", hashes.SHA384),
    ("ECC_SECG_P256K1", ec.SECP256K1, "RSA_AES_KEY_WRAP_SHA_1", hashes.SHA256),
])
def test_ecc_signing_key_import(kms: Any, spec: str, curve: Any, algorithm: str, digest: Any) -> None:
    private_key = ec.generate_private_key(curve())
    key_id = kms.create_key(Origin="EXTERNAL", KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    import_material(kms, key_id, pkcs8(private_key), algorithm=algorithm)
    signing_algorithm = kms.describe_key(KeyId=key_id)["KeyMetadata"]["SigningAlgorithms"][0]
    signature = kms.sign(KeyId=key_id, Message=b"ecdsa", SigningAlgorithm=signing_algorithm)["Signature"]
    private_key.public_key().verify(signature, b"ecdsa", ec.ECDSA(digest()))


@pytest.mark.parametrize(("spec", "size", "digest"), [("HMAC_224", 28, "sha224"), ("HMAC_512", 64, "sha512")])
def test_hmac_key_import(kms: Any, spec: str, size: int, digest: str) -> None:
    material = os.urandom(size)
    key_id = kms.create_key(Origin="EXTERNAL", KeySpec=spec, KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    code, _, _ = error_of(import_material, kms, key_id, os.urandom(size + 1))
    assert code == "IncorrectKeyMaterialException"
    import_material(kms, key_id, material)
    mac = kms.generate_mac(KeyId=key_id, Message=b"hmac me", MacAlgorithm=f"HMAC_SHA_{spec[5:]}")["Mac"]
    assert mac == hmac.new(material, b"hmac me", getattr(hashlib, digest)).digest()


def test_material_that_does_not_fit_the_key_spec(kms: Any) -> None:
    symmetric = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    ecc = kms.create_key(Origin="EXTERNAL", KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    rsa_key = kms.create_key(Origin="EXTERNAL", KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    wrong_curve = ec.generate_private_key(ec.SECP384R1())
    sec1 = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
    pkcs1 = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
    small_rsa = pkcs8(rsa.generate_private_key(public_exponent=65537, key_size=3072))
    cases = [(symmetric, os.urandom(16), "RSAES_OAEP_SHA_256"), (ecc, pkcs8(wrong_curve), "RSAES_OAEP_SHA_256"),
             (ecc, sec1, "RSAES_OAEP_SHA_256"), (ecc, os.urandom(32), "RSAES_OAEP_SHA_256"),
             (rsa_key, pkcs1, "RSA_AES_KEY_WRAP_SHA_256"), (rsa_key, small_rsa, "RSA_AES_KEY_WRAP_SHA_256")]
    for key_id, material, algorithm in cases:
        code, _, status = error_of(import_material, kms, key_id, material, algorithm=algorithm)
        assert (code, status) == ("IncorrectKeyMaterialException", 400)
        assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"


def test_expiring_material_on_the_clock(sim: Any, kms: Any) -> None:
    key_id = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    material = os.urandom(32)
    now = server_now(kms, key_id)
    for valid_to, model in ((now - timedelta(minutes=5), None), (now + timedelta(days=366), None),
                            (now + timedelta(days=2), "KEY_MATERIAL_DOES_NOT_EXPIRE")):
        extra = {"ExpirationModel": model} if model else {"ExpirationModel": "KEY_MATERIAL_EXPIRES"}
        code, _, _ = error_of(import_material, kms, key_id, material, ValidTo=valid_to, **extra)
        assert code == "ValidationException"

    valid_to = (now + timedelta(days=2)).replace(microsecond=0)
    import_material(kms, key_id, material, ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=valid_to)
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "Enabled"
    assert meta["ExpirationModel"] == "KEY_MATERIAL_EXPIRES" and meta["ValidTo"] == valid_to
    entry = kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"][0]
    assert entry["ExpirationModel"] == "KEY_MATERIAL_EXPIRES" and entry["ValidTo"] == valid_to
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"short-lived")["CiphertextBlob"]

    sim.advance(2 * DAY - 120)
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"short-lived"
    sim.advance(240)
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "PendingImport" and "ExpirationModel" not in meta and "ValidTo" not in meta
    assert error_of(kms.decrypt, CiphertextBlob=blob)[0] == "KMSInvalidStateException"
    entry = kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"][0]
    assert entry["ImportState"] == "PENDING_IMPORT" and "ValidTo" not in entry

    import_material(kms, key_id, material)
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"short-lived"


def test_import_tokens(sim: Any, kms: Any) -> None:
    key_id = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    other_id = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    material = os.urandom(32)
    params = kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                           WrappingKeySpec="RSA_2048")
    encrypted = wrap(params["PublicKey"], "RSAES_OAEP_SHA_256", material)
    model = {"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}

    code, _, _ = error_of(kms.import_key_material, KeyId=other_id, ImportToken=params["ImportToken"],
                          EncryptedKeyMaterial=encrypted, **model)
    assert code == "InvalidImportTokenException"
    forged = bytearray(params["ImportToken"])
    forged[5] ^= 1
    code, _, _ = error_of(kms.import_key_material, KeyId=key_id, ImportToken=bytes(forged),
                          EncryptedKeyMaterial=encrypted, **model)
    assert code == "InvalidImportTokenException"

    # Material wrapped for another public key, or with another algorithm, does not decrypt.
    other = kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                          WrappingKeySpec="RSA_2048")
    for wrong in (wrap(other["PublicKey"], "RSAES_OAEP_SHA_256", material),
                  wrap(params["PublicKey"], "RSAES_OAEP_SHA_1", material), b"\x00" * 256):
        with pytest.raises(ClientError) as caught:
            kms.import_key_material(KeyId=key_id, ImportToken=params["ImportToken"], EncryptedKeyMaterial=wrong,
                                    **model)
        err = caught.value.response
        assert err["Error"]["Code"] == "InvalidCiphertextException" and "message" not in err

    sim.advance(DAY + 60)
    code, _, status = error_of(kms.import_key_material, KeyId=key_id, ImportToken=params["ImportToken"],
                               EncryptedKeyMaterial=encrypted, **model)
    assert (code, status) == ("ExpiredImportTokenException", 400)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"


def test_import_parameter_errors(kms: Any) -> None:
    meta = kms.create_key()["KeyMetadata"]
    assert error_of(kms.get_parameters_for_import, KeyId=meta["KeyId"], WrappingAlgorithm="RSAES_OAEP_SHA_256",
                    WrappingKeySpec="RSA_2048") == (
        "UnsupportedOperationException", f"{meta['Arn']} origin is AWS_KMS which is not valid for this operation.", 400)
    assert error_of(kms.delete_imported_key_material, KeyId=meta["KeyId"])[0] == "UnsupportedOperationException"
    external = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    for algorithm, spec in (("SM2PKE", "SM2"), ("RSAES_OAEP_SHA_256", "SM2"), ("RSAES_PKCS1_V1_5", "RSA_2048")):
        code, _, _ = error_of(kms.get_parameters_for_import, KeyId=external, WrappingAlgorithm=algorithm,
                              WrappingKeySpec=spec)
        assert code == "UnsupportedOperationException"
    assert kms.delete_imported_key_material(KeyId=external)["KeyId"].endswith(external)  # nothing imported: no effect


def test_new_key_material_and_on_demand_rotation(kms: Any) -> None:
    meta = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
    key_id, arn = meta["KeyId"], meta["Arn"]
    first, second, third = os.urandom(32), os.urandom(32), os.urandom(32)
    first_id = import_material(kms, key_id, first)["KeyMaterialId"]
    old_blob = kms.encrypt(KeyId=key_id, Plaintext=b"under the first material")["CiphertextBlob"]
    assert error_of(kms.rotate_key_on_demand, KeyId=key_id) == (
        "KMSInvalidStateException", f"No available key material pending rotation for the key: {arn}.", 400)

    second_id = import_material(kms, key_id, second, ImportType="NEW_KEY_MATERIAL",
                                KeyMaterialDescription="second material")["KeyMaterialId"]
    assert second_id != first_id
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"] == first_id
    listed = kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    assert [(r["KeyMaterialId"], r["KeyMaterialState"]) for r in listed] == [
        (first_id, "CURRENT"), (second_id, "PENDING_ROTATION")]
    assert listed[1]["KeyMaterialDescription"] == "second material" and "RotationDate" not in listed[1]
    assert kms.list_key_rotations(KeyId=key_id)["Rotations"] == []

    code, message, _ = error_of(import_material, kms, key_id, third, ImportType="NEW_KEY_MATERIAL")
    assert code == "KMSInvalidStateException"
    assert message.startswith("New key material (id: ") and message.endswith(
        f") cannot be imported into KMS key {arn}, because another key material (id: {second_id}) is pending rotation.")
    code, _, _ = error_of(import_material, kms, key_id, first, ImportType="NEW_KEY_MATERIAL")
    assert code == "IncorrectKeyMaterialException"

    assert kms.rotate_key_on_demand(KeyId=key_id)["KeyId"] == arn
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"] == second_id
    rotations = kms.list_key_rotations(KeyId=key_id)["Rotations"]
    assert len(rotations) == 1 and rotations[0]["KeyMaterialId"] == second_id
    assert rotations[0]["RotationType"] == "ON_DEMAND" and rotations[0]["ImportState"] == "IMPORTED"
    new_blob = kms.encrypt(KeyId=key_id, Plaintext=b"under the second material")["CiphertextBlob"]
    assert decrypt_offline(second, second_id, new_blob) == b"under the second material"
    assert kms.decrypt(CiphertextBlob=old_blob)["Plaintext"] == b"under the first material"

    # Pending material can be dropped and replaced; it never made the key unusable.
    third_id = import_material(kms, key_id, third, ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"]
    assert kms.delete_imported_key_material(KeyId=key_id, KeyMaterialId=third_id)["KeyMaterialId"] == third_id
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    assert [r["KeyMaterialId"] for r in kms.list_key_rotations(
        KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]] == [first_id, second_id]

    # Deleting the old material makes the key wait for it; reimporting it by id brings the key back.
    kms.delete_imported_key_material(KeyId=key_id, KeyMaterialId=first_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    code, _, _ = error_of(import_material, kms, key_id, second, KeyMaterialId=first_id)
    assert code == "IncorrectKeyMaterialException"
    assert import_material(kms, key_id, first, KeyMaterialId=first_id)["KeyMaterialId"] == first_id
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    assert kms.decrypt(CiphertextBlob=old_blob)["Plaintext"] == b"under the first material"


def test_imported_keys_do_not_rotate_automatically(kms: Any) -> None:
    key_id = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    import_material(kms, key_id, os.urandom(32))
    arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}"
    assert error_of(kms.enable_key_rotation, KeyId=key_id) == (
        "UnsupportedOperationException", f"{arn} origin is EXTERNAL which is not valid for this operation.", 400)
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False


def test_multi_region_imported_key(sim: Any, kms: Any) -> None:
    """A replica of an imported key starts without material; the same material is imported into it."""
    meta = kms.create_key(Origin="EXTERNAL", MultiRegion=True)["KeyMetadata"]
    key_id = meta["KeyId"]
    material = os.urandom(32)
    material_id = import_material(kms, key_id, material)["KeyMaterialId"]
    kms.replicate_key(KeyId=key_id, ReplicaRegion="eu-west-1")
    replica = sim.client("kms", region="eu-west-1")
    sim.advance(600)
    assert replica.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    code, _, _ = error_of(import_material, replica, key_id, os.urandom(32))
    assert code == "IncorrectKeyMaterialException"
    assert import_material(replica, key_id, material)["KeyMaterialId"] == material_id
    replica_meta = replica.describe_key(KeyId=key_id)["KeyMetadata"]
    assert replica_meta["KeyState"] == "Enabled" and replica_meta["CurrentKeyMaterialId"] == material_id
    blob = replica.encrypt(KeyId=key_id, Plaintext=b"both regions")["CiphertextBlob"]
    assert decrypt_offline(material, material_id, blob) == b"both regions"
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"both regions"
