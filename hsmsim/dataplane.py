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

Keys (:mod:`hsmsim.cloudhsm.keystore`; token of a crypto user, or of an admin for ``GET …/keys``):

* ``GET …/keys?filter=attr.label=L&filter=key-reference=0x..&verbose=true&max_items=N&starting_token=T`` →
  ``{"matched_keys", "total_key_count", "returned_key_count"[, "next_token"]}`` (``key list``; all keys unless
  ``max_items``)
* ``POST …/keys/generate-symmetric`` ``{"key_type": "aes"|"generic-secret", "label", "key_length_bytes",
  "attributes"?, "share_crypto_users"?}`` → ``{"key"}`` (``key generate-symmetric aes|generic-secret``)
* ``POST …/keys/generate-asymmetric-pair`` ``{"key_type": "rsa"|"ec", "public_label", "private_label",
  "modulus_size_bits" + "public_exponent" | "curve", "public_attributes"?, "private_attributes"?,
  "share_crypto_users"?}`` → ``{"public_key", "private_key"}`` (``key generate-asymmetric-pair rsa|ec``)
* ``POST …/keys/unwrap`` ``{"wrapping_key": ref, "mechanism": "AES_KEY_WRAP"|"AES_KEY_WRAP_PAD"|"RSA_PKCS_OAEP",
  "wrapped_key": base64, "key_type": "aes"|"generic-secret", "label", "attributes"?, "share_crypto_users"?}`` →
  ``{"key"}`` (``key unwrap``: a new key on every HSM, owned by the caller, who must be able to use the wrapping key)
* ``DELETE …/keys/{ref}``, ``POST …/keys/{ref}/share`` and ``…/unshare`` ``{"username", "role"}``,
  ``POST …/keys/{ref}/attributes`` ``{"name", "value"}`` → ``{"message"}`` (``key delete|share|unshare|
  set-attribute``). ``attributes`` are ``{"name": true|"true"}`` or ``["name=value", ...]``.

Sessions live in memory only (``CloudHSMRuntime.sessions``, shared with KMS later), their tokens kept as digests: a restart of the simulator logs everyone out.
AWS CloudHSM CLI reference: https://docs.aws.amazon.com/cloudhsm/latest/userguide/cloudhsm_cli-reference.html
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from hsmsim.appkeys import SIMULATOR
from hsmsim.aws.errors import ServiceError, ValidationException
from hsmsim.cloudhsm import keystore, users
from hsmsim.cloudhsm.activation import activate_cluster
from hsmsim.cloudhsm.models import Cluster
from hsmsim.cloudhsm.runtime import Step
from hsmsim.httpio import json_object_body, run_blocking

PREFIX = "/_hsmsim/clusters/{cluster_id}"


def _ok(data: Any, **extra: Any) -> web.Response:
    return web.json_response({"error_code": 0, "data": data, **extra})


def _error(error: ServiceError) -> web.Response:
    body = {"error_code": 1, "data": error.message, "__type": error.code, "message": error.message}
    return web.json_response(body, status=error.status)


def _string(source: Any, name: str) -> str:
    value = source.get(name)
    if not isinstance(value, str):
        raise ValidationException(f"{name} is required (a string).")
    return value


def _attributes(source: Any, name: str) -> dict[str, Any]:
    """Key attributes as ``{"name": value}`` or as the CLI's ``["name=value", ...]``."""
    value = source.get(name) or {}
    if isinstance(value, list):
        bad = [v for v in value if not isinstance(v, str) or "=" not in v]
        if bad:
            raise ValidationException(f"Invalid key attribute {bad[0]!r}: use KEY_ATTRIBUTE_NAME=KEY_ATTRIBUTE_VALUE.")
        return dict(v.split("=", 1) for v in value)
    if not isinstance(value, dict):
        raise ValidationException(f"{name} must be an object of attribute names and values.")
    return value


def _names(source: Any, name: str) -> list[str]:
    value = source.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationException(f"{name} must be a list of user names.")
    return value


def _token(request: web.Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def dataplane_routes() -> list[web.RouteDef]:

    async def in_unit_of_work(request: web.Request, work: Callable[[Step], Any]) -> Any:
        return await run_blocking(request.app, request.app[SIMULATOR].in_unit_of_work, work)

    def handler(work: Callable[[web.Request, dict[str, Any], str], Callable[[Step], Any]]) -> Any:
        """A route whose ``work(request, body, cluster_id)`` builds the unit of work; errors become 4xx."""

        async def handle(request: web.Request) -> web.Response:
            try:
                body = await json_object_body(request) if request.method == "POST" else {}
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
            body = await json_object_body(request)
            username, password, role = (_string(body, name) for name in ("username", "password", "role"))
            result = await in_unit_of_work(
                request, lambda step: users.login(step, step.runtime.sessions, cluster_id, username, password, role)
            )
        except ServiceError as error:
            return _error(error)
        if result.error is not None:  # raised only now: the failed attempt it counted is committed
            return _error(result.error)
        return _ok(result.user, token=result.token)

    @handler
    def logout(request: web.Request, body: dict[str, Any], cluster_id: str) -> Callable[[Step], Any]:
        return lambda step: users.logout(step, step.runtime.sessions, cluster_id, _token(request))

    @handler
    def list_users(request: web.Request, body: dict[str, Any], cluster_id: str) -> Callable[[Step], Any]:
        return lambda step: {"users": users.list_users(step, cluster_id)}

    @handler
    def create_user(request: web.Request, body: dict[str, Any], cluster_id: str) -> Callable[[Step], Any]:
        username, role, password = (_string(body, name) for name in ("username", "role", "password"))

        def work(step: Step) -> dict[str, str]:
            admin = users.caller(step, step.runtime.sessions, cluster_id, _token(request))
            return users.create_user(step, admin, username, role, password)

        return work

    @handler
    def delete_user(request: web.Request, body: dict[str, Any], cluster_id: str) -> Callable[[Step], Any]:
        username, role = request.match_info["username"], _string(request.query, "role")

        def work(step: Step) -> dict[str, str]:
            admin = users.caller(step, step.runtime.sessions, cluster_id, _token(request))
            return users.delete_user(step, step.runtime.sessions, admin, username, role)

        return work

    @handler
    def change_password(request: web.Request, body: dict[str, Any], cluster_id: str) -> Callable[[Step], Any]:
        username, role, password = request.match_info["username"], _string(body, "role"), _string(body, "password")

        def work(step: Step) -> dict[str, str]:
            user = users.caller(step, step.runtime.sessions, cluster_id, _token(request))
            return users.change_password(step, step.runtime.sessions, user, username, role, password)

        return work

    def crypto_work(request: web.Request, action: Callable[[Step, Any], Any]) -> Callable[[Step], Any]:
        """A unit of work run as the logged-in user of ``request``."""
        cluster_id = request.match_info["cluster_id"]
        return lambda step: action(step, users.caller(step, step.runtime.sessions, cluster_id, _token(request)))

    @handler
    def list_keys(request: web.Request, body: dict[str, Any], cluster_id: str) -> Callable[[Step], Any]:
        query = request.query
        filters, verbose = query.getall("filter", []), query.get("verbose", "false").lower() == "true"
        max_items, start = query.get("max_items"), query.get("starting_token")
        return crypto_work(
            request, lambda step, user: keystore.list_keys(step, user, filters, verbose, max_items, start)
        )

    @handler
    def generate_symmetric(request: web.Request, body: dict[str, Any], cluster_id: str) -> Callable[[Step], Any]:
        key_type, attributes = _string(body, "key_type"), _attributes(body, "attributes")
        shares = _names(body, "share_crypto_users")
        return crypto_work(request, lambda step, user: keystore.generate_symmetric(
            step, user, key_type, body.get("label"), body.get("key_length_bytes"), attributes, shares
        ))

    @handler
    def generate_pair(request: web.Request, body: dict[str, Any], cluster_id: str) -> Callable[[Step], Any]:
        key_type, shares = _string(body, "key_type"), _names(body, "share_crypto_users")
        public, private = _attributes(body, "public_attributes"), _attributes(body, "private_attributes")
        return crypto_work(request, lambda step, user: keystore.generate_pair(
            step, user, key_type, body.get("public_label"), body.get("private_label"), public, private, shares,
            modulus_size_bits=body.get("modulus_size_bits"), public_exponent=body.get("public_exponent"),
            curve=body.get("curve"),
        ))

    @handler
    def unwrap_key(request: web.Request, body: dict[str, Any], cluster_id: str) -> Callable[[Step], Any]:
        wrapping, mechanism, key_type = (_string(body, n) for n in ("wrapping_key", "mechanism", "key_type"))
        attributes, shares = _attributes(body, "attributes"), _names(body, "share_crypto_users")
        return crypto_work(request, lambda step, user: keystore.unwrap_key(
            step, user, wrapping, mechanism, body.get("wrapped_key"), key_type, body.get("label"), attributes, shares
        ))

    @handler
    def delete_key(request: web.Request, body: dict[str, Any], cluster_id: str) -> Callable[[Step], Any]:
        reference = request.match_info["ref"]
        return crypto_work(request, lambda step, user: keystore.delete_key(step, user, reference))

    def sharing(action: Callable[..., Any]) -> Any:
        @handler
        def route(request: web.Request, body: dict[str, Any], cluster_id: str) -> Callable[[Step], Any]:
            reference, username, role = request.match_info["ref"], _string(body, "username"), _string(body, "role")
            return crypto_work(request, lambda step, user: action(step, user, reference, username, role))

        return route

    @handler
    def set_attribute(request: web.Request, body: dict[str, Any], cluster_id: str) -> Callable[[Step], Any]:
        reference, name = request.match_info["ref"], _string(body, "name")
        if "value" not in body:
            raise ValidationException("value is required.")
        value = body["value"]
        return crypto_work(request, lambda step, user: keystore.set_attribute(step, user, reference, name, value))

    return [
        web.get(f"{PREFIX}/keys", list_keys),
        web.post(f"{PREFIX}/keys/generate-symmetric", generate_symmetric),
        web.post(f"{PREFIX}/keys/generate-asymmetric-pair", generate_pair),
        web.post(f"{PREFIX}/keys/unwrap", unwrap_key),
        web.delete(f"{PREFIX}/keys/{{ref}}", delete_key),
        web.post(f"{PREFIX}/keys/{{ref}}/share", sharing(keystore.share_key)),
        web.post(f"{PREFIX}/keys/{{ref}}/unshare", sharing(keystore.unshare_key)),
        web.post(f"{PREFIX}/keys/{{ref}}/attributes", set_attribute),
        web.post(f"{PREFIX}/activate", activate),
        web.post(f"{PREFIX}/login", login),
        web.post(f"{PREFIX}/logout", logout),
        web.get(f"{PREFIX}/users", list_users),
        web.post(f"{PREFIX}/users", create_user),
        web.delete(f"{PREFIX}/users/{{username}}", delete_user),
        web.post(f"{PREFIX}/users/{{username}}/password", change_password),
    ]
