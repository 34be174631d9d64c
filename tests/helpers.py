"""Test helpers: a customer CA that signs the cluster CSR (as a user with openssl would) and cluster set-up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

SUBNETS = ["subnet-0123456789abcdefa", "subnet-0123456789abcdefb", "subnet-0123456789abcdefc"]


class CustomerCA:
    """A self-signed RSA-2048 CA made with cryptography's builders."""

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
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def sign_csr(self, csr_pem: str, days: int = 3650) -> str:
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


def describe(client: Any, cluster_id: str) -> dict[str, Any]:
    return client.describe_clusters(Filters={"clusterIds": [cluster_id]})["Clusters"][0]


def new_cluster(client: Any, subnets: list[str] | None = None, **kwargs: Any) -> str:
    cluster = client.create_cluster(HsmType="hsm1.medium", SubnetIds=subnets or SUBNETS[:2], **kwargs)["Cluster"]
    assert cluster["State"] == "CREATE_IN_PROGRESS"
    return cluster["ClusterId"]


def initialized_cluster(client: Any, ca: CustomerCA | None = None) -> tuple[str, str]:
    """CreateCluster -> first HSM ACTIVE -> InitializeCluster -> INITIALIZED; returns (cluster id, HSM id)."""
    ca = ca or CustomerCA()
    cluster_id = new_cluster(client)
    assert describe(client, cluster_id)["State"] == "UNINITIALIZED"
    hsm_id = client.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1a")["Hsm"]["HsmId"]
    csr = describe(client, cluster_id)["Certificates"]["ClusterCsr"]
    client.initialize_cluster(ClusterId=cluster_id, SignedCert=ca.sign_csr(csr), TrustAnchor=ca.pem)
    assert describe(client, cluster_id)["State"] == "INITIALIZED"
    return cluster_id, hsm_id


def active_cluster(sim: Any, client: Any) -> tuple[str, str]:
    """An ACTIVE cluster with one ACTIVE HSM (activated through the data-plane endpoint)."""
    cluster_id, hsm_id = initialized_cluster(client)
    status, body = sim.control("POST", f"/_hsmsim/clusters/{cluster_id}/activate", {"password": "Admin-Pass-1"})
    assert status == 200, body
    assert describe(client, cluster_id)["State"] == "ACTIVE"
    return cluster_id, hsm_id
