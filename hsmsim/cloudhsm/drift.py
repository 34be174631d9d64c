"""Drift repair: what CloudHSM's appliance user does when the HSMs of a cluster no longer hold the same keys.

Every key write reaches every ACTIVE HSM before it returns (:mod:`hsmsim.cloudhsm.replication`), but a crash, a
failed copy or a hand-made change can still leave an object on one HSM and not on another. AWS: "If the keys on
HSMs in a cluster fall out of synchronization, AWS CloudHSM automatically resynchronizes them" with the appliance
user, which "can get a hash of objects on the HSM and can extract and insert masked (encrypted) objects"; this
applies to keys only, not to users (https://docs.aws.amazon.com/cloudhsm/latest/userguide/cluster-synchronization.html).

The simulator's appliance user works on the token files (:mod:`hsmsim.hsm.objects`): :func:`coverage` reads which
ACTIVE HSM tokens hold an object with each ``CKA_ID`` (= key reference), and :func:`repair` makes them agree with
the ownership rows (``cloudhsm_keys``), which are the single truth of which keys exist:

* **A key with a row is on every ACTIVE HSM.** Missing objects are copied, as files, from an HSM that has them
  (:meth:`SoftHSM.copy_objects`): the masked extract/insert, which keeps non-extractable keys non-extractable and
  every attribute (``LOCAL``, ``NEVER_EXTRACTABLE``, the check value) as it was.
* **An object whose reference has no row is removed** from every HSM that has it. Decision: remove, never
  complete. Such an object is what a key creation leaves when it fails after writing the token and before its
  row commits (the rows are written first, then the objects, then the transaction commits): the client got an
  error, not a key reference, so nobody can know or use the reference; no crypto user owns it, so no user would
  ever see it (visibility follows the rows), and completing it would mean inventing an owner. Its material came
  from a request that failed, so dropping it loses nothing anybody was told about -- the same as the rollback of
  that creation would have done.
* **A row whose objects are on no ACTIVE HSM** cannot be repaired: nothing is invented. It is logged as an error
  and marked (``HsmKey.missing_since``, cleared if the object turns up again, e.g. after a restore); the owner can
  still delete the key. Verbose ``key list`` cannot describe it and leaves it out (as before).

Only objects whose ``CKA_ID`` is a key reference (8 bytes) take part; anything else on a token is left alone.

When it runs: a lifecycle timer (``Cluster.next_sync_check_at``, every :data:`SYNC_CHECK_INTERVAL` of simulated
time while the cluster has two or more ACTIVE HSMs; a clock jump runs one check, not one per missed interval --
repair is idempotent) and before every data-plane key write (:func:`hsmsim.cloudhsm.keyviews.on_hsms`). The
latter matters: a write runs on one HSM and then replicates that HSM's whole token image to the others, so a key
missing on the HSM the write happens to run on would otherwise be deleted everywhere. Before a write nothing is
marked lost: the keys the write is creating already have rows and do not have objects yet.

Meanwhile verbose ``key list`` reports per key ``cluster-coverage`` (and the owners' and shared users'
``key-coverage``): ``"full"`` when every ACTIVE HSM holds the object, else ``"inconsistent"`` -- AWS's word for a
user, key or trust anchor present on a subset of the HSMs
(https://docs.aws.amazon.com/cloudhsm/latest/userguide/troubleshoot-sdk5-inconsistent-value.html, ...-key-replicate-
failures.html). ``user list`` keeps ``"full"``: users are rows, identical on every HSM by construction (and AWS
does not resynchronise users anyway).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pkcs11.exceptions import PKCS11Error
from sqlalchemy import select

from hsmsim.cloudhsm.enums import ClusterState, HsmState
from hsmsim.cloudhsm.models import Cluster, HsmKey
from hsmsim.cloudhsm.runtime import Step
from hsmsim.hsm import HSMError

log = logging.getLogger(__name__)

SYNC_CHECK_INTERVAL = timedelta(minutes=5)
"""How often (simulated time) the appliance user compares the HSMs of a cluster. AWS documents no period
("periodically clones keys to every HSM in the cluster"); a few minutes keeps tests short."""
FULL, INCONSISTENT = "full", "inconsistent"
REFERENCE_BYTES = 8


def reference_of(cka_id: bytes | None) -> str | None:
    """The key reference a ``CKA_ID`` stands for (None if the object is not a key of an HSM user)."""
    if cka_id is None or len(cka_id) != REFERENCE_BYTES:
        return None
    return f"0x{int.from_bytes(cka_id, 'big'):016x}"


def cka_id_of(reference: str) -> bytes:
    return int(reference, 16).to_bytes(REFERENCE_BYTES, "big")


def active_serials(cluster: Cluster) -> list[str]:
    return [h.token_serial for h in cluster.hsms if h.state is HsmState.ACTIVE]


@dataclass
class Coverage:
    """Which ACTIVE HSM tokens (``serials``, in HSM order) hold an object of each key reference."""

    serials: list[str]
    holders: dict[str, list[str]] = field(default_factory=dict)

    def of(self, reference: str) -> str:
        held = self.holders.get(reference, [])
        return FULL if self.serials and len(held) == len(self.serials) else INCONSISTENT

    def held_by(self, reference: str) -> list[str]:
        return list(self.holders.get(reference, []))


def coverage(step: Step, cluster_id: str) -> Coverage:
    """Read the object index of every ACTIVE HSM token of the cluster."""
    cluster = step.session.get(Cluster, cluster_id)
    serials = active_serials(cluster) if cluster is not None else []
    found = Coverage(serials)
    for serial in serials:
        references = {reference_of(i) for i in step.runtime.hsm.object_index(serial).values()}
        for reference in sorted(r for r in references if r is not None):
            found.holders.setdefault(reference, []).append(serial)
    return found


@dataclass
class Repair:
    """What :func:`repair` did: reference -> serials it was copied to / removed from; references on no HSM."""

    copied: dict[str, list[str]] = field(default_factory=dict)
    removed: dict[str, list[str]] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)


def repair(step: Step, cluster_id: str, *, mark_lost: bool = True) -> Repair:
    """Make the cluster's ACTIVE HSMs hold exactly the keys that have rows (see the module docstring).

    Raises HSMError (or PKCS11Error) if an HSM cannot be read or written; what was done until then stays done.
    """
    found = coverage(step, cluster_id)
    done = Repair()
    if not found.serials:
        return done
    rows = {
        k.key_reference: k
        for k in step.session.scalars(select(HsmKey).where(HsmKey.cluster_id == cluster_id))
    }
    copies: defaultdict[tuple[str, str], set[str]] = defaultdict(set)
    for reference in rows:
        held = found.held_by(reference)
        if not held:
            done.lost.append(reference)
            continue
        for target in found.serials:
            if target not in held:
                copies[(held[0], target)].add(reference)
    removals: defaultdict[str, set[str]] = defaultdict(set)
    for reference, held in found.holders.items():
        if reference not in rows:
            for serial in held:
                removals[serial].add(reference)

    hsm = step.runtime.hsm
    for (source, target), references in sorted(copies.items()):
        hsm.copy_objects(source, target, {cka_id_of(r) for r in references})
        for reference in sorted(references):
            done.copied.setdefault(reference, []).append(target)
            log.warning("cluster %s: key %s was missing on HSM token %s; copied from %s",
                        cluster_id, reference, target, source)
    for serial, references in sorted(removals.items()):
        hsm.remove_objects(serial, {cka_id_of(r) for r in references})
        for reference in sorted(references):
            done.removed.setdefault(reference, []).append(serial)
            log.warning("cluster %s: object %s has no owner (a key creation that did not complete); "
                        "removed from HSM token %s", cluster_id, reference, serial)
    _mark(step, cluster_id, rows, set(done.lost), mark_lost)
    return done


def _mark(step: Step, cluster_id: str, rows: dict[str, HsmKey], lost: set[str], mark_lost: bool) -> None:
    now = step.runtime.clock.now()
    for reference, row in rows.items():
        if reference in lost:
            if mark_lost and row.missing_since is None:
                row.missing_since = now
                log.error("cluster %s: key %s (owner %s) is on no ACTIVE HSM; its material is lost",
                          cluster_id, reference, row.owner)
        elif row.missing_since is not None:
            row.missing_since = None
            log.warning("cluster %s: key %s is on the HSMs again", cluster_id, reference)


# -- the lifecycle timer ------------------------------------------------------------------------------------------


def schedule_sync_check(cluster: Cluster, at: datetime) -> None:
    """Start the periodic check once the cluster has two ACTIVE HSMs (called when an HSM becomes ACTIVE)."""
    if cluster.next_sync_check_at is None and len(active_serials(cluster)) >= 2:
        cluster.next_sync_check_at = at + SYNC_CHECK_INTERVAL


def sync_check(step: Step, cluster: Cluster, due: datetime) -> None:
    """Timer: repair an ACTIVE cluster; keep ticking while it has two ACTIVE HSMs, stop below that.

    A failing HSM never blocks the lifecycle: the error is logged and the next check retries.
    """
    if cluster.state in (ClusterState.DELETE_IN_PROGRESS, ClusterState.DELETED) or len(active_serials(cluster)) < 2:
        cluster.next_sync_check_at = None  # schedule_sync_check starts it again
        return
    if cluster.state is ClusterState.ACTIVE:
        try:
            repair(step, cluster.cluster_id)
        except (HSMError, PKCS11Error, OSError) as error:
            log.error("cluster %s: synchronisation check failed: %s", cluster.cluster_id, error)
    cluster.next_sync_check_at = max(due, step.runtime.clock.now()) + SYNC_CHECK_INTERVAL
