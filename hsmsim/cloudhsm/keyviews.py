"""Which keys an HSM user sees and how the CloudHSM CLI shows them: visibility, filters, views and ``key list``.

A crypto user sees the keys it owns, the keys shared with it and every public key of the cluster; an admin sees
every key, but only its reference and label. Verbose views read the attributes from the token objects of one ACTIVE
HSM that holds them (``CKA_ID`` = key reference) and report how many hold them (``cluster-coverage``, see
:mod:`hsmsim.cloudhsm.drift`, which also repairs drift before every key write); ownership and shares come from the
rows. Used by :mod:`hsmsim.cloudhsm.keystore`.

* ``key list``: https://docs.aws.amazon.com/cloudhsm/latest/userguide/cloudhsm_cli-key-list.html
* Filters: https://docs.aws.amazon.com/cloudhsm/latest/userguide/manage-keys-cloudhsm-cli-filtering.html
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from pkcs11.exceptions import PKCS11Error
from sqlalchemy import or_, select

from hsmsim.aws.errors import ServiceError, ValidationException
from hsmsim.cloudhsm import drift
from hsmsim.cloudhsm import keytokens as kt
from hsmsim.cloudhsm.enums import HsmState
from hsmsim.cloudhsm.models import Cluster, HsmKey, HsmKeyShare, HsmUser
from hsmsim.cloudhsm.replication import NoActiveHsm
from hsmsim.cloudhsm.runtime import Step
from hsmsim.cloudhsm.users import ADMIN
from hsmsim.hsm import HSMError

log = logging.getLogger(__name__)
T = TypeVar("T")
ROW_FILTERS = {"label", "class", "key-type"}
"""Filters the rows answer without reading the tokens."""


class KeyNotFound(ServiceError):
    code, status = "KeyNotFound", 404


class HsmFailure(ServiceError):
    code, status = "HsmFailure", 500


# -- helpers ---------------------------------------------------------------------------------------------------


def _serials(step: Step, cluster_id: str) -> list[str]:
    cluster = step.session.get(Cluster, cluster_id)
    return [h.token_serial for h in cluster.hsms if h.state is HsmState.ACTIVE]


def on_hsms(step: Step, cluster_id: str, work: Callable[[Any], T], write: bool = True,
            only: Sequence[str] | None = None) -> T:
    """Run ``work(pkcs11_session)`` on the cluster's ACTIVE HSMs (a write reaches all of them, after drift repair:
    the write replicates one HSM's objects to the others); a read runs on one of ``only`` if given."""
    replicator = step.runtime.replicator
    serials = list(only) if only is not None and not write else _serials(step, cluster_id)
    try:
        if write:
            drift.repair(step, cluster_id, mark_lost=False)
        return (replicator.write if write else replicator.read)(cluster_id, serials, work)
    except (PKCS11Error, HSMError, NoActiveHsm) as error:
        log.error("HSM failure on cluster %s: %r", cluster_id, error)
        raise HsmFailure(f"The HSMs of cluster '{cluster_id}' could not complete the operation: {error!r}") from error


def parse_reference(text: str) -> str:
    try:
        value = int(text, 16)
    except (TypeError, ValueError):
        raise ValidationException(
            f"Invalid key reference '{text}': use a hexadecimal number such as 0x1c0686."
        ) from None
    if not 0 < value < 2**64:
        raise ValidationException(f"Invalid key reference '{text}': out of range.")
    return f"0x{value:016x}"


def integer(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValidationException(f"Invalid {name} {value!r}: an integer is required.")
    try:
        return int(value, 0) if isinstance(value, str) else value
    except ValueError:
        raise ValidationException(f"Invalid {name} {value!r}: an integer is required.") from None


def shares_of(step: Step, cluster_id: str, references: Iterable[str] | None = None) -> dict[str, list[str]]:
    query = select(HsmKeyShare).where(HsmKeyShare.cluster_id == cluster_id)
    if references is not None:
        query = query.where(HsmKeyShare.key_reference.in_(list(references)))
    found: dict[str, list[str]] = {}
    for share in step.session.scalars(query.order_by(HsmKeyShare.username)):
        found.setdefault(share.key_reference, []).append(share.username)
    return found


def visible_keys(step: Step, user: HsmUser) -> list[HsmKey]:
    """The keys ``user`` sees: everything for an admin (references and labels only); for a crypto user its own
    keys, the keys shared with it and every public key."""
    query = select(HsmKey).where(HsmKey.cluster_id == user.cluster_id)
    if user.role != ADMIN:
        shared = select(HsmKeyShare.key_reference).where(
            HsmKeyShare.cluster_id == user.cluster_id, HsmKeyShare.username == user.username
        )
        query = query.where(
            or_(HsmKey.owner == user.username, HsmKey.key_class == kt.PUBLIC, HsmKey.key_reference.in_(shared))
        )
    return list(step.session.scalars(query.order_by(HsmKey.key_reference)))


def key_views(step: Step, keys: list[HsmKey], verbose: bool) -> list[dict[str, Any]]:
    if not keys:
        return []
    if not verbose:
        return [{"key-reference": k.key_reference, "attributes": {"label": k.label}} for k in keys]
    cluster_id = keys[0].cluster_id
    shares = shares_of(step, cluster_id, [k.key_reference for k in keys])
    try:
        found = drift.coverage(step, cluster_id)
    except HSMError as error:
        raise HsmFailure(f"The HSMs of cluster '{cluster_id}' could not be read: {error!r}") from error
    groups: dict[tuple[str, ...], list[HsmKey]] = {}  # keys by the HSMs that hold them (read from one of those)
    for key in keys:
        groups.setdefault(tuple(found.held_by(key.key_reference)), []).append(key)
    described: dict[str, dict[str, Any] | None] = {}
    for holders, group in groups.items():
        if holders:
            described.update(zip(
                [k.key_reference for k in group],
                on_hsms(step, cluster_id, _describe_all(group), write=False, only=holders),
                strict=True,
            ))

    views = []
    for key in keys:
        attributes = described.get(key.key_reference)
        if attributes is None:
            log.warning("key %s of cluster %s has no token object", key.key_reference, key.cluster_id)
            continue
        coverage = found.of(key.key_reference)
        views.append({
            "key-reference": key.key_reference,
            "key-info": {
                "key-owners": [{"username": key.owner, "key-coverage": coverage}],
                "shared-users": [{"username": u, "key-coverage": coverage} for u in shares.get(key.key_reference, [])],
                "key-quorum-values": {"manage-key-quorum-value": 0, "use-key-quorum-value": 0},
                "cluster-coverage": coverage,
            },
            "attributes": attributes,
        })
    return views


def _describe_all(keys: list[HsmKey]) -> Callable[[Any], list[dict[str, Any] | None]]:
    def read(session: Any) -> list[dict[str, Any] | None]:
        return [kt.describe(session, k.key_reference, k.key_class, k.key_type, k.pair_reference) for k in keys]

    return read


# -- listing -----------------------------------------------------------------------------------------------------


def _filters(filters: Iterable[str]) -> tuple[str | None, dict[str, str]]:
    """``key-reference=0x..`` and ``attr.NAME=VALUE`` terms."""
    reference, attributes = None, {}
    for term in filters:
        name, equals, value = str(term).partition("=")
        if not equals:
            raise ValidationException(f"Invalid filter '{term}': use key-reference=0x... or attr.NAME=VALUE.")
        if name == "key-reference":
            reference = parse_reference(value)
        elif name.startswith("attr.") and name[5:] in kt.FLAGS.keys() | kt.FILTERABLE:
            attributes[name[5:]] = value
        else:
            raise ValidationException(f"Invalid filter '{term}': unknown key attribute or selector '{name}'.")
    return reference, attributes


def _matches(view: dict[str, Any], wanted: dict[str, str]) -> bool:
    for name, value in wanted.items():
        actual = view["attributes"].get(name)
        if isinstance(actual, bool):
            if actual != kt.parse_bool(name, value):
                return False
        elif str(actual).lower() != value.lower():  # numbers, curves and hex values
            return False
    return True


def _brief(view: dict[str, Any]) -> dict[str, Any]:
    return {"key-reference": view["key-reference"], "attributes": {"label": view["attributes"]["label"]}}


def _candidates(step: Step, user: HsmUser, filters: Iterable[str]) -> tuple[list[HsmKey], dict[str, str]]:
    """The visible keys the rows match, and the filter terms only the tokens can answer."""
    reference, wanted = _filters(filters)
    keys = [k for k in visible_keys(step, user) if reference is None or k.key_reference == reference]
    row_values = {"label": "label", "class": "key_class", "key-type": "key_type"}
    keys = [k for k in keys if all(getattr(k, row_values[n]) == v for n, v in wanted.items() if n in ROW_FILTERS)]
    return keys, {n: v for n, v in wanted.items() if n not in ROW_FILTERS}


def list_keys(step: Step, user: HsmUser, filters: Iterable[str], verbose: bool, max_items: Any = None,
              starting_token: Any = None) -> dict[str, Any]:
    """``key list``: ``matched_keys``, ``total_key_count``, ``returned_key_count`` and ``next_token`` if more
    (every match unless ``max_items``). ``verbose`` has no effect for admins."""
    start = integer("starting token", starting_token) if starting_token not in (None, "") else 0
    size = integer("max items", max_items) if max_items not in (None, "") else None
    if start < 0 or (size is not None and size < 1):
        raise ValidationException("Invalid pagination: max items must be >= 1 and the starting token >= 0.")
    end = None if size is None else start + size
    keys, token_terms = _candidates(step, user, filters)
    verbose = verbose and user.role != ADMIN
    if token_terms:  # describe every candidate, then page
        matched = [v for v in key_views(step, keys, True) if _matches(v, token_terms)]
        total, page = len(matched), [v if verbose else _brief(v) for v in matched[start:end]]
    else:  # page the rows, then describe only the page
        total, page = len(keys), key_views(step, keys[start:end], verbose)
    out: dict[str, Any] = {"matched_keys": page, "total_key_count": total, "returned_key_count": len(page)}
    if start + len(page) < total:
        out["next_token"] = str(start + len(page))
    return out
