"""Which cached views a committed write drops (kms.cachesync, KeyCache.forget): only the keys it touched."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete
from sqlalchemy.orm import Session

from hsmsim.core.db import Base, make_engine
from kms.cachesync import touched_in
from kms.enums import KeyManager, KeySpec, KeyState, KeyUsage, Origin
from kms.identifiers import key_arn
from kms.keyview import KeyCache, KeyView
from kms.models import KmsAlias, KmsGrant, KmsKey, KmsTag

ACCOUNT, REGION = "111122223333", "us-east-1"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def key_row(key_id: str, region: str = REGION) -> KmsKey:
    return KmsKey(arn=key_arn(ACCOUNT, region, key_id), account_id=ACCOUNT, region=region, key_id=key_id, created_seq=1,
                  created_at=NOW, description="", key_spec=KeySpec.SYMMETRIC_DEFAULT, key_usage=KeyUsage.ENCRYPT_DECRYPT,
                  origin=Origin.AWS_KMS, key_manager=KeyManager.CUSTOMER, state=KeyState.ENABLED, policy="{}")


def view_of(key_id: str, region: str = REGION) -> KeyView:
    return KeyView(arn=key_arn(ACCOUNT, region, key_id), account_id=ACCOUNT, region=region, key_id=key_id,
                   spec=KeySpec.SYMMETRIC_DEFAULT, usage=KeyUsage.ENCRYPT_DECRYPT, origin=Origin.AWS_KMS,
                   key_manager=KeyManager.CUSTOMER, state=KeyState.ENABLED, current_material_id=None, materials={},
                   metadata={}, fresh_until=None)


def new_session() -> Session:
    engine = make_engine("sqlite://")
    Base.metadata.create_all(engine)
    return Session(engine)


def test_rows_name_the_keys_they_touch() -> None:
    with new_session() as session:
        session.add(key_row("mrk-" + "a" * 32))
        session.add(KmsGrant(grant_id="g" * 64, key_arn=key_arn(ACCOUNT, REGION, "k-2"), account_id=ACCOUNT,
                             grantee_principal=ACCOUNT, issuing_account=ACCOUNT, operations=["Encrypt"],
                             created_at=NOW, created_seq=1))
        session.add(KmsTag(key_arn=key_arn(ACCOUNT, REGION, "k-3"), tag_key="t", tag_value="v", position=1))
        session.flush()
        touched = touched_in(session)
        assert touched.families == {(ACCOUNT, "mrk-" + "a" * 32), (ACCOUNT, "k-2")}  # tags are not in views
        assert not touched.names and not touched.everything
        session.add(KmsAlias(account_id=ACCOUNT, region=REGION, alias_name="alias/x", target_key_id="k-2",
                             created_at=NOW, updated_at=NOW))
        session.flush()
        assert touched_in(session).names
        session.execute(delete(KmsTag))
        assert touched_in(session).everything


def test_forget_drops_only_the_touched_keys_in_every_region() -> None:
    cache = KeyCache()
    for view in (view_of("mrk-1"), view_of("mrk-1", "eu-west-1"), view_of("other")):
        cache.store(cache.generation, view, names=("alias/" + view.key_id,))
    loading = cache.generation  # a reader that loaded a view before the write committed
    cache.forget({(ACCOUNT, "mrk-1")}, names=False)
    assert cache.view(ACCOUNT, REGION, "mrk-1") is None and cache.view(ACCOUNT, "eu-west-1", "mrk-1") is None
    assert cache.view(ACCOUNT, REGION, "other") is not None
    assert cache.key_id_of(ACCOUNT, REGION, "alias/other") == "other"
    cache.store(loading, view_of("mrk-1"))
    assert cache.view(ACCOUNT, REGION, "mrk-1") is None  # the stale load is not stored
    cache.forget(set(), names=True)
    assert cache.key_id_of(ACCOUNT, REGION, "alias/other") is None
