"""Sign, Verify and GetPublicKey through boto3, every signature checked offline with pyca/cryptography against the
public key GetPublicKey returns (spec/kms-real-responses.md 1.9, 1.10, 2.2, 3.2, 3.12), and the Ed25519ph code
against RFC 8032."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import (
    ec,
    ed25519,
    mldsa,
    padding,
    rsa,
    utils,
)
from cryptography.hazmat.primitives.serialization import load_der_public_key

from kms.crypto import ed25519ph
from tests.conftest import ACCOUNT, REGION
from tests.kms_helpers import error_of

MESSAGE = b"the message KMS signs"
HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
RSA_ALGORITHMS = [f"RSASSA_{kind}_SHA_{bits}" for kind in ("PSS", "PKCS1_V1_5") for bits in ("256", "384", "512")]


def body_of_error(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value.response


def new_key(kms: Any, spec: str, usage: str = "SIGN_VERIFY") -> str:
    return kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]["Arn"]


def public_key_of(kms: Any, arn: str) -> Any:
    return load_der_public_key(kms.get_public_key(KeyId=arn)["PublicKey"])


def hash_of(algorithm: str) -> type[hashes.HashAlgorithm]:
    return HASHES[algorithm.rsplit("_", 1)[1]]


def digest(algorithm: str, message: bytes) -> bytes:
    h = hashes.Hash(hash_of(algorithm)())
    h.update(message)
    return h.finalize()


def sign_and_check(kms: Any, arn: str, algorithm: str, message: bytes, message_type: str) -> bytes:
    result = kms.sign(KeyId=arn, Message=message, SigningAlgorithm=algorithm, MessageType=message_type)
    assert result["KeyId"] == arn and result["SigningAlgorithm"] == algorithm
    verified = kms.verify(KeyId=arn, Message=message, MessageType=message_type, Signature=result["Signature"],
                          SigningAlgorithm=algorithm)
    assert verified["SignatureValid"] is True and verified["KeyId"] == arn
    assert verified["SigningAlgorithm"] == algorithm
    return result["Signature"]


# -- RSA and ECDSA ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["RSA_2048", "RSA_3072", "RSA_4096"])
def test_rsa_signatures_verify_offline(kms: Any, spec: str) -> None:
    arn = new_key(kms, spec)
    public = public_key_of(kms, arn)
    assert isinstance(public, rsa.RSAPublicKey) and public.key_size == int(spec.split("_")[1])
    for algorithm in RSA_ALGORITHMS:
        hash_type = hash_of(algorithm)
        if "PSS" in algorithm:  # AWS uses a salt as long as the hash
            pad: padding.AsymmetricPadding = padding.PSS(padding.MGF1(hash_type()), salt_length=hash_type.digest_size)
        else:
            pad = padding.PKCS1v15()
        raw = sign_and_check(kms, arn, algorithm, MESSAGE, "RAW")
        assert len(raw) == public.key_size // 8
        public.verify(raw, MESSAGE, pad, hash_type())
        prehashed = sign_and_check(kms, arn, algorithm, digest(algorithm, MESSAGE), "DIGEST")
        public.verify(prehashed, MESSAGE, pad, hash_type())
        public.verify(prehashed, digest(algorithm, MESSAGE), pad, utils.Prehashed(hash_type()))
        if "PSS" in algorithm:
            wrong_salt = padding.PSS(padding.MGF1(hash_type()), salt_length=hash_type.digest_size - 1)
            with pytest.raises(InvalidSignature):
                public.verify(raw, MESSAGE, wrong_salt, hash_type())


@pytest.mark.parametrize(("spec", "curve", "algorithm"), [
    ("ECC_NIST_P256", ec.SECP256R1, "ECDSA_SHA_256"),
    ("ECC_NIST_P384", ec.SECP384R1, "ECDSA_SHA_384"),
    ("ECC_NIST_P521", ec.SECP521R1, "ECDSA_SHA_512"),
    ("ECC_SECG_P256K1", ec.SECP256K1, "ECDSA_SHA_256"),
])
def test_ecdsa_signatures_are_der_and_verify_offline(kms: Any, spec: str, curve: type, algorithm: str) -> None:
    arn = new_key(kms, spec)
    public = public_key_of(kms, arn)
    assert isinstance(public, ec.EllipticCurvePublicKey) and isinstance(public.curve, curve)
    hash_type = hash_of(algorithm)
    raw = sign_and_check(kms, arn, algorithm, MESSAGE, "RAW")
    r, s = utils.decode_dss_signature(raw)  # DER, as AWS returns it
    assert utils.encode_dss_signature(r, s) == raw
    public.verify(raw, MESSAGE, ec.ECDSA(hash_type()))
    prehashed = sign_and_check(kms, arn, algorithm, digest(algorithm, MESSAGE), "DIGEST")
    public.verify(prehashed, MESSAGE, ec.ECDSA(hash_type()))
    with pytest.raises(InvalidSignature):
        public.verify(raw, MESSAGE + b"!", ec.ECDSA(hash_type()))
    assert kms.get_key_last_usage(KeyId=arn)["KeyLastUsage"]["Operation"] == "Verify"


def test_algorithm_must_suit_the_key_spec(kms: Any) -> None:
    p256 = new_key(kms, "ECC_NIST_P256")
    assert error_of(kms.sign, KeyId=p256, Message=MESSAGE, SigningAlgorithm="ECDSA_SHA_384") == (
        "InvalidKeyUsageException", "Algorithm ECDSA_SHA_384 is incompatible with key spec ECC_NIST_P256.", 400)
    assert error_of(kms.verify, KeyId=p256, Message=MESSAGE, Signature=b"x" * 64,
                    SigningAlgorithm="RSASSA_PSS_SHA_256") == (
        "InvalidKeyUsageException", "Algorithm RSASSA_PSS_SHA_256 is incompatible with key spec ECC_NIST_P256.", 400)
    p521 = new_key(kms, "ECC_NIST_P521")
    assert error_of(kms.sign, KeyId=p521, Message=MESSAGE, SigningAlgorithm="ECDSA_SHA_256")[1] == (
        "Algorithm ECDSA_SHA_256 is incompatible with key spec ECC_NIST_P521.")
    k1 = new_key(kms, "ECC_SECG_P256K1")
    assert error_of(kms.sign, KeyId=k1, Message=MESSAGE, SigningAlgorithm="ML_DSA_SHAKE_256")[0] == (
        "InvalidKeyUsageException")


def test_digest_must_have_the_hash_length(kms: Any) -> None:
    rsa_key, p256 = new_key(kms, "RSA_2048"), new_key(kms, "ECC_NIST_P256")
    for arn, algorithm in [(rsa_key, "RSASSA_PSS_SHA_256"), (rsa_key, "RSASSA_PSS_SHA_384"),
                           (rsa_key, "RSASSA_PKCS1_V1_5_SHA_512"), (p256, "ECDSA_SHA_256")]:
        assert error_of(kms.sign, KeyId=arn, Message=b"x" * 28, MessageType="DIGEST", SigningAlgorithm=algorithm) == (
            "ValidationException", f"Digest is invalid length for algorithm {algorithm}.", 400)
    assert error_of(kms.verify, KeyId=p256, Message=b"x" * 28, MessageType="DIGEST", Signature=b"s" * 70,
                    SigningAlgorithm="ECDSA_SHA_256")[:2] == (
        "ValidationException", "Digest is invalid length for algorithm ECDSA_SHA_256.")
    code, message, _ = error_of(kms.sign, KeyId=p256, Message=b"x" * 64, MessageType="EXTERNAL_MU",
                                SigningAlgorithm="ECDSA_SHA_256")
    assert (code, message) == ("ValidationException", "Message type EXTERNAL_MU is incompatible with key spec ECC_NIST_P256.")
    code, message, _ = error_of(kms.sign, KeyId=p256, Message=b"x" * 4097, SigningAlgorithm="ECDSA_SHA_256")
    assert code == "ValidationException" and "length less than or equal to 4096" in message


def test_failed_verification_is_an_error_without_message(kms: Any) -> None:
    arn, other = new_key(kms, "ECC_NIST_P256"), new_key(kms, "ECC_NIST_P256")
    signature = kms.sign(KeyId=arn, Message=MESSAGE, SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    foreign = kms.sign(KeyId=other, Message=MESSAGE, SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    for message, candidate in [(b"bad", signature), (MESSAGE, foreign), (MESSAGE, signature[:-1]), (MESSAGE, b"junk")]:
        response = body_of_error(kms.verify, KeyId=arn, Message=message, Signature=candidate,
                                 SigningAlgorithm="ECDSA_SHA_256")
        assert response["Error"]["Code"] == "KMSInvalidSignatureException"
        assert response["Error"]["Message"] == "" and "message" not in response
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    rsa_key = new_key(kms, "RSA_2048")
    pss = kms.sign(KeyId=rsa_key, Message=MESSAGE, SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
    assert error_of(kms.verify, KeyId=rsa_key, Message=MESSAGE, Signature=pss,
                    SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256")[0] == "KMSInvalidSignatureException"
    assert error_of(kms.verify, KeyId=rsa_key, Message=MESSAGE, Signature=pss, SigningAlgorithm="RSASSA_PSS_SHA_384")[
        0] == "KMSInvalidSignatureException"


def test_key_usage_is_checked_before_the_algorithm(kms: Any) -> None:
    hmac_key = new_key(kms, "HMAC_224", "GENERATE_VERIFY_MAC")
    assert error_of(kms.sign, KeyId=hmac_key, Message=MESSAGE, SigningAlgorithm="RSASSA_PSS_SHA_256") == (
        "InvalidKeyUsageException", f"{hmac_key} key usage is GENERATE_VERIFY_MAC which is not valid for Sign.", 400)
    symmetric = kms.create_key()["KeyMetadata"]["Arn"]
    assert error_of(kms.verify, KeyId=symmetric, Message=MESSAGE, Signature=b"s", SigningAlgorithm="ECDSA_SHA_256") == (
        "InvalidKeyUsageException", f"{symmetric} key usage is ENCRYPT_DECRYPT which is not valid for Verify.", 400)
    rsa_encrypt = new_key(kms, "RSA_2048", "ENCRYPT_DECRYPT")
    assert error_of(kms.sign, KeyId=rsa_encrypt, Message=MESSAGE, SigningAlgorithm="RSASSA_PSS_SHA_256")[:2] == (
        "InvalidKeyUsageException", f"{rsa_encrypt} key usage is ENCRYPT_DECRYPT which is not valid for Sign.")


def test_key_state_identifiers_dry_run_and_grant_tokens(kms: Any) -> None:
    meta = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    arn, key_id = meta["Arn"], meta["KeyId"]
    assert kms.sign(KeyId=key_id, Message=MESSAGE, SigningAlgorithm="ECDSA_SHA_256")["KeyId"] == arn
    assert error_of(kms.sign, KeyId="key_id", Message=MESSAGE, SigningAlgorithm="ECDSA_SHA_256") == (
        "NotFoundException", "Invalid keyId 'key_id'", 400)
    assert error_of(kms.sign, KeyId=arn, Message=MESSAGE, SigningAlgorithm="ECDSA_SHA_256", DryRun=True) == (
        "DryRunOperationException", "The request would have succeeded, but the DryRun option is set.", 400)
    assert error_of(kms.sign, KeyId=arn, Message=MESSAGE, SigningAlgorithm="ECDSA_SHA_512", DryRun=True)[0] == (
        "InvalidKeyUsageException")
    assert error_of(kms.verify, KeyId=arn, Message=MESSAGE, Signature=b"s", SigningAlgorithm="ECDSA_SHA_256",
                    DryRun=True)[0] == "DryRunOperationException"
    assert error_of(kms.sign, KeyId=arn, Message=MESSAGE, SigningAlgorithm="ECDSA_SHA_256",
                    GrantTokens=["not-a-grant-token"])[0] == "InvalidGrantTokenException"
    signature = kms.sign(KeyId=arn, Message=MESSAGE, SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    kms.disable_key(KeyId=arn)
    assert error_of(kms.sign, KeyId=arn, Message=MESSAGE, SigningAlgorithm="ECDSA_SHA_256") == (
        "DisabledException", f"{arn} is disabled.", 400)
    assert error_of(kms.verify, KeyId=arn, Message=MESSAGE, Signature=signature, SigningAlgorithm="ECDSA_SHA_256")[
        :2] == ("DisabledException", f"{arn} is disabled.")
    assert error_of(kms.get_public_key, KeyId=arn)[:2] == ("DisabledException", f"{arn} is disabled.")
    kms.enable_key(KeyId=arn)
    kms.schedule_key_deletion(KeyId=arn, PendingWindowInDays=7)
    assert error_of(kms.sign, KeyId=arn, Message=MESSAGE, SigningAlgorithm="ECDSA_SHA_256") == (
        "KMSInvalidStateException", f"{arn} is pending deletion.", 400)


# -- Ed25519 and Ed25519ph -------------------------------------------------------------------------------------


def test_ed25519ph_matches_rfc8032_and_plain_ed25519_matches_pyca() -> None:
    # RFC 8032 section 7.3, test 1 of Ed25519ph ("abc").
    seed = bytes.fromhex("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42")
    public = bytes.fromhex("ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf")
    expected = bytes.fromhex("98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41"
                             "31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406")
    assert ed25519ph.public_key(seed) == public
    assert ed25519ph.sign(seed, b"abc") == expected
    assert ed25519ph.verify(public, b"abc", expected)
    assert not ed25519ph.verify(public, b"abd", expected)
    assert not ed25519ph.verify(public, b"abc", expected[:32] + bytes(32))
    for _ in range(4):
        seed = os.urandom(32)
        reference = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
        message = os.urandom(40)
        signature = ed25519ph.sign(seed, message, prehash=False)
        assert signature == reference.sign(message)
        assert ed25519ph.public_key(seed) == reference.public_key().public_bytes_raw()
        assert ed25519ph.verify(ed25519ph.public_key(seed), message, signature, prehash=False)
        # Ed25519ph and Ed25519 signatures are domain-separated.
        assert not ed25519ph.verify(ed25519ph.public_key(seed), message, signature, prehash=True)


def test_ed25519_signatures(kms: Any) -> None:
    arn = new_key(kms, "ECC_NIST_EDWARDS25519")
    response = kms.get_public_key(KeyId=arn)
    assert len(response["PublicKey"]) == 44 and response["SigningAlgorithms"] == ["ED25519_SHA_512", "ED25519_PH_SHA_512"]
    assert "CustomerMasterKeySpec" not in response
    public = load_der_public_key(response["PublicKey"])
    assert isinstance(public, ed25519.Ed25519PublicKey)
    raw = sign_and_check(kms, arn, "ED25519_SHA_512", MESSAGE, "RAW")
    public.verify(raw, MESSAGE)
    sha512 = hashlib.sha512(MESSAGE).digest()
    prehashed = sign_and_check(kms, arn, "ED25519_PH_SHA_512", sha512, "DIGEST")
    assert len(prehashed) == 64 and prehashed != raw
    # KMS still applies Ed25519ph's own SHA-512 to the digest it is given (the input is hashed twice).
    assert ed25519ph.verify(public.public_bytes_raw(), sha512, prehashed)
    assert not ed25519ph.verify(public.public_bytes_raw(), MESSAGE, prehashed)
    with pytest.raises(InvalidSignature):
        public.verify(prehashed, sha512)
    assert error_of(kms.verify, KeyId=arn, Message=hashlib.sha512(b"other").digest(), MessageType="DIGEST",
                    Signature=prehashed, SigningAlgorithm="ED25519_PH_SHA_512")[0] == "KMSInvalidSignatureException"


def test_ed25519_message_types(kms: Any) -> None:
    arn = new_key(kms, "ECC_NIST_EDWARDS25519")
    sha512 = hashlib.sha512(MESSAGE).digest()
    assert error_of(kms.sign, KeyId=arn, Message=sha512, MessageType="DIGEST", SigningAlgorithm="ED25519_SHA_512") == (
        "ValidationException", "Message type DIGEST is incompatible with algorithm ED25519_SHA_512.", 400)
    assert error_of(kms.sign, KeyId=arn, Message=MESSAGE, SigningAlgorithm="ED25519_PH_SHA_512")[:2] == (
        "ValidationException", "Message type RAW is incompatible with algorithm ED25519_PH_SHA_512.")
    assert error_of(kms.verify, KeyId=arn, Message=b"short", MessageType="DIGEST", Signature=b"s" * 64,
                    SigningAlgorithm="ED25519_PH_SHA_512")[:2] == (
        "ValidationException", "Digest is invalid length for algorithm ED25519_PH_SHA_512.")
    assert error_of(kms.sign, KeyId=arn, Message=MESSAGE, SigningAlgorithm="ECDSA_SHA_512")[:2] == (
        "InvalidKeyUsageException", "Algorithm ECDSA_SHA_512 is incompatible with key spec ECC_NIST_EDWARDS25519.")


# -- ML-DSA ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "key_type", "public_size", "signature_size"), [
    ("ML_DSA_44", mldsa.MLDSA44PublicKey, 1334, 2420),
    ("ML_DSA_65", mldsa.MLDSA65PublicKey, 1974, 3309),
    ("ML_DSA_87", mldsa.MLDSA87PublicKey, 2614, 4627),
])
def test_ml_dsa_raw_and_external_mu(kms: Any, spec: str, key_type: type, public_size: int, signature_size: int) -> None:
    arn = new_key(kms, spec)
    response = kms.get_public_key(KeyId=arn)
    assert len(response["PublicKey"]) == public_size and response["KeySpec"] == spec
    assert response["SigningAlgorithms"] == ["ML_DSA_SHAKE_256"] and "CustomerMasterKeySpec" not in response
    public = load_der_public_key(response["PublicKey"])
    assert isinstance(public, key_type)
    raw = sign_and_check(kms, arn, "ML_DSA_SHAKE_256", MESSAGE, "RAW")
    assert len(raw) == signature_size
    public.verify(raw, MESSAGE)
    # EXTERNAL_MU: the caller computes FIPS 204's 64-byte mu over the public key and message (empty context).
    hasher = mldsa.MLDSAMuHasher(public)
    hasher.update(MESSAGE)
    mu = hasher.finalize()
    over_mu = sign_and_check(kms, arn, "ML_DSA_SHAKE_256", mu, "EXTERNAL_MU")
    public.verify(over_mu, MESSAGE)
    public.verify_mu(over_mu, mu)
    assert error_of(kms.verify, KeyId=arn, Message=b"other", Signature=raw, SigningAlgorithm="ML_DSA_SHAKE_256")[
        0] == "KMSInvalidSignatureException"


def test_ml_dsa_message_types(kms: Any) -> None:
    arn = new_key(kms, "ML_DSA_44")
    assert error_of(kms.sign, KeyId=arn, Message=b"d" * 32, MessageType="DIGEST", SigningAlgorithm="ML_DSA_SHAKE_256") == (
        "ValidationException", "Message type DIGEST is incompatible with key spec ML_DSA_44.", 400)
    assert error_of(kms.sign, KeyId=arn, Message=b"m" * 32, MessageType="EXTERNAL_MU",
                    SigningAlgorithm="ML_DSA_SHAKE_256")[:2] == (
        "ValidationException", "External Mu is invalid length for algorithm ML_DSA_SHAKE_256.")
    assert error_of(kms.sign, KeyId=arn, Message=MESSAGE, SigningAlgorithm="ECDSA_SHA_256")[:2] == (
        "InvalidKeyUsageException", "Algorithm ECDSA_SHA_256 is incompatible with key spec ML_DSA_44.")


# -- GetPublicKey ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "usage", "member", "algorithms", "legacy"), [
    ("RSA_2048", "ENCRYPT_DECRYPT", "EncryptionAlgorithms", ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"], True),
    ("RSA_3072", "SIGN_VERIFY", "SigningAlgorithms", ["RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384",
                                                      "RSASSA_PKCS1_V1_5_SHA_512", "RSASSA_PSS_SHA_256",
                                                      "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512"], True),
    ("ECC_NIST_P384", "KEY_AGREEMENT", "KeyAgreementAlgorithms", ["ECDH"], True),
    ("ECC_SECG_P256K1", "SIGN_VERIFY", "SigningAlgorithms", ["ECDSA_SHA_256"], True),
    ("ML_KEM_1024", "ENCAPSULATE_DECAPSULATE", "EncapsulationAlgorithms", ["ML_KEM"], False),
])
def test_get_public_key_members(kms: Any, spec: str, usage: str, member: str, algorithms: list[str],
                                legacy: bool) -> None:
    arn = new_key(kms, spec, usage)
    response = kms.get_public_key(KeyId=arn.split("/")[-1])
    assert response["KeyId"] == arn and response["KeySpec"] == spec and response["KeyUsage"] == usage
    assert response[member] == algorithms
    members = {"EncryptionAlgorithms", "SigningAlgorithms", "KeyAgreementAlgorithms", "EncapsulationAlgorithms"}
    assert not (members - {member}) & set(response)
    assert response.get("CustomerMasterKeySpec") == (spec if legacy else None)
    assert load_der_public_key(response["PublicKey"]) is not None
    assert "KeyLastUsage" not in kms.get_key_last_usage(KeyId=arn)  # not a cryptographic operation


def test_get_public_key_of_symmetric_keys_is_unsupported(kms: Any) -> None:
    symmetric = kms.create_key()["KeyMetadata"]["Arn"]
    hmac_key = new_key(kms, "HMAC_256", "GENERATE_VERIFY_MAC")
    for arn, spec in [(symmetric, "SYMMETRIC_DEFAULT"), (hmac_key, "HMAC_256")]:
        assert error_of(kms.get_public_key, KeyId=arn) == (
            "UnsupportedOperationException", f"{arn} key spec is {spec} which is not valid for GetPublicKey.", 400)
    missing = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/134f2428-cec1-4b25-a1ae-9048164dba47"
    assert error_of(kms.get_public_key, KeyId=missing)[:2] == ("NotFoundException", f"Key '{missing}' does not exist")
