"""Cluster activation (spec 1.5): the unactivated admin sets the admin password; INITIALIZED becomes ACTIVE.

This is the CloudHSM CLI's ``cluster activate``; the data-plane API of the simulator exposes it at
``POST /_hsmsim/clusters/{ClusterId}/activate``. Users, login and the CLI itself grow around it with the HSM users
issue.
"""

from __future__ import annotations

from datetime import datetime

from hsmsim.cloudhsm import actions
from hsmsim.cloudhsm.enums import ClusterState
from hsmsim.cloudhsm.errors import CloudHsmInvalidRequestException
from hsmsim.cloudhsm.models import Cluster, HsmUser
from hsmsim.cloudhsm.passwords import hash_password
from hsmsim.cloudhsm.runtime import Step

ADMIN_USERNAME = "admin"
PASSWORD_LENGTH = range(7, 33)


class ActivationError(CloudHsmInvalidRequestException):
    """Why a cluster cannot be activated."""


def activate_cluster(step: Step, cluster: Cluster, password: str, now: datetime) -> None:
    if len(password) not in PASSWORD_LENGTH:
        raise ActivationError("The admin password must be 7 to 32 characters long.")
    if cluster.state is not ClusterState.INITIALIZED:
        raise ActivationError(
            f"Cluster '{cluster.cluster_id}' is {cluster.state.value}; only an INITIALIZED cluster can be activated."
        )
    if actions.active_hsm(cluster) is None:
        raise ActivationError(f"Cluster '{cluster.cluster_id}' has no active HSM.")
    admin = step.session.get(HsmUser, (cluster.cluster_id, ADMIN_USERNAME))
    if admin is None:
        admin = HsmUser(cluster_id=cluster.cluster_id, username=ADMIN_USERNAME, failed_logins=0, locked=False)
        step.session.add(admin)
    admin.role = "admin"
    admin.password_hash = hash_password(password)
    step.runtime.lifecycle.enter(cluster, ClusterState.ACTIVE, now)
    cluster.state_message = None
    step.session.flush()
    actions.take_backup(step, cluster, now)  # activation triggers a backup
    actions.schedule_daily_backup(cluster, now)
