"""Server configuration: one frozen dataclass built by the command line or by tests."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from pathlib import Path

from hsmsim.aws.credentials import CredentialStore

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4599
DEFAULT_ACCOUNT = "000000000000"
DEFAULT_REGION = "us-east-1"


class DelayProfile(StrEnum):
    """How long the asynchronous AWS provisioning steps take, in simulated time."""

    INSTANT = "instant"  # done by the next request
    FAST = "fast"  # tens of milliseconds
    REALISTIC = "realistic"  # AWS-like minutes


class Delay(StrEnum):
    """The provisioning steps whose duration depends on the profile (AWS rules such as 7 days do not)."""

    CLUSTER_CREATE = "cluster_create"
    CLUSTER_INITIALIZE = "cluster_initialize"
    CLUSTER_MODIFY = "cluster_modify"
    CLUSTER_DELETE = "cluster_delete"
    HSM_CREATE = "hsm_create"
    HSM_DELETE = "hsm_delete"
    BACKUP_CREATE = "backup_create"
    BACKUP_COPY = "backup_copy"
    KMS_REPLICATE = "kms_replicate"
    KMS_UPDATE_PRIMARY = "kms_update_primary"
    KMS_CONNECT = "kms_connect"
    KMS_DISCONNECT = "kms_disconnect"


_REALISTIC = {
    # AWS takes minutes for each of these (CloudHSM user guide; cluster creation "several minutes",
    # HSM creation 5-15 minutes); the figures are typical, not contractual.
    Delay.CLUSTER_CREATE: timedelta(minutes=5),
    Delay.CLUSTER_INITIALIZE: timedelta(minutes=5),
    Delay.CLUSTER_MODIFY: timedelta(minutes=30),
    Delay.CLUSTER_DELETE: timedelta(minutes=3),
    Delay.HSM_CREATE: timedelta(minutes=10),
    Delay.HSM_DELETE: timedelta(minutes=5),
    Delay.BACKUP_CREATE: timedelta(minutes=5),
    Delay.BACKUP_COPY: timedelta(minutes=15),
    # KMS: a replica key is Creating and an UpdatePrimaryRegion leaves both keys Updating for seconds to minutes.
    Delay.KMS_REPLICATE: timedelta(seconds=30),
    Delay.KMS_UPDATE_PRIMARY: timedelta(seconds=30),
    # ConnectCustomKeyStore "can take up to 20 minutes" (KMS developer guide); disconnecting takes seconds.
    Delay.KMS_CONNECT: timedelta(minutes=5),
    Delay.KMS_DISCONNECT: timedelta(seconds=30),
}

DELAY_PROFILES: dict[DelayProfile, dict[str, timedelta]] = {
    DelayProfile.INSTANT: {d.value: timedelta(0) for d in Delay},
    DelayProfile.FAST: {d.value: timedelta(milliseconds=50) for d in Delay},
    DelayProfile.REALISTIC: {d.value: v for d, v in _REALISTIC.items()},
}


@dataclass(frozen=True)
class Quotas:
    """CloudHSM quotas (AWS defaults; the first two are adjustable in AWS, and here)."""

    clusters_per_region: int = 4
    hsms_per_region: int = 6
    hsms_per_cluster: int = 28


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/hsmsim`` or ``~/.local/share/hsmsim``: one data dir per user."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "hsmsim"


@dataclass(frozen=True)
class Config:
    data_dir: Path = field(default_factory=default_data_dir)
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    db_url: str | None = None  # default: SQLite in the data dir
    delays: DelayProfile = DelayProfile.INSTANT
    quotas: Quotas = field(default_factory=Quotas)
    default_account: str = DEFAULT_ACCOUNT
    default_region: str = DEFAULT_REGION
    softhsm_module: str = "/usr/lib/softhsm/libsofthsm2.so"
    workers: int = 4
    # hsmsim serve --credentials: verify every AWS request's SigV4 signature against these (None: no verification)
    credentials: CredentialStore | None = None

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{self.data_dir / 'hsmsim.db'}"

    @property
    def delay_table(self) -> dict[str, timedelta]:
        return DELAY_PROFILES[self.delays]
