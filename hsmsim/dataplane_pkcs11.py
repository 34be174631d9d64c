"""The data plane's PKCS#11 application path (issue item 6): what :func:`hsmsim.connect` and ``hsmsim pkcs11-env``
learn from the server before they load SoftHSM themselves over the server's token directory.

Design B of ``docs/pkcs11-application-path.md``: crypto runs in the application process on the token files of
the cluster's HSMs; whatever creates, changes or destroys key objects goes through the existing key endpoints
(:mod:`hsmsim.dataplane`), which replicate to every ACTIVE HSM and record ownership. ``connect`` and ``epoch``
need the bearer token of a logged-in **crypto user** (``POST …/login``; an admin gets ``AccessDenied``):

* ``POST /_hsmsim/clusters/{ClusterId}/pkcs11/connect`` → ``{"module", "softhsm_conf", "token_dir", "pin",
  "hsms": [{"hsm_id", "label", "serial"}], "keys": [{"ref", "label", "class", "type", "owner", "shared",
  "pair"}], "epoch", "user"}``. ``hsms`` are the ACTIVE HSMs (token label = HSM id); ``keys`` are the keys the
  user may use (owned, shared with it, and every public key); ``pin`` is the token user PIN.
* ``GET …/pkcs11`` (no login, like DescribeClusters' HSM list) → ``{"module", "softhsm_conf", "token_dir",
  "hsms"}``: enough for ``hsmsim pkcs11-env`` without a PIN.
* ``GET …/pkcs11/epoch`` → ``{"epoch"}``: a digest of the user's view (ACTIVE HSMs + usable keys and their
  owners/labels). It changes whenever that view changes, so a client re-fetches ``connect`` only then. (A digest
  rather than a counter: it needs no hook in every code path that changes keys, shares, users or HSMs.)

This is simulation fidelity, not isolation: the PIN opens every object of every token in the data dir (the
server uses one user PIN for all tokens). The client enforces the view cooperatively.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from hsmsim.appkeys import SIMULATOR
from hsmsim.aws.errors import ServiceError
from hsmsim.cloudhsm import keyviews as kv
from hsmsim.cloudhsm import users
from hsmsim.cloudhsm.enums import HsmState
from hsmsim.cloudhsm.models import Cluster, HsmUser
from hsmsim.cloudhsm.runtime import Step
from hsmsim.dataplane import PREFIX, _error, _ok, _token
from hsmsim.httpio import run_blocking
from hsmsim.simulator import derive_pin

USER_PIN_PURPOSE = "softhsm-user-pin"
"""What the server derives its token user PIN from (see :class:`hsmsim.simulator.Simulator`)."""


def _crypto_user(step: Step, cluster_id: str, token: str) -> HsmUser:
    user = users.caller(step, step.runtime.sessions, cluster_id, token)
    if user.role != users.CRYPTO_USER:
        raise users.AccessDenied(
            f"Only crypto users can use keys through PKCS#11; '{user.username}' is a {user.role}."
        )
    return user


def _active_hsms(cluster: Cluster) -> list[dict[str, str]]:
    return [{"hsm_id": h.hsm_id, "label": h.hsm_id, "serial": h.token_serial}
            for h in cluster.hsms if h.state is HsmState.ACTIVE]


def view(step: Step, user: HsmUser) -> dict[str, Any]:
    """The ACTIVE HSMs of the user's cluster and the keys it may use, with the digest of both (``epoch``)."""
    hsms = _active_hsms(step.session.get(Cluster, user.cluster_id))
    rows = [k for k in kv.visible_keys(step, user) if k.missing_since is None]
    shares = kv.shares_of(step, user.cluster_id, [k.key_reference for k in rows])
    keys = [
        {
            "ref": k.key_reference,
            "label": k.label,
            "class": k.key_class,
            "type": k.key_type,
            "owner": k.owner,
            "shared": user.username in shares.get(k.key_reference, []),
            "pair": k.pair_reference,
        }
        for k in rows
    ]
    digest = hashlib.sha256(json.dumps([user.username, hsms, keys], sort_keys=True).encode()).hexdigest()[:32]
    return {"hsms": hsms, "keys": keys, "epoch": digest}


def pkcs11_routes() -> list[web.RouteDef]:
    """The ``…/pkcs11``, ``…/pkcs11/connect`` and ``…/pkcs11/epoch`` routes (for ``create_app``)."""

    def route(build: Callable[[web.Request, Step, str, str], Any]) -> Any:
        """A handler running ``build(request, step, cluster_id, bearer token)`` in a unit of work."""

        async def handle(request: web.Request) -> web.Response:
            cluster_id, token = request.match_info["cluster_id"], _token(request)
            try:
                simulator = request.app[SIMULATOR]
                work = lambda step: build(request, step, cluster_id, token)
                return _ok(await run_blocking(request.app, simulator.in_unit_of_work, work))
            except ServiceError as error:
                return _error(error)

        return handle

    def paths(request: web.Request) -> dict[str, str]:
        config = request.app[SIMULATOR].config
        data_dir = config.data_dir.resolve()
        return {
            "module": config.softhsm_module,
            "softhsm_conf": str(data_dir / "softhsm2.conf"),
            "token_dir": str(data_dir / "tokens"),
        }

    @route
    def info(request: web.Request, step: Step, cluster_id: str, token: str) -> dict[str, Any]:
        return {**paths(request), "hsms": _active_hsms(users.reachable_cluster(step, cluster_id))}

    @route
    def connect(request: web.Request, step: Step, cluster_id: str, token: str) -> dict[str, Any]:
        user = _crypto_user(step, cluster_id, token)
        pin = derive_pin((request.app[SIMULATOR].config.data_dir / "secret.key").read_bytes(), USER_PIN_PURPOSE)
        return {"user": user.username, **paths(request), "pin": pin, **view(step, user)}

    @route
    def epoch(request: web.Request, step: Step, cluster_id: str, token: str) -> dict[str, Any]:
        return {"epoch": view(step, _crypto_user(step, cluster_id, token))["epoch"]}

    return [
        web.get(f"{PREFIX}/pkcs11", info),
        web.post(f"{PREFIX}/pkcs11/connect", connect),
        web.get(f"{PREFIX}/pkcs11/epoch", epoch),
    ]
