"""What the KMS service needs at run time, built once by the simulator, and the step of one unit of work."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from hsmsim.config import Config
from hsmsim.core.clock import Clock
from hsmsim.core.db import UnitOfWork
from hsmsim.core.lifecycle import Lifecycle
from kms.domainkey import DomainKey
from kms.granttokens import GrantTokens
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
