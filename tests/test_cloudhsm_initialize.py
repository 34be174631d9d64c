"""The path to INITIALIZED: the HSM's CSR and certificate chain, signing the CSR, InitializeCluster's checks."""

from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from helpers import CustomerCA, describe, initialized_cluster, new_cluster


def error_of(exc):
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def uninitialized_with_hsm(cloudhsm):
    cluster_id = new_cluster(cloudhsm)
    cloudhsm.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1a")
    return cluster_id, describe(cloudhsm, cluster_id)


def test_no_csr_before_the_first_hsm(cloudhsm):
    cluster_id = new_cluster(cloudhsm)
    assert describe(cloudhsm, cluster_id)["Certificates"] == {}
    with pytest.raises(ClientError) as exc:
        cloudhsm.initialize_cluster(ClusterId=cluster_id, SignedCert="x", TrustAnchor="y")
    code, message = error_of(exc)
    assert code == "CloudHsmInvalidRequestException" and "no active HSM" in message


def test_hsm_identity_chain_verifies_to_the_simulator_roots(sim, cloudhsm):
    _, cluster = uninitialized_with_hsm(cloudhsm)
    certs = {k: v.encode() for k, v in cluster["Certificates"].items()}
    status, roots = sim.control("GET", "/_hsmsim/roots")
    assert status == 200
    aws_root = x509.load_pem_x509_certificate(roots["aws"].encode())
    manufacturer_root = x509.load_pem_x509_certificate(roots["manufacturer"].encode())
    aws_hw = x509.load_pem_x509_certificate(certs["AwsHardwareCertificate"])
    manufacturer_hw = x509.load_pem_x509_certificate(certs["ManufacturerHardwareCertificate"])
    hsm_cert = x509.load_pem_x509_certificate(certs["HsmCertificate"])
    csr = x509.load_pem_x509_csr(certs["ClusterCsr"])
    aws_hw.verify_directly_issued_by(aws_root)
    manufacturer_hw.verify_directly_issued_by(manufacturer_root)
    hsm_cert.verify_directly_issued_by(aws_hw)
    hsm_cert.verify_directly_issued_by(manufacturer_hw)
    assert csr.is_signature_valid
    assert csr.public_key() == hsm_cert.public_key()
    assert isinstance(csr.public_key(), rsa.RSAPublicKey) and csr.public_key().key_size == 2048
    hsm_id = cluster["Hsms"][0]["HsmId"]
    assert csr.subject.rfc4514_string().startswith(f"CN=HSM:{hsm_id}:PARTN:0")
    with pytest.raises(Exception):
        hsm_cert.verify_directly_issued_by(aws_root)


def test_initialize_cluster_happy_path(cloudhsm):
    ca = CustomerCA()
    cluster_id, cluster = uninitialized_with_hsm(cloudhsm)
    signed = ca.sign_csr(cluster["Certificates"]["ClusterCsr"])
    result = cloudhsm.initialize_cluster(ClusterId=cluster_id, SignedCert=signed, TrustAnchor=ca.pem)
    assert result["State"] == "INITIALIZE_IN_PROGRESS"
    assert result["StateMessage"] == "Cluster is initializing. State will change to INITIALIZED upon completion."
    after = describe(cloudhsm, cluster_id)
    assert after["State"] == "INITIALIZED"
    assert after["Certificates"] == {"ClusterCertificate": signed}
    with pytest.raises(ClientError) as exc:
        cloudhsm.initialize_cluster(ClusterId=cluster_id, SignedCert=signed, TrustAnchor=ca.pem)
    assert "only an UNINITIALIZED cluster" in error_of(exc)[1]


def _other_key_cert(ca: CustomerCA, subject: x509.Name) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(ca.key, hashes.SHA256())
    )
    from cryptography.hazmat.primitives.serialization import Encoding

    return cert.public_bytes(Encoding.PEM).decode()


def test_initialize_cluster_rejects_bad_certificates_and_changes_nothing(cloudhsm):
    ca, stranger = CustomerCA(), CustomerCA("Stranger CA")
    cluster_id, cluster = uninitialized_with_hsm(cloudhsm)
    csr_pem = cluster["Certificates"]["ClusterCsr"]
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    cases = [
        ("garbage", ca.pem, "SignedCert is not a valid PEM-encoded X.509 certificate."),
        (ca.sign_csr(csr_pem), "garbage", "TrustAnchor is not a valid PEM-encoded X.509 certificate."),
        (stranger.sign_csr(csr_pem), ca.pem, "SignedCert was not issued by the TrustAnchor"),
        (_other_key_cert(ca, csr.subject), ca.pem, "public key differs from the public key in the cluster CSR"),
        (ca.sign_csr(csr_pem), ca.sign_csr(csr_pem), "TrustAnchor is not self-signed"),
    ]
    for signed, anchor, fragment in cases:
        with pytest.raises(ClientError) as exc:
            cloudhsm.initialize_cluster(ClusterId=cluster_id, SignedCert=signed, TrustAnchor=anchor)
        code, message = error_of(exc)
        assert code == "CloudHsmInvalidRequestException"
        assert fragment in message
    after = describe(cloudhsm, cluster_id)
    assert after["State"] == "UNINITIALIZED" and "ClusterCsr" in after["Certificates"]


def test_signed_cert_too_long_is_a_validation_error(cloudhsm):
    cluster_id, _ = uninitialized_with_hsm(cloudhsm)
    with pytest.raises(ClientError) as exc:
        cloudhsm.initialize_cluster(ClusterId=cluster_id, SignedCert="A" * 20001, TrustAnchor="B")
    code, message = error_of(exc)
    assert code == "ValidationException"
    assert "at 'signedCert' failed to satisfy constraint: Member must have length less than or equal to 20000" in message


def test_whole_path_to_initialized(cloudhsm):
    cluster_id, hsm_id = initialized_cluster(cloudhsm)
    cluster = describe(cloudhsm, cluster_id)
    assert cluster["State"] == "INITIALIZED"
    assert [h["HsmId"] for h in cluster["Hsms"]] == [hsm_id]
