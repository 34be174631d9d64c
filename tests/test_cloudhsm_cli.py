"""``hsmsim cloudhsm-cli`` as a subprocess: the bootstrap of AWS's getting-started guide, the ``user list`` shape,
single command mode (``CLOUDHSM_ROLE`` / ``CLOUDHSM_PIN``), interactive mode, and error envelopes with exit codes.

https://docs.aws.amazon.com/cloudhsm/latest/userguide/activate-cluster.html
https://docs.aws.amazon.com/cloudhsm/latest/userguide/cloudhsm_cli-getting-started-use.html
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from helpers import ADMIN, active_cluster, describe, initialized_cluster

ADMIN_PASSWORD = ADMIN.password  # what helpers.active_cluster activates
ADMIN_PIN = {"CLOUDHSM_ROLE": "admin", "CLOUDHSM_PIN": f"admin:{ADMIN_PASSWORD}"}


def run(sim: Any, cluster_id: str | None, *args: str, env: dict[str, str] | None = None, stdin: str = "",
        endpoint: str | None = None) -> subprocess.CompletedProcess[str]:
    """``hsmsim cloudhsm-cli`` against ``sim`` (a server process, or its URL) or ``endpoint``."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDHSM_", "HSMSIM_"))}
    environ.update(env or {})
    url = endpoint or (sim if isinstance(sim, str) else sim.url)
    command = [sys.executable, "-m", "hsmsim", "cloudhsm-cli", "--endpoint", url]
    if cluster_id is not None:
        command += ["--cluster-id", cluster_id]
    done = subprocess.run([*command, *args], input=stdin, capture_output=True, text=True, env=environ, timeout=120)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def cli(sim: Any, cluster_id: str | None, *args: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    done = run(sim, cluster_id, *args, **kwargs)
    return done.returncode, json.loads(done.stdout)


def ok(sim: Any, cluster_id: str, *args: str, **kwargs: Any) -> Any:
    status, envelope = cli(sim, cluster_id, *args, **kwargs)
    assert status == 0 and envelope["error_code"] == 0, envelope
    return envelope["data"]


def fails(sim: Any, cluster_id: str | None, *args: str, status: int = 1, **kwargs: Any) -> str:
    """A failed command: the error envelope on stdout and a non-zero exit status; returns the message."""
    got, envelope = cli(sim, cluster_id, *args, **kwargs)
    assert got == status and set(envelope) == {"error_code", "data"} and envelope["error_code"] != 0, envelope
    assert isinstance(envelope["data"], str)
    return envelope["data"]


def envelopes(stdout: str) -> list[dict[str, Any]]:
    """The JSON documents interactive mode printed, one after the other."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while stdout[at:].strip():
        at += len(stdout[at:]) - len(stdout[at:].lstrip())
        document, at = decoder.raw_decode(stdout, at)
        found.append(document)
    return found


def entry(username: str, role: str, locked: str = "false") -> dict[str, Any]:
    return {"username": username, "role": role, "locked": locked, "mfa": [], "cluster-coverage": "full"}


def users(sim: Any, cluster_id: str) -> list[dict[str, Any]]:
    status, body = sim.control("GET", f"/_hsmsim/clusters/{cluster_id}/users")
    assert status == 200, body
    return body["data"]["users"]


@pytest.fixture
def cluster(sim, cloudhsm) -> str:
    cluster_id, _ = active_cluster(sim, cloudhsm)
    ok(sim, cluster_id, "user", "create", "--username", "alice", "--role", "crypto-user", "--password", "Alice-Pass-1",
       env=ADMIN_PIN)
    return cluster_id


def test_bootstrap_as_in_the_aws_guide(sim, cloudhsm):
    cluster_id, _ = initialized_cluster(cloudhsm)
    assert cli(sim, cluster_id, "user", "list") == (0, {
        "error_code": 0,
        "data": {"users": [entry("admin", "unactivated-admin"), entry("app_user", "internal(APPLIANCE_USER)")]},
    })
    # cluster activate prompts for the password twice (read from stdin when it is not a terminal).
    assert cli(sim, cluster_id, "cluster", "activate", stdin=f"{ADMIN_PASSWORD}\n{ADMIN_PASSWORD}\n") == (
        0, {"error_code": 0, "data": "Cluster activation successful"}
    )
    assert describe(cloudhsm, cluster_id)["State"] == "ACTIVE"

    session = run(sim, cluster_id, "interactive", stdin="\n".join([
        "login --username admin --role admin",
        ADMIN_PASSWORD,
        "user create --username kmsuser --role crypto-user --password KmsUserPass1",
        "user create --username Payments_App --role crypto-user",
        "Payments-Pass-1",
        "Payments-Pass-1",
        "logout",
        "quit",
    ]) + "\n")
    assert session.returncode == 0
    assert envelopes(session.stdout) == [
        {"error_code": 0, "data": {"username": "admin", "role": "admin"}},
        {"error_code": 0, "data": {"username": "kmsuser", "role": "crypto-user"}},
        {"error_code": 0, "data": {"username": "payments_app", "role": "crypto-user"}},
        {"error_code": 0, "data": "Logout successful"},
    ]
    assert cli(sim, cluster_id, "user", "list") == (0, {
        "error_code": 0,
        "data": {"users": [
            entry("admin", "admin"),
            entry("kmsuser", "crypto-user"),
            entry("payments_app", "crypto-user"),
            entry("app_user", "internal(APPLIANCE_USER)"),
        ]},
    })
    # The application's crypto user changes its own password in single command mode.
    app_pin = {"CLOUDHSM_ROLE": "crypto-user", "CLOUDHSM_PIN": "payments_app:Payments-Pass-1"}
    assert ok(sim, cluster_id, "user", "change-password", "--username", "payments_app", "--role", "crypto-user",
              "--password", "Payments-Pass-2", env=app_pin) == {"username": "payments_app", "role": "crypto-user"}
    assert ok(sim, cluster_id, "login", "--username", "payments_app", "--role", "crypto-user",
              "--password", "Payments-Pass-2") == {"username": "payments_app", "role": "crypto-user"}


def test_single_command_mode_logs_in_and_out_again(sim, cluster):
    create = ["user", "create", "--username", "admin2", "--role", "admin", "--password", "Admin2-Pass"]
    assert ok(sim, cluster, *create, env=ADMIN_PIN) == {"username": "admin2", "role": "admin"}
    admin2 = {"CLOUDHSM_ROLE": "admin", "CLOUDHSM_PIN": "admin2:Admin2-Pass"}
    # admin logged out after the command: another admin may change its password.
    change = ["user", "change-password", "--username", "admin", "--role", "admin", "--password"]
    assert ok(sim, cluster, *change, "Admin-Pass-2", env=admin2) == {"username": "admin", "role": "admin"}
    # login alone: its session ends with the process.
    assert ok(sim, cluster, "login", "--username", "admin", "--role", "admin", "--password", "Admin-Pass-2") == {
        "username": "admin", "role": "admin"
    }
    assert ok(sim, cluster, *change, "Admin-Pass-3", env=admin2)
    assert ok(sim, cluster, "logout", env={"CLOUDHSM_ROLE": "admin", "CLOUDHSM_PIN": "admin:Admin-Pass-3"}) == (
        "Logout successful"
    )
    # --cluster-id may also follow the command, like the real CLI's.
    assert len(ok(sim, None, "user", "list", "--cluster-id", cluster)["users"]) == 4
    assert ok(sim, cluster, "user", "delete", "--username", "alice", "--role", "crypto-user", env=admin2) == {
        "username": "alice", "role": "crypto-user"
    }


def test_error_envelopes_and_exit_codes(sim, cloudhsm, cluster):
    before = users(sim, cluster)
    alice = {"CLOUDHSM_ROLE": "crypto-user", "CLOUDHSM_PIN": "alice:Alice-Pass-1"}
    create = ["user", "create", "--role", "crypto-user", "--password", "Bob-Pass-1", "--username"]
    assert "CLOUDHSM_PIN" in fails(sim, cluster, *create, "bob")
    assert "<username>:<password>" in fails(sim, cluster, *create, "bob",
                                            env={"CLOUDHSM_ROLE": "admin", "CLOUDHSM_PIN": ADMIN_PASSWORD})
    assert "CLOUDHSM_ROLE" in fails(sim, cluster, *create, "bob", env={"CLOUDHSM_PIN": f"admin:{ADMIN_PASSWORD}"})
    assert "does not exist" in fails(sim, cluster, *create, "bob",
                                     env={"CLOUDHSM_ROLE": "admin", "CLOUDHSM_PIN": "nobody:Nobody-Pass"})
    assert "not crypto-user" in fails(sim, cluster, *create, "bob",
                                      env={"CLOUDHSM_ROLE": "crypto-user", "CLOUDHSM_PIN": f"admin:{ADMIN_PASSWORD}"})
    assert "Invalid username or password" in fails(sim, cluster, *create, "bob",
                                                   env={**ADMIN_PIN, "CLOUDHSM_PIN": "admin:Wrong-Pass"})
    assert "Only admins" in fails(sim, cluster, *create, "bob", env=alice)
    assert "31 characters" in fails(sim, cluster, *create, "b" * 32, env=ADMIN_PIN)
    assert "7 to 32" in fails(sim, cluster, "user", "create", "--username", "bob", "--role", "crypto-user",
                              "--password", "123456", env=ADMIN_PIN)
    assert "do not match" in fails(sim, cluster, "user", "create", "--username", "bob", "--role", "crypto-user",
                                   env=ADMIN_PIN, stdin="Bob-Pass-1\nBob-Pass-2\n")
    assert "not admin" in fails(sim, cluster, "user", "delete", "--username", "alice", "--role", "admin", env=ADMIN_PIN)
    assert "itself" in fails(sim, cluster, "user", "delete", "--username", "admin", "--role", "admin", env=ADMIN_PIN)
    assert "Only admins" in fails(sim, cluster, "user", "change-password", "--username", "admin", "--role", "admin",
                                  "--password", "Taken-Over-1", env=alice)
    assert "ACTIVE" in fails(sim, cluster, "cluster", "activate", "--password", "Another-Pass")
    assert "logged-in user" in fails(sim, cluster, "logout")
    assert "--cluster-id" in fails(sim, None, "user", "list")
    assert "not found" in fails(sim, "cluster-aaaaaaaaaaa", "user", "list")
    assert "Unable to connect" in fails(sim, cluster, "user", "list", endpoint="http://127.0.0.1:9")
    # Command lines that do not parse: exit status 2, still the envelope (and the usage on stderr).
    assert "invalid choice" in fails(sim, cluster, "user", "create", "--username", "bob", "--role", "auditor",
                                     status=2)
    assert "--username" in fails(sim, cluster, "user", "delete", "--role", "admin", status=2)
    assert "invalid choice" in fails(sim, cluster, "user", "rename", status=2)
    assert users(sim, cluster) == before  # nothing changed


def test_interactive_mode_reports_each_command(sim, cluster):
    session = run(sim, cluster, "interactive", stdin="\n".join([
        "user create --username bob --role crypto-user --password Bob-Pass-1",  # not logged in
        "login --username admin --role admin --password Admin-Pass-1",
        "login --username admin --role admin --password Admin-Pass-1",  # already logged in
        "user create --username bob --role nobody",  # does not parse
        "user create --username bob --role crypto-user --password Bob-Pass-1",
        "user change-password --username admin --role admin --password Admin-Pass-2",
        "'unbalanced",
        "",
    ]) + "\n")  # end of input: logs out
    assert session.returncode == 0
    assert [(e["error_code"], e["data"] if e["error_code"] == 0 else None) for e in envelopes(session.stdout)] == [
        (1, None),
        (0, {"username": "admin", "role": "admin"}),
        (1, None),
        (1, None),
        (0, {"username": "bob", "role": "crypto-user"}),
        (0, {"username": "admin", "role": "admin"}),
        (1, None),
    ]
    # The session ended with the input: admin's password can be changed by another admin again.
    ok(sim, cluster, "user", "create", "--username", "admin2", "--role", "admin", "--password", "Admin2-Pass",
       env={"CLOUDHSM_ROLE": "admin", "CLOUDHSM_PIN": "admin:Admin-Pass-2"})
    ok(sim, cluster, "user", "change-password", "--username", "admin", "--role", "admin", "--password", "Admin-Pass-3",
       env={"CLOUDHSM_ROLE": "admin", "CLOUDHSM_PIN": "admin2:Admin2-Pass"})
