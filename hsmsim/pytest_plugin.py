"""pytest fixtures for code that uses AWS KMS and CloudHSM: a real hsmsim server, ACTIVE clusters, CONNECTED stores.

Loaded automatically once hsmsim is installed (the ``pytest11`` entry point ``hsmsim``); nothing to configure::

    def test_envelope_encryption(kms_client, custom_key_store, kms_key):
        key = kms_key(store=custom_key_store())
        blob = kms_client.encrypt(KeyId=key["KeyId"], Plaintext=b"secret")["CiphertextBlob"]
        assert kms_client.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"

Every test runs in an AWS account of its own (a fresh 12-digit account id used as the access key), so it sees only
what it made: on the plugin's server, under ``pytest -n N`` (pytest-xdist: a server per worker) and on a shared
``--hsmsim-endpoint`` server alike. With ``--hsmsim-default-account ID`` every test runs in account ``ID`` instead
(moto's habit) and starts from a reset server, which needs the plugin's own server.

The fixtures are thin wrappers of :mod:`hsmsim.testing` (the same building blocks for unittest and scripts).
AWS pages followed: CloudHSM "Getting started" and "Creating clusters from backups", KMS "Creating an AWS CloudHSM
key store" (see :mod:`hsmsim.testing.clusters` and :mod:`hsmsim.testing.simulation`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from hsmsim.testing.clusters import HsmCluster
from hsmsim.testing.server import ServerStartError, check_endpoint, tail_lines
from hsmsim.testing.simulation import (
    DELAYS,
    Account,
    KeyStore,
    Simulation,
    check_account_id,
    simulator,
)

LOG_TAIL_LINES = 60
SIMULATION = pytest.StashKey["Simulation | None"]()
LOG_OFFSET = pytest.StashKey[int]()
FIXTURES = {"hsmsim_server", "hsmsim_endpoint", "hsmsim_account", "hsmsim_env", "kms_client", "cloudhsmv2_client",
            "hsmsim_clock", "cloudhsm_cluster", "custom_key_store", "kms_key", "hsm_session"}


def _account_option(text: str) -> str:
    try:
        return check_account_id(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hsmsim", "hsmsim (simulated AWS CloudHSM and KMS)")
    group.addoption("--hsmsim-endpoint", metavar="URL", default=None,
                    help="use the hsmsim server already running at URL (e.g. http://127.0.0.1:4599) instead of "
                         "starting one per test session (per xdist worker)")
    group.addoption("--hsmsim-delays", choices=DELAYS, default="instant",
                    help="how long provisioning takes in simulated time on the plugin's server: instant (default), "
                         "fast or realistic; fixtures advance the simulated clock to finish their own steps")
    group.addoption("--hsmsim-default-account", metavar="ID", type=_account_option, default=None,
                    help="run every test in AWS account ID (12 digits; moto's tests expect 123456789012), also for "
                         "access keys that are not account ids; each test then starts from a reset server")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[SIMULATION] = None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    simulation = item.config.stash.get(SIMULATION, None)
    server = simulation.server if simulation is not None else None
    item.stash[LOG_OFFSET] = server.log_offset() if server is not None else 0


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    simulation = item.config.stash.get(SIMULATION, None)
    if (report.failed and simulation is not None and simulation.server is not None
            and FIXTURES & set(getattr(item, "fixturenames", ()))):
        log = "\n".join(line for line in simulation.server.log_since(item.stash.get(LOG_OFFSET, 0)).splitlines()
                        if not ("aiohttp.access" in line and '"POST / HTTP' in line))  # hsmsim.server logs those
        if log.strip():
            title = f"hsmsim server log (last {LOG_TAIL_LINES} lines of this test, {call.when})"
            report.sections.append((title, tail_lines(log, LOG_TAIL_LINES)))
    return report


@pytest.fixture(scope="session")
def hsmsim_server(request: pytest.FixtureRequest) -> Iterator[Simulation]:
    """The session's hsmsim: a ``hsmsim serve`` subprocess on a free loopback port with a temporary data dir
    (one per xdist worker; stopped at the end), or the server of ``--hsmsim-endpoint``. A
    :class:`hsmsim.testing.Simulation`: ``.endpoint``, ``.server`` (the process, None with an endpoint),
    ``.account()``, ``.advance(seconds)``. A server that cannot be had fails the test with what to fix."""
    options = request.config.option
    if options.hsmsim_endpoint and options.hsmsim_default_account:
        pytest.fail("--hsmsim-default-account resets the server before each test, which would wipe a shared "
                    "--hsmsim-endpoint server: start that server with `hsmsim serve --default-account ID` and use "
                    "12-digit access keys, or drop --hsmsim-endpoint.", pytrace=False)
    try:
        if options.hsmsim_endpoint:
            check_endpoint(options.hsmsim_endpoint)
        context = simulator(options.hsmsim_endpoint, delays=options.hsmsim_delays,
                            default_account=options.hsmsim_default_account,
                            data_dir=None if options.hsmsim_endpoint else
                            request.getfixturevalue("tmp_path_factory").mktemp("hsmsim") / "data")
        simulation = context.__enter__()
    except ServerStartError as error:
        pytest.fail(f"hsmsim: {error}", pytrace=False)
    simulation.use_template = options.hsmsim_default_account is None
    request.config.stash[SIMULATION] = simulation
    try:
        yield simulation
    finally:
        request.config.stash[SIMULATION] = None
        context.__exit__(None, None, None)


@pytest.fixture(scope="session")
def hsmsim_endpoint(hsmsim_server: Simulation) -> str:
    """The URL of the hsmsim server (``endpoint_url`` for boto3, ``AWS_ENDPOINT_URL_KMS``...)."""
    return hsmsim_server.endpoint


@pytest.fixture
def hsmsim_account(hsmsim_server: Simulation, request: pytest.FixtureRequest) -> Iterator[Account]:
    """This test's AWS account (:class:`hsmsim.testing.Account`): a fresh random account id, so the test sees only
    what it makes; with ``--hsmsim-default-account ID``, account ID on a server reset for this test. Afterwards its
    stores are disconnected and its HSMs deleted (their tokens would slow every later test down)."""
    fixed = request.config.option.hsmsim_default_account
    if fixed:
        hsmsim_server.reset()
    account = hsmsim_server.account(fixed)
    yield account
    if not fixed:  # the next reset removes everything anyway
        account.release_hsms()


@pytest.fixture
def hsmsim_env(hsmsim_account: Account) -> Iterator[dict[str, str]]:
    """Sets AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL_CLOUDHSM_V2, AWS_DEFAULT_REGION/AWS_REGION and dummy credentials
    of this test's account (removing AWS_PROFILE and session tokens) for code that builds its own boto3 clients;
    restores the environment afterwards. Returns what it set."""
    values = hsmsim_account.environment()
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL"):
            patch.delenv(name, raising=False)
        for name, value in values.items():
            patch.setenv(name, value)
        yield values


@pytest.fixture
def kms_client(hsmsim_account: Account) -> Any:
    """A boto3 KMS client of this test's account, bound to the hsmsim server."""
    return hsmsim_account.kms


@pytest.fixture
def cloudhsmv2_client(hsmsim_account: Account) -> Any:
    """A boto3 CloudHSM v2 client of this test's account, bound to the hsmsim server."""
    return hsmsim_account.cloudhsmv2


class Clock:
    """The server's simulated clock: ``advance(seconds=, minutes=, hours=, days=)`` and ``now()``."""

    def __init__(self, simulation: Simulation) -> None:
        self._simulation = simulation

    def now(self) -> datetime:
        return datetime.fromisoformat(self._simulation.now())

    def advance(self, seconds: float = 0, *, minutes: float = 0, hours: float = 0, days: float = 0) -> datetime:
        """Move simulated time forward (every transition that falls due happens); returns the new now."""
        delta = timedelta(seconds=seconds, minutes=minutes, hours=hours, days=days).total_seconds()
        return datetime.fromisoformat(self._simulation.advance(delta)["now"])


@pytest.fixture
def hsmsim_clock(hsmsim_server: Simulation) -> Clock:
    """Advance simulated time: ``hsmsim_clock.advance(days=7)`` ends a key's deletion window. The clock is the
    server's: on a shared ``--hsmsim-endpoint`` server other tests see it move too."""
    return Clock(hsmsim_server)


@pytest.fixture
def cloudhsm_cluster(hsmsim_account: Account) -> Callable[..., HsmCluster]:
    """Factory: ``cloudhsm_cluster(hsms=2)`` makes an ACTIVE cluster with ``hsms`` (1-6) ACTIVE HSMs in distinct
    Availability Zones, the admin activated, ``kmsuser`` and the crypto user ``appuser`` created. Returns a
    :class:`hsmsim.testing.HsmCluster`: ``cluster_id``, ``hsm_ids``, ``trust_anchor_pem``, ``admin``, ``kmsuser``,
    ``crypto_user`` (each with ``username``, ``password``, ``pin``)."""
    return hsmsim_account.cluster


@pytest.fixture
def custom_key_store(hsmsim_account: Account) -> Callable[..., KeyStore]:
    """Factory: ``custom_key_store(cluster=None, name=None, connect=True)`` makes an AWS_CLOUDHSM custom key store,
    CONNECTED, on ``cluster`` or a new two-HSM one. Returns a :class:`hsmsim.testing.KeyStore`:
    ``custom_key_store_id``, ``name``, ``cluster``."""
    return hsmsim_account.custom_key_store


@pytest.fixture
def kms_key(hsmsim_account: Account) -> Callable[..., dict[str, Any]]:
    """Factory: ``kms_key(key_spec="SYMMETRIC_DEFAULT", key_usage=None, store=None, **CreateKey_args)`` makes a KMS
    key of any key spec (a usage the spec accepts by default), in ``store`` (a custom key store) if given.
    Returns CreateKey's ``KeyMetadata``."""
    return hsmsim_account.kms_key


@pytest.fixture
def hsm_session(hsmsim_account: Account) -> Iterator[Any]:
    """An application PKCS#11 session (``hsmsim.connect``) as the crypto user ``appuser`` on a new two-HSM cluster
    (its id: ``hsm_session.cluster_id``); closed afterwards. Loads SoftHSM in the test process."""
    session = hsmsim_account.hsm_session(hsmsim_account.cluster(2))
    try:
        yield session
    finally:
        session.close()
