"""Small helpers shared by the aiohttp handlers of the control and data planes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from hsmsim.appkeys import EXECUTOR
from hsmsim.aws.errors import ValidationException


async def run_blocking(app: web.Application, work: Callable[..., Any], *args: Any) -> Any:
    """Run blocking simulator work (SQLAlchemy, PKCS#11) in the server's thread pool."""
    return await asyncio.get_running_loop().run_in_executor(app[EXECUTOR], work, *args)


async def json_object_body(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object (an empty body is ``{}``); ``ValidationException`` otherwise."""
    try:
        body = json.loads(raw) if (raw := await request.read()) else {}
    except ValueError:
        raise ValidationException("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ValidationException("The request body must be a JSON object.")
    return body
