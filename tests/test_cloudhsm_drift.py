"""Drift repair (hsmsim.cloudhsm.drift): HSMs of a cluster that no longer hold the same key objects are repaired the
way CloudHSM's appliance user does it, and verbose ``key list`` reports ``cluster-coverage`` honestly meanwhile.

Drift is made by hand from outside the server, with ``pkcs11-tool`` in a process of its own against one HSM's token
(labels are HSM ids; the user PIN derives from ``<data-dir>/secret.key``), and checked the same way. The first
tests exercise the HSM layer (:meth:`SoftHSM.object_index`, ``copy_objects``, ``remove_objects``) in-process; the
others a cluster of the plugin's fixtures (conftest ``cluster``, ``process``).

* https://docs.aws.amazon.com/cloudhsm/latest/userguide/cluster-synchronization.html
* https://docs.aws.amazon.com/cloudhsm/latest/userguide/troubleshoot-sdk5-key-replicate-failures.html
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
from helpers import open_softhsm
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.mechanisms import GCMParams
from test_cloudhsm_cli import ok
from test_cloudhsm_keys import ALICE, MODULE, active_hsms, key_objects, keys

from hsmsim.cloudhsm.drift import SYNC_CHECK_INTERVAL
from hsmsim.hsm import HSMError
from hsmsim.simulator import derive_pin
from hsmsim.testing import ServerProcess

PAST_CHECK = SYNC_CHECK_INTERVAL.total_seconds() + 60
GCM = GCMParams(b"\x02" * 12, b"aad", 128)
ID_1, ID_2, ID_3 = (bytes.fromhex(f"00000000000000{n:02x}") for n in (1, 2, 3))


# -- the HSM layer -------------------------------------------------------------------------------------------------


@pytest.fixture
def tokens(tmp_path: Path):
    """A token and its clone (the same master key, as the HSMs of one cluster), plus an unrelated token."""
    hsm = open_softhsm(tmp_path)
    first = hsm.create_token("hsm-first")
    serials = [first, hsm.clone(first, "hsm-second"), hsm.create_token("other")]
    yield hsm, serials
    hsm.close()


def _aes(session: Any, cka_id: bytes) -> None:
    session.generate_key(KeyType.AES, 256, store=True, template={
        Attribute.TOKEN: True, Attribute.PRIVATE: True, Attribute.LABEL: f"key-{cka_id.hex()}", Attribute.ID: cka_id,
        Attribute.EXTRACTABLE: False, Attribute.ENCRYPT: True, Attribute.DECRYPT: True,
    })


def test_object_index_decrypts_only_the_ids(tokens):
    hsm, (first, _, _) = tokens
    with hsm.session(first, exclusive=True) as session:
        _aes(session, ID_1)
        session.generate_keypair(KeyType.EC, store=True, public_template={  # a public object keeps its id in clear
            Attribute.TOKEN: True, Attribute.PRIVATE: False, Attribute.ID: ID_2,
            Attribute.EC_PARAMS: bytes.fromhex("06082a8648ce3d030107"),
        }, private_template={Attribute.TOKEN: True, Attribute.PRIVATE: True, Attribute.ID: ID_3})
    index = hsm.object_index(first)
    assert sorted(index.values()) == [ID_1, ID_2, ID_3]
    assert all(name.endswith(".object") for name in index)
    assert hsm.object_ids(first) == {ID_1, ID_2, ID_3}  # what the running SoftHSM serves agrees


def test_copy_objects_copies_just_those_objects_between_clones(tokens):
    hsm, (first, second, other) = tokens
    with hsm.session(first, exclusive=True) as session:
        _aes(session, ID_1)
        _aes(session, ID_2)
        ciphertext = session.get_key(id=ID_1).encrypt(b"drift", mechanism=Mechanism.AES_GCM, mechanism_param=GCM)
    assert hsm.copy_objects(first, second, {ID_1}) == 1
    assert hsm.object_ids(second) == {ID_1}  # the running SoftHSM sees it at once
    with hsm.session(second) as session:
        key = session.get_key(object_class=ObjectClass.SECRET_KEY, id=ID_1)
        assert key[Attribute.NEVER_EXTRACTABLE] and key[Attribute.LOCAL]  # a copy, not a re-import
        assert key.decrypt(ciphertext, mechanism=Mechanism.AES_GCM, mechanism_param=GCM) == b"drift"
    assert hsm.copy_objects(first, second, {ID_1}) == 0  # nothing left to do
    with pytest.raises(HSMError, match="not a clone"):
        hsm.copy_objects(first, other, {ID_1})
    assert hsm.object_ids(other) == set()


def test_remove_objects_removes_just_those_objects(tokens):
    hsm, (first, second, _) = tokens
    with hsm.session(first, exclusive=True) as session:
        _aes(session, ID_1)
        _aes(session, ID_2)
    hsm.replicate(first, [second])
    assert hsm.remove_objects(second, {ID_2, ID_3}) == 1
    assert hsm.object_ids(second) == {ID_1}
    assert hsm.object_ids(first) == {ID_1, ID_2}
    assert hsm.remove_objects(second, {ID_2}) == 0


# -- the cluster, against a real server ----------------------------------------------------------------------------


def pkcs11_tool(process: ServerProcess, hsm_id: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    pin = derive_pin((process.data_dir / "secret.key").read_bytes(), "softhsm-user-pin")
    env = dict(os.environ, SOFTHSM2_CONF=str(process.data_dir / "softhsm2.conf"))
    return subprocess.run(
        ["pkcs11-tool", "--module", MODULE, "--token-label", hsm_id, "--login", "--pin", pin, *args],
        env=env, capture_output=True, text=True, check=check,
    )


def delete_object(process: ServerProcess, hsm_id: str, reference: str, kind: str = "secrkey") -> None:
    pkcs11_tool(process, hsm_id, "--delete-object", "--type", kind, "--id", reference[2:])


def references(process: ServerProcess, hsm_id: str) -> set[str]:
    return {"0x" + ref for _, _, ref in key_objects(process, hsm_id)}


def coverage(process: ServerProcess, cluster_id: str, reference: str) -> str:
    info = keys(process, cluster_id, ALICE)[reference]["key-info"]
    assert {o["key-coverage"] for o in info["key-owners"]} == {info["cluster-coverage"]}
    return info["cluster-coverage"]


def aes_key(process: ServerProcess, cluster_id: str, label: str) -> str:
    return ok(process, cluster_id, "key", "generate-symmetric", "aes", "--label", label, "--key-length-bytes", "32",
              "--attributes", "encrypt=true", "decrypt=true", env=ALICE)["key"]["key-reference"]


def rows(process: ServerProcess, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{process.data_dir / 'hsmsim.db'}?mode=ro", uri=True) as db:
        return db.execute(query).fetchall()


def roundtrip(process: ServerProcess, tmp_path: Path, reference: str, encrypt_on: str, decrypt_on: str) -> bytes:
    """Encrypt 16 bytes with the key on one HSM's token and decrypt them on another's (AES-ECB, pkcs11-tool)."""
    plain, sealed, back = tmp_path / "plain", tmp_path / "sealed", tmp_path / "back"
    plain.write_bytes(b"appliance-user!!")
    pkcs11_tool(process, encrypt_on, "--encrypt", "-m", "AES-ECB", "--id", reference[2:], "--input-file", str(plain),
                "--output-file", str(sealed))
    pkcs11_tool(process, decrypt_on, "--decrypt", "-m", "AES-ECB", "--id", reference[2:], "--input-file", str(sealed),
                "--output-file", str(back))
    assert sealed.read_bytes() != plain.read_bytes()
    return back.read_bytes()


def test_a_key_missing_on_one_hsm_is_copied_back_by_the_sync_check(process, cloudhsmv2_client, cluster, tmp_path):
    first, second = active_hsms(cloudhsmv2_client, cluster)
    reference = aes_key(process, cluster, "drifting")
    other = aes_key(process, cluster, "steady")
    assert rows(process, f"select next_sync_check_at from cloudhsm_clusters where cluster_id = '{cluster}'")[0][0]

    delete_object(process, second, reference)  # a crash left the key on one HSM only
    assert reference not in references(process, second) and reference in references(process, first)
    for _ in range(3):  # whichever HSM serves the listing, the key is described and its coverage is honest
        assert coverage(process, cluster, reference) == "inconsistent"
        assert keys(process, cluster, ALICE)[reference]["attributes"]["label"] == "drifting"
        assert coverage(process, cluster, other) == "full"

    process.advance(PAST_CHECK)
    assert coverage(process, cluster, reference) == "full"
    assert references(process, first) == references(process, second) == {reference, other}
    assert roundtrip(process, tmp_path, reference, first, second) == b"appliance-user!!"  # the same key on both
    assert roundtrip(process, tmp_path, reference, second, first) == b"appliance-user!!"


def test_a_key_write_repairs_the_cluster_first(process, cloudhsmv2_client, cluster):
    """A write replicates one HSM's objects to the others: without the repair, a write that ran on the HSM missing
    a key would delete that key everywhere."""
    first, second = active_hsms(cloudhsmv2_client, cluster)
    reference = aes_key(process, cluster, "precious")
    for hsm_id in (second, first, second):  # writes alternate over the HSMs: at least one runs where it is missing
        delete_object(process, hsm_id, reference)
        aes_key(process, cluster, f"new-{hsm_id}")
        assert reference in references(process, first) and reference in references(process, second)
    assert coverage(process, cluster, reference) == "full"
    assert references(process, first) == references(process, second)


def test_an_object_nobody_owns_is_removed(process, cloudhsmv2_client, cluster):
    """Decision (see hsmsim.cloudhsm.drift): a key object without an ownership row -- a key creation that failed
    between the token write and the commit -- is removed, never completed."""
    first, second = active_hsms(cloudhsmv2_client, cluster)
    owned = aes_key(process, cluster, "owned")
    stray = "0x00000000deadbeef"
    pkcs11_tool(process, first, "--keygen", "--key-type", "AES:32", "--id", stray[2:], "--label", "half-made", "--private")
    assert stray in references(process, first) and stray not in references(process, second)
    assert stray not in keys(process, cluster, ALICE)  # nobody sees it

    process.advance(PAST_CHECK)
    assert references(process, first) == references(process, second) == {owned}
    assert coverage(process, cluster, owned) == "full"


def test_a_key_on_no_hsm_is_reported_not_invented(process, cloudhsmv2_client, cluster):
    first, second = active_hsms(cloudhsmv2_client, cluster)
    reference = aes_key(process, cluster, "gone")
    for hsm_id in (first, second):
        delete_object(process, hsm_id, reference)
    missing = f"select missing_since from cloudhsm_keys where key_reference = '{reference}'"
    assert rows(process, missing) == [(None,)]

    process.advance(PAST_CHECK)
    assert rows(process, missing)[0][0] is not None  # marked
    assert reference not in references(process, first) | references(process, second)  # nothing invented
    assert reference not in keys(process, cluster, ALICE)  # nothing to describe
    brief = ok(process, cluster, "key", "list", env=ALICE)["matched_keys"]
    assert {"key-reference": reference, "attributes": {"label": "gone"}} in brief  # the ownership is still there
    assert ok(process, cluster, "key", "delete", "--filter", f"key-reference={reference}", env=ALICE) == {
        "message": "Key deleted successfully"
    }
    assert rows(process, missing) == []


def test_no_sync_check_below_two_active_hsms(process, cloudhsmv2_client, cluster):
    first, second = active_hsms(cloudhsmv2_client, cluster)
    cloudhsmv2_client.delete_hsm(ClusterId=cluster, HsmId=second)
    process.advance(PAST_CHECK)
    assert active_hsms(cloudhsmv2_client, cluster) == [first]
    query = f"select next_sync_check_at from cloudhsm_clusters where cluster_id = '{cluster}'"
    assert rows(process, query) == [(None,)]
    cloudhsmv2_client.create_hsm(ClusterId=cluster, AvailabilityZone="us-east-1b")
    process.advance(PAST_CHECK)
    assert len(active_hsms(cloudhsmv2_client, cluster)) == 2
    assert rows(process, query)[0][0] is not None
