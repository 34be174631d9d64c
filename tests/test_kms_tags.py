"""Tags: TagResource, UntagResource, ListResourceTags (spec/kms-real-responses.md 1.1, 1.2, 3.5)."""

from __future__ import annotations

from typing import Any

from tests.conftest import ACCOUNT, REGION
from tests.kms_helpers import error_of


def tags(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"TagKey": key, "TagValue": value} for key, value in pairs]


def test_tag_overwrite_and_untag(kms: Any) -> None:
    """The recorded sequence: five tags, a later call overwrites tag2, untagging keeps the others in order."""
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    empty = kms.list_resource_tags(KeyId=key_id)
    assert empty["Tags"] == [] and empty["Truncated"] is False and "NextMarker" not in empty
    kms.tag_resource(KeyId=key_id, Tags=tags(*[(f"tag{i}", f"value{i}") for i in range(1, 6)]))
    kms.tag_resource(KeyId=key_id, Tags=tags(("tag2", "updated_value2")))
    listed = kms.list_resource_tags(KeyId=key_id)
    assert listed["Tags"] == tags(("tag1", "value1"), ("tag2", "updated_value2"), ("tag3", "value3"),
                                  ("tag4", "value4"), ("tag5", "value5"))
    assert listed["Truncated"] is False and "NextMarker" not in listed
    kms.untag_resource(KeyId=key_id, TagKeys=["tag2", "tag4", "not-there"])
    assert kms.list_resource_tags(KeyId=key_id)["Tags"] == tags(("tag1", "value1"), ("tag3", "value3"),
                                                                ("tag5", "value5"))
    kms.untag_resource(KeyId=key_id, TagKeys=["tag1", "tag3", "tag5"])
    assert kms.list_resource_tags(KeyId=key_id)["Tags"] == []


def test_tags_given_at_create_key_and_by_arn(kms: Any) -> None:
    meta = kms.create_key(Tags=tags(("team", "crypto"), ("empty", "")))["KeyMetadata"]
    assert kms.list_resource_tags(KeyId=meta["Arn"])["Tags"] == tags(("team", "crypto"), ("empty", ""))
    kms.tag_resource(KeyId=meta["Arn"], Tags=tags(("Team", "case matters")))
    assert [t["TagKey"] for t in kms.list_resource_tags(KeyId=meta["KeyId"])["Tags"]] == ["team", "empty", "Team"]


def test_tag_errors_change_nothing(kms: Any) -> None:
    key_id = kms.create_key(Tags=tags(("keep", "me")))["KeyMetadata"]["KeyId"]
    before = kms.list_resource_tags(KeyId=key_id)["Tags"]
    assert error_of(kms.tag_resource, KeyId=key_id, Tags=tags(("tag1", "a"), ("tag1", "b"))) == (
        "TagException", "Duplicate tag keys", 400)
    for reserved in ("aws:key1", "AWS:key1"):
        assert error_of(kms.tag_resource, KeyId=key_id, Tags=tags((reserved, "v"))) == (
            "TagException", "Tags beginning with aws: are reserved", 400)
    assert error_of(kms.untag_resource, KeyId=key_id, TagKeys=["aws:key1"]) == (
        "TagException", "Tags beginning with aws: are reserved", 400)
    assert error_of(kms.tag_resource, KeyId=key_id, Tags=tags(("a" * 129, "v"))) == (
        "ValidationException", "1 validation error detected: Value '" + "a" * 129 + "' at 'tags.1.member.tagKey' "
        "failed to satisfy constraint: Member must have length less than or equal to 128", 400)
    assert error_of(kms.tag_resource, KeyId=key_id, Tags=tags(("tag1", "v" * 257))) == (
        "ValidationException", "1 validation error detected: Value '" + "v" * 257 + "' at 'tags.1.member.tagValue' "
        "failed to satisfy constraint: Member must have length less than or equal to 256", 400)
    assert error_of(kms.tag_resource, KeyId=key_id, Tags=tags(*[(f"key{i}", "v") for i in range(51)])) == (
        "TagException", "Too many tags", 400)
    assert kms.list_resource_tags(KeyId=key_id)["Tags"] == before


def test_fifty_tags_per_key(kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.tag_resource(KeyId=key_id, Tags=tags(*[(f"key{i:02d}", "v") for i in range(49)]))
    kms.tag_resource(KeyId=key_id, Tags=tags(("key00", "overwritten"), ("key49", "v")))  # 50 tags: allowed
    assert error_of(kms.tag_resource, KeyId=key_id, Tags=tags(("key50", "v"))) == ("TagException", "Too many tags", 400)
    listed = kms.list_resource_tags(KeyId=key_id)
    assert len(listed["Tags"]) == 50 and listed["Truncated"] is False
    assert listed["Tags"][0] == {"TagKey": "key00", "TagValue": "overwritten"}
    assert error_of(kms.create_key, Tags=tags(*[(f"key{i}", "v") for i in range(51)])) == (
        "TagException", "Too many tags", 400)


def test_list_resource_tags_pages(kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.tag_resource(KeyId=key_id, Tags=tags(*[(f"k{i}", str(i)) for i in range(7)]))
    seen: list[str] = []
    page = kms.list_resource_tags(KeyId=key_id, Limit=3)
    sizes = []
    while True:
        sizes.append(len(page["Tags"]))
        seen += [t["TagKey"] for t in page["Tags"]]
        if not page["Truncated"]:
            assert "NextMarker" not in page
            break
        page = kms.list_resource_tags(KeyId=key_id, Limit=3, Marker=page["NextMarker"])
    assert sizes == [3, 3, 1] and seen == [f"k{i}" for i in range(7)]
    assert error_of(kms.list_resource_tags, KeyId=key_id, Marker="bogus")[0] == "InvalidMarkerException"


def test_tags_and_key_states(sim: Any, kms: Any) -> None:
    meta = kms.create_key(Tags=tags(("a", "1")))["KeyMetadata"]
    kms.disable_key(KeyId=meta["KeyId"])
    kms.tag_resource(KeyId=meta["KeyId"], Tags=tags(("b", "2")))
    kms.schedule_key_deletion(KeyId=meta["KeyId"], PendingWindowInDays=7)
    pending = ("KMSInvalidStateException", f"{meta['Arn']} is pending deletion.", 400)
    assert error_of(kms.tag_resource, KeyId=meta["KeyId"], Tags=tags(("c", "3"))) == pending
    assert error_of(kms.untag_resource, KeyId=meta["KeyId"], TagKeys=["a"]) == pending
    assert kms.list_resource_tags(KeyId=meta["KeyId"])["Tags"] == tags(("a", "1"), ("b", "2"))
    kms.cancel_key_deletion(KeyId=meta["KeyId"])
    kms.untag_resource(KeyId=meta["KeyId"], TagKeys=["a"])
    assert kms.list_resource_tags(KeyId=meta["KeyId"])["Tags"] == tags(("b", "2"))


def test_tags_need_a_key_id_or_arn(kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/tagged", TargetKeyId=key_id)
    for call, kwargs in [(kms.tag_resource, {"Tags": tags(("a", "b"))}), (kms.untag_resource, {"TagKeys": ["a"]}),
                         (kms.list_resource_tags, {})]:
        assert error_of(call, KeyId="alias/tagged", **kwargs) == (
            "NotFoundException", "Invalid keyId 'alias/tagged'", 400)
    missing = "134f2428-cec1-4b25-a1ae-9048164dba47"
    assert error_of(kms.list_resource_tags, KeyId=missing) == (
        "NotFoundException", f"Key 'arn:aws:kms:{REGION}:{ACCOUNT}:key/{missing}' does not exist", 400)
    assert kms.list_resource_tags(KeyId=key_id)["Tags"] == []
