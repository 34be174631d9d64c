"""The application side of tests/test_pkcs11_app.py, run in a process of its own (``python pkcs11_worker.py
ENDPOINT CLUSTER SCENARIO JSON-ARGS``): python-pkcs11 keeps one SoftHSM per process, so the pytest process must not
load it. Prints one JSON object: the scenario's result."""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Any

from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.exceptions import NoSuchKey
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


if __name__ == "__main__":
    endpoint, cluster, scenario, raw = sys.argv[1:5]
    print(json.dumps(globals()[scenario](endpoint, cluster, json.loads(raw))))
