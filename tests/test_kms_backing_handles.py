"""The hot path's session copies of backing keys (kms.keystores.backing_handles) on a real SoftHSM token.

In-process, like tests/test_hsm_softhsm.py: one SoftHSM over a temporary token directory.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import open_softhsm
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.exceptions import NoSuchKey
from pkcs11.mechanisms import GCMParams

from hsmsim.cloudhsm import keytokens as kt
from hsmsim.hsm import SoftHSM
from kms.keystores.backing_handles import Handles

REFERENCE = "0x0000000000000abc"
GCM = GCMParams(b"\x01" * 12, b"aad", 128)


@pytest.fixture
def token(tmp_path: Path) -> Iterator[tuple[SoftHSM, str]]:
    hsm = open_softhsm(tmp_path)
    serial = hsm.create_token("hsm-1")
    with hsm.session(serial, exclusive=True) as session:
        session.generate_key(KeyType.AES, 256, id=kt.key_id(REFERENCE), label="arn:aws:kms:key", store=True,
                             template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False})
    try:
        yield hsm, serial
    finally:
        hsm.close()


def session_objects(session: object) -> int:
    return len(list(session.get_objects({Attribute.TOKEN: False})))  # type: ignore[attr-defined]


def test_the_copy_is_a_sensitive_session_object_that_encrypts_like_the_token_key(token):
    hsm, serial = token
    handles = Handles()
    with hsm.session(serial) as session:
        copy = handles.key(session, "backing-1", kt.key_id(REFERENCE))
        assert handles.key(session, "backing-1", kt.key_id(REFERENCE)) is copy  # made once per session
        assert (copy[Attribute.TOKEN], copy[Attribute.SENSITIVE], copy[Attribute.EXTRACTABLE]) == (False, True, False)
        original = session.get_key(object_class=ObjectClass.SECRET_KEY, id=kt.key_id(REFERENCE))
        sealed = copy.encrypt(b"plaintext", mechanism=Mechanism.AES_GCM, mechanism_param=GCM)
        assert original.decrypt(sealed, mechanism=Mechanism.AES_GCM, mechanism_param=GCM) == b"plaintext"
        # a search by the key reference (every CLI and data-plane lookup) finds the token key only
        assert len(kt._objects(session, REFERENCE, kt.SECRET)) == 1


def test_forgotten_copies_are_destroyed_when_their_session_is_next_used(token):
    hsm, serial = token
    handles = Handles()
    with hsm.session(serial) as session:
        handles.key(session, "backing-1", kt.key_id(REFERENCE))
        assert session_objects(session) == 1
        handles.forget("backing-1")
        assert session_objects(session) == 1  # doomed, not yet destroyed: another thread might hold the session
        fresh = handles.key(session, "backing-2", kt.key_id(REFERENCE))
        assert session_objects(session) == 1 and fresh[Attribute.TOKEN] is False
        handles.forget_all()
        handles.drop(session, "backing-2")  # drop sweeps the held session at once
        assert session_objects(session) == 0


def test_a_token_without_the_key_raises_and_caches_nothing(token):
    hsm, serial = token
    handles = Handles()
    with hsm.session(serial) as session:
        with pytest.raises(NoSuchKey):
            handles.key(session, "backing-1", kt.key_id("0x0000000000000def"))
        assert session_objects(session) == 0
