"""The simulator's data plane (not AWS): what the CloudHSM CLI, and later applications, do on a cluster's HSMs.

Real clients talk to the HSMs of a cluster over TLS with HSM user credentials; here they talk HTTP to the simulator
under ``/_hsmsim/clusters/{ClusterId}``. Bodies are JSON. A success is ``200`` with the CloudHSM CLI's envelope
``{"error_code": 0, "data": ...}``; a failure is a 4xx with ``{"error_code": 1, "data": <message>, "__type": <code>,
"message": <message>}`` (codes in :mod:`hsmsim.cloudhsm.users`). Commands marked *token* need
``Authorization: Bearer <token>`` from ``login``.

* ``POST …/activate`` ``{"password"}`` → ``"Cluster activation successful"`` (``cluster activate``, no login)
* ``POST …/login`` ``{"username", "password", "role"}`` → ``{"username", "role"}``, plus ``"token"`` beside
  ``data`` (``login``)
* ``POST …/logout`` (token) → ``"Logout successful"`` (``logout``; ends this session only)
* ``GET …/users`` → ``{"users": [...]}`` (``user list``, no login)
* ``POST …/users`` ``{"username", "role", "password"}`` (token) → ``{"username", "role"}`` (``user create``)
* ``DELETE …/users/{username}?role=<role>`` (token) → ``{"username", "role"}`` (``user delete``)
* ``POST …/users/{username}/password`` ``{"role", "password"}`` (token) → ``{"username", "role"}``
  (``user change-password``)

Sessions live in memory only, their tokens kept as digests: a restart of the simulator logs everyone out.
AWS CloudHSM CLI reference: https://docs.aws.amazon.com/cloudhsm/latest/userguide/cloudhsm_cli-reference.html
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from hsmsim.appkeys import EXECUTOR, SIMULATOR
from hsmsim.aws.errors import ServiceError, ValidationException
from hsmsim.cloudhsm import users
from hsmsim.cloudhsm.activation import activate_cluster
from hsmsim.cloudhsm.models import Cluster
from hsmsim.cloudhsm.runtime import Step

PREFIX = "/_hsmsim/clusters/{cluster_id}"


def _ok(data: Any, **extra: Any) -> web.Response:
    return web.json_response({"error_code": 0, "data": data, **extra})


def _error(error: ServiceError) -> web.Response:
    body = {"error_code": 1, "data": error.message, "__type": error.code, "message": error.message}
    return web.json_response(body, status=error.status)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(raw) if (raw := await request.read()) else {}
    except ValueError:
        raise ValidationException("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ValidationException("The request body must be a JSON object.")
    return body


def _string(source: Any, name: str) -> str:
    value = source.get(name)
    if not isinstance(value, str):
        raise ValidationException(f"{name} is required (a string).")
    return value


def _token(request: web.Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def dataplane_routes() -> list[web.RouteDef]:
    sessions = users.LiveSessions()

    async def in_unit_of_work(request: web.Request, work: Callable[[Step], Any]) -> Any:
        simulator = request.app[SIMULATOR]
        return await asyncio.get_running_loop().run_in_executor(request.app[EXECUTOR], simulator.in_unit_of_work, work)

    def handler(work: Callable[[web.Request, dict[str, Any], str], Callable[[Step], Any]]) -> Any:
        """A route whose ``work(request, body, cluster_id)`` builds the unit of work; errors become 4xx."""

        async def handle(request: web.Request) -> web.Response:
            try:
                body = await _body(request) if request.method == "POST" else {}
                return _ok(await in_unit_of_work(request, work(request, body, request.match_info["cluster_id"])))
            except ServiceError as error:
                return _error(error)

        return handle

    @handler
    def activate(request: web.Request, body: dict[str, Any], cluster_id: str) -> Callable[[Step], Any]:
        password = _string(body, "password")

        def work(step: Step) -> str:
            cluster = step.session.get(Cluster, cluster_id)
            if cluster is None:
                raise users.ClusterNotFound(f"Cluster '{cluster_id}' not found.")
            activate_cluster(step, cluster, password, step.runtime.clock.now())
            return "Cluster activation successful"

        return work

    async def login(request: web.Request) -> web.Response:
        cluster_id = request.match_info["cluster_id"]
        try:
            body = await _body(request)
            username, password, role = (_string(body, name) for name in ("username", "password", "role"))
            result = await in_unit_of_work(
                request, lambda step: users.login(step, sessions, cluster_id, username, password, role)
            )
        except ServiceError as error:
            return _error(error)
        if result.error is not None:  # raised only now: the failed attempt it counted is committed
            return _error(result.error)
        return _ok(result.user, token=result.token)

    @handler
    def logout(request: web.Request, body: dict[str, Any], cluster_id: str) -> Callable[[Step], Any]:
        return lambda step: users.logout(step, sessions, cluster_id, _token(request))

    @handler
    def list_users(request: web.Request, body: dict[str, Any], cluster_id: str) -> Callable[[Step], Any]:
        return lambda step: {"users": users.list_users(step, cluster_id)}

    @handler
    def create_user(request: web.Request, body: dict[str, Any], cluster_id: str) -> Callable[[Step], Any]:
        username, role, password = (_string(body, name) for name in ("username", "role", "password"))

        def work(step: Step) -> dict[str, str]:
            admin = users.caller(step, sessions, cluster_id, _token(request))
            return users.create_user(step, admin, username, role, password)

        return work

    @handler
    def delete_user(request: web.Request, body: dict[str, Any], cluster_id: str) -> Callable[[Step], Any]:
        username, role = request.match_info["username"], _string(request.query, "role")

        def work(step: Step) -> dict[str, str]:
            admin = users.caller(step, sessions, cluster_id, _token(request))
            return users.delete_user(step, sessions, admin, username, role)

        return work

    @handler
    def change_password(request: web.Request, body: dict[str, Any], cluster_id: str) -> Callable[[Step], Any]:
        username, role, password = request.match_info["username"], _string(body, "role"), _string(body, "password")

        def work(step: Step) -> dict[str, str]:
            user = users.caller(step, sessions, cluster_id, _token(request))
            return users.change_password(step, sessions, user, username, role, password)

        return work

    return [
        web.post(f"{PREFIX}/activate", activate),
        web.post(f"{PREFIX}/login", login),
        web.post(f"{PREFIX}/logout", logout),
        web.get(f"{PREFIX}/users", list_users),
        web.post(f"{PREFIX}/users", create_user),
        web.delete(f"{PREFIX}/users/{{username}}", delete_user),
        web.post(f"{PREFIX}/users/{{username}}/password", change_password),
    ]
