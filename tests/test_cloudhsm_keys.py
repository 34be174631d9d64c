"""Keys of crypto users (spec 2.2) through ``hsmsim cloudhsm-cli key ...`` and the data plane, against a real server.

The key material is checked where it lives: the SoftHSM token of every HSM, listed by ``pkcs11-tool`` in a process
of its own (logged in with the simulator's internal user PIN, derived from ``<data-dir>/secret.key``). Every failed
command must leave the keys, their owners and the tokens exactly as they were.

The tests run on the plugin's fixtures (conftest ``cluster``: an ACTIVE two-HSM cluster of the test's own account
with crypto users alice and bob and an admin admin2; ``process``: the server for the CLI and pkcs11-tool); the
last one needs a server of its own with AWS-like delays.

* https://docs.aws.amazon.com/cloudhsm/latest/userguide/cloudhsm_cli-key-list.html
* https://docs.aws.amazon.com/cloudhsm/latest/userguide/cloudhsm_cli-key-generate-symmetric-aes.html
* https://docs.aws.amazon.com/cloudhsm/latest/userguide/cloudhsm_cli-key-share.html
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from helpers import SUBNETS, CustomerCA, describe
from test_cloudhsm_cli import cli, envelopes, fails, ok, run
from test_cloudhsm_users import Plane, assert_error

from hsmsim.simulator import derive_pin
from hsmsim.testing import ServerProcess

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
ADMIN = {"CLOUDHSM_ROLE": "admin", "CLOUDHSM_PIN": "admin:Admin-Pass-1"}
ALICE = {"CLOUDHSM_ROLE": "crypto-user", "CLOUDHSM_PIN": "alice:Alice-Pass-1"}
BOB = {"CLOUDHSM_ROLE": "crypto-user", "CLOUDHSM_PIN": "bob:Bob-Pass-1"}
ATTRIBUTE_NAMES = [
    "key-type", "label", "id", "check-value", "class", "encrypt", "decrypt", "token", "always-sensitive", "derive",
    "destroyable", "extractable", "local", "modifiable", "never-extractable", "private", "sensitive", "sign",
    "trusted", "unwrap", "verify", "wrap", "wrap-with-trusted", "key-length-bytes",
]


def token_objects(process: ServerProcess, hsm_id: str) -> set[tuple[str, str, str]]:
    """(kind, label, CKA_ID hex) of every object in the HSM's token, as pkcs11-tool sees them."""
    pin = derive_pin((process.data_dir / "secret.key").read_bytes(), "softhsm-user-pin")
    env = dict(os.environ, SOFTHSM2_CONF=str(process.data_dir / "softhsm2.conf"))
    out = subprocess.run(
        ["pkcs11-tool", "--module", MODULE, "--token-label", hsm_id, "--login", "--pin", pin, "--list-objects"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout
    found, current = set(), None
    for line in out.splitlines():
        if "Key Object" in line:
            current = {"kind": line.split(" Key Object")[0].strip().lower()}
        elif current is not None and line.strip().startswith(("label:", "ID:")):
            name, _, value = line.strip().partition(":")
            current[name] = value.strip()
            if "label" in current and "ID" in current:
                found.add((current["kind"], current["label"], current["ID"]))
                current = None
    return found


def key_objects(process: ServerProcess, hsm_id: str) -> set[tuple[str, str, str]]:
    """The token objects that are keys of HSM users (CKA_ID = an 8-byte key reference)."""
    return {o for o in token_objects(process, hsm_id) if len(o[2]) == 16}


def expected(*views: dict[str, Any]) -> set[tuple[str, str, str]]:
    kinds = {"secret-key": "secret", "public-key": "public", "private-key": "private"}
    return {(kinds[v["attributes"]["class"]], v["attributes"]["label"], v["key-reference"][2:]) for v in views}


def active_hsms(cloudhsmv2_client: Any, cluster_id: str) -> list[str]:
    return [h["HsmId"] for h in describe(cloudhsmv2_client, cluster_id)["Hsms"] if h["State"] == "ACTIVE"]


def keys(process: ServerProcess, cluster_id: str, env: dict[str, str], *filters: str) -> dict[str, Any]:
    """reference -> verbose view of every key the user sees."""
    args = ["key", "list", "--verbose", "--max-items", "100"] + (["--filter", *filters] if filters else [])
    return {k["key-reference"]: k for k in ok(process, cluster_id, *args, env=env)["matched_keys"]}


@contextmanager
def unchanged(process: ServerProcess, cloudhsmv2_client: Any, cluster_id: str) -> Iterator[None]:
    """Keys as alice and bob see them, the users, and the key objects of every HSM token stay as they were."""

    def state() -> Any:
        tokens = {h: key_objects(process, h) for h in active_hsms(cloudhsmv2_client, cluster_id)}
        users = ok(process, cluster_id, "user", "list")
        return keys(process, cluster_id, ALICE), keys(process, cluster_id, BOB), users, tokens

    before = state()
    yield
    assert state() == before


def test_a_crypto_user_generates_keys_on_every_hsm(process, cloudhsmv2_client, cluster):
    aes = ok(process, cluster, "key", "generate-symmetric", "aes", "--label", "payments-aes", "--key-length-bytes", "32",
             env=ALICE)["key"]
    assert aes["key-info"] == {
        "key-owners": [{"username": "alice", "key-coverage": "full"}],
        "shared-users": [],
        "key-quorum-values": {"manage-key-quorum-value": 0, "use-key-quorum-value": 0},
        "cluster-coverage": "full",
    }
    attributes = aes["attributes"]
    assert list(attributes) == ATTRIBUTE_NAMES
    assert attributes | {"id": None, "check-value": None} == {  # AWS's defaults, as its CLI prints them
        "key-type": "aes", "label": "payments-aes", "id": None, "check-value": None, "class": "secret-key",
        "encrypt": False, "decrypt": False, "token": True, "always-sensitive": True, "derive": False,
        "destroyable": True, "extractable": True, "local": True, "modifiable": True, "never-extractable": False,
        "private": True, "sensitive": True, "sign": True, "trusted": False, "unwrap": False, "verify": True,
        "wrap": False, "wrap-with-trusted": False, "key-length-bytes": 32,
    }
    assert attributes["id"] == aes["key-reference"] and len(attributes["check-value"]) == 8  # 0x + 3 bytes

    hmac = ok(process, cluster, "key", "generate-symmetric", "generic-secret", "--label", "hmac", "--key-length-bytes",
              "64", "--attributes", "extractable=false", "--share-crypto-users", "bob", env=ALICE)["key"]
    assert hmac["attributes"]["key-type"] == "generic-secret" and hmac["attributes"]["key-length-bytes"] == 64
    assert (hmac["attributes"]["extractable"], hmac["attributes"]["never-extractable"]) == (False, True)
    assert hmac["key-info"]["shared-users"] == [{"username": "bob", "key-coverage": "full"}]

    rsa = ok(process, cluster, "key", "generate-asymmetric-pair", "rsa", "--public-label", "rsa-pub", "--private-label",
             "rsa-priv", "--modulus-size-bits", "2048", "--public-exponent", "65537", "--public-attributes",
             "verify=true", "--private-attributes", "sign=true", "--share-crypto-users", "bob", env=ALICE)
    public, private = rsa["public_key"], rsa["private_key"]
    assert (public["attributes"]["class"], private["attributes"]["class"]) == ("public-key", "private-key")
    assert (public["attributes"]["verify"], private["attributes"]["sign"]) == (True, True)
    assert public["attributes"]["modulus"] == private["attributes"]["modulus"]
    assert public["attributes"]["public-exponent"] == "0x010001" and public["attributes"]["modulus-size-bits"] == 2048
    assert public["attributes"]["check-value"] == private["attributes"]["check-value"]
    assert (public["key-info"]["shared-users"], len(private["key-info"]["shared-users"])) == ([], 1)  # private only

    ec = {}
    for curve in ("secp256r1", "secp384r1", "secp521r1", "secp256k1"):
        pair = ok(process, cluster, "key", "generate-asymmetric-pair", "ec", "--public-label", f"{curve}-pub",
                  "--private-label", f"{curve}-priv", "--curve", curve, env=ALICE)
        assert pair["private_key"]["attributes"]["curve"] == curve
        assert pair["private_key"]["attributes"]["ec-point"] == pair["public_key"]["attributes"]["ec-point"]
        ec[curve] = pair

    views = [aes, hmac, public, private, *(k for pair in ec.values() for k in pair.values())]
    for hsm_id in active_hsms(cloudhsmv2_client, cluster):  # on every HSM before the command returned
        assert key_objects(process, hsm_id) == expected(*views)

    listed = ok(process, cluster, "key", "list", env=ALICE)
    assert (listed["total_key_count"], listed["returned_key_count"], listed["next_token"]) == (12, 10, "10")
    assert listed["matched_keys"][0] == {"key-reference": min(v["key-reference"] for v in views),
                                         "attributes": {"label": sorted(views, key=lambda v: v["key-reference"])[0][
                                             "attributes"]["label"]}}
    rest = ok(process, cluster, "key", "list", "--starting-token", "10", env=ALICE)
    assert (rest["returned_key_count"], "next_token" in rest) == (2, False)
    assert keys(process, cluster, ALICE) == {v["key-reference"]: v for v in views}
    assert set(keys(process, cluster, ALICE, "attr.key-type=ec", "attr.class=private-key")) == {
        pair["private_key"]["key-reference"] for pair in ec.values()
    }
    assert set(keys(process, cluster, ALICE, "attr.sign=true", "attr.class=private-key")) == {private["key-reference"]}

    assert ok(process, cluster, "key", "delete", "--filter", "attr.label=payments-aes", env=ALICE) == {
        "message": "Key deleted successfully"
    }
    # Deleting one key of a pair leaves the other.
    ok(process, cluster, "key", "delete", "--filter", f"key-reference={private['key-reference']}", env=ALICE)
    for hsm_id in active_hsms(cloudhsmv2_client, cluster):
        assert key_objects(process, hsm_id) == expected(*(v for v in views if v not in (aes, private)))


def test_ownership_and_sharing(process, cloudhsmv2_client, cluster, admin_env):
    key = ok(process, cluster, "key", "generate-symmetric", "aes", "--label", "alice-key", "--key-length-bytes", "16",
             env=ALICE)["key"]
    pair = ok(process, cluster, "key", "generate-asymmetric-pair", "ec", "--public-label", "alice-pub",
              "--private-label", "alice-priv", "--curve", "secp256r1", env=ALICE)
    ref, public = key["key-reference"], pair["public_key"]["key-reference"]
    by_ref = ["--filter", f"key-reference={ref}"]

    # bob sees only the public key; alice's other keys do not exist for him.
    assert set(keys(process, cluster, BOB)) == {public}
    with unchanged(process, cloudhsmv2_client, cluster):
        assert "matched no keys" in fails(process, cluster, "key", "delete", *by_ref, env=BOB)
        assert "owner" in fails(process, cluster, "key", "delete", "--filter", f"key-reference={public}", env=BOB)
        plane = Plane(process, cluster)
        bob = plane.session("bob", "Bob-Pass-1", "crypto-user")
        assert_error(plane.request("DELETE", f"/keys/{ref}", token=bob), 404, "KeyNotFound")
        assert_error(plane.request("POST", f"/keys/{ref}/share", {"username": "bob", "role": "crypto-user"}, bob),
                     404, "KeyNotFound")
        plane.logout(bob)
        # Admins manage users, not keys.
        assert "Only crypto users" in fails(process, cluster, "key", "generate-symmetric", "aes", "--label", "x",
                                            "--key-length-bytes", "16", env=admin_env)
        assert "Only crypto users" in fails(process, cluster, "key", "delete", *by_ref, env=admin_env)
    admin_view = ok(process, cluster, "key", "list", "--verbose", env=admin_env)  # references and labels only
    assert {k["key-reference"]: k["attributes"] for k in admin_view["matched_keys"]} == {
        ref: {"label": "alice-key"}, public: {"label": "alice-pub"},
        pair["private_key"]["key-reference"]: {"label": "alice-priv"},
    }

    assert ok(process, cluster, "key", "share", *by_ref, "--username", "bob", "--role", "crypto-user", env=ALICE) == {
        "message": "Key shared successfully"
    }
    shared = keys(process, cluster, BOB)[ref]
    assert shared["key-info"]["key-owners"] == [{"username": "alice", "key-coverage": "full"}]
    assert shared["key-info"]["shared-users"] == [{"username": "bob", "key-coverage": "full"}]
    with unchanged(process, cloudhsmv2_client, cluster):  # bob uses the key, nothing more
        assert "owner" in fails(process, cluster, "key", "delete", *by_ref, env=BOB)
        assert "owner" in fails(process, cluster, "key", "share", *by_ref, "--username", "bob", "--role", "crypto-user",
                                env=BOB)
        assert "owner" in fails(process, cluster, "key", "unshare", *by_ref, "--username", "bob", "--role",
                                "crypto-user", env=BOB)
        assert "owner" in fails(process, cluster, "key", "set-attribute", *by_ref, "--name", "label", "--value", "mine",
                                env=BOB)
        assert "already shared" in fails(process, cluster, "key", "share", *by_ref, "--username", "bob", "--role",
                                         "crypto-user", env=ALICE)

    # The owner changes attributes: on every HSM's token.
    ok(process, cluster, "key", "set-attribute", *by_ref, "--name", "encrypt", "--value", "true", env=ALICE)
    assert ok(process, cluster, "key", "set-attribute", *by_ref, "--name", "label", "--value", "renamed", env=ALICE) == {
        "message": "Attribute set successfully"
    }
    for hsm_id in active_hsms(cloudhsmv2_client, cluster):
        assert ("secret", "renamed", ref[2:]) in key_objects(process, hsm_id)
    for _ in active_hsms(cloudhsmv2_client, cluster):  # reads go round robin over the HSMs
        attributes = keys(process, cluster, BOB, "attr.label=renamed")[ref]["attributes"]
        assert (attributes["label"], attributes["encrypt"]) == ("renamed", True)

    assert ok(process, cluster, "key", "unshare", *by_ref, "--username", "bob", "--role", "crypto-user", env=ALICE) == {
        "message": "Key unshared successfully"
    }
    assert set(keys(process, cluster, BOB)) == {public}
    assert keys(process, cluster, ALICE)[ref]["key-info"]["shared-users"] == []


def test_a_crypto_user_that_owns_keys_cannot_be_deleted(process, cloudhsmv2_client, cluster, admin_env):
    key = ok(process, cluster, "key", "generate-symmetric", "aes", "--label", "k", "--key-length-bytes", "24",
             "--share-crypto-users", "bob", env=ALICE)["key"]
    with unchanged(process, cloudhsmv2_client, cluster):
        assert "owns 1 key" in fails(process, cluster, "user", "delete", "--username", "alice", "--role", "crypto-user",
                                     env=admin_env)
    # A user a key is shared with can be deleted; the key is then shared with nobody.
    ok(process, cluster, "user", "delete", "--username", "bob", "--role", "crypto-user", env=admin_env)
    assert keys(process, cluster, ALICE)[key["key-reference"]]["key-info"]["shared-users"] == []
    ok(process, cluster, "key", "delete", "--filter", "attr.label=k", env=ALICE)
    ok(process, cluster, "user", "delete", "--username", "alice", "--role", "crypto-user", env=admin_env)
    assert [u["username"] for u in ok(process, cluster, "user", "list")["users"]] == [
        "admin", "admin2", "appuser", "kmsuser", "app_user"]  # appuser and kmsuser: the plugin's cluster has them


def latest_backup(cloudhsmv2_client: Any, cluster_id: str) -> str:
    found = cloudhsmv2_client.describe_backups(Filters={"clusterIds": [cluster_id]}, SortAscending=True)["Backups"]
    return found[-1]["BackupId"]


def test_keys_and_owners_survive_hsm_replacement_and_restores(process, cloudhsmv2_client, cluster, admin_env):
    aes = ok(process, cluster, "key", "generate-symmetric", "aes", "--label", "durable", "--key-length-bytes", "32",
             "--share-crypto-users", "bob", env=ALICE)["key"]
    pair = ok(process, cluster, "key", "generate-asymmetric-pair", "rsa", "--public-label", "durable-pub",
              "--private-label", "durable-priv", "--modulus-size-bits", "3072", "--public-exponent", "65537",
              env=BOB)
    before = {"alice": keys(process, cluster, ALICE), "bob": keys(process, cluster, BOB)}
    objects = expected(aes, *pair.values())
    first, second = active_hsms(cloudhsmv2_client, cluster)

    # Replace every HSM: delete one, add one (cloned from a backup of the other), delete the other.
    cloudhsmv2_client.delete_hsm(ClusterId=cluster, HsmId=first)
    third = cloudhsmv2_client.create_hsm(ClusterId=cluster, AvailabilityZone="us-east-1a")["Hsm"]["HsmId"]
    cloudhsmv2_client.delete_hsm(ClusterId=cluster, HsmId=second)
    assert active_hsms(cloudhsmv2_client, cluster) == [third]
    assert key_objects(process, third) == objects
    assert {"alice": keys(process, cluster, ALICE), "bob": keys(process, cluster, BOB)} == before

    # The last HSM goes: its backup holds the keys; the next HSM is restored from it, owners and shares included.
    cloudhsmv2_client.delete_hsm(ClusterId=cluster, HsmId=third)
    fourth = cloudhsmv2_client.create_hsm(ClusterId=cluster, AvailabilityZone="us-east-1b")["Hsm"]["HsmId"]
    assert key_objects(process, fourth) == objects
    assert {"alice": keys(process, cluster, ALICE), "bob": keys(process, cluster, BOB)} == before

    # A cluster created from the backup has the same keys and owners, and is independent from then on.
    restored = cloudhsmv2_client.create_cluster(HsmType="hsm1.medium", SubnetIds=SUBNETS[:2],
                                       SourceBackupId=latest_backup(cloudhsmv2_client, cluster))["Cluster"]["ClusterId"]
    hsm_id = cloudhsmv2_client.create_hsm(ClusterId=restored, AvailabilityZone="us-east-1a")["Hsm"]["HsmId"]
    assert key_objects(process, hsm_id) == objects
    assert {"alice": keys(process, restored, ALICE), "bob": keys(process, restored, BOB)} == before
    assert "owns 1 key" in fails(process, restored, "user", "delete", "--username", "alice", "--role", "crypto-user",
                                 env=admin_env)
    ok(process, restored, "key", "delete", "--filter", "attr.label=durable", env=ALICE)
    assert key_objects(process, hsm_id) == expected(*pair.values())
    assert key_objects(process, fourth) == objects and keys(process, cluster, ALICE) == before["alice"]

    # Deleting a cluster forgets its keys' ownership with its users.
    cloudhsmv2_client.delete_hsm(ClusterId=restored, HsmId=hsm_id)
    cloudhsmv2_client.delete_cluster(ClusterId=restored)
    process.advance(2 * 24 * 3600)  # DELETED, then purged
    assert cloudhsmv2_client.describe_clusters(Filters={"clusterIds": [restored]})["Clusters"] == []
    assert keys(process, cluster, ALICE) == before["alice"]


def test_bad_input_changes_nothing(process, cloudhsmv2_client, cluster):
    ok(process, cluster, "key", "generate-symmetric", "aes", "--label", "twin", "--key-length-bytes", "16", env=ALICE)
    ok(process, cluster, "key", "generate-symmetric", "aes", "--label", "twin", "--key-length-bytes", "32", env=ALICE)
    ok(process, cluster, "key", "generate-symmetric", "aes", "--label", "frozen", "--key-length-bytes", "32",
       "--attributes", "modifiable=false", env=ALICE)
    generate = ["key", "generate-asymmetric-pair"]
    ok(process, cluster, *generate, "ec", "--public-label", "frozen-pub", "--private-label", "frozen-priv", "--curve",
       "secp384r1", env=ALICE)
    with unchanged(process, cloudhsmv2_client, cluster):
        assert "Invalid curve" in fails(process, cluster, *generate, "ec", "--public-label", "p", "--private-label", "q",
                                        "--curve", "secp255r1", env=ALICE)
        for length in ("8", "33"):
            assert "16, 24 or 32" in fails(process, cluster, "key", "generate-symmetric", "aes", "--label", "x",
                                           "--key-length-bytes", length, env=ALICE)
        assert "1 to 800" in fails(process, cluster, "key", "generate-symmetric", "generic-secret", "--label", "x",
                                   "--key-length-bytes", "801", env=ALICE)
        for bits, exponent in (("1024", "65537"), ("2100", "65537"), ("8192", "65537"), ("2048", "3"),
                               ("2048", "65538")):
            assert "Invalid" in fails(process, cluster, *generate, "rsa", "--public-label", "p", "--private-label", "q",
                                      "--modulus-size-bits", bits, "--public-exponent", exponent, env=ALICE)
        assert "1 to 127" in fails(process, cluster, "key", "generate-symmetric", "aes", "--label", "x" * 128,
                                   "--key-length-bytes", "16", env=ALICE)
        assert "cannot be set" in fails(process, cluster, "key", "generate-symmetric", "aes", "--label", "x",
                                        "--key-length-bytes", "16", "--attributes", "trusted=true", env=ALICE)
        assert "true or false" in fails(process, cluster, "key", "generate-symmetric", "aes", "--label", "x",
                                        "--key-length-bytes", "16", "--attributes", "encrypt=maybe", env=ALICE)
        assert "does not exist" in fails(process, cluster, "key", "generate-symmetric", "aes", "--label", "x",
                                         "--key-length-bytes", "16", "--share-crypto-users", "carol", env=ALICE)
        assert "crypto users" in fails(process, cluster, "key", "generate-symmetric", "aes", "--label", "x",
                                       "--key-length-bytes", "16", "--share-crypto-users", "admin2", env=ALICE)
        assert "matched 2 keys" in fails(process, cluster, "key", "delete", "--filter", "attr.label=twin", env=ALICE)
        assert "matched no keys" in fails(process, cluster, "key", "delete", "--filter", "key-reference=0x1234",
                                          env=ALICE)
        assert "Invalid key reference" in fails(process, cluster, "key", "delete", "--filter", "key-reference=xyz",
                                                env=ALICE)
        assert "unknown key attribute" in fails(process, cluster, "key", "list", "--filter", "attr.colour=red",
                                                env=ALICE)
        twin = ["--filter", "attr.label=twin", "attr.key-length-bytes=16"]
        assert "crypto users" in fails(process, cluster, "key", "share", *twin, "--username", "admin2", "--role", "admin",
                                       env=ALICE)
        assert "crypto users" in fails(process, cluster, "key", "share", *twin, "--username", "bob", "--role", "admin",
                                       env=ALICE)
        assert "does not exist" in fails(process, cluster, "key", "share", *twin, "--username", "carol", "--role",
                                         "crypto-user", env=ALICE)
        assert "owns" in fails(process, cluster, "key", "share", *twin, "--username", "alice", "--role", "crypto-user",
                               env=ALICE)
        assert "not shared" in fails(process, cluster, "key", "unshare", *twin, "--username", "bob", "--role",
                                     "crypto-user", env=ALICE)
        for name, value, message in (
            ("extractable", "true", "cannot be set"),
            ("trusted", "true", "cannot be set"),
            ("encrypt", "yes", "true or false"),
            ("label", "", "1 to 127"),
        ):
            assert message in fails(process, cluster, "key", "set-attribute", *twin, "--name", name, "--value", value,
                                    env=ALICE)
        assert "not modifiable" in fails(process, cluster, "key", "set-attribute", "--filter", "attr.label=frozen",
                                         "--name", "encrypt", "--value", "true", env=ALICE)
        assert "does not apply" in fails(process, cluster, "key", "set-attribute", "--filter", "attr.label=frozen-pub",
                                         "--name", "decrypt", "--value", "true", env=ALICE)
        # Command lines that do not parse: exit status 2.
        assert "invalid choice" in fails(process, cluster, "key", "share", *twin, "--username", "bob", "--role",
                                         "auditor", env=ALICE, status=2)
        assert "invalid int" in fails(process, cluster, "key", "generate-symmetric", "aes", "--label", "x",
                                      "--key-length-bytes", "sixteen", env=ALICE, status=2)
        assert "--filter" in fails(process, cluster, "key", "delete", env=ALICE, status=2)
        # Not logged in.
        assert "CLOUDHSM_PIN" in fails(process, cluster, "key", "list")
        status, envelope = cli(process, cluster, "key", "list", env={**ALICE, "CLOUDHSM_PIN": "alice:wrong-pass"})
        assert status == 1 and "Invalid username or password" in envelope["data"]
    plane = Plane(process, cluster)
    alice = plane.session("alice", "Alice-Pass-1", "crypto-user")
    assert_error(plane.request("POST", "/keys/generate-symmetric", {"key_type": "des", "label": "x",
                                                                  "key_length_bytes": 8}, alice),
                 400, "ValidationException", "aes or generic-secret")
    assert_error(plane.request("POST", "/keys/generate-symmetric", {"key_type": "aes", "label": "x",
                                                                  "key_length_bytes": 16, "attributes": ["oops"]},
                               alice), 400, "ValidationException", "KEY_ATTRIBUTE_NAME")
    assert_error(plane.request("GET", "/keys?max_items=0", token=alice), 400, "ValidationException", "max items")
    assert_error(plane.request("GET", "/keys"), 401, "NotLoggedIn")
    plane.logout(alice)


def test_interactive_mode(process, cloudhsmv2_client, cluster):
    session = run(process, cluster, "interactive", stdin="\n".join([
        "login --username alice --role crypto-user --password Alice-Pass-1",
        "key generate-symmetric aes --label 'my key' --key-length-bytes 16 --attributes encrypt=true decrypt=true",
        "key list --filter attr.label='my key'",
        "key generate-symmetric aes --label 'my key' --key-length-bytes 17",
        "key delete --filter attr.label='my key'",
        "key list",
        "logout",
        "quit",
    ]) + "\n")
    assert session.returncode == 0
    replies = envelopes(session.stdout)
    assert [r["error_code"] for r in replies] == [0, 0, 0, 1, 0, 0, 0]
    generated = replies[1]["data"]["key"]
    assert (generated["attributes"]["encrypt"], generated["attributes"]["decrypt"]) == (True, True)
    assert replies[2]["data"]["matched_keys"] == [
        {"key-reference": generated["key-reference"], "attributes": {"label": "my key"}}
    ]
    assert replies[5]["data"] == {"matched_keys": [], "total_key_count": 0, "returned_key_count": 0}


def test_an_hsm_created_meanwhile_catches_up(realistic):
    """With AWS-like delays a new HSM is restored from a backup taken at CreateHsm and becomes ACTIVE minutes
    later: keys written in between reach it when it does."""
    server = realistic
    client = server.client("cloudhsmv2")
    cluster_id = client.create_cluster(HsmType="hsm1.medium", SubnetIds=SUBNETS[:2])["Cluster"]["ClusterId"]
    server.advance(5 * 60)
    first = client.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1a")["Hsm"]["HsmId"]
    server.advance(10 * 60)
    ca = CustomerCA()
    csr = describe(client, cluster_id)["Certificates"]["ClusterCsr"]
    client.initialize_cluster(ClusterId=cluster_id, SignedCert=ca.sign_csr(csr), TrustAnchor=ca.pem)
    server.advance(5 * 60)
    ok(server, cluster_id, "cluster", "activate", "--password", "Admin-Pass-1")
    ok(server, cluster_id, "user", "create", "--username", "alice", "--role", "crypto-user", "--password",
       "Alice-Pass-1", env=ADMIN)
    old = ok(server, cluster_id, "key", "generate-symmetric", "aes", "--label", "old", "--key-length-bytes", "16",
             env=ALICE)["key"]
    second = client.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1b")["Hsm"]["HsmId"]
    new = ok(server, cluster_id, "key", "generate-symmetric", "aes", "--label", "new", "--key-length-bytes", "16",
             env=ALICE)["key"]
    ok(server, cluster_id, "key", "delete", "--filter", "attr.label=old", env=ALICE)
    assert active_hsms(client, cluster_id) == [first]
    assert key_objects(server, second) == expected(old)  # what the backup at CreateHsm held
    server.advance(10 * 60)
    assert active_hsms(client, cluster_id) == [first, second]
    assert key_objects(server, second) == key_objects(server, first) == expected(new)
