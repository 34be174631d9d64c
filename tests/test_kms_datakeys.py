"""GenerateDataKey(+WithoutPlaintext), GenerateDataKeyPair(+WithoutPlaintext) and GenerateRandom through boto3;
every key and key pair is checked offline with `cryptography` (spec/kms-real-responses.md 1.5, 1.16, 2.2, 3.1)."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mlkem, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tests.kms_helpers import assert_invalid_ciphertext, error_of

DRY_RUN = "The request would have succeeded, but the DryRun option is set."
ONE_OF = "Please specify either number of bytes or key spec."
RECIPIENT = {"KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256", "AttestationDocument": b"attestation"}


# -- GenerateDataKey -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("size_args", "size"), [
    ({"KeySpec": "AES_256"}, 32), ({"KeySpec": "AES_128"}, 16), ({"NumberOfBytes": 1}, 1),
    ({"NumberOfBytes": 64}, 64), ({"NumberOfBytes": 1024}, 1024),
])
def test_generate_data_key(kms: Any, size_args: dict[str, Any], size: int) -> None:
    meta = kms.create_key()["KeyMetadata"]
    context = {"bucket": "b1"}
    result = kms.generate_data_key(KeyId=meta["KeyId"], EncryptionContext=context, **size_args)
    assert set(result) - {"ResponseMetadata"} == {"CiphertextBlob", "Plaintext", "KeyId", "KeyMaterialId"}
    assert len(result["Plaintext"]) == size
    assert result["KeyId"] == meta["Arn"] and result["KeyMaterialId"] == meta["CurrentKeyMaterialId"]
    decrypted = kms.decrypt(CiphertextBlob=result["CiphertextBlob"], EncryptionContext=context)
    assert decrypted["Plaintext"] == result["Plaintext"] and decrypted["KeyId"] == meta["Arn"]
    assert_invalid_ciphertext(kms.decrypt, CiphertextBlob=result["CiphertextBlob"])


def test_data_keys_are_fresh_and_usable_offline(kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    first = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")["Plaintext"]
    second = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")["Plaintext"]
    assert first != second
    sealed = AESGCM(first).encrypt(b"\x00" * 12, b"payload", None)
    assert AESGCM(first).decrypt(b"\x00" * 12, sealed, None) == b"payload"


def test_generate_data_key_without_plaintext(kms: Any) -> None:
    meta = kms.create_key()["KeyMetadata"]
    result = kms.generate_data_key_without_plaintext(KeyId=meta["Arn"], NumberOfBytes=48, EncryptionContext={"k": "v"})
    assert set(result) - {"ResponseMetadata"} == {"CiphertextBlob", "KeyId", "KeyMaterialId"}
    assert result["KeyId"] == meta["Arn"]
    assert len(kms.decrypt(CiphertextBlob=result["CiphertextBlob"], EncryptionContext={"k": "v"})["Plaintext"]) == 48
    assert_invalid_ciphertext(kms.decrypt, CiphertextBlob=result["CiphertextBlob"])


def test_data_key_size_errors(sim: Any, kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    for call in (kms.generate_data_key, kms.generate_data_key_without_plaintext):
        assert error_of(call, KeyId=key_id) == ("ValidationException", ONE_OF, 400)
        assert error_of(call, KeyId=key_id, KeySpec="AES_256", NumberOfBytes=32) == ("ValidationException", ONE_OF, 400)
    raw = sim.client("kms", validate=False)
    assert error_of(raw.generate_data_key, KeyId=key_id, NumberOfBytes=1025) == (
        "ValidationException", ("1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy "
        "constraint: Member must have value less than or equal to 1024"), 400)
    assert error_of(raw.generate_data_key, KeyId=key_id, NumberOfBytes=0) == (
        "ValidationException", ("1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy "
        "constraint: Member must have value greater than or equal to 1"), 400)


def test_data_keys_need_a_symmetric_encryption_key(kms: Any) -> None:
    rsa_key = kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
    signing = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    asymmetric = ("InvalidKeyUsageException", "You cannot generate a data key with an asymmetric CMK", 400)
    assert error_of(kms.generate_data_key, KeyId=rsa_key["KeyId"], KeySpec="AES_256") == asymmetric
    assert error_of(kms.generate_data_key_pair, KeyId=rsa_key["KeyId"], KeyPairSpec="ECC_NIST_P256") == asymmetric
    for operation, call in (("GenerateDataKey", kms.generate_data_key),
                            ("GenerateDataKeyWithoutPlaintext", kms.generate_data_key_without_plaintext)):
        message = f"{signing['Arn']} key usage is SIGN_VERIFY which is not valid for {operation}."
        assert error_of(call, KeyId=signing["KeyId"], KeySpec="AES_256") == ("InvalidKeyUsageException", message, 400)
    assert error_of(kms.generate_data_key_pair_without_plaintext, KeyId=signing["KeyId"],
                    KeyPairSpec="ECC_NIST_P256") == (
        "InvalidKeyUsageException",
        f"{signing['Arn']} key usage is SIGN_VERIFY which is not valid for GenerateDataKeyPairWithoutPlaintext.", 400)


def test_data_key_key_states(kms: Any) -> None:
    meta = kms.create_key()["KeyMetadata"]
    kms.disable_key(KeyId=meta["KeyId"])
    disabled = ("DisabledException", f"{meta['Arn']} is disabled.", 400)
    assert error_of(kms.generate_data_key, KeyId=meta["KeyId"], KeySpec="AES_256") == disabled
    assert error_of(kms.generate_data_key_pair, KeyId=meta["KeyId"], KeyPairSpec="ECC_NIST_P256") == disabled
    kms.schedule_key_deletion(KeyId=meta["KeyId"], PendingWindowInDays=7)
    pending = ("KMSInvalidStateException", f"{meta['Arn']} is pending deletion.", 400)
    assert error_of(kms.generate_data_key, KeyId=meta["KeyId"], KeySpec="AES_256") == pending
    assert error_of(kms.generate_data_key_without_plaintext, KeyId=meta["KeyId"], NumberOfBytes=8) == pending
    assert error_of(kms.generate_data_key_pair_without_plaintext, KeyId=meta["KeyId"],
                    KeyPairSpec="ECC_NIST_P256") == pending


def test_data_key_dry_run_grant_tokens_and_recipient(kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    dry = ("DryRunOperationException", DRY_RUN, 400)
    assert error_of(kms.generate_data_key, KeyId=key_id, KeySpec="AES_256", DryRun=True) == dry
    assert error_of(kms.generate_data_key_without_plaintext, KeyId=key_id, KeySpec="AES_128", DryRun=True) == dry
    assert error_of(kms.generate_data_key_pair, KeyId=key_id, KeyPairSpec="RSA_2048", DryRun=True) == dry
    assert error_of(kms.generate_data_key_pair_without_plaintext, KeyId=key_id, KeyPairSpec="RSA_2048",
                    DryRun=True) == dry
    assert error_of(kms.generate_data_key, KeyId=key_id, DryRun=True) == ("ValidationException", ONE_OF, 400)
    assert error_of(kms.generate_data_key, KeyId=key_id, KeySpec="AES_256",
                    GrantTokens=["bogus"])[0] == "InvalidGrantTokenException"
    for call, args in ((kms.generate_data_key, {"KeySpec": "AES_256"}),
                       (kms.generate_data_key_pair, {"KeyPairSpec": "ECC_NIST_P256"})):
        code, message, _ = error_of(call, KeyId=key_id, Recipient=RECIPIENT, **args)
        assert code == "UnsupportedOperationException" and "Nitro" in message
    assert kms.get_key_last_usage(KeyId=key_id).get("KeyLastUsage", {}) == {}


# -- GenerateDataKeyPair ---------------------------------------------------------------------------------------


def _check_pair_works(spec: str, private_key: Any, public_der: bytes) -> None:
    """The private key belongs to the public key and does what its spec is for."""
    public_key = serialization.load_der_public_key(public_der)
    if spec.startswith("RSA_"):
        assert isinstance(private_key, rsa.RSAPrivateKey) and private_key.key_size == int(spec[4:])
        signature = private_key.sign(b"m", padding.PKCS1v15(), hashes.SHA256())
        public_key.verify(signature, b"m", padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr,call-arg]
    elif spec.startswith("ECC_") and spec != "ECC_NIST_EDWARDS25519":
        curve = {"ECC_NIST_P256": "secp256r1", "ECC_NIST_P384": "secp384r1", "ECC_NIST_P521": "secp521r1",
                 "ECC_SECG_P256K1": "secp256k1"}[spec]
        assert isinstance(private_key, ec.EllipticCurvePrivateKey) and private_key.curve.name == curve
        signature = private_key.sign(b"m", ec.ECDSA(hashes.SHA256()))
        public_key.verify(signature, b"m", ec.ECDSA(hashes.SHA256()))  # type: ignore[union-attr,call-arg]
    elif spec == "ECC_NIST_EDWARDS25519":
        assert isinstance(private_key, ed25519.Ed25519PrivateKey)
        public_key.verify(private_key.sign(b"m"), b"m")  # type: ignore[union-attr,call-arg]
    else:
        shared, ciphertext = public_key.encapsulate()  # type: ignore[union-attr]
        assert private_key.decapsulate(ciphertext) == shared
        expected = {"ML_KEM_768": mlkem.MLKEM768PrivateKey, "ML_KEM_1024": mlkem.MLKEM1024PrivateKey}[spec]
        assert isinstance(private_key, expected)


PAIR_SPECS = ["RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521",
              "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519", "ML_KEM_768", "ML_KEM_1024"]


@pytest.mark.parametrize("spec", PAIR_SPECS)
def test_generate_data_key_pair(kms: Any, spec: str) -> None:
    meta = kms.create_key()["KeyMetadata"]
    context = {"pair": spec}
    result = kms.generate_data_key_pair(KeyId=meta["KeyId"], KeyPairSpec=spec, EncryptionContext=context)
    assert set(result) - {"ResponseMetadata"} == {
        "PrivateKeyCiphertextBlob", "PrivateKeyPlaintext", "PublicKey", "KeyId", "KeyPairSpec", "KeyMaterialId"}
    assert result["KeyId"] == meta["Arn"] and result["KeyPairSpec"] == spec
    assert result["KeyMaterialId"] == meta["CurrentKeyMaterialId"]
    private_key = serialization.load_der_private_key(result["PrivateKeyPlaintext"], password=None)
    assert private_key.public_key().public_bytes(  # type: ignore[union-attr]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) == result["PublicKey"]
    _check_pair_works(spec, private_key, result["PublicKey"])
    decrypted = kms.decrypt(CiphertextBlob=result["PrivateKeyCiphertextBlob"], EncryptionContext=context)
    assert decrypted["Plaintext"] == result["PrivateKeyPlaintext"] and decrypted["KeyId"] == meta["Arn"]
    assert_invalid_ciphertext(kms.decrypt, CiphertextBlob=result["PrivateKeyCiphertextBlob"])


@pytest.mark.parametrize("spec", ["RSA_2048", "ECC_NIST_P384", "ECC_NIST_EDWARDS25519", "ML_KEM_768"])
def test_generate_data_key_pair_without_plaintext(kms: Any, spec: str) -> None:
    meta = kms.create_key()["KeyMetadata"]
    result = kms.generate_data_key_pair_without_plaintext(KeyId=meta["Arn"], KeyPairSpec=spec)
    assert set(result) - {"ResponseMetadata"} == {"PrivateKeyCiphertextBlob", "PublicKey", "KeyId", "KeyPairSpec",
                                                  "KeyMaterialId"}
    assert result["KeyId"] == meta["Arn"] and result["KeyPairSpec"] == spec
    private_der = kms.decrypt(CiphertextBlob=result["PrivateKeyCiphertextBlob"])["Plaintext"]
    private_key = serialization.load_der_private_key(private_der, password=None)
    _check_pair_works(spec, private_key, result["PublicKey"])
    assert kms.get_key_last_usage(KeyId=meta["KeyId"])["KeyLastUsage"]["Operation"] == "Decrypt"


def test_data_key_pairs_differ_each_time(kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    first = kms.generate_data_key_pair(KeyId=key_id, KeyPairSpec="ECC_NIST_P256")
    second = kms.generate_data_key_pair(KeyId=key_id, KeyPairSpec="ECC_NIST_P256")
    assert first["PublicKey"] != second["PublicKey"]
    assert kms.get_key_last_usage(KeyId=key_id)["KeyLastUsage"]["Operation"] == "GenerateDataKeyPair"


@pytest.mark.parametrize("spec", ["SM2", "ML_KEM_512"])
def test_unsupported_key_pair_specs(kms: Any, spec: str) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    for call in (kms.generate_data_key_pair, kms.generate_data_key_pair_without_plaintext):
        code, message, status = error_of(call, KeyId=key_id, KeyPairSpec=spec)
        assert (code, status) == ("UnsupportedOperationException", 400) and spec in message


# -- GenerateRandom ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 12, 44, 91, 1024])
def test_generate_random(kms: Any, size: int) -> None:
    result = kms.generate_random(NumberOfBytes=size)
    assert set(result) - {"ResponseMetadata"} == {"Plaintext"} and len(result["Plaintext"]) == size


def test_generate_random_is_random(kms: Any) -> None:
    samples = {kms.generate_random(NumberOfBytes=32)["Plaintext"] for _ in range(5)}
    assert len(samples) == 5


def test_generate_random_errors(sim: Any, kms: Any) -> None:
    raw = sim.client("kms", validate=False)
    assert error_of(raw.generate_random) == ("ValidationException", "NumberOfBytes is required.", 400)
    assert error_of(raw.generate_random, NumberOfBytes=0) == (
        "ValidationException", ("1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy "
        "constraint: Member must have value greater than or equal to 1"), 400)
    assert error_of(raw.generate_random, NumberOfBytes=1025) == (
        "ValidationException", ("1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy "
        "constraint: Member must have value less than or equal to 1024"), 400)
    code, message, status = error_of(kms.generate_random, NumberOfBytes=16, CustomKeyStoreId="cks-1234567890abcdef0")
    assert (code, status) == ("CustomKeyStoreNotFoundException", 400) and "cks-1234567890abcdef0" in message
    code, message, _ = error_of(kms.generate_random, NumberOfBytes=16, Recipient=RECIPIENT)
    assert code == "UnsupportedOperationException" and "Nitro" in message
