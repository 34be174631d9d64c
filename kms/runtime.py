"""What the KMS service needs at run time, built once by the simulator, and the step of one unit of work."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from hsmsim.cloudhsm.runtime import CloudHSMRuntime
from hsmsim.config import Config
from hsmsim.core.clock import Clock
from hsmsim.core.db import UnitOfWork
from hsmsim.core.lifecycle import Lifecycle
from kms.domainkey import DomainKey
from kms.granttokens import GrantTokens
from kms.keystores.backing_handles import Handles
from kms.keystores.faults import ConnectionFaults
from kms.keystores.passwords import NextPasswords
from kms.keystores.sessions import KmsUserSessions
from kms.keyview import KeyCache
from kms.usage import LastUsage


@dataclass
class KMSRuntime:
    config: Config
    clock: Clock
    domain_key: DomainKey
    lifecycle: Lifecycle
    grant_tokens: GrantTokens
    secret: bytes
    """Server secret for simulator-internal MACs (grant tokens, import tokens, material fingerprints)."""
    cache: KeyCache
    usage: LastUsage
    cloudhsm: CloudHSMRuntime
    """The CloudHSM side: custom key stores connect to its clusters and keep their backing keys there."""
    keystore_sessions: KmsUserSessions
    faults: ConnectionFaults = field(default_factory=ConnectionFaults)
    handles: Handles = field(default_factory=Handles)
    """Session-object copies of backing keys inside the HSM tokens, per pooled session (never the key bytes)."""
    next_passwords: NextPasswords = field(default_factory=NextPasswords)
    """kmsuser passwords (with their hashes) made ahead of the connections that rotate to them."""

    def now(self) -> datetime:
        return self.clock.now()


@dataclass
class Step:
    """One unit of work of the KMS service."""

    runtime: KMSRuntime
    uow: UnitOfWork

    @property
    def session(self) -> Session:
        return self.uow.session
