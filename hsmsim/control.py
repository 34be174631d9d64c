"""Control endpoints of the simulator (not AWS) under ``/_hsmsim``.

* ``GET  /_hsmsim/health``: version, services, delay profile, simulated now.
* ``POST /_hsmsim/reset``: wipe all state (rows, tokens, backups, clock offset).
* ``GET  /_hsmsim/clock``: the simulated now; ``POST /_hsmsim/clock`` with ``{"advance_seconds": N}`` moves it
  forward and applies every transition that falls due.
* ``GET  /_hsmsim/roots``: the simulated AWS CloudHSM and manufacturer root certificates (AWS publishes its
  real ones for the "verify HSM identity" procedure).

* ``GET|POST|DELETE /_hsmsim/connection-faults``: custom key store connection failures whose cause AWS would have
  outside KMS and CloudHSM (there is no EC2 here). POST ``{"cluster_id", "error": SUBNET_NOT_FOUND |
  INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET | NETWORK_ERRORS | INTERNAL_ERROR, "count"?: N}`` makes the next N
  connections to that cluster (all, without ``count``) fail with that ConnectionErrorCode; DELETE
  ``?cluster_id=`` clears them (all without it). In memory: a restart forgets them (kms.keystores.faults).

What acts on a cluster's HSMs (``cluster activate``, login, users) is the data plane: :mod:`hsmsim.dataplane`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from aiohttp import web

from hsmsim.appkeys import SIMULATOR
from hsmsim.aws.errors import ServiceError, ValidationException
from hsmsim.cloudhsm.certificates import to_pem
from hsmsim.httpio import json_object_body, run_blocking
from kms.enums import ConnectionErrorCode
from kms.keystores.faults import INJECTABLE


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data), status=status, content_type="application/json")


def _error(error: ServiceError) -> web.Response:
    return _json({"__type": error.code, "message": error.message}, status=error.status)


def _clock_view(request: web.Request) -> dict[str, Any]:
    now = request.app[SIMULATOR].clock.now()
    return {"now": now.isoformat(), "epoch_seconds": now.timestamp()}


def control_routes(health: Callable[[web.Application], dict[str, Any]]) -> list[web.RouteDef]:
    async def get_health(request: web.Request) -> web.Response:
        return _json(health(request.app))

    async def post_reset(request: web.Request) -> web.Response:
        await run_blocking(request.app, request.app[SIMULATOR].reset)
        return _json({"reset": True})

    async def get_roots(request: web.Request) -> web.Response:
        roots = request.app[SIMULATOR].cloudhsm.roots
        return _json({kind: to_pem(certificate) for kind, certificate in roots.certificates.items()})

    async def get_clock(request: web.Request) -> web.Response:
        return _json(_clock_view(request))

    async def post_clock(request: web.Request) -> web.Response:
        try:
            body = await json_object_body(request)
            seconds = body.get("advance_seconds")
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds):
                raise ValidationException("advance_seconds must be a number of seconds.")
            if seconds < 0:
                raise ValidationException("advance_seconds must not be negative: the clock only moves forward.")
        except ServiceError as error:
            return _error(error)
        await run_blocking(request.app, request.app[SIMULATOR].advance_clock, float(seconds))
        return _json(_clock_view(request))

    async def get_faults(request: web.Request) -> web.Response:
        return _json({"faults": [f.view() for f in request.app[SIMULATOR].kms.faults.list()]})

    async def post_fault(request: web.Request) -> web.Response:
        try:
            body = await json_object_body(request)
            cluster_id, error, count = body.get("cluster_id"), body.get("error"), body.get("count")
            if not isinstance(cluster_id, str) or not cluster_id:
                raise ValidationException("cluster_id is required (the cluster whose connections fail).")
            codes = [c.value for c in INJECTABLE]
            if error not in codes:
                raise ValidationException(f"error must be one of {', '.join(codes)}.")
            if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
                raise ValidationException("count must be a positive whole number (or absent: until cleared).")
        except ServiceError as failure:
            return _error(failure)
        fault = request.app[SIMULATOR].kms.faults.inject(cluster_id, ConnectionErrorCode(error), count)
        return _json({"fault": fault.view()})

    async def delete_faults(request: web.Request) -> web.Response:
        cleared = request.app[SIMULATOR].kms.faults.clear(request.query.get("cluster_id"))
        return _json({"cleared": cleared})

    return [
        web.get("/_hsmsim/connection-faults", get_faults),
        web.post("/_hsmsim/connection-faults", post_fault),
        web.delete("/_hsmsim/connection-faults", delete_faults),
        web.get("/_hsmsim/health", get_health),
        web.post("/_hsmsim/reset", post_reset),
        web.get("/_hsmsim/roots", get_roots),
        web.get("/_hsmsim/clock", get_clock),
        web.post("/_hsmsim/clock", post_clock),
    ]
