"""KMS state survives a restart: keys, aliases, grants, tags and rotations stay, every earlier ciphertext still
decrypts, and nothing on disk holds key material in the clear."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ServerProcess
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hsmsim.hsm import tokenfiles as tf
from hsmsim.testing.server import ServerStartError
from kms.crypto.ciphertext import HEADER_BYTES, IV_BYTES
from kms.domainkey import DOMAIN_TOKEN_LABEL


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[ServerProcess]:
    data_dir = tmp_path / "data"
    process = ServerProcess(data_dir).start()
    yield process
    process.stop()


def test_restart_keeps_keys_aliases_grants_and_ciphertexts(own_server: ServerProcess) -> None:
    kms: Any = own_server.client("kms")
    key_id = kms.create_key(Description="survivor", Tags=[{"TagKey": "team", "TagValue": "red"}])["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/survivor", TargetKeyId=key_id)
    grant_id = kms.create_grant(KeyId=key_id, GranteePrincipal="arn:aws:iam::111122223333:role/app",
                                Operations=["Encrypt", "Decrypt"])["GrantId"]
    before_rotation = kms.encrypt(KeyId="alias/survivor", Plaintext=b"old material", EncryptionContext={"a": "1"})
    kms.rotate_key_on_demand(KeyId=key_id)
    after_rotation = kms.encrypt(KeyId=key_id, Plaintext=b"new material")
    signing = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    signature = kms.sign(KeyId=signing, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    public_key = kms.get_public_key(KeyId=signing)["PublicKey"]
    kms.disable_key(KeyId=signing)

    own_server.stop()
    own_server.start()
    kms = own_server.client("kms")

    meta = kms.describe_key(KeyId="alias/survivor")["KeyMetadata"]
    assert meta["KeyId"] == key_id and meta["Description"] == "survivor"
    assert kms.list_resource_tags(KeyId=key_id)["Tags"] == [{"TagKey": "team", "TagValue": "red"}]
    assert [g["GrantId"] for g in kms.list_grants(KeyId=key_id)["Grants"]] == [grant_id]
    assert kms.decrypt(CiphertextBlob=before_rotation["CiphertextBlob"], EncryptionContext={"a": "1"})[
        "Plaintext"] == b"old material"
    assert kms.decrypt(CiphertextBlob=after_rotation["CiphertextBlob"])["Plaintext"] == b"new material"
    assert len(kms.list_key_rotations(KeyId=key_id)["Rotations"]) == 1
    assert kms.describe_key(KeyId=signing)["KeyMetadata"]["KeyState"] == "Disabled"
    kms.enable_key(KeyId=signing)
    assert kms.get_public_key(KeyId=signing)["PublicKey"] == public_key
    assert kms.verify(KeyId=signing, Message=b"m", Signature=signature, SigningAlgorithm="ECDSA_SHA_256")[
        "SignatureValid"] is True


def _decrypts_with_any_window(data: bytes, blob: bytes) -> bool:
    """Whether any 32-byte window of ``data`` is the AES key that made the symmetric ``blob``."""
    header, iv, body = blob[:HEADER_BYTES], blob[HEADER_BYTES : HEADER_BYTES + IV_BYTES], blob[HEADER_BYTES + IV_BYTES :]
    for offset in range(len(data) - 31):
        try:
            AESGCM(data[offset : offset + 32]).decrypt(iv, body, header)
            return True
        except InvalidTag:
            continue
    return False


def test_key_material_is_never_stored_in_the_clear(own_server: ServerProcess) -> None:
    """No 32-byte window of any file in the data dir is the key that made a KMS ciphertext: the database holds
    the material only wrapped by the domain key in SoftHSM."""
    kms: Any = own_server.client("kms")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"secret")["CiphertextBlob"]
    own_server.stop()
    with sqlite3.connect(own_server.data_dir / "hsmsim.db") as connection:
        wrapped = [row[0] for row in connection.execute("select wrapped from kms_key_materials")]
    assert len(wrapped) == 1 and len(wrapped[0]) == 1 + 12 + 32 + 16
    files = [p for p in own_server.data_dir.rglob("*") if p.is_file()]
    assert any(p.name == "hsmsim.db" for p in files)
    for path in files:
        assert not _decrypts_with_any_window(path.read_bytes(), blob), path
    own_server.start()
    kms = own_server.client("kms")
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"


def test_a_lost_domain_key_is_reported_not_papered_over(own_server: ServerProcess, tmp_path: Path) -> None:
    """Without the domain-key token the stored material cannot be unwrapped: the server refuses to start with one
    clear line (exit status 3), never makes a new key, and starts again once the token is put back (issue 10)."""
    kms: Any = own_server.client("kms")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"lost")["CiphertextBlob"]
    own_server.stop()
    serial = own_server.tokens()[DOMAIN_TOKEN_LABEL]
    (path,) = [p for s, p in tf.list_token_dirs(own_server.data_dir / "tokens") if s == serial]
    shutil.move(path, tmp_path / "kept")
    offset = own_server.log_offset()
    with pytest.raises(ServerStartError, match="status 3"):
        own_server.start()
    log = own_server.log_since(offset)
    assert "Traceback" not in log
    assert "KMS domain-key token ('hsmsim-kms') is missing" in log and "refusing to start" in log
    assert DOMAIN_TOKEN_LABEL not in own_server.tokens()  # nothing was made in its place
    shutil.move(tmp_path / "kept", path)
    own_server.start()
    kms = own_server.client("kms")
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"lost"
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
