"""Cluster synchronisation: what is written on one HSM is on every active HSM before the write returns.

Design decision (README, "Cluster synchronisation"): every HSM of a cluster is a file-level clone of the first
one (same token master key, see :meth:`hsmsim.hsm.SoftHSM.restore`), so an object created on one HSM reaches
the others by copying its object file (:meth:`hsmsim.hsm.SoftHSM.replicate`). Unlike wrapping keys out with a
trusted key, this keeps non-extractable keys non-extractable and every attribute (``LOCAL``,
``NEVER_EXTRACTABLE``) intact, as CloudHSM's own cloning does. Writes to one cluster are serialised by a
per-cluster lock so that two writers on different HSMs cannot replicate over each other; reads are spread over
the HSMs round-robin, like the CloudHSM client spreads load.
"""

from __future__ import annotations

import itertools
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import TypeVar

import pkcs11

from hsmsim.hsm import SoftHSM

T = TypeVar("T")


class NoActiveHsm(RuntimeError):
    """The cluster has no active HSM to run the operation on."""


class ClusterReplicator:
    def __init__(self, hsm: SoftHSM) -> None:
        self._hsm = hsm
        self._locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._locks_guard = threading.Lock()
        self._turn = itertools.count()

    def _lock(self, cluster_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks[cluster_id]

    def _pick(self, cluster_id: str, serials: Sequence[str]) -> str:
        if not serials:
            raise NoActiveHsm(f"cluster {cluster_id} has no active HSM")
        return serials[next(self._turn) % len(serials)]

    def write(self, cluster_id: str, serials: Sequence[str], work: Callable[[pkcs11.Session], T]) -> T:
        """Run ``work`` (which creates, changes or destroys token objects) on one of the cluster's active HSM
        tokens, then replicate that token's objects to the others."""
        with self._lock(cluster_id):
            source = self._pick(cluster_id, serials)
            with self._hsm.session(source, exclusive=True) as session:
                result = work(session)
            self._hsm.replicate(source, [s for s in serials if s != source])
            return result

    def read(self, cluster_id: str, serials: Sequence[str], work: Callable[[pkcs11.Session], T]) -> T:
        """Run ``work`` (crypto with existing objects) on one of the cluster's active HSM tokens."""
        with self._hsm.session(self._pick(cluster_id, serials)) as session:
            return work(session)
