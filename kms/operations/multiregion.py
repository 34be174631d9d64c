"""ReplicateKey and UpdatePrimaryRegion.

https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-overview.html — a multi-Region key is one
row per region with the same ``mrk-`` key id; the rows share key material (kms.models), key spec, usage and origin,
and each names the primary's region. A new replica is ``Creating`` and an UpdatePrimaryRegion leaves both keys
``Updating`` until the ``kms_replicate`` / ``kms_update_primary`` delay of kms.transitions has passed.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import botocore.session

from hsmsim.aws.context import RequestContext
from hsmsim.aws.errors import ValidationException
from kms.enums import KeyManager, KeyState, Origin
from kms.errors import (
    AlreadyExistsException,
    LimitExceededException,
    NotFoundException,
    UnsupportedOperationException,
)
from kms.identifiers import key_arn, partition
from kms.keystates import check_key_state
from kms.metadata import family, key_metadata
from kms.models import KmsKey
from kms.operations.base import OperationsBase
from kms.operations.keys import KeyOperations
from kms.policies import (
    MAX_POLICY_CHARACTERS,
    check_lockout,
    default_policy,
    validate_policy,
)
from kms.resolver import caller_of
from kms.tagging import put_tags, tags_of, validate_tags


@lru_cache(maxsize=8)
def kms_regions(partition_name: str) -> frozenset[str]:
    """The regions where KMS exists in a partition, from botocore's endpoint data."""
    return frozenset(botocore.session.get_session().get_available_regions("kms", partition_name))


def require_primary(key: KmsKey) -> None:
    """``UnsupportedOperationException: <arn> is not a multi-region primary key.`` (recorded for a replica; the
    simulator gives single-Region keys the same message)."""
    if not key.multi_region or key.region != key.primary_region:
        raise UnsupportedOperationException(f"{key.arn} is not a multi-region primary key.")


class MultiRegionOperations(OperationsBase):
    def replicate_key(
        self,
        ctx: RequestContext,
        *,
        key_id: str,
        replica_region: str,
        policy: str | None = None,
        bypass_policy_lockout_safety_check: bool = False,
        description: str = "",
        tags: list[dict[str, str]] | None = None,
    ) -> dict[str, Any]:
        """https://docs.aws.amazon.com/kms/latest/APIReference/API_ReplicateKey.html — the replica is ``Creating``
        and then ``Enabled``, or ``PendingImport`` for a key with imported material (the replica gets none: the
        same material must be imported into it). A given policy passes the lockout safety check unless bypassed."""
        primary = self.key_row(ctx, key_id, None)
        require_primary(primary)
        check_key_state("ReplicateKey", primary.arn, primary.state)
        if replica_region not in kms_regions(partition(primary.region)):
            raise ValidationException(
                f"{replica_region} is not a valid AWS Region in partition {partition(primary.region)} for KMS.")
        if replica_region == primary.region:
            raise ValidationException(
                f"The replica Region must differ from the Region of the primary key ({primary.region}).")
        rows = family(self.session, primary)
        if any(row.region == replica_region for row in rows):
            raise AlreadyExistsException(
                f"Key '{key_arn(primary.account_id, replica_region, primary.key_id)}' already exists")
        if policy is not None:
            if len(policy) > MAX_POLICY_CHARACTERS:
                raise LimitExceededException(
                    f"The key policy is {len(policy)} characters long; the maximum is {MAX_POLICY_CHARACTERS}.")
            validate_policy(policy)
            if not bypass_policy_lockout_safety_check:
                check_lockout(policy, ctx.account_id, replica_region, caller_of(ctx))
        validate_tags(tags or [])
        replica = KeyOperations.new_key(
            self, ctx, key_id=primary.key_id, region=replica_region, spec=primary.key_spec,
            usage=primary.key_usage, origin=primary.origin, manager=KeyManager.CUSTOMER, description=description,
            policy=policy if policy is not None else default_policy(ctx.account_id, replica_region),
            multi_region=True, state=KeyState.CREATING,
        )
        replica.primary_region = primary.primary_region
        replica.rotation_enabled = primary.rotation_enabled
        replica.rotation_period_days = primary.rotation_period_days
        if primary.origin is Origin.EXTERNAL:
            replica.state_before_update = KeyState.PENDING_IMPORT
        else:
            replica.state_before_update = KeyState.ENABLED
            replica.current_material_id = primary.current_material_id
            replica.public_key_der = primary.public_key_der
        self.runtime.lifecycle.enter(replica, KeyState.CREATING, self.now())
        put_tags(self.session, replica.arn, tags or [])
        self.session.flush()
        result: dict[str, Any] = {"ReplicaKeyMetadata": key_metadata(self.session, replica),
                                  "ReplicaPolicy": replica.policy}
        if replica_tags := tags_of(self.session, replica.arn):  # AWS omits ReplicaTags when there are none
            result["ReplicaTags"] = replica_tags
        return result

    def update_primary_region(self, ctx: RequestContext, *, key_id: str, primary_region: str) -> None:
        """https://docs.aws.amazon.com/kms/latest/APIReference/API_UpdatePrimaryRegion.html — the replica in
        ``primary_region`` becomes the primary and the old primary a replica; both are ``Updating`` meanwhile."""
        primary = self.key_row(ctx, key_id, None)
        require_primary(primary)
        check_key_state("UpdatePrimaryRegion", primary.arn, primary.state)
        if primary_region == primary.region:
            raise UnsupportedOperationException(f"{primary.arn} is already the primary key in {primary_region}.")
        rows = family(self.session, primary)
        new_primary = next((row for row in rows if row.region == primary_region), None)
        if new_primary is None:
            raise NotFoundException(f"Key '{key_arn(primary.account_id, primary_region, primary.key_id)}' does not exist")
        check_key_state("UpdatePrimaryRegion", new_primary.arn, new_primary.state)
        now = self.now()
        for key in (primary, new_primary):
            if key.state is not KeyState.UPDATING:
                key.state_before_update = key.state
            self.runtime.lifecycle.enter(key, KeyState.UPDATING, now)
        for row in rows:
            row.primary_region = primary_region
