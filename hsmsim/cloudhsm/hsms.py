"""HSM operations: CreateHsm and DeleteHsm. Each HSM is one SoftHSM token, addressed by its serial.

https://docs.aws.amazon.com/cloudhsm/latest/APIReference/API_CreateHsm.html
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from hsmsim.aws.context import RequestContext
from hsmsim.cloudhsm import actions, network, users
from hsmsim.cloudhsm.base import OperationsBase
from hsmsim.cloudhsm.enums import ClusterMode, ClusterState, HsmState, NetworkType
from hsmsim.cloudhsm.errors import CloudHsmInvalidRequestException, CloudHsmResourceNotFoundException
from hsmsim.cloudhsm.models import Cluster, Hsm
from hsmsim.cloudhsm.views import hsm_view
from hsmsim.core.ids import base32_id, hex_id

HSM_DELETABLE_CLUSTER_STATES = {
    ClusterState.UNINITIALIZED,
    ClusterState.INITIALIZED,
    ClusterState.ACTIVE,
    ClusterState.DEGRADED,
}


class HsmOperations(OperationsBase):
    def create_hsm(
        self, ctx: RequestContext, cluster_id: str, availability_zone: str, ip_address: str | None = None
    ) -> dict[str, Any]:
        """A new HSM: the first one of a new cluster is a fresh token that makes the cluster CSR; any later one
        is restored from a backup of the cluster (spec 1.9)."""
        cluster = self._cluster(ctx, cluster_id)
        live_hsms = [h for h in cluster.hsms if h.state is not HsmState.DELETE_IN_PROGRESS]
        if cluster.state in (ClusterState.UNINITIALIZED, ClusterState.INITIALIZED) and live_hsms:
            raise CloudHsmInvalidRequestException(
                f"Cluster '{cluster_id}' already contains an HSM but has not yet been fully activated"
            )
        if cluster.state is ClusterState.INITIALIZED:
            raise CloudHsmInvalidRequestException(
                f"Cluster '{cluster_id}' is INITIALIZED but lost its only HSM before activation; "
                "there is no backup to restore it from. Create a new cluster."
            )
        if cluster.state not in (ClusterState.UNINITIALIZED, ClusterState.ACTIVE):
            raise CloudHsmInvalidRequestException(
                f"Cluster '{cluster_id}' is {cluster.state.value}; HSMs can be created only in UNINITIALIZED "
                "or ACTIVE clusters."
            )
        subnet_id = cluster.subnet_mapping.get(availability_zone)
        if subnet_id is None:
            zones = ", ".join(sorted(cluster.subnet_mapping))
            raise CloudHsmInvalidRequestException(
                f"Availability Zone {availability_zone} has no subnet in cluster '{cluster_id}'. "
                f"Its Availability Zones are: {zones}."
            )
        self._check_quotas(ctx, cluster)
        taken = [h.eni_ip for h in cluster.hsms if h.subnet_id == subnet_id]
        try:
            if ip_address is not None:
                network.check_address(subnet_id, ip_address, taken)
                eni_ip = ip_address
            else:
                eni_ip = network.allocate_address(subnet_id, taken)
        except ValueError as error:
            raise CloudHsmInvalidRequestException(str(error)) from None

        hsm_id = base32_id("hsm")
        serial = self._provision_token(cluster, hsm_id)
        hsm = Hsm(
            hsm_id=hsm_id,
            cluster_id=cluster.cluster_id,
            account_id=cluster.account_id,
            region=cluster.region,
            created_at=self.now,
            availability_zone=availability_zone,
            subnet_id=subnet_id,
            eni_id=hex_id("eni"),
            eni_ip=eni_ip,
            eni_ipv6=network.random_ipv6(subnet_id) if cluster.network_type is NetworkType.DUALSTACK else None,
            hsm_type=cluster.hsm_type,
            token_serial=serial,
        )
        self.runtime.lifecycle.enter(hsm, HsmState.CREATE_IN_PROGRESS, self.now)
        cluster.hsms.append(hsm)
        self.session.flush()
        return {"Hsm": hsm_view(hsm, cluster.network_type)}

    def _provision_token(self, cluster: Cluster, hsm_id: str) -> str:
        """Create the HSM's token; undone if the request fails later."""
        softhsm = self.runtime.hsm
        if cluster.state is ClusterState.UNINITIALIZED:
            serial = softhsm.create_token(hsm_id)
            self.step.uow.on_rollback(lambda: softhsm.delete_token(serial))
            identity = self.runtime.roots.provision(serial, hsm_id, cluster.mode is ClusterMode.FIPS, self.now)
            cluster.csr_pem = identity.csr_pem
            cluster.hsm_certificate_pem = identity.hsm_certificate_pem
            cluster.aws_hardware_certificate_pem = identity.aws_hardware_certificate_pem
            cluster.manufacturer_hardware_certificate_pem = identity.manufacturer_hardware_certificate_pem
            users.provision_unactivated_admin(self.session, cluster.cluster_id)  # spec 1.5
            return serial
        # ACTIVE: back up an existing HSM and restore that backup on the new one; with no HSM left, restore the
        # latest backup of the cluster (or the backup the cluster was created from).
        source = actions.active_hsm(cluster)
        if source is not None:
            backup_id = actions.take_backup(self.step, cluster, self.now, source).backup_id
        else:
            latest = actions.latest_backup(self.step, cluster.cluster_id)
            backup_id = latest.backup_id if latest is not None else cluster.source_backup_id
            if backup_id is None or not self.runtime.vault.exists(backup_id):
                raise CloudHsmInvalidRequestException(
                    f"Cluster '{cluster.cluster_id}' has no backup to restore a new HSM from."
                )
            actions.restore_users(self.step, cluster.cluster_id, self.runtime.vault.users(backup_id))
        serial = self.runtime.vault.restore_token(backup_id, hsm_id)
        self.step.uow.on_rollback(lambda: softhsm.delete_token(serial))
        return serial

    def _check_quotas(self, ctx: RequestContext, cluster: Cluster) -> None:
        quotas = self.runtime.config.quotas
        if len(cluster.hsms) >= quotas.hsms_per_cluster:
            raise CloudHsmInvalidRequestException(
                f"Cluster '{cluster.cluster_id}' already has {len(cluster.hsms)} HSMs (quota: {quotas.hsms_per_cluster})."
            )
        in_region = self.session.scalar(
            select(func.count()).select_from(Hsm).where(Hsm.account_id == ctx.account_id, Hsm.region == ctx.region)
        )
        if in_region >= quotas.hsms_per_region:
            raise CloudHsmInvalidRequestException(
                f"HSM limit exceeded: this account already has {in_region} HSMs in {ctx.region} "
                f"(quota: {quotas.hsms_per_region})."
            )

    def delete_hsm(
        self,
        ctx: RequestContext,
        cluster_id: str,
        hsm_id: str | None = None,
        eni_id: str | None = None,
        eni_ip: str | None = None,
    ) -> dict[str, Any]:
        """https://docs.aws.amazon.com/cloudhsm/latest/APIReference/API_DeleteHsm.html"""
        given = [(name, value) for name, value in (("HsmId", hsm_id), ("EniId", eni_id), ("EniIp", eni_ip)) if value]
        if len(given) != 1:
            raise CloudHsmInvalidRequestException("Specify exactly one of HsmId, EniId or EniIp.")
        cluster = self._cluster(ctx, cluster_id)
        name, value = given[0]
        attribute = {"HsmId": "hsm_id", "EniId": "eni_id", "EniIp": "eni_ip"}[name]
        hsm = next((h for h in cluster.hsms if getattr(h, attribute) == value), None)
        if hsm is None:
            raise CloudHsmResourceNotFoundException(f"HSM with {name} '{value}' not found in cluster '{cluster_id}'.")
        if hsm.state is HsmState.DELETE_IN_PROGRESS:
            raise CloudHsmInvalidRequestException(f"HSM '{hsm.hsm_id}' is already being deleted.")
        if cluster.state not in HSM_DELETABLE_CLUSTER_STATES:
            raise CloudHsmInvalidRequestException(
                f"Cluster '{cluster_id}' is {cluster.state.value}; HSMs cannot be deleted in this state."
            )
        if cluster.state is ClusterState.ACTIVE and hsm.state is HsmState.ACTIVE:
            actions.take_backup(self.step, cluster, self.now, hsm)  # removing an HSM triggers a backup
        self.runtime.lifecycle.enter(hsm, HsmState.DELETE_IN_PROGRESS, self.now)
        hsm.state_message = "HSM is being deleted."
        return {"HsmId": hsm.hsm_id}
