"""Creating, describing, listing, enabling/disabling and deleting keys.

https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateKey.html and the key-state page (spec 5.2).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from hsmsim.aws.context import RequestContext
from hsmsim.aws.errors import ValidationException
from kms.crypto.specs import SPECS, generate_material, load_private_key, public_key_der
from kms.enums import ConnectionState, KeyManager, KeySpec, KeyState, KeyUsage, Origin
from kms.errors import (
    CloudHsmClusterInvalidConfigurationException,
    InvalidMarkerException,
    UnsupportedOperationException,
)
from kms.identifiers import key_arn, new_key_id
from kms.keystores.backing import create_backing_key
from kms.keystores.connection import set_underlying, settle
from kms.keystores.stores import (
    check_configuration,
    find_cluster,
    get_store,
    require_state,
)
from kms.materials import add_material
from kms.metadata import family, key_metadata
from kms.models import KmsKey
from kms.operations.base import OperationsBase
from kms.paging import DEFAULT_LIMIT, decode_marker, encode_marker
from kms.policies import check_lockout, default_policy, validate_policy
from kms.resolver import caller_of
from kms.rotation import resume_rotation
from kms.tagging import put_tags, validate_tags

DEFAULT_PENDING_WINDOW_DAYS = 30
PENDING_WINDOW_DAYS = range(7, 31)

def check_spec_and_usage(spec: KeySpec, usage: str | None) -> KeyUsage:
    """The key usage a CreateKey gets, or AWS's error for an impossible spec/usage pair."""
    info = SPECS[spec]
    if usage is None:
        if spec is not KeySpec.SYMMETRIC_DEFAULT:
            raise ValidationException(
                "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.")
        return KeyUsage.ENCRYPT_DECRYPT
    key_usage = KeyUsage(usage)
    if key_usage not in info.usages:
        raise ValidationException(f"KeyUsage {key_usage.value} is not compatible with KeySpec {spec.value}")
    if not info.supported:
        raise UnsupportedOperationException(
            f"KeySpec {spec.value} is not supported in this region by hsmsim: no maintained library implements it here.")
    return key_usage

class KeyOperations(OperationsBase):
    def new_key(
        self,
        ctx: RequestContext,
        *,
        key_id: str,
        region: str,
        spec: KeySpec,
        usage: KeyUsage,
        origin: Origin,
        manager: KeyManager,
        description: str,
        policy: str,
        multi_region: bool,
        state: KeyState,
    ) -> KmsKey:
        """Insert a key row (no material): CreateKey, ReplicateKey and AWS managed keys share it."""
        session = self.session
        seq = session.scalar(select(func.coalesce(func.max(KmsKey.created_seq), 0)).where(
            KmsKey.account_id == ctx.account_id, KmsKey.region == region)) or 0
        key = KmsKey(
            arn=key_arn(ctx.account_id, region, key_id), account_id=ctx.account_id, region=region, key_id=key_id,
            created_seq=seq + 1, created_at=self.now(), description=description, key_spec=spec, key_usage=usage,
            origin=origin, key_manager=manager, state=state, policy=policy, multi_region=multi_region,
            primary_region=region if multi_region else None, rotation_enabled=False, on_demand_rotations=0,
        )
        session.add(key)
        return key

    def create_key(
        self,
        ctx: RequestContext,
        *,
        policy: str | None = None,
        description: str = "",
        key_usage: str | None = None,
        customer_master_key_spec: str | None = None,
        key_spec: str | None = None,
        origin: str = Origin.AWS_KMS.value,
        custom_key_store_id: str | None = None,
        bypass_policy_lockout_safety_check: bool = False,
        tags: list[dict[str, str]] | None = None,
        multi_region: bool = False,
        xks_key_id: str | None = None,
    ) -> dict[str, Any]:
        if key_spec is not None and customer_master_key_spec is not None:
            raise ValidationException("You cannot specify KeySpec and CustomerMasterKeySpec in the same request. "
                                      "CustomerMasterKeySpec parameter is deprecated. Use KeySpec parameter instead.")
        spec = KeySpec(key_spec or customer_master_key_spec or KeySpec.SYMMETRIC_DEFAULT.value)
        key_origin = Origin(origin)
        if key_origin is Origin.EXTERNAL_KEY_STORE:
            raise UnsupportedOperationException(
                "External key stores are not supported by this hsmsim version: Origin EXTERNAL_KEY_STORE keys cannot "
                "be created.")
        if xks_key_id is not None:
            raise ValidationException("XksKeyId can be specified only when Origin is EXTERNAL_KEY_STORE.")
        if (key_origin is Origin.AWS_CLOUDHSM) != (custom_key_store_id is not None):
            raise ValidationException("Origin AWS_CLOUDHSM and a CustomKeyStoreId go together: specify both or neither.")
        usage = check_spec_and_usage(spec, key_usage)
        if key_origin is Origin.AWS_CLOUDHSM and (spec is not KeySpec.SYMMETRIC_DEFAULT or multi_region):
            raise UnsupportedOperationException(
                "Keys in an AWS CloudHSM key store are single-Region SYMMETRIC_DEFAULT encryption keys: "
                f"{'multi-Region keys' if multi_region else 'KeySpec ' + spec.value} cannot be created there.")
        if multi_region and key_origin is not Origin.AWS_KMS and key_origin is not Origin.EXTERNAL:
            raise UnsupportedOperationException(f"Multi-Region keys cannot have origin {key_origin.value}.")
        if policy is not None:
            validate_policy(policy)
            if not bypass_policy_lockout_safety_check:
                check_lockout(policy, ctx.account_id, ctx.region, caller_of(ctx))
        validate_tags(tags or [])
        store = None
        if custom_key_store_id is not None:
            store = get_store(self.session, ctx.account_id, ctx.region, custom_key_store_id)
            require_state(store, {ConnectionState.CONNECTED}, "CreateKey")
            cluster = find_cluster(self.session, ctx.account_id, ctx.region, store.cluster_id or "")
            if cluster is None:
                raise CloudHsmClusterInvalidConfigurationException(
                    f"The AWS CloudHSM cluster {store.cluster_id} of custom key store {custom_key_store_id} does not "
                    "exist.")
            check_configuration(cluster)
        if key_origin is Origin.AWS_KMS and spec is not KeySpec.SYMMETRIC_DEFAULT:
            self.heavy()
        key = self.new_key(
            ctx, key_id=new_key_id(multi_region), region=ctx.region, spec=spec, usage=usage, origin=key_origin,
            manager=KeyManager.CUSTOMER, description=description,
            policy=policy if policy is not None else default_policy(ctx.account_id, ctx.region),
            multi_region=multi_region,
            state=KeyState.PENDING_IMPORT if key_origin is Origin.EXTERNAL else KeyState.ENABLED,
        )
        if key_origin is Origin.AWS_KMS:
            self.generate_first_material(key)
        elif store is not None:
            key.custom_key_store_id = store.custom_key_store_id
            create_backing_key(self.step, store, key)
        put_tags(self.session, key.arn, tags or [])
        self.session.flush()
        return {"KeyMetadata": key_metadata(self.session, key)}

    def generate_first_material(self, key: KmsKey) -> None:
        """New AWS_KMS material for a new key (asymmetric keys also keep their public key)."""
        material = generate_material(key.key_spec)
        row = add_material(self.session, self.runtime.domain_key, key, material, self.now())
        key.current_material_id = row.material_id
        if key.key_spec is not KeySpec.SYMMETRIC_DEFAULT and not key.key_spec.value.startswith("HMAC"):
            key.public_key_der = public_key_der(load_private_key(material))

    def describe_key(self, ctx: RequestContext, *, key_id: str, grant_tokens: list[str] | None = None) -> dict[str, Any]:
        self.check_grant_tokens(grant_tokens)
        view = self.resolver.view(ctx, key_id, allow_alias=True)
        return {"KeyMetadata": view.metadata}

    def list_keys(
        self,
        ctx: RequestContext,
        *,
        limit: int | None = None,
        marker: str | None = None,
        resource_owners: list[str] | None = None,
    ) -> dict[str, Any]:
        """https://docs.aws.amazon.com/kms/latest/APIReference/API_ListKeys.html — ``ResourceOwners``
        ``OTHER_ACCOUNTS_VIA_RAM`` lists keys shared through AWS RAM; there is no RAM here, so it adds none."""
        if resource_owners is not None and "SELF" not in resource_owners:
            if marker is not None:
                raise InvalidMarkerException("The marker is invalid.")
            return {"Keys": [], "Truncated": False}
        after = decode_marker(marker) or 0
        if not isinstance(after, int):
            raise InvalidMarkerException("The marker is invalid.")
        size = limit or DEFAULT_LIMIT
        rows = self.session.execute(
            select(KmsKey.key_id, KmsKey.arn, KmsKey.created_seq)
            .where(KmsKey.account_id == ctx.account_id, KmsKey.region == ctx.region, KmsKey.created_seq > after)
            .order_by(KmsKey.created_seq).limit(size + 1)).all()
        result: dict[str, Any] = {"Keys": [{"KeyId": r.key_id, "KeyArn": r.arn} for r in rows[:size]]}
        if len(rows) > size:
            result.update(Truncated=True, NextMarker=encode_marker(rows[size - 1].created_seq))
        else:
            result["Truncated"] = False
        return result

    def enable_key(self, ctx: RequestContext, *, key_id: str) -> None:
        key = self.key_row(ctx, key_id, "EnableKey")
        if set_underlying(key, KeyState.ENABLED):
            return
        if key.state is KeyState.DISABLED:
            key.state = KeyState.ENABLED
            resume_rotation(self.session, key, self.now())

    def disable_key(self, ctx: RequestContext, *, key_id: str) -> None:
        key = self.key_row(ctx, key_id, "DisableKey")
        if set_underlying(key, KeyState.DISABLED):
            return
        if key.state is KeyState.ENABLED:
            key.state = KeyState.DISABLED

    def update_key_description(self, ctx: RequestContext, *, key_id: str, description: str) -> None:
        key = self.key_row(ctx, key_id, "UpdateKeyDescription")
        key.description = description

    # -- deletion --------------------------------------------------------------------------------------------

    def schedule_key_deletion(
        self, ctx: RequestContext, *, key_id: str, pending_window_in_days: int | None = None
    ) -> dict[str, Any]:
        """https://docs.aws.amazon.com/kms/latest/APIReference/API_ScheduleKeyDeletion.html — a primary key
        with replicas waits in PendingReplicaDeletion until its replicas are gone."""
        days = DEFAULT_PENDING_WINDOW_DAYS if pending_window_in_days is None else pending_window_in_days
        if days not in PENDING_WINDOW_DAYS:
            bound = "greater than or equal to 7" if days < 7 else "less than or equal to 30"
            raise ValidationException(f"1 validation error detected: Value '{days}' at 'pendingWindowInDays' "
                                      f"failed to satisfy constraint: Member must have value {bound}")
        key = self.key_row(ctx, key_id, "ScheduleKeyDeletion")
        key.pending_window_days = days
        replicas = [r for r in family(self.session, key) if r.region != key.region] if key.multi_region else []
        is_primary = key.multi_region and key.region == key.primary_region
        result: dict[str, Any] = {"KeyId": key.arn, "PendingWindowInDays": days}
        if is_primary and replicas:
            self.runtime.lifecycle.enter(key, KeyState.PENDING_REPLICA_DELETION, self.now())
        else:
            self.runtime.lifecycle.enter(key, KeyState.PENDING_DELETION, self.now())
            key.deletion_date = key.due_at
            result["DeletionDate"] = key.deletion_date
        result["KeyState"] = key.state.value
        return result

    def cancel_key_deletion(self, ctx: RequestContext, *, key_id: str) -> dict[str, Any]:
        key = self.key_row(ctx, key_id, "CancelKeyDeletion")
        self.runtime.lifecycle.enter(key, KeyState.DISABLED, self.now())
        key.deletion_date = None
        key.pending_window_days = None
        settle(self.session, key)  # Unavailable (underlying Disabled) while its custom key store is not connected
        return {"KeyId": key.arn}

    # -- usage -----------------------------------------------------------------------------------------------

    def get_key_last_usage(self, ctx: RequestContext, *, key_id: str) -> dict[str, Any]:
        """https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyLastUsage.html — tracking starts when
        the simulator creates the key."""
        key = self.key_row(ctx, key_id, "GetKeyLastUsage")
        result: dict[str, Any] = {"KeyId": key.arn, "TrackingStartDate": key.created_at, "KeyCreationDate": key.created_at}
        pending = self.runtime.usage.pending(key.arn)
        if pending is not None:
            result["KeyLastUsage"] = {"Operation": pending.operation, "Timestamp": pending.at,
                                      "KmsRequestId": pending.request_id}
        elif key.last_used_at is not None:
            result["KeyLastUsage"] = {"Operation": key.last_used_operation, "Timestamp": key.last_used_at,
                                      "KmsRequestId": key.last_used_request_id}
        return result
