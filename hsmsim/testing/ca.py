"""Helpers for people testing against hsmsim (and for hsmsim's own tests and benchmarks).

:class:`CustomerCA` plays the customer's certificate authority of the CloudHSM guide
(https://docs.aws.amazon.com/cloudhsm/latest/userguide/initialize-cluster.html): it signs the cluster CSR the way
``openssl x509 -req`` would, and its certificate is the ``TrustAnchor`` of InitializeCluster.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


class CustomerCA:
    """A self-signed RSA-2048 root CA made with cryptography's builders."""

    def __init__(self, name: str = "Customer Root CA") -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.now(UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    @property
    def pem(self) -> str:
        """The CA certificate in PEM: the ``TrustAnchor``."""
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def sign_csr(self, csr_pem: str, days: int = 3650) -> str:
        """The cluster certificate for ``csr_pem`` (the ``SignedCert``), valid from an hour ago for ``days``.

        Validity starts from the wall clock: a server whose simulated clock has moved far ahead may judge the
        certificate differently, which is the point of checking dates on the simulated clock.
        """
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(csr.subject)
            .issuer_name(self.cert.subject)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(days=days))
            .sign(self.key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM).decode()
