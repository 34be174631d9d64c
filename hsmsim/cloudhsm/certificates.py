"""Cluster CSR, HSM certificates and the InitializeCluster certificate checks (pure code, no I/O).

The keys of simulated HSMs live inside PKCS#11 tokens, so certificates and CSRs are assembled as
``asn1crypto`` TBS structures and signed through an abstract :class:`Signer`; ``cryptography`` then
loads the result for checking and PEM output.

AWS references:
* https://docs.aws.amazon.com/cloudhsm/latest/userguide/initialize-cluster.html
  (sign the cluster CSR with your own self-signed root; InitializeCluster(SignedCert, TrustAnchor))
* https://docs.aws.amazon.com/cloudhsm/latest/userguide/verify-hsm-identity.html
  (CSR subject, HSM / AWS hardware / manufacturer hardware certificate chains)
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Protocol

from asn1crypto import algos as a_algos
from asn1crypto import core as a_core
from asn1crypto import csr as a_csr
from asn1crypto import keys as a_keys
from asn1crypto import x509 as a_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.x509.oid import NameOID

__all__ = [
    "CertificateCheckError", "Signer", "SoftwareSigner", "build_csr", "check_cluster_certificate",
    "csr_subject", "issue_certificate", "to_pem",
]

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


class Signer(Protocol):
    """Something holding a private key. RSA: RSASSA-PKCS1-v1_5/SHA-256; EC: DER ECDSA/SHA-256."""

    @property
    def public_key(self) -> PublicKey: ...

    def sign(self, data: bytes) -> bytes: ...


class SoftwareSigner:
    """:class:`Signer` backed by a ``cryptography`` RSA or EC private key (tests and tools)."""

    def __init__(self, private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        if not isinstance(private_key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
            raise TypeError("SoftwareSigner needs an RSA or EC private key")
        self._key = private_key

    @property
    def public_key(self) -> PublicKey:
        return self._key.public_key()

    def sign(self, data: bytes) -> bytes:
        if isinstance(self._key, rsa.RSAPrivateKey):
            return self._key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        return self._key.sign(data, ec.ECDSA(hashes.SHA256()))


# ---------------------------------------------------------------------------------------------
# Building (asn1crypto structures, signed by a Signer)
# ---------------------------------------------------------------------------------------------

def _signature_algorithm(public_key: PublicKey) -> a_algos.SignedDigestAlgorithm:
    if isinstance(public_key, rsa.RSAPublicKey):  # RFC 4055: parameters MUST be NULL
        return a_algos.SignedDigestAlgorithm({"algorithm": "sha256_rsa", "parameters": a_core.Null()})
    if isinstance(public_key, ec.EllipticCurvePublicKey):  # RFC 5758: parameters MUST be absent
        return a_algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"})
    raise TypeError(f"unsupported signer key type: {type(public_key).__name__}")


def _spki(public_key: PublicKey) -> a_keys.PublicKeyInfo:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return a_keys.PublicKeyInfo.load(der)


def _name(name: x509.Name) -> a_x509.Name:
    return a_x509.Name.load(name.public_bytes())


def _time(value: datetime) -> a_x509.Time:
    """RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; naive datetimes are UTC."""
    value = (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
    value = value.replace(microsecond=0)
    return a_x509.Time({"utc_time" if value.year < 2050 else "general_time": value})


def build_csr(signer: Signer, subject: x509.Name) -> x509.CertificateSigningRequest:
    """PKCS#10 CSR for ``signer``'s key, signed with SHA-256 (the cluster CSR of the first HSM)."""
    info = a_csr.CertificationRequestInfo({
        "version": "v1",
        "subject": _name(subject),
        "subject_pk_info": _spki(signer.public_key),
        "attributes": [],
    })
    request = a_csr.CertificationRequest({
        "certification_request_info": info,
        "signature_algorithm": _signature_algorithm(signer.public_key),
        "signature": signer.sign(info.dump()),
    })
    return x509.load_der_x509_csr(request.dump())


def _key_id(public_key: PublicKey) -> bytes:
    return x509.SubjectKeyIdentifier.from_public_key(public_key).digest  # RFC 5280 method (1)


def issue_certificate(*, issuer: Signer, issuer_name: x509.Name, subject_name: x509.Name,
                      subject_public_key: PublicKey, serial_number: int, not_before: datetime,
                      not_after: datetime, ca: bool, path_length: int | None = None) -> x509.Certificate:
    """X.509 v3 certificate signed by ``issuer`` (self-signed when it certifies its own key).

    Extensions: BasicConstraints (critical), SubjectKeyIdentifier, AuthorityKeyIdentifier and a critical
    KeyUsage (CA: keyCertSign, cRLSign, digitalSignature; end entity: digitalSignature, plus
    keyEncipherment for RSA keys).
    """
    if not 0 < serial_number < 2**159:
        raise ValueError("serial_number must be a positive integer of at most 20 octets")
    if path_length is not None and (not ca or path_length < 0):
        raise ValueError("path_length needs ca=True and must be >= 0")
    if not_after < not_before:
        raise ValueError("not_after is before not_before")
    constraints: dict = {"ca": ca}
    if path_length is not None:
        constraints["path_len_constraint"] = path_length
    if ca:
        usage = {"key_cert_sign", "crl_sign", "digital_signature"}
    elif isinstance(subject_public_key, rsa.RSAPublicKey):
        usage = {"digital_signature", "key_encipherment"}
    else:
        usage = {"digital_signature"}
    extensions = [
        {"extn_id": "basic_constraints", "critical": True, "extn_value": constraints},
        {"extn_id": "key_identifier", "extn_value": _key_id(subject_public_key)},
        {"extn_id": "authority_key_identifier",
         "extn_value": {"key_identifier": _key_id(issuer.public_key)}},
        {"extn_id": "key_usage", "critical": True, "extn_value": usage},
    ]
    algorithm = _signature_algorithm(issuer.public_key)
    tbs = a_x509.TbsCertificate({
        "version": "v3",
        "serial_number": serial_number,
        "signature": algorithm,
        "issuer": _name(issuer_name),
        "validity": {"not_before": _time(not_before), "not_after": _time(not_after)},
        "subject": _name(subject_name),
        "subject_public_key_info": _spki(subject_public_key),
        "extensions": extensions,
    })
    certificate = a_x509.Certificate({
        "tbs_certificate": tbs,
        "signature_algorithm": algorithm,
        "signature_value": issuer.sign(tbs.dump()),
    })
    return x509.load_der_x509_certificate(certificate.dump())


def csr_subject(hsm_id: str, partition: int = 0, *, fips: bool = True) -> x509.Name:
    """Cluster CSR subject as documented on the verify-hsm-identity page:
    ``/C=US/ST=CA/O=Cavium/OU=N3FIPS/L=SanJose/CN=HSM:<HSM identifier>:PARTN:<partition number>``
    for FIPS mode (``OU=N3`` for non-FIPS mode)."""
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "CA"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Cavium"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "N3FIPS" if fips else "N3"),
        x509.NameAttribute(NameOID.LOCALITY_NAME, "SanJose"),
        x509.NameAttribute(NameOID.COMMON_NAME, f"HSM:{hsm_id}:PARTN:{partition}"),
    ])


def to_pem(obj: x509.Certificate | x509.CertificateSigningRequest) -> str:
    return obj.public_bytes(serialization.Encoding.PEM).decode("ascii")


# ---------------------------------------------------------------------------------------------
# InitializeCluster checks
# ---------------------------------------------------------------------------------------------

class CertificateCheckError(ValueError):
    """A SignedCert / TrustAnchor rule is violated; ``str(exc)`` is fit for an API error message."""


def _load_single_certificate(pem: str, field: str) -> x509.Certificate:
    invalid = CertificateCheckError(f"{field} is not a valid PEM-encoded X.509 certificate.")
    try:
        certs = x509.load_pem_x509_certificates(pem.strip().encode("ascii"))
        for cert in certs:  # parsing is partly lazy: surface malformed parts now
            cert.extensions, cert.public_key(), cert.not_valid_after_utc  # noqa: B018
    except (ValueError, TypeError, UnicodeError, UnsupportedAlgorithm, x509.InvalidVersion):
        raise invalid from None
    if len(certs) != 1:
        raise CertificateCheckError(f"{field} must contain exactly one PEM-encoded X.509 certificate, "
                                    f"found {len(certs)}.")
    return certs[0]


def _signature_verifies(cert: x509.Certificate, key) -> bool:
    """Does ``cert``'s signature verify with ``key``? RSA (PKCS#1 v1.5 or PSS), ECDSA, EdDSA; any hash.

    ``Certificate.verify_directly_issued_by`` would also compare names byte for byte, which we check
    separately to give specific messages, so the verification primitive is called directly."""
    try:
        params = cert.signature_algorithm_parameters
        data, sig = cert.tbs_certificate_bytes, cert.signature
        if isinstance(params, (padding.PKCS1v15, padding.PSS)) and isinstance(key, rsa.RSAPublicKey):
            key.verify(sig, data, params, cert.signature_hash_algorithm)
        elif isinstance(params, ec.ECDSA) and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(sig, data, params)
        elif params is None and isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            key.verify(sig, data)
        else:
            return False  # algorithm family does not match the key, or is unsupported
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def _basic_constraints(cert: x509.Certificate) -> x509.BasicConstraints | None:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return None


def _check_trust_anchor(anchor: x509.Certificate) -> None:
    if anchor.issuer != anchor.subject:
        raise CertificateCheckError(
            f"TrustAnchor is not self-signed: its issuer ({anchor.issuer.rfc4514_string()}) differs from "
            f"its subject ({anchor.subject.rfc4514_string()}).")
    if not _signature_verifies(anchor, anchor.public_key()):
        raise CertificateCheckError("TrustAnchor is not self-signed: its signature does not verify with its "
                                    "own public key.")
    constraints = _basic_constraints(anchor)
    if constraints is None and len(anchor.extensions) > 0:
        raise CertificateCheckError("TrustAnchor has X.509v3 extensions but no BasicConstraints extension.")
    if constraints is not None and not constraints.ca:
        raise CertificateCheckError("TrustAnchor is not a CA certificate: BasicConstraints has CA:FALSE.")
    try:
        usage = anchor.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is not None and not usage.key_cert_sign:
        raise CertificateCheckError("TrustAnchor has conflicting extensions: BasicConstraints says CA but "
                                    "KeyUsage does not allow keyCertSign.")


def _check_validity(cert: x509.Certificate, field: str, now: datetime) -> None:
    now = now if now.tzinfo else now.replace(tzinfo=timezone.utc)
    if now < cert.not_valid_before_utc:
        raise CertificateCheckError(f"{field} is not yet valid: notBefore is "
                                    f"{cert.not_valid_before_utc.isoformat()}.")
    if now > cert.not_valid_after_utc:
        raise CertificateCheckError(f"{field} has expired: notAfter is {cert.not_valid_after_utc.isoformat()}.")


def _spki_der(key) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def check_cluster_certificate(csr_pem: str, signed_cert_pem: str, trust_anchor_pem: str, *,
                              now: datetime) -> tuple[x509.Certificate, x509.Certificate]:
    """Apply the InitializeCluster rules (initialize-cluster.html) and return ``(signed_cert, trust_anchor)``.

    ``now`` is the simulated current time: both certificates must satisfy notBefore <= now <= notAfter.
    Raises :class:`CertificateCheckError` with a specific message on the first violated rule.
    """
    try:
        csr = x509.load_pem_x509_csr(csr_pem.strip().encode("ascii"))
        csr_key = csr.public_key()
    except (ValueError, TypeError, UnicodeError, UnsupportedAlgorithm):
        raise CertificateCheckError("The cluster CSR is not a valid PEM-encoded certificate signing request.") \
            from None
    signed = _load_single_certificate(signed_cert_pem, "SignedCert")
    anchor = _load_single_certificate(trust_anchor_pem, "TrustAnchor")

    _check_trust_anchor(anchor)
    if _spki_der(signed.public_key()) != _spki_der(csr_key):
        raise CertificateCheckError("SignedCert does not certify the cluster CSR: its public key differs from "
                                    "the public key in the cluster CSR.")
    if signed.issuer != anchor.subject:
        raise CertificateCheckError(
            f"SignedCert was not issued by the TrustAnchor: its issuer ({signed.issuer.rfc4514_string()}) "
            f"differs from the TrustAnchor subject ({anchor.subject.rfc4514_string()}).")
    if not _signature_verifies(signed, anchor.public_key()):
        raise CertificateCheckError("SignedCert signature does not verify with the TrustAnchor public key.")
    _check_validity(anchor, "TrustAnchor", now)
    _check_validity(signed, "SignedCert", now)
    return signed, anchor
