"""Typed keys of what the aiohttp application holds (aiohttp's "no singletons" pattern)."""

from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from hsmsim.aws.protocol import JsonProtocol
from hsmsim.aws.sigv4 import SigV4Verifier
from hsmsim.simulator import Simulator

SIMULATOR = web.AppKey("simulator", Simulator)
PROTOCOL = web.AppKey("protocol", JsonProtocol)
EXECUTOR = web.AppKey("executor", ThreadPoolExecutor)
VERIFIER = web.AppKey("sigv4_verifier", SigV4Verifier)  # present only with hsmsim serve --credentials
