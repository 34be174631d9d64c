"""Tags of KMS keys: TagResource, UntagResource, ListResourceTags.

https://docs.aws.amazon.com/kms/latest/APIReference/API_TagResource.html (and UntagResource, ListResourceTags).
Rules and messages recorded against AWS: spec/kms-real-responses.md §1.1, §1.2, §3.5. Keys are named by key id or
key ARN only; AWS managed keys cannot be tagged (their key policy denies it: ``AccessDeniedException``).
"""

from __future__ import annotations

from typing import Any

from hsmsim.aws.context import RequestContext
from kms.operations.base import OperationsBase
from kms.paging import page_of
from kms.tagging import put_tags, remove_tags, tags_of, validate_tag_keys, validate_tags

LIST_TAGS_MAX_LIMIT = 50
"""ListResourceTags: ``Limit`` is 1–50 and defaults to 50 (the model's LimitType allows up to 1000)."""


class TagOperations(OperationsBase):
    def tag_resource(self, ctx: RequestContext, *, key_id: str, tags: list[dict[str, str]]) -> None:
        key = self.key_row(ctx, key_id, "TagResource")
        validate_tags(tags)
        put_tags(self.session, key.arn, tags)

    def untag_resource(self, ctx: RequestContext, *, key_id: str, tag_keys: list[str]) -> None:
        key = self.key_row(ctx, key_id, "UntagResource")
        validate_tag_keys(tag_keys)
        remove_tags(self.session, key.arn, tag_keys)

    def list_resource_tags(
        self, ctx: RequestContext, *, key_id: str, limit: int | None = None, marker: str | None = None
    ) -> dict[str, Any]:
        key = self.key_row(ctx, key_id, "ListResourceTags")
        size = min(limit or LIST_TAGS_MAX_LIMIT, LIST_TAGS_MAX_LIMIT)
        page, paging = page_of(tags_of(self.session, key.arn), size, marker)
        return {"Tags": page, **paging}
