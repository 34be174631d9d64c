"""DeriveSharedSecret, Encapsulate and Decapsulate through boto3, checked offline with pyca/cryptography against
the public keys GetPublicKey returns (spec/kms-real-responses.md 1.12, 2.2, 3.12; the botocore 1.44.8 model docs)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.asymmetric import ec, mlkem, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_der_public_key,
)

from tests.kms_helpers import error_of


def new_key(kms: Any, spec: str, usage: str) -> str:
    return kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]["Arn"]


def spki(public_key: Any) -> bytes:
    return public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


# -- DeriveSharedSecret ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "curve", "size"), [
    ("ECC_NIST_P256", ec.SECP256R1, 32), ("ECC_NIST_P384", ec.SECP384R1, 48), ("ECC_NIST_P521", ec.SECP521R1, 66)])
def test_shared_secret_is_the_raw_ecdh_output(kms: Any, spec: str, curve: type, size: int) -> None:
    arn = new_key(kms, spec, "KEY_AGREEMENT")
    kms_public = load_der_public_key(kms.get_public_key(KeyId=arn)["PublicKey"])
    assert isinstance(kms_public, ec.EllipticCurvePublicKey)
    peer = ec.generate_private_key(curve())
    result = kms.derive_shared_secret(KeyId=arn, KeyAgreementAlgorithm="ECDH", PublicKey=spki(peer.public_key()))
    assert result["KeyId"] == arn and result["KeyAgreementAlgorithm"] == "ECDH" and result["KeyOrigin"] == "AWS_KMS"
    assert "CiphertextForRecipient" not in result
    assert len(result["SharedSecret"]) == size
    assert result["SharedSecret"] == peer.exchange(ec.ECDH(), kms_public)
    assert kms.get_key_last_usage(KeyId=arn)["KeyLastUsage"]["Operation"] == "DeriveSharedSecret"


def test_two_kms_keys_agree(kms: Any) -> None:
    alice, bob = new_key(kms, "ECC_NIST_P256", "KEY_AGREEMENT"), new_key(kms, "ECC_NIST_P256", "KEY_AGREEMENT")
    alice_public, bob_public = (kms.get_public_key(KeyId=k)["PublicKey"] for k in (alice, bob))
    alice_secret = kms.derive_shared_secret(KeyId=alice, KeyAgreementAlgorithm="ECDH", PublicKey=bob_public)
    bob_secret = kms.derive_shared_secret(KeyId=bob, KeyAgreementAlgorithm="ECDH", PublicKey=alice_public)
    assert alice_secret["SharedSecret"] == bob_secret["SharedSecret"] and len(alice_secret["SharedSecret"]) == 32


def test_bad_peer_keys(kms: Any) -> None:
    arn = new_key(kms, "ECC_NIST_P256", "KEY_AGREEMENT")
    with pytest.raises(ClientError) as caught:
        kms.derive_shared_secret(KeyId=arn, KeyAgreementAlgorithm="ECDH", PublicKey=b"InvalidPublicKey")
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert caught.value.response["Error"]["Message"] == ""
    other_curve = spki(ec.generate_private_key(ec.SECP384R1()).public_key())
    code, message, status = error_of(kms.derive_shared_secret, KeyId=arn, KeyAgreementAlgorithm="ECDH",
                                     PublicKey=other_curve)
    assert (code, status) == ("ValidationException", 400)
    assert "ECC_NIST_P256" in message and "secp384r1" in message
    rsa_public = spki(rsa.generate_private_key(65537, 2048).public_key())
    code, message, _ = error_of(kms.derive_shared_secret, KeyId=arn, KeyAgreementAlgorithm="ECDH", PublicKey=rsa_public)
    assert code == "ValidationException" and "not an elliptic-curve key" in message
    code, message, _ = error_of(kms.derive_shared_secret, KeyId=arn, KeyAgreementAlgorithm="INVALID",
                                PublicKey=other_curve)
    assert code == "ValidationException" and "at 'keyAgreementAlgorithm'" in message


def test_derive_shared_secret_key_checks(kms: Any) -> None:
    peer = spki(ec.generate_private_key(ec.SECP256R1()).public_key())
    signing = new_key(kms, "ECC_NIST_P256", "SIGN_VERIFY")
    assert error_of(kms.derive_shared_secret, KeyId=signing, KeyAgreementAlgorithm="ECDH", PublicKey=peer) == (
        "InvalidKeyUsageException", f"{signing} key usage is SIGN_VERIFY which is not valid for DeriveSharedSecret.", 400)
    symmetric = kms.create_key()["KeyMetadata"]["Arn"]
    assert error_of(kms.derive_shared_secret, KeyId=symmetric, KeyAgreementAlgorithm="ECDH", PublicKey=peer)[:2] == (
        "InvalidKeyUsageException", f"{symmetric} key usage is ENCRYPT_DECRYPT which is not valid for DeriveSharedSecret.")
    arn = new_key(kms, "ECC_NIST_P256", "KEY_AGREEMENT")
    code, message, _ = error_of(kms.derive_shared_secret, KeyId=arn, KeyAgreementAlgorithm="ECDH", PublicKey=peer,
                                Recipient={"KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256",
                                           "AttestationDocument": b"attestation"})
    assert code == "UnsupportedOperationException" and "Recipient" in message
    assert error_of(kms.derive_shared_secret, KeyId=arn, KeyAgreementAlgorithm="ECDH", PublicKey=peer, DryRun=True) == (
        "DryRunOperationException", "The request would have succeeded, but the DryRun option is set.", 400)
    assert error_of(kms.derive_shared_secret, KeyId=arn, KeyAgreementAlgorithm="ECDH", PublicKey=peer,
                    GrantTokens=["forged"])[0] == "InvalidGrantTokenException"
    kms.disable_key(KeyId=arn)
    assert error_of(kms.derive_shared_secret, KeyId=arn, KeyAgreementAlgorithm="ECDH", PublicKey=peer) == (
        "DisabledException", f"{arn} is disabled.", 400)


# -- Encapsulate / Decapsulate ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "public_type", "ciphertext_size"), [
    ("ML_KEM_768", mlkem.MLKEM768PublicKey, 1088), ("ML_KEM_1024", mlkem.MLKEM1024PublicKey, 1568)])
def test_ml_kem_round_trips(kms: Any, spec: str, public_type: type, ciphertext_size: int) -> None:
    arn = new_key(kms, spec, "ENCAPSULATE_DECAPSULATE")
    made = kms.encapsulate(KeyId=arn, EncapsulationAlgorithm="ML_KEM")
    assert made["KeyId"] == arn and made["EncapsulationAlgorithm"] == "ML_KEM"
    assert len(made["SharedSecret"]) == 32 and len(made["SharedSecretCiphertextBlob"]) == ciphertext_size
    recovered = kms.decapsulate(KeyId=arn, SharedSecretCiphertextBlob=made["SharedSecretCiphertextBlob"],
                                EncapsulationAlgorithm="ML_KEM")
    assert recovered["KeyId"] == arn and recovered["EncapsulationAlgorithm"] == "ML_KEM"
    assert recovered["SharedSecret"] == made["SharedSecret"]
    assert kms.encapsulate(KeyId=arn, EncapsulationAlgorithm="ML_KEM")["SharedSecret"] != made["SharedSecret"]
    # A party holding only the public key encapsulates offline; KMS recovers the same secret.
    public = load_der_public_key(kms.get_public_key(KeyId=arn)["PublicKey"])
    assert isinstance(public, public_type)
    secret, ciphertext = public.encapsulate()
    assert kms.decapsulate(KeyId=arn, SharedSecretCiphertextBlob=ciphertext,
                           EncapsulationAlgorithm="ML_KEM")["SharedSecret"] == secret
    assert kms.get_key_last_usage(KeyId=arn)["KeyLastUsage"]["Operation"] == "Decapsulate"


def test_decapsulate_rejections(kms: Any) -> None:
    arn, other = (new_key(kms, "ML_KEM_768", "ENCAPSULATE_DECAPSULATE") for _ in range(2))
    made = kms.encapsulate(KeyId=arn, EncapsulationAlgorithm="ML_KEM")
    blob = made["SharedSecretCiphertextBlob"]
    tampered = bytes([blob[0] ^ 1]) + blob[1:]
    implicit = kms.decapsulate(KeyId=arn, SharedSecretCiphertextBlob=tampered, EncapsulationAlgorithm="ML_KEM")
    assert len(implicit["SharedSecret"]) == 32 and implicit["SharedSecret"] != made["SharedSecret"]
    foreign = kms.decapsulate(KeyId=other, SharedSecretCiphertextBlob=blob, EncapsulationAlgorithm="ML_KEM")
    assert len(foreign["SharedSecret"]) == 32 and foreign["SharedSecret"] != made["SharedSecret"]
    with pytest.raises(ClientError) as caught:
        kms.decapsulate(KeyId=arn, SharedSecretCiphertextBlob=blob[:-1], EncapsulationAlgorithm="ML_KEM")
    assert caught.value.response["Error"]["Code"] == "InvalidCiphertextException"
    assert "message" not in caught.value.response
    big = new_key(kms, "ML_KEM_1024", "ENCAPSULATE_DECAPSULATE")
    assert error_of(kms.decapsulate, KeyId=big, SharedSecretCiphertextBlob=blob,
                    EncapsulationAlgorithm="ML_KEM")[0] == "InvalidCiphertextException"


def test_ml_kem_key_checks(kms: Any) -> None:
    agreement = new_key(kms, "ECC_NIST_P256", "KEY_AGREEMENT")
    assert error_of(kms.encapsulate, KeyId=agreement, EncapsulationAlgorithm="ML_KEM") == (
        "InvalidKeyUsageException", f"{agreement} key usage is KEY_AGREEMENT which is not valid for Encapsulate.", 400)
    symmetric = kms.create_key()["KeyMetadata"]["Arn"]
    assert error_of(kms.decapsulate, KeyId=symmetric, SharedSecretCiphertextBlob=b"c" * 1088,
                    EncapsulationAlgorithm="ML_KEM")[:2] == (
        "InvalidKeyUsageException", f"{symmetric} key usage is ENCRYPT_DECRYPT which is not valid for Decapsulate.")
    arn = new_key(kms, "ML_KEM_768", "ENCAPSULATE_DECAPSULATE")
    assert error_of(kms.derive_shared_secret, KeyId=arn, KeyAgreementAlgorithm="ECDH", PublicKey=b"k")[:2] == (
        "InvalidKeyUsageException", f"{arn} key usage is ENCAPSULATE_DECAPSULATE which is not valid for DeriveSharedSecret.")
    for call, extra in [(kms.encapsulate, {}), (kms.decapsulate, {"SharedSecretCiphertextBlob": b"c" * 1088})]:
        assert error_of(call, KeyId=arn, EncapsulationAlgorithm="ML_KEM", DryRun=True, **extra)[0] == (
            "DryRunOperationException")
        assert error_of(call, KeyId=arn, EncapsulationAlgorithm="ML_KEM", GrantTokens=["forged"], **extra)[0] == (
            "InvalidGrantTokenException")
    assert "KeyLastUsage" not in kms.get_key_last_usage(KeyId=arn)
    kms.schedule_key_deletion(KeyId=arn, PendingWindowInDays=7)
    assert error_of(kms.encapsulate, KeyId=arn, EncapsulationAlgorithm="ML_KEM") == (
        "KMSInvalidStateException", f"{arn} is pending deletion.", 400)
