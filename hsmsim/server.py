"""The aiohttp server: one AWS JSON 1.1 endpoint at ``POST /`` plus the simulator's control and data planes.

Parsing and validation run on the event loop (pure, fast); the operation runs in a thread pool because it makes
blocking SQLAlchemy and PKCS#11 calls. Every response, errors included, carries ``x-amzn-RequestId`` and a JSON
body: a request never gets an HTML page or a traceback. That holds below the application too: a request aiohttp
cannot even parse (a NUL or a non-token byte in a header, a duplicated Content-Type, a header over 8 KB, an
unknown method) is answered by :class:`AwsRequestHandler` with a JSON ``{"__type", "message"}`` body and logged in
one line, where aiohttp would write a ``text/plain`` page and a traceback. :func:`run` serves the app with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from typing import Any

from aiohttp import web, web_server
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from hsmsim import __version__
from hsmsim.appkeys import EXECUTOR, PROTOCOL, SIMULATOR, VERIFIER
from hsmsim.aws.context import RequestContext
from hsmsim.aws.errors import InternalFailure, ServiceError
from hsmsim.aws.protocol import JsonProtocol
from hsmsim.aws.sigv4 import SigV4Verifier, caller_scope
from hsmsim.aws.spec import load_service_model
from hsmsim.config import Config, DelayProfile
from hsmsim.control import control_routes
from hsmsim.core.ids import request_id
from hsmsim.dataplane import dataplane_routes
from hsmsim.dataplane_pkcs11 import pkcs11_routes
from hsmsim.httpio import run_blocking
from hsmsim.simulator import Simulator
from kms.keyview import NeedsThread, NeedsUnitOfWork
from kms.service import MEMORY_OPERATIONS
from kms.validation_orders import KMS_ENUM_ORDERS

log = logging.getLogger(__name__)

SERVICES = ("cloudhsmv2", "kms")
JSON_CONTENT_TYPE = "application/x-amz-json-1.1"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def request_id_and_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give every response a request id; turn any failure into a JSON error, never a traceback or HTML."""
    rid = request_id()
    request["request_id"] = rid
    outcome = ""
    try:
        response = await handler(request)
    except ServiceError as error:
        response = _error_response(request, error)
        outcome = f" {error.code}"
    except web.HTTPException as error:
        response = web.json_response(
            {"__type": error.reason.replace(" ", ""), "message": error.text or error.reason}, status=error.status
        )
    except Exception:
        log.exception("internal failure in %s %s", request.method, request.path)
        response = _error_response(request, InternalFailure("An internal error occurred. See the server log."))
    response.headers["x-amzn-RequestId"] = rid
    call = request.get("aws_call")  # one line per AWS call (no parameters: they may hold secrets)
    if call is not None and log.isEnabledFor(logging.INFO):
        log.info("%s %s account %s %s -> %d%s", *call, response.status, outcome)
    return response


def _error_response(request: web.Request, error: ServiceError) -> web.Response:
    status, headers, body = request.app[PROTOCOL].serialize_error(request.get("service_model"), error)
    return web.Response(status=status, headers=headers, body=body)


async def aws_endpoint(request: web.Request) -> web.Response:
    protocol = request.app[PROTOCOL]
    simulator = request.app[SIMULATOR]
    target = request.headers.get("X-Amz-Target")
    service_model = None
    if target:
        with contextlib.suppress(ServiceError):
            service_model = request["service_model"] = protocol.service_for_target(target)
    verifier = request.app.get(VERIFIER)
    body = await request.read()
    principal, iam_policy = "", None  # the account's root
    if verifier is None:
        scope = caller_scope(request.headers, simulator.config.default_region, simulator.config.default_account)
        account_id, region = scope.account_id, scope.region
    else:  # hsmsim serve --credentials: authenticate before anything else is looked at
        request["aws_call"] = (target, "", "-", "-")  # formatted only if logged
        signing_name = None if service_model is None else service_model.signing_name
        caller = verifier.verify(request.method, request.raw_path, request.headers, body, signing_name)
        account_id, region, principal = caller.credential.account_id, caller.region, caller.credential.principal
        iam_policy = caller.credential.iam_policy
    request["aws_call"] = (target, "", account_id, region)  # formatted only if logged
    parsed = protocol.parse(target, body)
    ctx = RequestContext(
        service=parsed.service_model.service_name,
        operation=parsed.operation_model.name,
        account_id=account_id,
        region=region,
        request_id=request["request_id"],
        principal=principal,
        authenticated=verifier is not None,
        iam_policy=iam_policy,
    )
    request["aws_call"] = (ctx.service, ctx.operation, ctx.account_id, ctx.region)
    if ctx.service == "kms" and ctx.operation in MEMORY_OPERATIONS:
        result = await _kms_from_memory(request.app, simulator, ctx, parsed)
    else:
        result = await run_blocking(request.app, simulator.call, ctx, parsed)
    body = protocol.serialize_result(parsed.operation_model, result)
    return web.Response(body=body, content_type=JSON_CONTENT_TYPE)


async def _kms_from_memory(app: web.Application, simulator: Simulator, ctx: RequestContext, parsed: Any) -> Any:
    """KMS's hot path: a cached key serves Encrypt & co. on the event loop (light work) or in a worker thread
    (RSA private-key work), without the server lock; anything else falls back to a unit of work."""
    try:
        try:
            return simulator.call_from_memory(ctx, parsed, True)
        except NeedsThread:
            return await run_blocking(app, simulator.call_from_memory, ctx, parsed, False)
    except NeedsUnitOfWork:
        return await run_blocking(app, simulator.call, ctx, parsed)


def _tick_interval(profile: DelayProfile) -> float:
    return {DelayProfile.INSTANT: 0.5, DelayProfile.FAST: 0.02, DelayProfile.REALISTIC: 1.0}[profile]


async def _background(app: web.Application) -> AsyncIterator[None]:
    """Start the thread pool and the lifecycle ticker; stop them and close the simulator on shutdown."""
    simulator = app[SIMULATOR]
    app[EXECUTOR] = ThreadPoolExecutor(max_workers=simulator.config.workers, thread_name_prefix="hsmsim")
    interval = _tick_interval(simulator.config.delays)

    async def ticker() -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval)
            try:
                await loop.run_in_executor(app[EXECUTOR], simulator.tick)
            except Exception:
                log.exception("lifecycle tick failed")

    task = asyncio.create_task(ticker())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    app[EXECUTOR].shutdown(wait=True)
    simulator.close()


def create_app(config: Config, simulator: Simulator | None = None) -> web.Application:
    app = web.Application(middlewares=[request_id_and_errors], client_max_size=4 * 1024 * 1024)
    app[SIMULATOR] = simulator or Simulator(config)
    app[PROTOCOL] = JsonProtocol([load_service_model(name) for name in SERVICES], enum_orders={"kms": KMS_ENUM_ORDERS})
    if config.credentials is not None:
        app[VERIFIER] = SigV4Verifier(config.credentials)
        log.info("SigV4 verification on: %d access keys from %s", len(config.credentials), config.credentials.source)
    app.cleanup_ctx.append(_background)
    app.router.add_post("/", aws_endpoint)
    app.router.add_routes(control_routes(health=_health))
    app.router.add_routes(dataplane_routes())
    app.router.add_routes(pkcs11_routes())
    return app


class AwsRequestHandler(RequestHandler):
    """aiohttp's connection handler, answering what it cannot parse the way every other error is answered."""

    def handle_error(self, request: BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        lines = [line.strip() for line in (message or (str(exc) if exc else "")).splitlines()]
        text = " ".join(line for line in lines if line.strip("^ ")) or HTTPStatus(status).phrase
        text = text if len(text) <= 200 else text[:197] + "..."  # aiohttp quotes the offending bytes
        log.warning("unparsable HTTP request from %s: HTTP %d %s", request.remote, status, text)
        if request.writer.output_size > 0:
            raise ConnectionError("a response was sent already: the connection is closed")
        kind = "InternalFailure" if status >= 500 else HTTPStatus(status).phrase.replace(" ", "")
        response = web.json_response({"__type": kind, "message": text}, status=status)
        response.headers["x-amzn-RequestId"] = request_id()
        response.force_close()
        return response


class _AwsServer(web_server.Server):
    def __call__(self) -> RequestHandler:
        return AwsRequestHandler(self, loop=self._loop, **self._kwargs)


class _AwsAppRunner(web.AppRunner):
    async def _make_server(self) -> web_server.Server:
        server = await super()._make_server()
        server.__class__ = _AwsServer  # the same object; only the connection handler it makes differs
        return server


def run(app: web.Application, host: str, port: int) -> None:
    """Serve ``app`` until SIGINT/SIGTERM (what ``web.run_app`` does), with :class:`AwsRequestHandler`."""

    async def serve() -> None:
        runner = _AwsAppRunner(app, handle_signals=True)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
            await asyncio.Event().wait()  # until a signal raises GracefulExit
        finally:
            await runner.cleanup()

    with contextlib.suppress(web.GracefulExit, KeyboardInterrupt):
        asyncio.run(serve())


def _health(app: web.Application) -> dict[str, Any]:
    simulator = app[SIMULATOR]
    return {
        "status": "ok",
        "version": __version__,
        "services": list(SERVICES),
        "delays": simulator.config.delays.value,
        "default_account": simulator.config.default_account,
        "verify_signatures": VERIFIER in app,
        "now": simulator.clock.now().isoformat(),
    }
