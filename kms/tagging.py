"""Tags of KMS keys: AWS's rules (spec/kms-real-responses.md 1.1, 1.2, 3.5) and their rows."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from kms.errors import TagException
from kms.models import KmsTag

MAX_TAGS = 50


def validate_tags(tags: Sequence[dict[str, str]]) -> None:
    keys = [tag["TagKey"] for tag in tags]
    if len(set(keys)) != len(keys):
        raise TagException("Duplicate tag keys")
    if any(key.lower().startswith("aws:") for key in keys):
        raise TagException("Tags beginning with aws: are reserved")
    if len(keys) > MAX_TAGS:
        raise TagException("Too many tags")


def validate_tag_keys(keys: Sequence[str]) -> None:
    """UntagResource: the ``aws:`` prefix is reserved there too."""
    if any(key.lower().startswith("aws:") for key in keys):
        raise TagException("Tags beginning with aws: are reserved")


def remove_tags(session: Session, key_arn: str, keys: Sequence[str]) -> None:
    """Remove the named tags; keys the key does not have are ignored (as UntagResource does)."""
    if keys:
        session.execute(delete(KmsTag).where(KmsTag.key_arn == key_arn, KmsTag.tag_key.in_(list(keys))))


def put_tags(session: Session, key_arn: str, tags: Sequence[dict[str, str]]) -> None:
    """Add or overwrite ``tags`` (already validated); ``TagException`` if the key would exceed 50."""
    existing = {t.tag_key: t for t in session.scalars(select(KmsTag).where(KmsTag.key_arn == key_arn))}
    new_keys = {tag["TagKey"] for tag in tags} - set(existing)
    if len(existing) + len(new_keys) > MAX_TAGS:
        raise TagException("Too many tags")
    position = max((t.position for t in existing.values()), default=0)
    for tag in tags:
        row = existing.get(tag["TagKey"])
        if row is not None:
            row.tag_value = tag["TagValue"]
        else:
            position += 1
            session.add(KmsTag(key_arn=key_arn, tag_key=tag["TagKey"], tag_value=tag["TagValue"], position=position))


def tags_of(session: Session, key_arn: str) -> list[dict[str, str]]:
    rows = session.scalars(select(KmsTag).where(KmsTag.key_arn == key_arn).order_by(KmsTag.position))
    return [{"TagKey": t.tag_key, "TagValue": t.tag_value} for t in rows]


def remove_all_tags(session: Session, key_arn: str) -> None:
    session.execute(delete(KmsTag).where(KmsTag.key_arn == key_arn))
