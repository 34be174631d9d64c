"""Encrypt, Decrypt and ReEncrypt through boto3: symmetric blobs, real RSAES-OAEP, key states, DryRun and AWS's
messages (spec/kms-real-responses.md 1.6–1.8, 2.2, 3.1, 3.2)."""

from __future__ import annotations

import os
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from kms.crypto.ciphertext import HEADER_BYTES
from tests.conftest import ACCOUNT, REGION
from tests.kms_helpers import assert_invalid_ciphertext, error_of

INCORRECT_KEY = "The key ID in the request does not identify a CMK that can perform this operation."
DRY_RUN = "The request would have succeeded, but the DryRun option is set."
ASYMMETRIC_CONTEXT = "EncryptionContext is not supported when encrypting/decrypting with asymmetric CMKs."
OAEP_HASHES = {"RSAES_OAEP_SHA_1": hashes.SHA1, "RSAES_OAEP_SHA_256": hashes.SHA256}


def null_member(member: str) -> tuple[str, str, int]:
    constraint = "failed to satisfy constraint: Member must not be null"
    return "ValidationException", f"1 validation error detected: Value null at '{member}' {constraint}", 400


def oaep(algorithm: str) -> padding.OAEP:
    digest = OAEP_HASHES[algorithm]()
    return padding.OAEP(mgf=padding.MGF1(algorithm=digest), algorithm=digest, label=None)


def rsa_key(kms: Any, spec: str = "RSA_2048") -> dict[str, Any]:
    return kms.create_key(KeySpec=spec, KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]


# -- symmetric ---------------------------------------------------------------------------------------------
def test_symmetric_round_trip_and_response_members(kms: Any) -> None:
    meta = kms.create_key()["KeyMetadata"]
    encrypted = kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"hello")
    assert set(encrypted) - {"ResponseMetadata"} == {"CiphertextBlob", "KeyId", "EncryptionAlgorithm"}
    assert encrypted["KeyId"] == meta["Arn"] and encrypted["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert b"hello" not in encrypted["CiphertextBlob"]
    again = kms.encrypt(KeyId=meta["Arn"], Plaintext=b"hello")["CiphertextBlob"]
    assert again != encrypted["CiphertextBlob"]  # fresh IV per call

    for key_id in (None, meta["KeyId"], meta["Arn"]):
        kwargs = {"KeyId": key_id} if key_id else {}
        decrypted = kms.decrypt(CiphertextBlob=encrypted["CiphertextBlob"], **kwargs)
        assert set(decrypted) - {"ResponseMetadata"} == {"KeyId", "Plaintext", "EncryptionAlgorithm", "KeyMaterialId"}
        assert decrypted["Plaintext"] == b"hello" and decrypted["KeyId"] == meta["Arn"]
        assert decrypted["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
        assert decrypted["KeyMaterialId"] == meta["CurrentKeyMaterialId"]


def test_largest_plaintext_and_the_recorded_size_errors(sim: Any, kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"x" * 4096)["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x" * 4096
    raw = sim.client("kms", validate=False)
    assert error_of(raw.encrypt, KeyId=key_id, Plaintext=b"x" * 4268) == (
        "ValidationException", ("1 validation error detected: Value at 'plaintext' failed to satisfy constraint: "
        "Member must have length less than or equal to 4096"), 400)
    assert error_of(raw.encrypt, KeyId=key_id, Plaintext=b"") == (
        "ValidationException", ("1 validation error detected: Value at 'plaintext' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1"), 400)


def test_encryption_context_is_bound_exactly(kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    context = {"tenant": "a", "purpose": "test"}
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"secret", EncryptionContext=context)["CiphertextBlob"]
    reordered = {"purpose": "test", "tenant": "a"}
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=reordered)["Plaintext"] == b"secret"
    assert_invalid_ciphertext(kms.decrypt, CiphertextBlob=blob)
    assert_invalid_ciphertext(kms.decrypt, CiphertextBlob=blob, EncryptionContext={"tenant": "A", "purpose": "test"})
    assert_invalid_ciphertext(kms.decrypt, CiphertextBlob=blob, EncryptionContext={"tenant": "a"})
    plain = kms.encrypt(KeyId=key_id, Plaintext=b"p")["CiphertextBlob"]
    assert_invalid_ciphertext(kms.decrypt, CiphertextBlob=plain, EncryptionContext={"tenant": "a"})
    assert kms.decrypt(CiphertextBlob=plain, EncryptionContext={})["Plaintext"] == b"p"


def test_tampered_truncated_and_foreign_blobs(kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    context = {"c": "1"}
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"data" * 10, EncryptionContext=context)["CiphertextBlob"]
    flipped = bytearray(blob)
    flipped[-1] ^= 1
    header_flipped = bytearray(blob)
    header_flipped[HEADER_BYTES - 5] ^= 1  # inside the material id: names a material the key does not have
    for bad in (blob[68:], blob + b"bad_data", bytes(flipped), bytes(header_flipped), os.urandom(200), b"\x01"):
        assert_invalid_ciphertext(kms.decrypt, CiphertextBlob=bad, EncryptionContext=context)
        assert_invalid_ciphertext(kms.decrypt, CiphertextBlob=bad, EncryptionContext=context, KeyId=key_id)


def test_incorrect_key(kms: Any) -> None:
    first = kms.create_key()["KeyMetadata"]["KeyId"]
    second = kms.create_key()["KeyMetadata"]["KeyId"]
    hmac_key = kms.create_key(KeySpec="HMAC_224", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    rsa = rsa_key(kms)["KeyId"]
    blob = kms.encrypt(KeyId=first, Plaintext=b"x")["CiphertextBlob"]
    for other in (second, hmac_key, rsa):
        assert error_of(kms.decrypt, CiphertextBlob=blob, KeyId=other) == ("IncorrectKeyException", INCORRECT_KEY, 400)
    missing = "134f2428-cec1-4b25-a1ae-9048164dba47"
    assert error_of(kms.decrypt, CiphertextBlob=blob, KeyId=missing) == (
        "NotFoundException", f"Key 'arn:aws:kms:{REGION}:{ACCOUNT}:key/{missing}' does not exist", 400)
    assert error_of(kms.encrypt, KeyId="fake-key-id", Plaintext=b"x") == (
        "NotFoundException", "Invalid keyId 'fake-key-id'", 400)


def test_blob_of_a_key_that_does_not_exist_here(sim: Any, kms: Any) -> None:
    """The key the header names is looked up in the caller's account and region: NotFoundException if missing."""
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
    other_region = sim.client("kms", region="eu-west-1")
    assert error_of(other_region.decrypt, CiphertextBlob=blob) == (
        "NotFoundException", f"Key 'arn:aws:kms:eu-west-1:{ACCOUNT}:key/{key_id}' does not exist", 400)

    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    sim.advance(8 * 86400)
    assert error_of(kms.decrypt, CiphertextBlob=blob) == (
        "NotFoundException", f"Key 'arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}' does not exist", 400)


# -- key states ----------------------------------------------------------------------------------------------
def test_disabled_key_and_old_ciphertext_after_re_enabling(kms: Any) -> None:
    meta = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"kept")["CiphertextBlob"]
    kms.disable_key(KeyId=meta["KeyId"])
    disabled = ("DisabledException", f"{meta['Arn']} is disabled.", 400)
    assert error_of(kms.encrypt, KeyId=meta["KeyId"], Plaintext=b"x") == disabled
    assert error_of(kms.decrypt, CiphertextBlob=blob) == disabled
    assert error_of(kms.decrypt, CiphertextBlob=blob, KeyId=meta["Arn"]) == disabled
    kms.enable_key(KeyId=meta["KeyId"])
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"kept"


def test_pending_deletion_and_pending_import_keys(kms: Any) -> None:
    meta = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    kms.schedule_key_deletion(KeyId=meta["KeyId"], PendingWindowInDays=7)
    pending = ("KMSInvalidStateException", f"{meta['Arn']} is pending deletion.", 400)
    assert error_of(kms.encrypt, KeyId=meta["KeyId"], Plaintext=b"x") == pending
    assert error_of(kms.decrypt, CiphertextBlob=blob) == pending
    kms.cancel_key_deletion(KeyId=meta["KeyId"])
    kms.enable_key(KeyId=meta["KeyId"])
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"
    external = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
    assert error_of(kms.encrypt, KeyId=external["KeyId"], Plaintext=b"x") == (
        "KMSInvalidStateException", f"{external['Arn']} is pending import.", 400)


# -- usage and algorithms --------------------------------------------------------------------------------------
def test_key_usage_is_checked_before_algorithm_and_size(kms: Any) -> None:
    signing = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    message = f"{signing['Arn']} key usage is SIGN_VERIFY which is not valid for Encrypt."
    assert error_of(kms.encrypt, KeyId=signing["KeyId"], Plaintext=b"x") == ("InvalidKeyUsageException", message, 400)
    assert error_of(kms.encrypt, KeyId=signing["KeyId"], Plaintext=b"x" * 1176,
                    EncryptionAlgorithm="RSAES_OAEP_SHA_1") == ("InvalidKeyUsageException", message, 400)
    hmac_key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    message = f"{hmac_key['Arn']} key usage is GENERATE_VERIFY_MAC which is not valid for Encrypt."
    assert error_of(kms.encrypt, KeyId=hmac_key["Arn"], Plaintext=b"x") == ("InvalidKeyUsageException", message, 400)


def test_algorithm_must_fit_the_key_spec(kms: Any) -> None:
    symmetric = kms.create_key()["KeyMetadata"]["KeyId"]
    rsa = rsa_key(kms)["KeyId"]
    assert error_of(kms.encrypt, KeyId=symmetric, Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256") == (
        "InvalidKeyUsageException", "Algorithm RSAES_OAEP_SHA_256 is incompatible with key spec SYMMETRIC_DEFAULT.",
        400)
    assert error_of(kms.encrypt, KeyId=rsa, Plaintext=b"x") == (
        "InvalidKeyUsageException", "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048.", 400)
    assert error_of(kms.encrypt, KeyId=rsa, Plaintext=b"x", EncryptionAlgorithm="SM2PKE") == (
        "InvalidKeyUsageException", "Algorithm SM2PKE is incompatible with key spec RSA_2048.", 400)
    assert error_of(kms.encrypt, KeyId=rsa, Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256",
                    EncryptionContext={"a": "b"}) == ("ValidationException", ASYMMETRIC_CONTEXT, 400)


# -- RSA -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("spec", "algorithm", "limit"), [
    ("RSA_2048", "RSAES_OAEP_SHA_1", 214), ("RSA_2048", "RSAES_OAEP_SHA_256", 190),
    ("RSA_3072", "RSAES_OAEP_SHA_1", 342), ("RSA_3072", "RSAES_OAEP_SHA_256", 318),
    ("RSA_4096", "RSAES_OAEP_SHA_1", 470), ("RSA_4096", "RSAES_OAEP_SHA_256", 446),
])
def test_rsa_round_trips_and_plaintext_limits(kms: Any, spec: str, algorithm: str, limit: int) -> None:
    meta = rsa_key(kms, spec)
    too_large = ("ValidationException",
                 f"Algorithm {algorithm} and key spec {spec} cannot encrypt data larger than {limit} bytes.", 400)
    for size in (1176, limit + 1):
        assert error_of(kms.encrypt, KeyId=meta["KeyId"], Plaintext=b"x" * size, EncryptionAlgorithm=algorithm) == (
            too_large)
    plaintext = os.urandom(limit)
    encrypted = kms.encrypt(KeyId=meta["KeyId"], Plaintext=plaintext, EncryptionAlgorithm=algorithm)
    assert encrypted["KeyId"] == meta["Arn"] and encrypted["EncryptionAlgorithm"] == algorithm
    assert len(encrypted["CiphertextBlob"]) == int(spec[4:]) // 8  # bare RSA output, no envelope
    decrypted = kms.decrypt(CiphertextBlob=encrypted["CiphertextBlob"], KeyId=meta["Arn"],
                            EncryptionAlgorithm=algorithm)
    assert decrypted["Plaintext"] == plaintext and decrypted["KeyId"] == meta["Arn"]
    assert decrypted["EncryptionAlgorithm"] == algorithm and "KeyMaterialId" not in decrypted


@pytest.mark.parametrize("algorithm", ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"])
def test_ciphertext_made_offline_with_the_public_key_decrypts(kms: Any, algorithm: str) -> None:
    meta = rsa_key(kms)
    public_key = serialization.load_der_public_key(kms.get_public_key(KeyId=meta["KeyId"])["PublicKey"])
    ciphertext = public_key.encrypt(b"made offline", oaep(algorithm))  # type: ignore[union-attr]
    decrypted = kms.decrypt(CiphertextBlob=ciphertext, KeyId=meta["KeyId"], EncryptionAlgorithm=algorithm)
    assert decrypted["Plaintext"] == b"made offline"
    other = "RSAES_OAEP_SHA_256" if algorithm == "RSAES_OAEP_SHA_1" else "RSAES_OAEP_SHA_1"
    assert_invalid_ciphertext(kms.decrypt, CiphertextBlob=ciphertext, KeyId=meta["KeyId"], EncryptionAlgorithm=other)


def test_rsa_decrypt_errors(kms: Any) -> None:
    meta = rsa_key(kms)
    other = rsa_key(kms)
    blob = kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256")["CiphertextBlob"]
    assert error_of(kms.decrypt, CiphertextBlob=blob, EncryptionAlgorithm="RSAES_OAEP_SHA_256") == null_member("keyId")
    assert_invalid_ciphertext(kms.decrypt, CiphertextBlob=blob)  # an RSA ciphertext is no symmetric blob
    assert_invalid_ciphertext(kms.decrypt, CiphertextBlob=blob, KeyId=meta["KeyId"])
    assert_invalid_ciphertext(kms.decrypt, CiphertextBlob=blob, KeyId=other["KeyId"],
                              EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    assert_invalid_ciphertext(kms.decrypt, CiphertextBlob=blob[:-1], KeyId=meta["KeyId"],
                              EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    assert error_of(kms.decrypt, CiphertextBlob=blob, KeyId=meta["KeyId"], EncryptionAlgorithm="RSAES_OAEP_SHA_256",
                    EncryptionContext={"a": "b"}) == ("ValidationException", ASYMMETRIC_CONTEXT, 400)
    signing = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    message = f"{signing['Arn']} key usage is SIGN_VERIFY which is not valid for Decrypt."
    assert error_of(kms.decrypt, CiphertextBlob=blob, KeyId=signing["KeyId"],
                    EncryptionAlgorithm="RSAES_OAEP_SHA_256") == ("InvalidKeyUsageException", message, 400)


# -- DryRun, grant tokens, Recipient -------------------------------------------------------------------------
def test_dry_run_on_decrypt_and_re_encrypt(kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    dry = ("DryRunOperationException", DRY_RUN, 400)
    assert error_of(kms.encrypt, KeyId=key_id, Plaintext=b"x", DryRun=True) == dry
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionContext={"a": "b"})["CiphertextBlob"]
    assert error_of(kms.decrypt, CiphertextBlob=blob, EncryptionContext={"a": "b"}, DryRun=True) == dry
    assert_invalid_ciphertext(kms.decrypt, CiphertextBlob=blob, DryRun=True)  # the ciphertext is still checked
    assert error_of(kms.decrypt, CiphertextBlob=b"junk", KeyId=key_id, DryRun=True,
                    DryRunModifiers=["IGNORE_CIPHERTEXT"]) == dry
    assert error_of(kms.decrypt, KeyId=key_id, DryRun=True, DryRunModifiers=["IGNORE_CIPHERTEXT"]) == dry
    assert error_of(kms.decrypt, CiphertextBlob=b"junk", DryRun=True,
                    DryRunModifiers=["IGNORE_CIPHERTEXT"]) == null_member("keyId")
    assert error_of(kms.decrypt, KeyId=key_id) == null_member("ciphertextBlob")
    destination = kms.create_key()["KeyMetadata"]["KeyId"]
    plain = kms.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
    assert error_of(kms.re_encrypt, CiphertextBlob=plain, DestinationKeyId=destination, DryRun=True) == dry
    assert error_of(kms.re_encrypt, SourceKeyId=key_id, DestinationKeyId=destination, DryRun=True,
                    DryRunModifiers=["IGNORE_CIPHERTEXT"]) == dry
    assert error_of(kms.re_encrypt, CiphertextBlob=b"junk", DestinationKeyId=destination, DryRun=True,
                    DryRunModifiers=["IGNORE_CIPHERTEXT"]) == null_member("sourceKeyId")
    assert_invalid_ciphertext(kms.re_encrypt, CiphertextBlob=b"junk", DestinationKeyId=destination, DryRun=True)
    kms.disable_key(KeyId=key_id)
    assert error_of(kms.decrypt, KeyId=key_id, DryRun=True, DryRunModifiers=["IGNORE_CIPHERTEXT"])[0] == (
        "DisabledException")


def test_grant_tokens_recipient_and_last_usage(kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    code, _, status = error_of(kms.encrypt, KeyId=key_id, Plaintext=b"x", GrantTokens=["not-a-token"])
    assert (code, status) == ("InvalidGrantTokenException", 400)
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
    assert error_of(kms.decrypt, CiphertextBlob=blob, GrantTokens=["forged"])[0] == "InvalidGrantTokenException"
    recipient = {"KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256", "AttestationDocument": b"doc"}
    code, message, _ = error_of(kms.decrypt, CiphertextBlob=blob, Recipient=recipient)
    assert code == "UnsupportedOperationException" and "Recipient" in message and "Nitro" in message
    assert kms.get_key_last_usage(KeyId=key_id)["KeyLastUsage"]["Operation"] == "Encrypt"
    kms.decrypt(CiphertextBlob=blob)
    error_of(kms.encrypt, KeyId=key_id, Plaintext=b"x", DryRun=True)  # a dry run is no use
    assert kms.get_key_last_usage(KeyId=key_id)["KeyLastUsage"]["Operation"] == "Decrypt"


# -- ReEncrypt -----------------------------------------------------------------------------------------------
def test_re_encrypt_symmetric_to_symmetric(kms: Any) -> None:
    source = kms.create_key()["KeyMetadata"]
    destination = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=source["KeyId"], Plaintext=b"moved", EncryptionContext={"from": "1"})["CiphertextBlob"]
    result = kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"from": "1"},
                            DestinationKeyId=destination["KeyId"], DestinationEncryptionContext={"to": "2"})
    assert set(result) - {"ResponseMetadata"} == {
        "CiphertextBlob", "SourceKeyId", "KeyId", "SourceEncryptionAlgorithm", "DestinationEncryptionAlgorithm",
        "SourceKeyMaterialId", "DestinationKeyMaterialId"}
    assert result["SourceKeyId"] == source["Arn"] and result["KeyId"] == destination["Arn"]
    assert result["SourceEncryptionAlgorithm"] == result["DestinationEncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert result["SourceKeyMaterialId"] == source["CurrentKeyMaterialId"]
    assert result["DestinationKeyMaterialId"] == destination["CurrentKeyMaterialId"]
    decrypted = kms.decrypt(CiphertextBlob=result["CiphertextBlob"], EncryptionContext={"to": "2"})
    assert decrypted["Plaintext"] == b"moved" and decrypted["KeyId"] == destination["Arn"]
    assert_invalid_ciphertext(kms.re_encrypt, CiphertextBlob=blob, DestinationKeyId=destination["KeyId"])
    assert error_of(kms.re_encrypt, CiphertextBlob=blob, SourceKeyId=destination["KeyId"],
                    SourceEncryptionContext={"from": "1"}, DestinationKeyId=destination["KeyId"]) == (
        "IncorrectKeyException", INCORRECT_KEY, 400)
    assert kms.get_key_last_usage(KeyId=source["KeyId"])["KeyLastUsage"]["Operation"] == "ReEncrypt"


def test_re_encrypt_between_symmetric_and_rsa(kms: Any) -> None:
    symmetric = kms.create_key()["KeyMetadata"]
    rsa = rsa_key(kms)
    blob = kms.encrypt(KeyId=symmetric["KeyId"], Plaintext=b"swap")["CiphertextBlob"]
    assert error_of(kms.re_encrypt, CiphertextBlob=blob, DestinationKeyId=rsa["KeyId"]) == (
        "InvalidKeyUsageException", "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048.", 400)
    to_rsa = kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=rsa["KeyId"],
                            DestinationEncryptionAlgorithm="RSAES_OAEP_SHA_256")
    assert to_rsa["KeyId"] == rsa["Arn"] and to_rsa["DestinationEncryptionAlgorithm"] == "RSAES_OAEP_SHA_256"
    assert "DestinationKeyMaterialId" not in to_rsa
    assert to_rsa["SourceKeyMaterialId"] == symmetric["CurrentKeyMaterialId"]
    assert kms.decrypt(CiphertextBlob=to_rsa["CiphertextBlob"], KeyId=rsa["KeyId"],
                       EncryptionAlgorithm="RSAES_OAEP_SHA_256")["Plaintext"] == b"swap"

    assert error_of(kms.re_encrypt, CiphertextBlob=to_rsa["CiphertextBlob"], DestinationKeyId=symmetric["KeyId"],
                    SourceEncryptionAlgorithm="RSAES_OAEP_SHA_256") == null_member("sourceKeyId")
    back = kms.re_encrypt(CiphertextBlob=to_rsa["CiphertextBlob"], SourceKeyId=rsa["Arn"],
                          SourceEncryptionAlgorithm="RSAES_OAEP_SHA_256", DestinationKeyId=symmetric["Arn"])
    assert back["SourceKeyId"] == rsa["Arn"] and back["SourceEncryptionAlgorithm"] == "RSAES_OAEP_SHA_256"
    assert "SourceKeyMaterialId" not in back and back["DestinationKeyMaterialId"] == symmetric["CurrentKeyMaterialId"]
    assert kms.decrypt(CiphertextBlob=back["CiphertextBlob"])["Plaintext"] == b"swap"

    large = kms.encrypt(KeyId=symmetric["KeyId"], Plaintext=b"y" * 191)["CiphertextBlob"]
    assert error_of(kms.re_encrypt, CiphertextBlob=large, DestinationKeyId=rsa["KeyId"],
                    DestinationEncryptionAlgorithm="RSAES_OAEP_SHA_256") == (
        "ValidationException", ("Algorithm RSAES_OAEP_SHA_256 and key spec RSA_2048 cannot encrypt data larger than "
        "190 bytes."), 400)
    assert error_of(kms.re_encrypt, CiphertextBlob=blob, DestinationKeyId=rsa["KeyId"],
                    DestinationEncryptionAlgorithm="RSAES_OAEP_SHA_1", DestinationEncryptionContext={"a": "b"}) == (
        "ValidationException", ASYMMETRIC_CONTEXT, 400)


def test_re_encrypt_key_errors(kms: Any) -> None:
    symmetric = kms.create_key()["KeyMetadata"]
    signing = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    hmac_key = kms.create_key(KeySpec="HMAC_224", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    blob = kms.encrypt(KeyId=symmetric["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    message = f"{signing['Arn']} key usage is SIGN_VERIFY which is not valid for ReEncryptTo."
    assert error_of(kms.re_encrypt, CiphertextBlob=blob, DestinationKeyId=signing["KeyId"]) == (
        "InvalidKeyUsageException", message, 400)
    assert error_of(kms.re_encrypt, CiphertextBlob=blob, SourceKeyId=hmac_key["KeyId"],
                    DestinationKeyId=hmac_key["KeyId"]) == ("IncorrectKeyException", INCORRECT_KEY, 400)

    destination = kms.create_key()["KeyMetadata"]
    kms.disable_key(KeyId=destination["KeyId"])
    assert error_of(kms.re_encrypt, CiphertextBlob=blob, DestinationKeyId=destination["KeyId"]) == (
        "DisabledException", f"{destination['Arn']} is disabled.", 400)
    kms.disable_key(KeyId=symmetric["KeyId"])
    assert error_of(kms.re_encrypt, CiphertextBlob=blob, DestinationKeyId=signing["KeyId"]) == (
        "DisabledException", f"{symmetric['Arn']} is disabled.", 400)


# -- material history and replicas ----------------------------------------------------------------------------
def test_old_material_still_decrypts_after_rotation(kms: Any) -> None:
    meta = kms.create_key()["KeyMetadata"]
    old = kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"before")["CiphertextBlob"]
    kms.rotate_key_on_demand(KeyId=meta["KeyId"])
    current = kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]["CurrentKeyMaterialId"]
    assert current != meta["CurrentKeyMaterialId"]
    new = kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"after")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=old)["KeyMaterialId"] == meta["CurrentKeyMaterialId"]
    assert kms.decrypt(CiphertextBlob=old, KeyId=meta["Arn"])["Plaintext"] == b"before"
    assert kms.decrypt(CiphertextBlob=new)["KeyMaterialId"] == current
    moved = kms.re_encrypt(CiphertextBlob=old, DestinationKeyId=meta["KeyId"])
    assert (moved["SourceKeyMaterialId"], moved["DestinationKeyMaterialId"]) == (meta["CurrentKeyMaterialId"], current)


def test_replica_decrypts_without_key_id(sim: Any, kms: Any) -> None:
    meta = kms.create_key(MultiRegion=True)["KeyMetadata"]
    blob = kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"everywhere")["CiphertextBlob"]
    kms.replicate_key(KeyId=meta["KeyId"], ReplicaRegion="eu-west-1")
    sim.advance(600)
    replica = sim.client("kms", region="eu-west-1")
    decrypted = replica.decrypt(CiphertextBlob=blob)
    assert decrypted["Plaintext"] == b"everywhere"
    assert decrypted["KeyId"] == f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/{meta['KeyId']}"

