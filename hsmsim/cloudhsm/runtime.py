"""What the CloudHSM service needs at run time, built once by the server."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from hsmsim.cloudhsm.identity import RootAuthorities
from hsmsim.cloudhsm.passwords import PasswordVerifier
from hsmsim.cloudhsm.replication import ClusterReplicator
from hsmsim.cloudhsm.sessions import LiveSessions
from hsmsim.cloudhsm.vault import BackupVault
from hsmsim.config import Config
from hsmsim.core.clock import Clock
from hsmsim.core.db import UnitOfWork
from hsmsim.core.lifecycle import Lifecycle
from hsmsim.hsm import SoftHSM


@dataclass
class CloudHSMRuntime:
    config: Config
    clock: Clock
    hsm: SoftHSM
    vault: BackupVault
    roots: RootAuthorities
    lifecycle: Lifecycle
    replicator: ClusterReplicator
    sessions: LiveSessions = field(default_factory=LiveSessions)
    """Who is logged in to which cluster's HSMs (the data plane's logins, and KMS's kmsuser later)."""
    passwords: PasswordVerifier = field(default_factory=PasswordVerifier)


@dataclass
class Step:
    """One unit of work of the service: the runtime, the transaction and the simulated time it runs at."""

    runtime: CloudHSMRuntime
    uow: UnitOfWork

    @property
    def session(self) -> Session:
        return self.uow.session
