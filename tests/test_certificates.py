"""Tests for hsmsim.cloudhsm.certificates (CSR / certificate building and InitializeCluster checks)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from datetime import datetime, timedelta, timezone

import pytest
from asn1crypto import x509 as a_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from hsmsim.cloudhsm.certificates import (
    CertificateCheckError,
    SoftwareSigner,
    build_csr,
    check_cluster_certificate,
    csr_subject,
    issue_certificate,
    to_pem,
)

UTC = timezone.utc
T0 = datetime(2025, 1, 1, tzinfo=UTC)
NOW = datetime(2030, 6, 1, tzinfo=UTC)
HSM_ID = "hsm-abcdefghijk"


def _rsa():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def keys():
    return {"hsm": _rsa(), "ca": _rsa(), "other": _rsa(), "ec": ec.generate_private_key(ec.SECP256R1()),
            "ec384": ec.generate_private_key(ec.SECP384R1())}


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Corp"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_root(key, cn="Customer Root CA", *, ca=True, basic_constraints=True, key_cert_sign=True,
              extra_extension=False, issuer=None, sign_key=None, not_before=T0, years=10,
              algorithm=hashes.SHA256(), rsa_padding=None) -> x509.Certificate:
    """A customer root made with cryptography's builder, like `openssl req -x509` would."""
    builder = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(issuer or _name(cn))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(not_before).not_valid_after(not_before + timedelta(days=365 * years)))
    if basic_constraints:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    builder = builder.add_extension(x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=key_cert_sign, crl_sign=key_cert_sign, encipher_only=False,
        decipher_only=False), critical=True)
    if extra_extension:
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    return builder.sign(sign_key or key, algorithm, rsa_padding=rsa_padding)


def sign_csr(csr: x509.CertificateSigningRequest, root: x509.Certificate, root_key, *, public_key=None,
             issuer=None, not_before=T0, days=3650, algorithm=hashes.SHA256(), rsa_padding=None):
    """The user's `openssl x509 -req -CA root -CAkey key` step."""
    return (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(issuer or root.subject)
            .public_key(public_key or csr.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_before + timedelta(days=days))
            .sign(root_key, algorithm, rsa_padding=rsa_padding))


@pytest.fixture(scope="module")
def cluster(keys):
    csr = build_csr(SoftwareSigner(keys["hsm"]), csr_subject(HSM_ID))
    root = make_root(keys["ca"])
    return csr, root, sign_csr(csr, root, keys["ca"])


def check(csr, signed, root, now=NOW):
    signed_pem = signed if isinstance(signed, str) else to_pem(signed)
    root_pem = root if isinstance(root, str) else to_pem(root)
    return check_cluster_certificate(to_pem(csr), signed_pem, root_pem, now=now)


# --- building ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["hsm", "ec"])
def test_build_csr_valid_for_cryptography(keys, kind):
    signer = SoftwareSigner(keys[kind])
    csr = build_csr(signer, csr_subject(HSM_ID, 0))
    assert csr.is_signature_valid
    assert isinstance(csr.signature_hash_algorithm, hashes.SHA256)
    assert csr.public_key() == signer.public_key
    assert csr.subject.rfc4514_string() == (
        f"CN=HSM:{HSM_ID}:PARTN:0,L=SanJose,OU=N3FIPS,O=Cavium,ST=CA,C=US")
    assert to_pem(csr).startswith("-----BEGIN CERTIFICATE REQUEST-----\n")


def test_csr_subject_order_and_modes():
    attrs = [(a.oid, a.value) for a in csr_subject("hsm-1", 3)]
    assert attrs == [(NameOID.COUNTRY_NAME, "US"), (NameOID.STATE_OR_PROVINCE_NAME, "CA"),
                     (NameOID.ORGANIZATION_NAME, "Cavium"), (NameOID.ORGANIZATIONAL_UNIT_NAME, "N3FIPS"),
                     (NameOID.LOCALITY_NAME, "SanJose"), (NameOID.COMMON_NAME, "HSM:hsm-1:PARTN:3")]
    assert csr_subject("hsm-1", fips=False).get_attributes_for_oid(
        NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == "N3"


@pytest.mark.parametrize("issuer_kind", ["ca", "ec"])
def test_issue_ca_and_end_entity_chain(keys, issuer_kind):
    issuer = SoftwareSigner(keys[issuer_kind])
    root_name, leaf_name = _name("Sim Root"), csr_subject(HSM_ID)
    root = issue_certificate(issuer=issuer, issuer_name=root_name, subject_name=root_name,
                             subject_public_key=issuer.public_key, serial_number=1, not_before=T0,
                             not_after=T0 + timedelta(days=3650), ca=True, path_length=1)
    leaf = issue_certificate(issuer=issuer, issuer_name=root_name, subject_name=leaf_name,
                             subject_public_key=keys["hsm"].public_key(), serial_number=2, not_before=T0,
                             not_after=T0 + timedelta(days=365), ca=False)
    root.verify_directly_issued_by(root)
    leaf.verify_directly_issued_by(root)
    assert root.version == leaf.version == x509.Version.v3
    assert (leaf.serial_number, leaf.subject, leaf.issuer) == (2, leaf_name, root_name)
    assert leaf.not_valid_before_utc == T0 and leaf.not_valid_after_utc == T0 + timedelta(days=365)
    bc = root.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 1
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert root.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    leaf_usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert leaf_usage.critical and leaf_usage.value.digital_signature and not leaf_usage.value.key_cert_sign
    ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    assert ski == aki == x509.SubjectKeyIdentifier.from_public_key(issuer.public_key).digest
    # our own checker accepts the chain too, and so does openssl when present
    csr = build_csr(SoftwareSigner(keys["hsm"]), leaf_name)
    at = T0 + timedelta(days=1)
    assert check(csr, leaf, root, now=at) == (leaf, root)
    if shutil.which("openssl"):
        _openssl_verify(root, leaf, at)


def _openssl_verify(root, leaf, at: datetime):
    with tempfile.TemporaryDirectory() as d:
        for name, cert in (("root.pem", root), ("leaf.pem", leaf)):
            with open(f"{d}/{name}", "w") as f:
                f.write(to_pem(cert))
        subprocess.run(["openssl", "verify", "-attime", str(int(at.timestamp())), "-CAfile",
                        f"{d}/root.pem", f"{d}/leaf.pem"], check=True, capture_output=True)


def test_issue_uses_generalized_time_from_2050(keys):
    signer = SoftwareSigner(keys["ec"])
    cert = issue_certificate(issuer=signer, issuer_name=_name("r"), subject_name=_name("r"),
                             subject_public_key=signer.public_key, serial_number=7,
                             not_before=datetime(2049, 12, 31, 23, 59, 59), not_after=datetime(2050, 1, 1), ca=True)
    validity = a_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))["tbs_certificate"]["validity"]
    assert validity["not_before"].name == "utc_time" and validity["not_after"].name == "general_time"
    assert cert.not_valid_after_utc == datetime(2050, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError):
        issue_certificate(issuer=signer, issuer_name=_name("r"), subject_name=_name("r"),
                          subject_public_key=signer.public_key, serial_number=0, not_before=T0,
                          not_after=T0, ca=True)


# --- InitializeCluster: accepted inputs ----------------------------------------------------------

def test_check_happy_path(cluster):
    csr, root, signed = cluster
    assert check(csr, signed, root) == (signed, root)
    # surrounding whitespace is tolerated
    assert check(csr, "\n" + to_pem(signed) + "\n\n", "  " + to_pem(root))[0] == signed


@pytest.mark.parametrize("variant", ["pss", "sha512", "ec-p384"])
def test_check_accepts_other_signature_algorithms(keys, variant):
    csr = build_csr(SoftwareSigner(keys["hsm"]), csr_subject(HSM_ID))
    if variant == "ec-p384":
        root_key, kwargs = keys["ec384"], {"algorithm": hashes.SHA384()}
    elif variant == "pss":
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        root_key, kwargs = keys["ca"], {"rsa_padding": pss}
    else:
        root_key, kwargs = keys["ca"], {"algorithm": hashes.SHA512()}
    root = make_root(root_key, **kwargs)
    signed = sign_csr(csr, root, root_key, **kwargs)
    assert check(csr, signed, root) == (signed, root)


def test_check_accepts_v1_root_without_extensions(keys):
    """An X.509 v1 root (no extensions at all) is allowed: BasicConstraints is only required with v3 extensions."""
    signer = SoftwareSigner(keys["ca"])
    v3 = issue_certificate(issuer=signer, issuer_name=_name("v1 root"), subject_name=_name("v1 root"),
                           subject_public_key=signer.public_key, serial_number=5, not_before=T0,
                           not_after=T0 + timedelta(days=3650), ca=True)
    tbs = a_x509.Certificate.load(v3.public_bytes(serialization.Encoding.DER))["tbs_certificate"].copy()
    tbs["version"], tbs["extensions"] = "v1", None
    der = a_x509.Certificate({"tbs_certificate": tbs, "signature_algorithm": tbs["signature"],
                              "signature_value": signer.sign(tbs.dump())}).dump()
    root = x509.load_der_x509_certificate(der)
    assert root.version == x509.Version.v1 and len(root.extensions) == 0
    csr = build_csr(SoftwareSigner(keys["hsm"]), csr_subject(HSM_ID))
    signed = sign_csr(csr, root, keys["ca"])
    assert check(csr, signed, root) == (signed, root)


def test_check_accepts_openssl_signed_cluster_csr(keys, tmp_path):
    """The documented user flow: openssl genrsa / req -x509 / x509 -req on the CSR from the simulator."""
    csr = build_csr(SoftwareSigner(keys["hsm"]), csr_subject(HSM_ID))
    (tmp_path / "cluster.csr").write_text(to_pem(csr))

    def run(*args):
        subprocess.run(["openssl", *args], cwd=tmp_path, check=True, capture_output=True)
    run("genrsa", "-out", "customerCA.key", "2048")
    run("req", "-new", "-x509", "-days", "3652", "-key", "customerCA.key", "-out", "customerCA.crt",
        "-subj", "/CN=customerCA")
    run("x509", "-req", "-days", "3652", "-in", "cluster.csr", "-CA", "customerCA.crt", "-CAkey",
        "customerCA.key", "-CAcreateserial", "-out", "CustomerHsmCertificate.crt")
    signed_pem = (tmp_path / "CustomerHsmCertificate.crt").read_text()
    anchor_pem = (tmp_path / "customerCA.crt").read_text()
    now = datetime.now(UTC)
    signed, anchor = check_cluster_certificate(to_pem(csr), signed_pem, anchor_pem, now=now)
    assert signed.public_key() == keys["hsm"].public_key() and anchor.subject == signed.issuer


# --- InitializeCluster: one test per failure -----------------------------------------------------

def _fails(message: str, *args, **kwargs):
    with pytest.raises(CertificateCheckError, match="^" + re.escape(message)) as info:
        check(*args, **kwargs)
    return str(info.value)


@pytest.mark.parametrize("garbage", ["", "not a certificate",
                                     "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"])
def test_garbage_pem(cluster, garbage):
    csr, root, signed = cluster
    _fails("SignedCert is not a valid PEM-encoded X.509 certificate.", csr, garbage, root)
    _fails("TrustAnchor is not a valid PEM-encoded X.509 certificate.", csr, signed, garbage)


def test_more_than_one_certificate(cluster):
    csr, root, signed = cluster
    _fails("TrustAnchor must contain exactly one PEM-encoded X.509 certificate, found 2.",
           csr, signed, to_pem(root) + to_pem(signed))


def test_anchor_not_self_signed(keys, cluster):
    csr, root, _ = cluster
    intermediate = make_root(keys["other"], "Intermediate", issuer=root.subject, sign_key=keys["ca"])
    signed = sign_csr(csr, intermediate, keys["other"])
    msg = _fails("TrustAnchor is not self-signed: its issuer (", csr, signed, intermediate)
    assert "CN=Customer Root CA" in msg and "CN=Intermediate" in msg


def test_anchor_self_named_but_signed_by_another_key(keys, cluster):
    csr, _, _ = cluster
    forged = make_root(keys["ca"], sign_key=keys["other"])
    _fails("TrustAnchor is not self-signed: its signature does not verify with its own public key.",
           csr, sign_csr(csr, forged, keys["ca"]), forged)


def test_anchor_not_a_ca(keys, cluster):
    csr, _, _ = cluster
    root = make_root(keys["ca"], ca=False)
    _fails("TrustAnchor is not a CA certificate: BasicConstraints has CA:FALSE.",
           csr, sign_csr(csr, root, keys["ca"]), root)


def test_anchor_with_extensions_but_no_basic_constraints(keys, cluster):
    csr, _, _ = cluster
    root = make_root(keys["ca"], basic_constraints=False, extra_extension=True)
    _fails("TrustAnchor has X.509v3 extensions but no BasicConstraints extension.",
           csr, sign_csr(csr, root, keys["ca"]), root)


def test_anchor_key_usage_conflicts_with_ca(keys, cluster):
    csr, _, _ = cluster
    root = make_root(keys["ca"], key_cert_sign=False)
    _fails("TrustAnchor has conflicting extensions: BasicConstraints says CA but KeyUsage does not allow "
           "keyCertSign.", csr, sign_csr(csr, root, keys["ca"]), root)


def test_signed_cert_for_a_different_key(keys, cluster):
    csr, root, _ = cluster
    signed = sign_csr(csr, root, keys["ca"], public_key=keys["other"].public_key())
    _fails("SignedCert does not certify the cluster CSR: its public key differs from the public key in the "
           "cluster CSR.", csr, signed, root)


def test_signed_cert_issued_by_another_ca(keys, cluster):
    csr, root, _ = cluster
    other_root = make_root(keys["other"], "Other Root")
    msg = _fails("SignedCert was not issued by the TrustAnchor: its issuer (",
                 csr, sign_csr(csr, other_root, keys["other"]), root)
    assert "CN=Other Root" in msg and "CN=Customer Root CA" in msg


def test_signed_cert_signature_does_not_verify(keys, cluster):
    csr, root, _ = cluster
    signed = sign_csr(csr, root, keys["other"])  # issuer name matches, wrong key signed it
    _fails("SignedCert signature does not verify with the TrustAnchor public key.", csr, signed, root)


def test_expired_or_not_yet_valid_by_simulated_now(keys, cluster):
    csr, root, _ = cluster
    short = sign_csr(csr, root, keys["ca"], days=30)
    _fails("SignedCert has expired: notAfter is 2025-01-31T00:00:00+00:00.", csr, short, root)
    assert check(csr, short, root, now=T0 + timedelta(days=1))[0] == short  # fine at an earlier sim time
    old_root = make_root(keys["ca"], years=1)
    _fails("TrustAnchor has expired: notAfter is 2026-01-01T00:00:00+00:00.",
           csr, sign_csr(csr, old_root, keys["ca"]), old_root)
    future = sign_csr(csr, root, keys["ca"], not_before=datetime(2031, 1, 1, tzinfo=UTC))
    _fails("SignedCert is not yet valid: notBefore is 2031-01-01T00:00:00+00:00.", csr, future, root)
