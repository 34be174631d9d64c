"""Cluster synchronisation on real SoftHSM tokens: a key written through one HSM is on every HSM at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.mechanisms import GCMParams

from helpers import open_softhsm

from hsmsim.cloudhsm.replication import ClusterReplicator, NoActiveHsm

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
GCM = GCMParams(b"\x01" * 12, b"aad", 128)


@pytest.fixture
def cluster_tokens(tmp_path: Path):
    """Three HSM tokens of one cluster: a first token and two clones, as CreateHsm makes them."""
    hsm = open_softhsm(tmp_path)
    first = hsm.create_token("hsm-first")
    serials = [first, hsm.clone(first, "hsm-second"), hsm.clone(first, "hsm-third")]
    yield hsm, serials
    hsm.close()


def _make_key(session):
    key = session.generate_key(
        KeyType.AES, 256, label="app-key", store=True, template={Attribute.EXTRACTABLE: False, Attribute.SENSITIVE: True}
    )
    return key.encrypt(b"cluster secret", mechanism=Mechanism.AES_GCM, mechanism_param=GCM)


def test_a_key_written_on_one_hsm_works_on_every_hsm(cluster_tokens):
    hsm, serials = cluster_tokens
    replicator = ClusterReplicator(hsm)
    ciphertext = replicator.write("cluster-a", serials, _make_key)
    for serial in serials:
        assert "app-key" in hsm.object_labels(serial)
        with hsm.session(serial) as session:
            key = session.get_key(object_class=ObjectClass.SECRET_KEY, label="app-key")
            assert key[Attribute.NEVER_EXTRACTABLE] is True  # file-level sync keeps the attributes
            assert key.decrypt(ciphertext, mechanism=Mechanism.AES_GCM, mechanism_param=GCM) == b"cluster secret"


def test_destroying_on_one_hsm_removes_it_everywhere(cluster_tokens):
    hsm, serials = cluster_tokens
    replicator = ClusterReplicator(hsm)
    replicator.write("cluster-a", serials, _make_key)
    replicator.write(
        "cluster-a", serials, lambda s: s.get_key(object_class=ObjectClass.SECRET_KEY, label="app-key").destroy()
    )
    assert all("app-key" not in hsm.object_labels(serial) for serial in serials)


def test_reads_are_spread_over_the_hsms(cluster_tokens):
    hsm, serials = cluster_tokens
    replicator = ClusterReplicator(hsm)
    replicator.write("cluster-a", serials, _make_key)
    seen = set()
    for _ in range(6):
        seen.add(replicator.read("cluster-a", serials, lambda s: s.token.serial))
    assert len(seen) == 3


def test_no_active_hsm(cluster_tokens):
    hsm, _ = cluster_tokens
    with pytest.raises(NoActiveHsm):
        ClusterReplicator(hsm).write("cluster-a", [], _make_key)
