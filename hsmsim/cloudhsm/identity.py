"""HSM identity: the cluster CSR and the certificate chain that proves the HSM is genuine.

AWS's chain (https://docs.aws.amazon.com/cloudhsm/latest/userguide/verify-hsm-identity.html): the HSM's
hardware key is certified twice, by the AWS CloudHSM root (``AwsHardwareCertificate``) and by the
manufacturer's root (``ManufacturerHardwareCertificate``); the hardware key signs the ``HsmCertificate``, which
certifies the cluster key whose CSR (``ClusterCsr``) the customer signs.

Here the two roots are simulator CAs whose private keys live in a dedicated SoftHSM token (label
``hsmsim-roots``, never a cluster HSM) and whose certificates are PEM files under ``<data-dir>/roots``. The
hardware key (EC P-256) is generated inside the new HSM's token; the cluster key is RSA-2048 like AWS's,
made by OpenSSL and stored in the token at once as a non-extractable key (SoftHSM's own RSA generation would
cost 120-280 ms of the CreateHsm budget).

Crash safety (issue 10). The roots are reused only when the token holds both private keys and both PEM files
parse; otherwise (a first start cut short, a token set aside by the start-up repair, a file deleted by hand) both
roots are made anew, with one warning when earlier ones existed. That is safe because nothing of a customer's
depends on them: they certify the hardware keys of HSMs, whose chain AWS shows only until a cluster is initialised.
The one consequence, said in the warning: an UNINITIALIZED cluster's ``AwsHardwareCertificate`` and
``ManufacturerHardwareCertificate`` no longer chain to ``roots/*.pem`` (create a new cluster to get a
verifiable chain). PEM files are written to a temporary name and renamed into place.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from pkcs11 import Attribute, ObjectClass

from hsmsim.cloudhsm.certificates import (
    build_csr,
    csr_subject,
    issue_certificate,
    to_pem,
)
from hsmsim.hsm import SoftHSM
from hsmsim.hsm.keys import TokenSigner, generate_ec_keypair, import_rsa_private_key

log = logging.getLogger(__name__)

ROOTS_TOKEN_LABEL = "hsmsim-roots"
CLUSTER_KEY_LABEL = "cluster-key"
HARDWARE_KEY_LABEL = "hardware-key"
_ROOT_NAMES = {
    "aws": ("AWS CloudHSM Root (hsmsim)", "Amazon Web Services (simulated by hsmsim)"),
    "manufacturer": ("HSM Manufacturer Root (hsmsim)", "Cavium Networks (simulated by hsmsim)"),
}


@dataclass(frozen=True)
class IdentityCertificates:
    csr_pem: str
    hsm_certificate_pem: str
    aws_hardware_certificate_pem: str
    manufacturer_hardware_certificate_pem: str


def _name(common_name: str, organization: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _serial() -> int:
    return secrets.randbits(63) | 1


class RootAuthorities:
    """The two simulated root CAs; created on first start, reused after."""

    def __init__(self, hsm: SoftHSM, roots_dir: Path, now: datetime) -> None:
        self._hsm = hsm
        self._dir = roots_dir
        serials = [s for s, label in hsm.tokens().items() if label == ROOTS_TOKEN_LABEL]
        certificates = self._load_pems()
        whole = [s for s in serials if self._has_keys(s)]
        if whole and certificates is not None:
            self._serial = whole[0]
        else:
            if serials or any((roots_dir / f"{kind}-root.pem").exists() for kind in _ROOT_NAMES):
                log.warning("the simulated root CAs were incomplete (token %s, certificates %s): making new ones; "
                            "hardware certificates of clusters not yet initialized no longer chain to %s",
                            "whole" if whole else "missing or without its keys",
                            "readable" if certificates is not None else "missing or unreadable", roots_dir)
            for serial in serials:
                hsm.delete_token(serial)
            self._serial = self._create(now)
            certificates = self._load_pems()
            assert certificates is not None
        self.certificates = certificates
        self.token_serial = self._serial

    def _load_pems(self) -> dict[str, x509.Certificate] | None:
        try:
            return {kind: x509.load_pem_x509_certificate((self._dir / f"{kind}-root.pem").read_bytes())
                    for kind in _ROOT_NAMES}
        except (OSError, ValueError):
            return None

    def _has_keys(self, serial: str) -> bool:
        with self._hsm.session(serial) as session:
            search = session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY})
            try:
                labels = {o[Attribute.LABEL] for o in search}
            finally:
                search.close()
        return {f"{kind}-root" for kind in _ROOT_NAMES} <= labels

    def _create(self, now: datetime) -> str:
        serial = self._hsm.create_token(ROOTS_TOKEN_LABEL)
        self._dir.mkdir(parents=True, exist_ok=True)
        for kind, (common_name, organization) in _ROOT_NAMES.items():
            public_key = generate_ec_keypair(self._hsm, serial, f"{kind}-root")
            name = _name(common_name, organization)
            certificate = issue_certificate(
                issuer=TokenSigner(self._hsm, serial, f"{kind}-root", public_key),
                issuer_name=name,
                subject_name=name,
                subject_public_key=public_key,
                serial_number=_serial(),
                not_before=now - timedelta(days=1),
                not_after=now + timedelta(days=365 * 30),
                ca=True,
                path_length=1,
            )
            _write_atomic(self._dir / f"{kind}-root.pem", to_pem(certificate).encode())
        return serial

    def signer(self, kind: str) -> TokenSigner:
        return TokenSigner(self._hsm, self._serial, f"{kind}-root", self.certificates[kind].public_key())

    def name(self, kind: str) -> x509.Name:
        return self.certificates[kind].subject

    def provision(self, token_serial: str, hsm_id: str, fips: bool, now: datetime) -> IdentityCertificates:
        """Give a fresh HSM token its hardware and cluster keys and return the CSR and certificate chain."""
        hardware_public = generate_ec_keypair(self._hsm, token_serial, HARDWARE_KEY_LABEL)
        cluster_public = import_rsa_private_key(
            self._hsm, token_serial, CLUSTER_KEY_LABEL, rsa.generate_private_key(public_exponent=65537, key_size=2048)
        )
        hardware_signer = TokenSigner(self._hsm, token_serial, HARDWARE_KEY_LABEL, hardware_public)
        cluster_signer = TokenSigner(self._hsm, token_serial, CLUSTER_KEY_LABEL, cluster_public)
        hardware_name = _name(f"HSM hardware {hsm_id}", "hsmsim simulated HSM")
        validity = {"not_before": now - timedelta(minutes=5), "not_after": now + timedelta(days=365 * 10)}
        hardware_certs = {
            kind: issue_certificate(
                issuer=self.signer(kind),
                issuer_name=self.name(kind),
                subject_name=hardware_name,
                subject_public_key=hardware_public,
                serial_number=_serial(),
                ca=True,
                path_length=0,
                **validity,
            )
            for kind in _ROOT_NAMES
        }
        subject = csr_subject(hsm_id, fips=fips)
        hsm_certificate = issue_certificate(
            issuer=hardware_signer,
            issuer_name=hardware_name,
            subject_name=subject,
            subject_public_key=cluster_public,
            serial_number=_serial(),
            ca=False,
            **validity,
        )
        return IdentityCertificates(
            csr_pem=to_pem(build_csr(cluster_signer, subject)),
            hsm_certificate_pem=to_pem(hsm_certificate),
            aws_hardware_certificate_pem=to_pem(hardware_certs["aws"]),
            manufacturer_hardware_certificate_pem=to_pem(hardware_certs["manufacturer"]),
        )
