"""What every CloudHSM operation group shares: scoped lookups, tags and pagination."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from hsmsim.aws.context import RequestContext
from hsmsim.cloudhsm.errors import (
    CloudHsmInvalidRequestException,
    CloudHsmResourceLimitExceededException,
    CloudHsmResourceNotFoundException,
    CloudHsmTagException,
)
from hsmsim.cloudhsm.models import Backup, Cluster, Tag
from hsmsim.cloudhsm.runtime import CloudHSMRuntime, Step

T = TypeVar("T")

MAX_TAGS_PER_RESOURCE = 50


class OperationsBase:
    """One instance serves one request: ``step`` is its unit of work, ``now`` the simulated time of the call."""

    def __init__(self, runtime: CloudHSMRuntime, step: Step) -> None:
        self.runtime = runtime
        self.step = step
        self.session: Session = step.session
        self.now: datetime = runtime.clock.now()

    # -- lookups (every resource is scoped by the caller's account and region) -------------------------------

    def _cluster(self, ctx: RequestContext, cluster_id: str) -> Cluster:
        cluster = self.session.get(Cluster, cluster_id)
        if cluster is None or (cluster.account_id, cluster.region) != (ctx.account_id, ctx.region):
            raise CloudHsmResourceNotFoundException(f"Cluster '{cluster_id}' not found.")
        return cluster

    def _backup(self, ctx: RequestContext, backup_id: str) -> Backup:
        backup = self.session.get(Backup, backup_id)
        if backup is None or (backup.account_id, backup.region) != (ctx.account_id, ctx.region):
            raise CloudHsmResourceNotFoundException(f"Backup '{backup_id}' not found.")
        return backup

    def _tagged_resource(self, ctx: RequestContext, resource_id: str) -> Cluster | Backup:
        if resource_id.startswith("cluster-"):
            return self._cluster(ctx, resource_id)
        if resource_id.startswith("backup-"):
            return self._backup(ctx, resource_id)
        raise CloudHsmInvalidRequestException(f"Resource '{resource_id}' is neither a cluster nor a backup.")

    # -- tags ----------------------------------------------------------------------------------------------

    def _tags(self, resource_id: str) -> list[Tag]:
        return list(self.session.scalars(select(Tag).where(Tag.resource_id == resource_id)))

    def _tags_by_resource(self, resource_ids: Sequence[str]) -> dict[str, list[Tag]]:
        grouped: dict[str, list[Tag]] = {rid: [] for rid in resource_ids}
        if resource_ids:
            for tag in self.session.scalars(select(Tag).where(Tag.resource_id.in_(resource_ids))):
                grouped[tag.resource_id].append(tag)
        return grouped

    def _put_tags(self, resource_id: str, tag_list: list[dict[str, str]] | None) -> None:
        """Add or overwrite tags (TagResource semantics); AWS's 50-tag limit and reserved ``aws:`` prefix."""
        if not tag_list:
            return
        for tag in tag_list:
            if tag["Key"].lower().startswith("aws:"):
                raise CloudHsmTagException(f"Tag key '{tag['Key']}' uses the reserved prefix 'aws:'.")
        existing = {t.key: t for t in self._tags(resource_id)}
        new_keys = {t["Key"] for t in tag_list} - existing.keys()
        if len(existing) + len(new_keys) > MAX_TAGS_PER_RESOURCE:
            raise CloudHsmResourceLimitExceededException(
                f"Resource '{resource_id}' would have {len(existing) + len(new_keys)} tags; "
                f"the limit is {MAX_TAGS_PER_RESOURCE}."
            )
        position = max((t.position for t in existing.values()), default=-1)
        for tag in tag_list:
            if tag["Key"] in existing:
                existing[tag["Key"]].value = tag["Value"]
            else:
                position += 1
                row = Tag(resource_id=resource_id, key=tag["Key"], value=tag["Value"], position=position)
                self.session.add(row)
                existing[row.key] = row
        self.session.flush()

    # -- filters -------------------------------------------------------------------------------------------

    @staticmethod
    def _filter_conditions(
        filters: Mapping[str, list[str]] | None, table: Mapping[str, Callable[[list[str]], Any]]
    ) -> list[Any]:
        """SQL conditions for Describe* ``Filters``: ``table`` maps each valid filter name to its condition."""
        conditions = []
        for key, values in (filters or {}).items():
            build = table.get(key)
            if build is None:
                raise CloudHsmInvalidRequestException(f"Invalid filter '{key}'. Valid filters are: {', '.join(table)}.")
            # No id contains a NUL, and PostgreSQL rejects one in a query: such a value matches nothing.
            conditions.append(build([v for v in values if "\x00" not in v]))
        return conditions

    # -- pagination ----------------------------------------------------------------------------------------

    @staticmethod
    def _page(items: Sequence[T], next_token: str | None, max_results: int | None) -> tuple[list[T], str | None]:
        """A page of ``items`` (already in their stable order) and the token of the next one."""
        start = _decode_token(next_token) if next_token else 0
        if start > len(items):
            raise CloudHsmInvalidRequestException("The NextToken is not valid for this request.")
        end = len(items) if max_results is None else start + max_results
        page = list(items[start:end])
        return page, (_encode_token(end) if end < len(items) else None)


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _decode_token(token: str) -> int:
    try:
        value: Any = json.loads(base64.urlsafe_b64decode(token.encode()))
        offset = value["offset"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise CloudHsmInvalidRequestException("The NextToken is not valid.") from None
    if not isinstance(offset, int) or offset < 0:
        raise CloudHsmInvalidRequestException("The NextToken is not valid.")
    return offset
