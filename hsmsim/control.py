"""Control endpoints of the simulator (not AWS) under ``/_hsmsim``.

* ``GET  /_hsmsim/health``: version, services, delay profile, simulated now.
* ``POST /_hsmsim/reset``: wipe all state (rows, tokens, backups, clock offset).
* ``GET  /_hsmsim/clock``: the simulated now; ``POST /_hsmsim/clock`` with ``{"advance_seconds": N}`` moves it
  forward and applies every transition that falls due.
* ``GET  /_hsmsim/roots``: the simulated AWS CloudHSM and manufacturer root certificates (AWS publishes its
  real ones for the "verify HSM identity" procedure).

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

    return [
        web.get("/_hsmsim/health", get_health),
        web.post("/_hsmsim/reset", post_reset),
        web.get("/_hsmsim/roots", get_roots),
        web.get("/_hsmsim/clock", get_clock),
        web.post("/_hsmsim/clock", post_clock),
    ]
