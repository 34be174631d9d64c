"""Which cached key views a unit of work made stale.

A :class:`~kms.keyview.KeyView` depends on its key's row and the rows of the same key in other regions (a
multi-Region key's metadata lists its replicas), on the key's material, grants and policy, and resolved alias
names on alias rows. SQLAlchemy tells us what a session flushed: the ORM objects it added, changed or deleted
name their keys, so only those keys' views are dropped after the commit and every other key stays hot. A bulk
INSERT/UPDATE/DELETE statement names no objects: it drops everything, as does any lifecycle step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from hsmsim.cloudhsm.models import Cluster, Hsm, HsmKey
from kms.identifiers import ARN
from kms.models import (
    KmsAlias,
    KmsBackingKey,
    KmsCustomKeyStore,
    KmsGrant,
    KmsKey,
    KmsKeyMaterial,
)

TOUCHED = "kms_touched"


@dataclass
class Touched:
    families: set[tuple[str, str]] = field(default_factory=set)
    """(account, key id) of every key whose views are stale, in every region."""
    names: bool = False
    """An alias changed: resolved names are stale."""
    everything: bool = False
    backed: bool = False
    """A CloudHSM cluster, HSM or key changed: views of keys in CloudHSM key stores may name the wrong HSMs."""

    def __bool__(self) -> bool:
        return self.everything or self.names or bool(self.families)


def touched_in(session: Session) -> Touched:
    found: Touched | None = session.info.get(TOUCHED)
    return Touched() if found is None else found  # not ``or``: a Touched with only ``backed`` is falsy


def _touched(session: Session) -> Touched:
    found: Touched | None = session.info.get(TOUCHED)
    if found is None:
        found = session.info[TOUCHED] = Touched()
    return found


@event.listens_for(Session, "before_flush")
def _collect(session: Session, _context: Any, _instances: Any) -> None:
    touched = _touched(session)
    for row in chain(session.new, session.dirty, session.deleted):
        if isinstance(row, (KmsKey, KmsKeyMaterial)):
            touched.families.add((row.account_id, row.key_id))
        elif isinstance(row, KmsGrant):
            match = ARN.match(row.key_arn)
            if match is None:
                touched.everything = True
            else:
                touched.families.add((match.group(3), match.group(5)))
        elif isinstance(row, KmsAlias):
            touched.names = True
        elif isinstance(row, (KmsCustomKeyStore, KmsBackingKey)):  # a store's keys show its state and cluster
            touched.everything = True
        elif isinstance(row, (Cluster, Hsm, HsmKey)):
            touched.backed = True


@event.listens_for(Session, "do_orm_execute")
def _collect_bulk(state: Any) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        _touched(state.session).everything = True
