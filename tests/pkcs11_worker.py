"""The application side of tests/test_pkcs11_app.py, run in a process of its own (``python pkcs11_worker.py
ENDPOINT CLUSTER SCENARIO JSON-ARGS``): python-pkcs11 keeps one SoftHSM per process, so the pytest process must not
load it. Prints one JSON object: the scenario's result."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time
import urllib.request
from typing import Any

from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.exceptions import NoSuchKey, PKCS11Error
from pkcs11.mechanisms import GCMParams

import hsmsim
from hsmsim import pkcs11_app


def gcm(key: Any, data: bytes, nonce: bytes, decrypt: bool = False) -> bytes:
    params = GCMParams(nonce)
    op = key.decrypt if decrypt else key.encrypt
    return op(data, mechanism=Mechanism.AES_GCM, mechanism_param=params)


def generate(endpoint: str, cluster: str, args: dict[str, Any]) -> dict[str, Any]:
    with hsmsim.connect(endpoint, cluster, pin=args["pin"], hsm_id=args.get("hsm_id")) as app:
        key = app.generate_key(KeyType.AES, 256, label=args["label"])
        nonce = app.generate_random(96)
        ciphertext = gcm(key, b"x" * 32, nonce)
        assert gcm(key, ciphertext, nonce, decrypt=True) == b"x" * 32
        again = app.get_key(label=args["label"], object_class=ObjectClass.SECRET_KEY)
        assert again.ref == key.ref and again.owner == app.user
        pub, priv = app.generate_keypair(KeyType.EC, label=args["label"] + "-ec")
        digest = hashlib.sha256(b"message").digest()  # SoftHSM 2.6.1 has no CKM_ECDSA_SHA256
        signature = priv.sign(digest, mechanism=Mechanism.ECDSA)
        assert pub.verify(digest, signature, mechanism=Mechanism.ECDSA)
        return {"ref": key.ref, "ec": [pub.ref, priv.ref], "hsm": app.hsm_id, "nonce": nonce.hex(),
                "ciphertext": ciphertext.hex(), "random": len(app.generate_random(256))}


def use(endpoint: str, cluster: str, args: dict[str, Any]) -> dict[str, Any]:
    """get_key by label on a given HSM; decrypt the given ciphertext if found."""
    with hsmsim.connect(endpoint, cluster, pin=args["pin"], hsm_id=args.get("hsm_id")) as app:
        try:
            key = app.get_key(label=args["label"])
        except NoSuchKey:
            return {"found": None, "hsm": app.hsm_id}
        plain = gcm(key, bytes.fromhex(args["ciphertext"]), bytes.fromhex(args["nonce"]), decrypt=True)
        return {"found": key.ref, "hsm": app.hsm_id, "plain": plain.decode(), "shared": key.shared}


def share_and_destroy(endpoint: str, cluster: str, args: dict[str, Any]) -> dict[str, Any]:
    """Owner and sharee in one process: before/after share, destroy by the sharee (refused) then by the owner."""
    out: dict[str, Any] = {}
    with hsmsim.connect(endpoint, cluster, pin=args["owner"]) as owner, \
            hsmsim.connect(endpoint, cluster, pin=args["other"]) as other:
        key = owner.generate_key(KeyType.AES, 128, label="to-share")
        try:
            other.get_key(label="to-share")
            out["before_share"] = "found"
        except NoSuchKey:
            out["before_share"] = "NoSuchKey"
        owner.share(key, other.user)
        out["other_refreshed"] = other.refresh()
        theirs = other.get_key(label="to-share")
        nonce = other.generate_random(96)
        out["cross"] = gcm(key, gcm(theirs, b"y" * 32, nonce), nonce, decrypt=True) == b"y" * 32
        try:
            other.destroy(theirs)
            out["sharee_destroy"] = "ok"
        except pkcs11_app.DataPlaneError as error:
            out["sharee_destroy"] = error.code
        key.destroy()
        out["after_destroy"] = [k["ref"] for k in owner.keys() + other.keys() if k["label"] == "to-share"]
        try:
            owner.get_key(id=key.ref)
            out["owner_after"] = "found"
        except NoSuchKey:
            out["owner_after"] = "NoSuchKey"
    return out


def rsa(endpoint: str, cluster: str, args: dict[str, Any]) -> dict[str, Any]:
    """An RSA pair: every crypto user gets the public key (by CKA_ID), only the owner the private one."""
    out: dict[str, Any] = {}
    with hsmsim.connect(endpoint, cluster, pin=args["owner"]) as owner, \
            hsmsim.connect(endpoint, cluster, pin=args["other"]) as other:
        public, private = owner.generate_keypair(KeyType.RSA, 2048, label="app-rsa")
        theirs = other.get_key(id=bytes(public[Attribute.ID]), object_class=ObjectClass.PUBLIC_KEY)
        out["public_ref"] = theirs.ref == public.ref
        out["oaep"] = private.decrypt(theirs.encrypt(b"secret")) == b"secret"
        try:
            other.get_key(id=private.ref)
            out["private_for_other"] = "found"
        except NoSuchKey:
            out["private_for_other"] = "NoSuchKey"
        try:
            public[Attribute.LABEL] = "renamed"
            out["set_attribute"] = "changed"
        except PermissionError:
            out["set_attribute"] = "PermissionError"
        session_key = owner.generate_key(KeyType.AES, 128, store=False)
        out["session_key_token"] = session_key[Attribute.TOKEN]
        out["labels"] = sorted(k["label"] for k in other.keys())
    return out


def spread(endpoint: str, cluster: str, args: dict[str, Any]) -> dict[str, Any]:
    """Successive connects of one process take turns over the ACTIVE HSMs; an unchanged view is not re-read."""
    sessions = [hsmsim.connect(endpoint, cluster, pin=args["pin"]) for _ in range(4)]
    try:
        return {"hsms": [s.hsm_id for s in sessions], "refreshed": sessions[0].refresh()}
    finally:
        for session in sessions:
            session.close()


def preloaded(endpoint: str, cluster: str, args: dict[str, Any]) -> dict[str, Any]:
    """SoftHSM already loaded in this process (as hsmsim.hsm.SoftHSM would): connect refuses cleanly."""
    import pkcs11

    pkcs11.lib(args["module"])
    try:
        hsmsim.connect(endpoint, cluster, pin=args["pin"]).close()
        return {"error": None}
    except pkcs11_app.ConnectError as error:
        return {"error": type(error).__name__, "message": str(error)}


def bad_connects(endpoint: str, cluster: str, args: dict[str, Any]) -> dict[str, Any]:
    """Each bad connect: the exception's class name and message."""
    out = {}
    for name, (where, cluster_id, pin) in args["cases"].items():
        try:
            hsmsim.connect(where or endpoint, cluster_id or cluster, pin=pin).close()
            out[name] = ["connected", ""]
        except pkcs11_app.ConnectError as error:
            out[name] = [type(error).__name__, str(error)]
    return out


def outcome(action: Any) -> Any:
    """The action's result, or the name (and data-plane code) of what it raised."""
    try:
        return action()
    except pkcs11_app.DataPlaneError as error:
        return f"{type(error).__name__}:{error.code}"
    except (PKCS11Error, ValueError) as error:
        return type(error).__name__


def unwrap(endpoint: str, cluster: str, args: dict[str, Any]) -> dict[str, Any]:
    """Wrap keys made through the API locally (AppKey proxies), unwrap them through the server."""
    out: dict[str, Any] = {}
    with hsmsim.connect(endpoint, cluster, pin=args["owner"]) as app, \
            hsmsim.connect(endpoint, cluster, pin=args["other"]) as other:
        wrapper = app.generate_key(KeyType.AES, 256, label="wrapper")
        target = app.generate_key(KeyType.AES, 256, label="to-wrap")
        stuck = app.generate_key(KeyType.AES, 128, label="stuck", template={Attribute.EXTRACTABLE: False})
        nonce = app.generate_random(96)
        ciphertext = gcm(target, b"z" * 32, nonce)
        wrapped = wrapper.wrap_key(target)  # AES_KEY_WRAP, python-pkcs11's default for AES
        out["stuck"] = outcome(lambda: wrapper.wrap_key(stuck))
        new = wrapper.unwrap_key(ObjectClass.SECRET_KEY, KeyType.AES, wrapped, label="unwrapped")
        out["new"] = {"ref": new.ref, "owner": new.owner, "same": new.ref != target.ref,
                      "id": bytes(new[Attribute.ID]) == int(new.ref, 16).to_bytes(8, "big"),
                      "plain": gcm(new, ciphertext, nonce, decrypt=True).decode()}
        padded = wrapper.wrap_key(target, mechanism=Mechanism.AES_KEY_WRAP_PAD)
        pad = app.unwrap_key(wrapper, ObjectClass.SECRET_KEY, KeyType.AES, padded, label="unwrapped-pad",
                             mechanism=Mechanism.AES_KEY_WRAP_PAD)
        public, private = app.generate_keypair(KeyType.RSA, 2048, label="rsa-wrapper")
        oaep = private.unwrap_key(ObjectClass.SECRET_KEY, KeyType.AES, public.wrap_key(target), label="unwrapped-rsa")
        out["others"] = [gcm(k, ciphertext, nonce, decrypt=True).decode() for k in (pad, oaep)]
        out["other_user"] = outcome(lambda: other.unwrap_key(wrapper.ref, ObjectClass.SECRET_KEY, KeyType.AES, wrapped,
                                                             label="bobs", mechanism=Mechanism.AES_KEY_WRAP))
        out["garbage"] = outcome(lambda: wrapper.unwrap_key(ObjectClass.SECRET_KEY, KeyType.AES, os.urandom(40),
                                                            label="garbage"))
        out["short"] = outcome(lambda: wrapper.unwrap_key(ObjectClass.SECRET_KEY, KeyType.AES, b"abc", label="garbage"))
        stuck.destroy()
        out["destroyed"] = outcome(lambda: gcm(stuck, b"a" * 16, nonce))  # its cached handle died on the server
        out["labels"] = sorted(k["label"] for k in app.keys() if k["owner"] == app.user)
        out["nonce"], out["ciphertext"] = nonce.hex(), ciphertext.hex()
    return out


def aws(endpoint: str, method: str = "", path: str = "", body: Any = None, account: str = "111122223333") -> Any:
    """A boto3 CloudHSM client of ``account`` on the simulator, or one control-plane call."""
    if method:
        request = urllib.request.Request(endpoint + path, data=json.dumps(body).encode(), method=method)
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())
    import boto3
    from botocore.config import Config

    return boto3.client("cloudhsmv2", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=account, aws_secret_access_key="secret",
                        config=Config(retries={"max_attempts": 1, "mode": "standard"}))


def active(client: Any, cluster: str) -> list[str]:
    hsms = client.describe_clusters(Filters={"clusterIds": [cluster]})["Clusters"][0]["Hsms"]
    return [h["HsmId"] for h in hsms if h["State"] == "ACTIVE"]


def hsm_churn(endpoint: str, cluster: str, args: dict[str, Any]) -> dict[str, Any]:
    """The application's HSM is deleted under it (it moves to the other one), then an HSM is added (a new connect
    of the same process re-initialises SoftHSM and uses it; the older session notices and carries on)."""
    from hsmsim import pkcs11_local

    client, out = aws(endpoint, account=args["account"]), {}
    app = hsmsim.connect(endpoint, cluster, pin=args["pin"])
    key = app.generate_key(KeyType.AES, 256, label="live")
    nonce = app.generate_random(96)
    ciphertext = gcm(key, b"w" * 32, nonce)
    first = out["first"] = app.hsm_id
    watcher = hsmsim.connect(endpoint, cluster, pin=args["pin"], hsm_id=first)
    client.delete_hsm(ClusterId=cluster, HsmId=first)
    aws(endpoint, "POST", "/_hsmsim/clock", {"advance_seconds": 3600})
    out["active_after_delete"] = active(client, cluster)
    out["plain"] = gcm(key, ciphertext, nonce, decrypt=True).decode()  # the first op after the delete
    out["moved_to"], out["switches"], out["epoch"] = app.hsm_id, app.switches, pkcs11_local.epoch()
    out["watcher"] = [watcher.refresh(), watcher.hsm_id, watcher.switches]  # the server's view no longer lists it
    watcher.close()
    again = gcm(key, b"v" * 32, nonce)
    workers = [hsmsim.connect(endpoint, cluster, pin=args["pin"]) for _ in range(3)]
    stop, counts = threading.Event(), [[0, 0, []] for _ in workers]  # ops before/after the re-init, errors

    def busy(session: Any, count: list[Any]) -> None:  # one thread per session, through the re-initialisation
        mine = session.get_key(label="live")
        while not stop.is_set() or count[1] < 20:
            try:
                ok = gcm(mine, gcm(mine, b"t" * 16, nonce), nonce, decrypt=True) == b"t" * 16
                count[pkcs11_local.epoch() > 0] += ok
            except Exception as error:  # noqa: BLE001 - reported to the test
                count[2].append(repr(error))
                return

    threads = [threading.Thread(target=busy, args=pair) for pair in zip(workers, counts, strict=True)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while any(count[0] < 5 for count in counts) and time.monotonic() < deadline:
        time.sleep(0.01)
    added = client.create_hsm(ClusterId=cluster, AvailabilityZone="us-east-1a")["Hsm"]["HsmId"]
    aws(endpoint, "POST", "/_hsmsim/clock", {"advance_seconds": 3600})
    out["active_after_add"] = active(client, cluster)
    with hsmsim.connect(endpoint, cluster, pin=args["pin"], hsm_id=added) as fresh:
        out["fresh_hsm"], out["epoch_after_add"] = fresh.hsm_id, pkcs11_local.epoch()
        out["fresh_plain"] = gcm(fresh.get_key(label="live"), again, nonce, decrypt=True).decode()
    stop.set()
    for thread in threads:
        thread.join(60)
    out["threads"] = [[before > 0, after >= 20, errors] for before, after, errors in counts]
    for session in workers:
        session.close()
    out["old_session_plain"] = gcm(key, ciphertext, nonce, decrypt=True).decode()  # re-opened after the re-init
    out["old_session_hsm"] = app.hsm_id
    app.close()
    return out


if __name__ == "__main__":
    endpoint, cluster, scenario, raw = sys.argv[1:5]
    print(json.dumps(globals()[scenario](endpoint, cluster, json.loads(raw))))
