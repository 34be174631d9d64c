"""Applications on the PKCS#11 path (issue item 6): ``hsmsim.connect`` and ``hsmsim pkcs11-env`` against a real server.

The application side runs in processes of its own (``tests/pkcs11_worker.py``): python-pkcs11 keeps one SoftHSM per
process. Token contents are checked with ``pkcs11-tool``, configured only from ``hsmsim pkcs11-env``'s output. The
tests run on the plugin's fixtures (conftest ``cluster``: an ACTIVE two-HSM cluster of the test's own account with
crypto users alice and bob; ``process``: the server).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import free_port
from test_cloudhsm_keys import ALICE, BOB, active_hsms, key_objects, keys
from test_cloudhsm_users import Plane

from hsmsim.testing import ServerProcess

WORKER = Path(__file__).with_name("pkcs11_worker.py")
ALICE_PIN, BOB_PIN = ALICE["CLOUDHSM_PIN"], BOB["CLOUDHSM_PIN"]


def app(process: ServerProcess, cluster_id: str, scenario: str, **args: Any) -> Any:
    result = subprocess.run([sys.executable, str(WORKER), process.url, cluster_id, scenario, json.dumps(args)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return json.loads(result.stdout)


def pkcs11_env(process: ServerProcess, cluster_id: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hsmsim", "pkcs11-env", "--endpoint", process.url, "--cluster-id",
                           cluster_id, *extra], capture_output=True, text=True, timeout=60)


def exports(text: str) -> dict[str, str]:
    """The variables of the ``export`` lines (evaluated by a real shell)."""
    script = text + "\nenv -0\n"
    out = subprocess.run(["sh", "-c", script], env={"PATH": os.environ["PATH"]}, capture_output=True, check=True).stdout
    env = dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)
    return {k: v for k, v in env.items() if k == "SOFTHSM2_CONF" or k.startswith("HSMSIM_PKCS11_")}


def listed(env: dict[str, str], label: str) -> str:
    """``pkcs11-tool --list-objects`` on one token, configured only from pkcs11-env's exports."""
    return subprocess.run(
        ["pkcs11-tool", "--module", env["HSMSIM_PKCS11_MODULE"], "--token-label", label, "--login", "--pin",
         env["HSMSIM_PKCS11_PIN"], "--list-objects"],
        env=dict(os.environ, SOFTHSM2_CONF=env["SOFTHSM2_CONF"]), capture_output=True, text=True, check=True,
    ).stdout


def test_an_application_generates_a_key_on_every_hsm_and_uses_it_locally(process, cloudhsmv2_client, cluster):
    made = app(process, cluster, "generate", pin=ALICE_PIN, label="app-aes")
    assert made["random"] == 32 and len(bytes.fromhex(made["ciphertext"])) == 32 + 16  # 32 B + GCM tag
    hsms = active_hsms(cloudhsmv2_client, cluster)
    assert made["hsm"] in hsms and len(hsms) == 2
    env = exports(pkcs11_env(process, cluster, "--pin", ALICE_PIN).stdout)
    assert env["HSMSIM_PKCS11_TOKENS"].split() == hsms
    for hsm_id in hsms:  # the key is on every HSM token, and an application on either one decrypts
        text = listed(env, hsm_id)
        assert "label:      app-aes" in text and f"ID:         {made['ref'][2:]}" in text
        assert ("secret", "app-aes", made["ref"][2:]) in key_objects(process, hsm_id)
        before = token_files(process)
        used = app(process, cluster, "use", pin=ALICE_PIN, hsm_id=hsm_id, label="app-aes", nonce=made["nonce"],
                   ciphertext=made["ciphertext"])
        assert used == {"found": made["ref"], "hsm": hsm_id, "plain": "x" * 32, "shared": False}
        assert token_files(process) == before  # the application wrote nothing (but SoftHSM's login counter)


def token_files(process: ServerProcess) -> dict[str, str]:
    """path -> SHA-256 of every file in the token directory except token.object, which every C_Login rewrites
    in place (docs/pkcs11-application-path.md §2.5). Contents, not mtimes: any process that loads SoftHSM (even
    ``pkcs11-tool --list-slots``) rewrites each token's ``generation`` file unchanged and touches its locks."""
    root = process.data_dir / "tokens"
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.rglob("*") if p.is_file() and p.name != "token.object"}


def test_connect_refuses_a_process_that_already_loaded_softhsm(process, cluster):
    out = app(process, cluster, "preloaded", pin=ALICE_PIN, module="/usr/lib/softhsm/libsofthsm2.so")
    assert out["error"] == "ClusterUnavailable" and "already loaded" in out["message"]


def test_connects_take_turns_over_the_active_hsms(process, cloudhsmv2_client, cluster):
    out = app(process, cluster, "spread", pin=ALICE_PIN)
    first, second = sorted(set(out["hsms"]))
    assert sorted(active_hsms(cloudhsmv2_client, cluster)) == [first, second]
    assert out["hsms"][0::2] == [out["hsms"][0]] * 2 and out["hsms"][1::2] == [out["hsms"][1]] * 2
    assert out["refreshed"] is False  # nothing changed: the epoch says so and the view is not re-read


def test_importing_hsmsim_loads_no_pkcs11():
    code = ("import sys, hsmsim; assert 'pkcs11' not in sys.modules and 'hsmsim.pkcs11_app' not in sys.modules; "
            "assert hsmsim.connect.__module__ == 'hsmsim.pkcs11_app'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_other_users_see_a_key_once_shared_and_only_the_owner_destroys_it(process, cloudhsmv2_client, cluster):
    made = app(process, cluster, "generate", pin=ALICE_PIN, label="alice-only")
    assert app(process, cluster, "use", pin=BOB_PIN, label="alice-only")["found"] is None
    out = app(process, cluster, "share_and_destroy", owner=ALICE_PIN, other=BOB_PIN)
    assert out == {"before_share": "NoSuchKey", "other_refreshed": True, "cross": True,
                   "sharee_destroy": "AccessDenied", "after_destroy": [], "owner_after": "NoSuchKey"}
    for hsm_id in active_hsms(cloudhsmv2_client, cluster):
        labels = {o[1] for o in key_objects(process, hsm_id)}
        assert "to-share" not in labels and "alice-only" in labels
    assert app(process, cluster, "use", pin=BOB_PIN, label="alice-only")["found"] is None
    assert made["ref"]


def test_key_pairs_public_keys_for_everyone_and_no_local_writes(process, cloudhsmv2_client, cluster):
    out = app(process, cluster, "rsa", owner=ALICE_PIN, other=BOB_PIN)
    assert out == {"public_ref": True, "oaep": True, "private_for_other": "NoSuchKey",
                   "set_attribute": "PermissionError", "session_key_token": False, "labels": ["app-rsa"]}
    for hsm_id in active_hsms(cloudhsmv2_client, cluster):  # both halves on every HSM; nothing else (no session key)
        assert {(o[0], o[1]) for o in key_objects(process, hsm_id)} == {("public", "app-rsa"), ("private", "app-rsa")}


def test_bad_connects_fail_cleanly(process, cloudhsmv2_client, cluster, admin_env):
    cases = {
        "wrong password": [None, None, "alice:Wrong-Pass-1"],
        "no colon": [None, None, "alice"],
        "empty": [None, None, ""],
        "admin": [None, None, admin_env["CLOUDHSM_PIN"]],
        "unknown user": [None, None, "nobody:Some-Pass-1"],
        "unknown cluster": [None, "cluster-zzzzzzzzzzz", ALICE_PIN],
        "no server": [f"http://127.0.0.1:{free_port()}", None, ALICE_PIN],
        "bad endpoint": ["ftp://example.com", None, ALICE_PIN],
    }
    out = app(process, cluster, "bad_connects", cases=cases)
    assert {name: kind for name, (kind, _) in out.items()} == {
        "wrong password": "LoginFailed", "no colon": "PinFormatError", "empty": "PinFormatError",
        "admin": "NotACryptoUser", "unknown user": "LoginFailed", "unknown cluster": "ClusterUnavailable",
        "no server": "ConnectError", "bad endpoint": "ConnectError",
    }
    assert "Invalid username or password" in out["wrong password"][1]
    assert "not found" in out["unknown cluster"][1] and "Unable to connect" in out["no server"][1]
    assert "crypto-user" in out["admin"][1]


def test_pkcs11_env_output_drives_pkcs11_tool(process, cloudhsmv2_client, cluster, admin_env):
    made = app(process, cluster, "generate", pin=ALICE_PIN, label="env-key")
    hsms = active_hsms(cloudhsmv2_client, cluster)
    without = pkcs11_env(process, cluster)
    assert without.returncode == 0, without.stderr
    env = exports(without.stdout)
    assert "HSMSIM_PKCS11_PIN" not in env and env["HSMSIM_PKCS11_TOKEN"] == hsms[0]
    assert env["SOFTHSM2_CONF"] == str((process.data_dir / "softhsm2.conf").resolve())
    with_pin = exports(pkcs11_env(process, cluster, "--pin", ALICE_PIN).stdout)
    for hsm_id in hsms:
        assert f"ID:         {made['ref'][2:]}" in listed(with_pin, hsm_id)
    for bad in (["--pin", "alice:Wrong-Pass-1"], ["--pin", admin_env["CLOUDHSM_PIN"]]):
        failed = pkcs11_env(process, cluster, *bad)
        assert failed.returncode == 1 and not failed.stdout and "Traceback" not in failed.stderr
        assert failed.stderr.startswith("hsmsim pkcs11-env: ")
    unknown = pkcs11_env(process, "cluster-zzzzzzzzzzz")
    assert unknown.returncode == 1 and "not found" in unknown.stderr


def test_data_plane_routes_need_a_crypto_user(process, cloudhsmv2_client, cluster):
    status, body = process.control("POST", f"/_hsmsim/clusters/{cluster}/pkcs11/connect")
    assert status == 401 or body["__type"] == "NotLoggedIn", body
    status, body = process.control("GET", f"/_hsmsim/clusters/{cluster}/pkcs11/epoch")
    assert body["__type"] == "NotLoggedIn"
    status, body = process.control("GET", f"/_hsmsim/clusters/{cluster}/pkcs11")
    assert status == 200 and "pin" not in body["data"] and len(body["data"]["hsms"]) == 2


def test_unwrapped_keys_are_made_by_the_server_on_every_hsm_and_owned_by_the_caller(process, cloudhsmv2_client, cluster):
    out = app(process, cluster, "unwrap", owner=ALICE_PIN, other=BOB_PIN)
    new = out.pop("new")
    assert new == {"ref": new["ref"], "owner": "alice", "same": True, "id": True, "plain": "z" * 32}
    assert out.pop("nonce") and out.pop("ciphertext")
    assert out == {
        "stuck": "KeyUnextractable", "others": ["z" * 32, "z" * 32], "other_user": "NoSuchKey",
        "garbage": "DataPlaneError:ValidationException", "short": "DataPlaneError:ValidationException",
        "destroyed": "NoSuchKey",
        "labels": ["rsa-wrapper", "rsa-wrapper", "to-wrap", "unwrapped", "unwrapped-pad", "unwrapped-rsa", "wrapper"],
    }
    views = {v["attributes"]["label"]: v for v in keys(process, cluster, ALICE).values()}
    assert views["unwrapped"]["key-reference"] == new["ref"] and views["unwrapped"]["key-info"]["key-owners"] == [
        {"username": "alice", "key-coverage": "full"}]
    assert views["unwrapped"]["attributes"]["local"] is False and views["unwrapped"]["attributes"]["extractable"]
    assert "garbage" not in views and "bobs" not in {v["attributes"]["label"] for v in keys(process, cluster, BOB).values()}
    for hsm_id in active_hsms(cloudhsmv2_client, cluster):  # on every HSM token, and nothing of the failed attempts
        objects = key_objects(process, hsm_id)
        assert ("secret", "unwrapped", new["ref"][2:]) in objects
        assert {o[1] for o in objects} == set(out["labels"])


def test_unwrap_endpoint_refuses_bad_input_and_other_users_keys(process, cloudhsmv2_client, cluster):
    made = app(process, cluster, "generate", pin=ALICE_PIN, label="alice-wrapper")
    plane = Plane(process, cluster)
    bob = plane.session("bob", "Bob-Pass-1", "crypto-user")
    alice = plane.session("alice", "Alice-Pass-1", "crypto-user")
    body = {"wrapping_key": made["ref"], "mechanism": "AES_KEY_WRAP", "wrapped_key": "A" * 32, "key_type": "aes",
            "label": "x"}
    status, reply = plane.request("POST", "/keys/unwrap", body, bob)
    assert (status, reply["__type"]) == (404, "KeyNotFound")
    for change in ({"wrapped_key": "not base64!"}, {"wrapped_key": ""}, {"mechanism": "DES3_ECB"},
                   {"key_type": "rsa"}, {"wrapping_key": made["ec"][0]}, {"label": ""}, {"wrapped_key": "A" * 32}):
        status, reply = plane.request("POST", "/keys/unwrap", body | change, alice)
        assert (status, reply["__type"]) == (400, "ValidationException"), (change, reply)
    assert "x" not in {v["attributes"]["label"] for v in keys(process, cluster, ALICE).values()}  # no row
    for hsm_id in active_hsms(cloudhsmv2_client, cluster):  # no object
        assert "x" not in {o[1] for o in key_objects(process, hsm_id)}


def test_an_application_survives_its_hsm_being_deleted_and_sees_a_new_hsm(process, cloudhsmv2_client, cluster,
                                                                          hsmsim_account):
    before = active_hsms(cloudhsmv2_client, cluster)
    out = app(process, cluster, "hsm_churn", pin=ALICE_PIN, account=hsmsim_account.account_id)
    other = next(h for h in before if h != out["first"])
    assert out["active_after_delete"] == [other]
    assert (out["plain"], out["moved_to"], out["switches"], out["epoch"]) == ("w" * 32, other, 1, 0)
    assert out["watcher"] == [True, other, 1]
    added = next(h for h in out["active_after_add"] if h not in before)
    assert sorted(out["active_after_add"]) == sorted([other, added])
    assert (out["fresh_hsm"], out["epoch_after_add"], out["fresh_plain"]) == (added, 1, "v" * 32)
    assert out["threads"] == [[True, True, []]] * 3  # sessions busy in threads through the re-initialisation
    assert out["old_session_plain"] == "w" * 32 and out["old_session_hsm"] in (other, added)
