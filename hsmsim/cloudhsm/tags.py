"""Tag operations on clusters and backups: TagResource, UntagResource, ListTags."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete

from hsmsim.aws.context import RequestContext
from hsmsim.cloudhsm.base import OperationsBase
from hsmsim.cloudhsm.models import Tag
from hsmsim.cloudhsm.views import tag_list as tag_list_view


class TagOperations(OperationsBase):
    def tag_resource(self, ctx: RequestContext, resource_id: str, tag_list: list[dict[str, str]]) -> dict[str, Any]:
        """Adds tags; an existing key gets the new value."""
        self._tagged_resource(ctx, resource_id)
        self._put_tags(resource_id, tag_list)
        return {}

    def untag_resource(self, ctx: RequestContext, resource_id: str, tag_key_list: list[str]) -> dict[str, Any]:
        self._tagged_resource(ctx, resource_id)
        self.session.execute(delete(Tag).where(Tag.resource_id == resource_id, Tag.key.in_(tag_key_list)))
        return {}

    def list_tags(
        self, ctx: RequestContext, resource_id: str, next_token: str | None = None, max_results: int | None = None
    ) -> dict[str, Any]:
        self._tagged_resource(ctx, resource_id)
        page, token = self._page(tag_list_view(self._tags(resource_id)), next_token, max_results)
        return {"TagList": page, "NextToken": token}
