"""The composition root of the synchronous side: data dir, database, SoftHSM, clock and services.

:class:`Simulator` owns everything a server process has; the aiohttp layer (:mod:`hsmsim.server`) only moves
requests in and out of it. Data dir layout::

    <data-dir>/hsmsim.db        SQLite database (unless --db-url names another)
    <data-dir>/softhsm2.conf    rendered from the softhsm.conf template
    <data-dir>/tokens/          SoftHSM token directories: one per HSM, the root-CA token, the KMS domain-key token
    <data-dir>/quarantine/      what the start-up repair of tokens/ set aside (hsmsim.hsm.repair)
    <data-dir>/backups/         backup snapshots (see hsmsim.cloudhsm.vault)
    <data-dir>/roots/           root CA certificates of the simulated AWS and manufacturer
    <data-dir>/secret.key       the server secret the SoftHSM PINs derive from (mode 0600)
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import sessionmaker

from hsmsim.aws.context import RequestContext
from hsmsim.aws.dispatch import invoke
from hsmsim.aws.protocol import ParsedRequest
from hsmsim.cloudhsm.enums import HsmState
from hsmsim.cloudhsm.errors import CloudHsmInternalFailureException
from hsmsim.cloudhsm.identity import ROOTS_TOKEN_LABEL, RootAuthorities
from hsmsim.cloudhsm.models import Backup, Hsm, Tag
from hsmsim.cloudhsm.replication import ClusterReplicator
from hsmsim.cloudhsm.runtime import CloudHSMRuntime, Step
from hsmsim.cloudhsm.service import CloudHSMService
from hsmsim.cloudhsm.transitions import TIMERS, TRANSITIONS
from hsmsim.cloudhsm.vault import BackupVault
from hsmsim.config import Config
from hsmsim.core.clock import SimulatedClock
from hsmsim.core.db import Base, UnitOfWork, make_engine
from hsmsim.core.lifecycle import Lifecycle
from hsmsim.core.schema import prepare
from hsmsim.core.settings import Setting
from hsmsim.hsm import HSMError, SoftHSM
from kms.cachesync import Touched, touched_in
from kms.domainkey import DOMAIN_TOKEN_LABEL, DomainKey
from kms.errors import KMSInternalException
from kms.granttokens import GrantTokens
from kms.keystores.connection import log_in_again
from kms.keystores.sessions import KmsUserSessions
from kms.keyview import KeyCache
from kms.models import KmsCustomKeyStore, KmsImportToken, KmsKeyMaterial
from kms.resolver import authorize_operation
from kms.runtime import KMSRuntime
from kms.runtime import Step as KmsStep
from kms.service import KMSService
from kms.transitions import TIMERS as KMS_TIMERS
from kms.transitions import TRANSITIONS as KMS_TRANSITIONS
from kms.usage import LastUsage

log = logging.getLogger(__name__)

CLOCK_OFFSET_SETTING = "clock_offset_seconds"
KEPT_TOKEN_LABELS = frozenset({ROOTS_TOKEN_LABEL, DOMAIN_TOKEN_LABEL})
"""Tokens of the simulator itself (not HSMs): kept by reset and by reconciliation."""


SOFTHSM_CONF_TEMPLATE = Path(__file__).resolve().parents[1] / "softhsm.conf"
"""The template at the top of the source tree (hsmsim is installed editable from its checkout)."""


def render_softhsm_conf(data_dir: Path) -> Path:
    """Write ``<data-dir>/softhsm2.conf`` from the ``softhsm.conf`` template."""
    template = SOFTHSM_CONF_TEMPLATE.read_text()
    path = data_dir / "softhsm2.conf"
    path.write_text(template.replace("{tokendir}", str(data_dir / "tokens")))
    return path


def server_secret(data_dir: Path) -> bytes:
    path = data_dir / "secret.key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(32))
    return path.read_bytes()


def derive_pin(secret: bytes, purpose: str) -> str:
    """Token PINs are simulator-internal and derived, never stored: HMAC-SHA256(secret, purpose)."""
    return hmac.new(secret, purpose.encode(), hashlib.sha256).hexdigest()[:32]


class Simulator:
    def __init__(self, config: Config) -> None:
        self.config = config
        data_dir = config.data_dir
        (data_dir / "tokens").mkdir(parents=True, exist_ok=True)
        secret = server_secret(data_dir)
        self.hsm = SoftHSM(
            token_dir=data_dir / "tokens",
            conf_path=render_softhsm_conf(data_dir),
            so_pin=derive_pin(secret, "softhsm-so-pin"),
            user_pin=derive_pin(secret, "softhsm-user-pin"),
            module_path=config.softhsm_module,
        )
        self.engine = make_engine(config.database_url)
        prepare(self.engine)  # Alembic: new, pre-migration and older databases to head; a newer one refused
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.clock = SimulatedClock(self._load_clock_offset())
        self.lifecycle = Lifecycle(TRANSITIONS, TIMERS, config.delay_table)
        self.cloudhsm = CloudHSMRuntime(
            config=config,
            clock=self.clock,
            hsm=self.hsm,
            vault=BackupVault(data_dir / "backups", self.hsm),
            roots=RootAuthorities(self.hsm, data_dir / "roots", self.clock.now()),
            lifecycle=self.lifecycle,
            replicator=ClusterReplicator(self.hsm),
        )
        self.kms = KMSRuntime(
            config=config,
            clock=self.clock,
            domain_key=DomainKey(self.hsm, may_create=not self._wrapped_by_domain_key()),
            lifecycle=Lifecycle(KMS_TRANSITIONS, KMS_TIMERS, config.delay_table),
            grant_tokens=GrantTokens(secret),
            secret=hmac.new(secret, b"kms", hashlib.sha256).digest(),
            cache=KeyCache(),
            usage=LastUsage(),
            cloudhsm=self.cloudhsm,
            keystore_sessions=KmsUserSessions(self.cloudhsm.sessions),
        )
        # One unit of work at a time: SQLite has one writer, and the control plane is not a hot path.
        self._lock = threading.RLock()
        self.reconcile()
        with self.sessions() as session:
            relogged = log_in_again(self.kms, session)
        if relogged:
            log.info("KMS logged in again as kmsuser for %d connected custom key store(s)", relogged)

    # -- requests ------------------------------------------------------------------------------------------

    def call(self, ctx: RequestContext, request: ParsedRequest) -> Mapping[str, Any]:
        """Run one AWS operation in its own unit of work, after applying every transition due."""
        if ctx.service == "kms":
            return self._call_kms(ctx, request)
        with self._lock, UnitOfWork(self.sessions) as uow:
            self._apply_due(uow)
            service = CloudHSMService(self.cloudhsm, Step(self.cloudhsm, uow))
            try:
                return invoke(service, request.operation_model, request.params, ctx)
            except HSMError as error:
                # The unit of work rolls back and undoes its token side effects; the caller sees AWS's
                # retryable internal failure, not a traceback.
                log.error("HSM failure in %s: %s", ctx.operation, error)
                raise CloudHsmInternalFailureException(f"The HSM could not complete {ctx.operation}: {error}") from error

    def _call_kms(self, ctx: RequestContext, request: ParsedRequest) -> Mapping[str, Any]:
        authorize_operation(ctx)
        touched = Touched()
        try:
            with self._lock, UnitOfWork(self.sessions) as uow:
                self._apply_due(uow)
                service = KMSService(self.kms, KmsStep(self.kms, uow))
                result = invoke(service, request.operation_model, request.params, ctx)
                uow.session.flush()
                touched = touched_in(uow.session)
                return result
        except HSMError as error:
            log.error("HSM failure in %s: %s", ctx.operation, error)
            raise KMSInternalException(f"The HSM could not complete {ctx.operation}.") from error
        finally:
            if touched.everything:
                self.kms.cache.invalidate()
            elif touched:
                self.kms.cache.forget(touched.families, touched.names)

    def call_from_memory(self, ctx: RequestContext, request: ParsedRequest, inline: bool) -> Mapping[str, Any]:
        """A read-only KMS operation served from the key cache, without the lock or the database.

        :raises NeedsUnitOfWork: a key is not cached (or its view went stale): use :meth:`call`.
        :raises NeedsThread: ``inline`` and the operation is heavy: call again from a worker thread.
        """
        authorize_operation(ctx)
        service = KMSService(self.kms, None, inline=inline)
        return invoke(service, request.operation_model, request.params, ctx)

    def in_unit_of_work(self, work: Any) -> Any:
        """Run ``work(step)`` in a unit of work after the due transitions (for the control and data planes)."""
        with self._lock, UnitOfWork(self.sessions) as uow:
            self._apply_due(uow)
            return work(Step(self.cloudhsm, uow))

    def tick(self) -> int:
        """Apply whatever fell due; the background ticker and the clock endpoint call it."""
        with self._lock, UnitOfWork(self.sessions) as uow:
            applied = self._apply_due(uow)
            self.kms.usage.flush(uow.session)
            return applied

    def _apply_due(self, uow: UnitOfWork) -> int:
        """Apply every CloudHSM and KMS transition and timer that fell due; KMS changes clear the key cache, and a
        commit that changed CloudHSM clusters, HSMs or keys drops the views of keys in CloudHSM key stores."""
        now = self.clock.now()
        applied = self.lifecycle.apply_due(uow.session, Step(self.cloudhsm, uow), now)
        kms_applied = self.kms.lifecycle.apply_due(uow.session, KmsStep(self.kms, uow), now)

        def forget_backed() -> None:  # every unit of work starts here: one check for CloudHSM changes in any of them
            touched = touched_in(uow.session)
            if touched.backed or touched.everything:
                self.kms.cache.forget_backed()
                self.kms.handles.forget_all()

        uow.after_commit(forget_backed)
        if kms_applied:
            uow.after_commit(self.kms.cache.invalidate)
        return applied + kms_applied

    # -- control -------------------------------------------------------------------------------------------

    def advance_clock(self, seconds: float) -> None:
        with self._lock:
            self.clock.advance(seconds)
            self._save_clock_offset()
        self.tick()

    def reset(self) -> None:
        """Wipe every row, token (but the root CA token), backup and the clock offset."""
        with self._lock:
            Base.metadata.drop_all(self.engine)
            Base.metadata.create_all(self.engine)
            for serial, label in self.hsm.tokens().items():
                if label not in KEPT_TOKEN_LABELS:
                    self.hsm.delete_token(serial)
            self.kms.cache.invalidate()
            self.kms.usage.forget()
            self.kms.keystore_sessions.close_all()
            self.kms.faults.clear()
            self.cloudhsm.vault.clear()
            self.clock.reset()
            self._save_clock_offset()

    def reconcile(self) -> None:
        """Make rows and files agree after a crash: no token without its HSM row, no HSM row without its token,
        no backup row without its snapshot, no snapshot without its row."""
        with self._lock, UnitOfWork(self.sessions) as uow:
            session = uow.session
            tokens = self.hsm.tokens()
            hsms = list(session.scalars(select(Hsm)))
            known = {h.token_serial for h in hsms}
            for serial, label in tokens.items():
                if label not in KEPT_TOKEN_LABELS and serial not in known:
                    log.warning("removing token %s (%s): no HSM row refers to it", serial, label)
                    self.hsm.delete_token(serial)
            for hsm in hsms:
                if hsm.token_serial in tokens:
                    continue
                if hsm.state is HsmState.DELETE_IN_PROGRESS:
                    session.delete(hsm)
                else:
                    log.warning("HSM %s lost its token %s: marking it DEGRADED", hsm.hsm_id, hsm.token_serial)
                    self.lifecycle.enter(hsm, HsmState.DEGRADED, self.clock.now())
                    hsm.state_message = "HSM creation failed. Please delete this HSM and try again."
            vault = self.cloudhsm.vault
            stored = vault.backup_ids()
            backups = list(session.scalars(select(Backup)))
            for backup in backups:
                if backup.backup_id not in stored:
                    log.warning("backup %s has no snapshot (state %s): removing it", backup.backup_id, backup.state)
                    session.execute(delete(Tag).where(Tag.resource_id == backup.backup_id))
                    session.delete(backup)
            rows = {b.backup_id for b in backups}
            for backup_id in stored - rows:
                log.warning("removing snapshot %s: no backup row refers to it", backup_id)
                vault.discard(backup_id)
            for partial in vault.root.glob("*.partial"):
                vault.discard(partial.name)

    def _wrapped_by_domain_key(self) -> int:
        """How many rows hold something wrapped by the KMS domain key (key material, import tokens, key store
        passwords): if there are any, a lost domain key must stop the start (:class:`kms.domainkey.DomainKeyLost`)."""
        with self.sessions() as session:
            return sum(session.scalar(select(func.count()).select_from(model)) or 0
                       for model in (KmsKeyMaterial, KmsImportToken, KmsCustomKeyStore))

    def close(self) -> None:
        with UnitOfWork(self.sessions) as uow:
            self.kms.usage.flush(uow.session)
        self.kms.next_passwords.close()
        self.hsm.close()
        self.engine.dispose()

    # -- clock persistence ---------------------------------------------------------------------------------

    def _load_clock_offset(self) -> float:
        with self.sessions() as session:
            setting = session.get(Setting, CLOCK_OFFSET_SETTING)
            return setting.number if setting else 0.0

    def _save_clock_offset(self) -> None:
        with UnitOfWork(self.sessions) as uow:
            setting = uow.session.get(Setting, CLOCK_OFFSET_SETTING)
            if setting is None:
                uow.session.add(Setting(name=CLOCK_OFFSET_SETTING, number=self.clock.offset_seconds))
            else:
                setting.number = self.clock.offset_seconds
