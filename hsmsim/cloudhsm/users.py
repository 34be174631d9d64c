"""HSM users of a cluster (spec 2): roles, names, passwords, login and logout, lockout, and who may do what.

The rules behind the AWS CloudHSM CLI's user commands, over the ``cloudhsm_users`` rows (the single truth: users
are per cluster, the same on every HSM, and part of every backup) and :class:`LiveSessions`, the logged-in
sessions, which live only in memory (a restart of the simulator logs everyone out). No HTTP here: the data plane
(:mod:`hsmsim.dataplane`) calls these functions inside a unit of work.

* User types: https://docs.aws.amazon.com/cloudhsm/latest/userguide/understanding-users.html
* Permissions: https://docs.aws.amazon.com/cloudhsm/latest/userguide/user-permissions-table-chsm-cli.html
* ``login`` (five wrong passwords lock): https://docs.aws.amazon.com/cloudhsm/latest/userguide/cloudhsm_cli-login.html
* ``user list``: https://docs.aws.amazon.com/cloudhsm/latest/userguide/cloudhsm_cli-user-list.html
* ``user create``: https://docs.aws.amazon.com/cloudhsm/latest/userguide/cloudhsm_cli-user-create.html
* ``user delete`` (not of a user that owns keys):
  https://docs.aws.amazon.com/cloudhsm/latest/userguide/cloudhsm_cli-user-delete.html
* ``user change-password``: https://docs.aws.amazon.com/cloudhsm/latest/userguide/cloudhsm_cli-user-change-password.html
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from hsmsim.aws.errors import ServiceError, ValidationException
from hsmsim.cloudhsm import actions
from hsmsim.cloudhsm.enums import ClusterState
from hsmsim.cloudhsm.models import Cluster, HsmKey, HsmKeyShare, HsmUser
from hsmsim.cloudhsm.passwords import hash_password
from hsmsim.cloudhsm.runtime import Step
from hsmsim.cloudhsm.sessions import LiveSession, LiveSessions

ADMIN = "admin"
CRYPTO_USER = "crypto-user"
UNACTIVATED_ADMIN = "unactivated-admin"
ROLES = (ADMIN, CRYPTO_USER)
"""The roles a command can name (``--role``); the unactivated admin only runs ``cluster activate``."""
APPLIANCE_USER = "app_user"
APPLIANCE_ROLE = "internal(APPLIANCE_USER)"
"""AWS's appliance user exists on every HSM; nobody can log in as it, change or delete it."""

MAX_FAILED_LOGINS = 5
NAME = re.compile(r"[A-Za-z0-9_]{1,31}")
PASSWORD_LENGTH = range(7, 33)

IN_SERVICE = {
    ClusterState.ACTIVE,
    ClusterState.MODIFY_IN_PROGRESS,
    ClusterState.ROLLBACK_IN_PROGRESS,
    ClusterState.UPDATE_IN_PROGRESS,
    ClusterState.DEGRADED,
}
"""Activated cluster states in which the HSMs serve clients (ModifyCluster does not take HSMs offline)."""
LISTABLE = IN_SERVICE | {ClusterState.INITIALIZED}
"""``user list`` needs no login and also works before activation (AWS's activation guide runs it first)."""


# -- errors (the data plane sends ``code`` as ``__type`` with ``status``) -------------------------------------


class ClusterNotFound(ServiceError):
    code, status = "ClusterNotFound", 404


class ClusterNotReady(ServiceError):
    code, status = "ClusterNotReady", 409


class NotLoggedIn(ServiceError):
    code, status = "NotLoggedIn", 401


class InvalidCredentials(ServiceError):
    code, status = "InvalidCredentials", 401


class UserLocked(ServiceError):
    code, status = "UserLocked", 403


class AccessDenied(ServiceError):
    code, status = "AccessDenied", 403


class UserNotFound(ServiceError):
    code, status = "UserNotFound", 404


class RoleMismatch(ServiceError):
    code, status = "RoleMismatch", 400


class UserAlreadyExists(ServiceError):
    code, status = "UserAlreadyExists", 409


class UserLoggedIn(ServiceError):
    code, status = "UserLoggedIn", 409


class UserOwnsKeys(ServiceError):
    code, status = "UserOwnsKeys", 409


# -- live sessions ----------------------------------------------------------------------------------------


# -- names, roles, passwords --------------------------------------------------------------------------------


def normalize_name(username: str) -> str:
    """User names: 1-31 letters, digits or ``_``; case-insensitive, stored and shown lower-case."""
    if not NAME.fullmatch(username):
        raise ValidationException(
            f"Invalid username '{username}': use 1 to 31 characters, only letters, digits and underscores (_)."
        )
    return username.lower()


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValidationException(f"Invalid role '{role}': the role must be one of {', '.join(ROLES)}.")
    return role


def check_password(password: str) -> str:
    if len(password) not in PASSWORD_LENGTH:
        raise ValidationException(
            f"Invalid password: passwords are {PASSWORD_LENGTH.start} to {PASSWORD_LENGTH.stop - 1} characters long."
        )
    return password


# -- clusters and rows ---------------------------------------------------------------------------------------


def provision_unactivated_admin(session: Session, cluster_id: str) -> None:
    """The first HSM of a never-activated cluster holds the temporary user ``admin`` (role unactivated-admin)."""
    admin = session.get(HsmUser, (cluster_id, ADMIN))
    if admin is None:
        admin = HsmUser(cluster_id=cluster_id, username=ADMIN)
        session.add(admin)
    admin.role, admin.password_hash, admin.failed_logins, admin.locked = UNACTIVATED_ADMIN, None, 0, False


def reachable_cluster(step: Step, cluster_id: str, states: set[ClusterState] = IN_SERVICE) -> Cluster:
    """The cluster, if the CLI could connect to one of its HSMs now in one of ``states``."""
    cluster = step.session.get(Cluster, cluster_id)
    if cluster is None or cluster.state in (ClusterState.DELETED, ClusterState.DELETE_IN_PROGRESS):
        raise ClusterNotFound(f"Cluster '{cluster_id}' not found.")
    if cluster.state not in states:
        if cluster.state is ClusterState.INITIALIZED:
            raise ClusterNotReady(
                f"Cluster '{cluster_id}' is not activated yet: run 'cluster activate' first (no login needed)."
            )
        raise ClusterNotReady(f"Cluster '{cluster_id}' is {cluster.state.value}; its HSMs are not in service.")
    if actions.active_hsm(cluster) is None:
        raise ClusterNotReady(f"Cluster '{cluster_id}' has no ACTIVE HSM to connect to.")
    return cluster


def list_users(step: Step, cluster_id: str) -> list[dict[str, Any]]:
    """``user list``: every user, the appliance user last, in the CloudHSM CLI's shape."""
    reachable_cluster(step, cluster_id, LISTABLE)
    rows = step.session.scalars(select(HsmUser).where(HsmUser.cluster_id == cluster_id).order_by(HsmUser.username))
    users = [(u.username, u.role, u.locked) for u in rows] + [(APPLIANCE_USER, APPLIANCE_ROLE, False)]
    return [
        {"username": name, "role": role, "locked": "true" if locked else "false", "mfa": [], "cluster-coverage": "full"}
        for name, role, locked in users
    ]


def _user(step: Step, cluster_id: str, username: str, role: str) -> HsmUser:
    """The user a command names with ``--username`` and ``--role`` (the role must be the user's)."""
    if username == APPLIANCE_USER:
        raise AccessDenied(f"'{APPLIANCE_USER}' is the AWS appliance user; it cannot be used or modified.")
    user = step.session.get(HsmUser, (cluster_id, username))
    if user is None:
        raise UserNotFound(f"User '{username}' does not exist in cluster '{cluster_id}'.")
    if user.role != role:
        raise RoleMismatch(f"User '{username}' has the role {user.role}, not {role}.")
    return user


def _view(user: HsmUser) -> dict[str, str]:
    return {"username": user.username, "role": user.role}


# -- login and logout -----------------------------------------------------------------------------------------


@dataclass
class LoginResult:
    user: dict[str, str]
    token: str | None = None
    error: ServiceError | None = None
    """A wrong password: raise it after the commit, which must keep the failed attempt it counted."""


def login(step: Step, sessions: LiveSessions, cluster_id: str, username: str, password: str, role: str) -> LoginResult:
    """``login``: on every HSM of the cluster. Five wrong passwords in a row lock the user; a success resets the
    count. The new session exists once the unit of work has committed."""
    username, role = normalize_name(username), check_role(role)
    reachable_cluster(step, cluster_id)
    user = _user(step, cluster_id, username, role)
    if user.locked:
        raise UserLocked(
            f"User '{username}' is locked after {MAX_FAILED_LOGINS} failed login attempts; "
            "an admin must change its password to unlock it."
        )
    if user.password_hash is None or not step.runtime.passwords.verify(password, user.password_hash):
        user.failed_logins += 1
        user.locked = user.failed_logins >= MAX_FAILED_LOGINS
        message = "Invalid username or password."
        if user.locked:
            message += f" User '{username}' is now locked after {MAX_FAILED_LOGINS} failed login attempts."
        return LoginResult(_view(user), error=InvalidCredentials(message))
    user.failed_logins = 0
    token = secrets.token_urlsafe(32)
    live = LiveSession(cluster_id, user.username, user.role)
    step.uow.after_commit(lambda: sessions.add(token, live))
    return LoginResult(_view(user), token=token)


def caller(step: Step, sessions: LiveSessions, cluster_id: str, token: str) -> HsmUser:
    """The logged-in user behind ``token`` (a session of this cluster whose user still exists as it was)."""
    reachable_cluster(step, cluster_id)
    live = sessions.get(token) if token else None
    if live is None or live.cluster_id != cluster_id:
        raise NotLoggedIn("Not logged in: log in first (sessions end at logout and when the simulator restarts).")
    user = step.session.get(HsmUser, (cluster_id, live.username))
    if user is None or user.role != live.role:
        sessions.remove(token)
        raise NotLoggedIn(f"User '{live.username}' no longer exists as a {live.role}; log in again.")
    return user


def logout(step: Step, sessions: LiveSessions, cluster_id: str, token: str) -> str:
    """``logout``: ends this session only (the same user may have others)."""
    caller(step, sessions, cluster_id, token)
    step.uow.after_commit(lambda: sessions.remove(token))
    return "Logout successful"


# -- user management --------------------------------------------------------------------------------------------


def _require_admin(user: HsmUser, what: str) -> None:
    if user.role != ADMIN:
        raise AccessDenied(f"Only admins can {what}; '{user.username}' is a {user.role}.")


def _require_logged_out(sessions: LiveSessions, user: HsmUser, what: str) -> None:
    live = sessions.count(user.cluster_id, user.username)
    if live:
        raise UserLoggedIn(
            f"User '{user.username}' is logged in ({live} session{'s' if live > 1 else ''}); "
            f"its {what} until it logs out."
        )


def create_user(step: Step, admin: HsmUser, username: str, role: str, password: str) -> dict[str, str]:
    """``user create`` (admins only)."""
    username, role, password = normalize_name(username), check_role(role), check_password(password)
    _require_admin(admin, "create users")
    if username == APPLIANCE_USER or step.session.get(HsmUser, (admin.cluster_id, username)) is not None:
        raise UserAlreadyExists(f"User '{username}' already exists in cluster '{admin.cluster_id}'.")
    user = HsmUser(
        cluster_id=admin.cluster_id,
        username=username,
        role=role,
        password_hash=hash_password(password),
        failed_logins=0,
        locked=False,
    )
    step.session.add(user)
    return _view(user)


def delete_user(step: Step, sessions: LiveSessions, admin: HsmUser, username: str, role: str) -> dict[str, str]:
    """``user delete`` (admins only; not oneself, not a logged-in user, not a user that owns keys)."""
    username, role = normalize_name(username), check_role(role)
    _require_admin(admin, "delete users")
    user = _user(step, admin.cluster_id, username, role)
    if user.username == admin.username:
        raise AccessDenied(f"User '{username}' cannot delete itself.")
    _require_logged_out(sessions, user, "account cannot be deleted")
    owned = step.session.scalar(
        select(func.count()).select_from(HsmKey).where(HsmKey.cluster_id == user.cluster_id, HsmKey.owner == username)
    )
    if owned:
        raise UserOwnsKeys(
            f"User '{username}' owns {owned} key{'s' if owned > 1 else ''}; users that own keys cannot be deleted "
            "(the owner must delete them first)."
        )
    view = _view(user)
    step.session.execute(  # keys shared with the user are no longer shared with anyone of that name
        delete(HsmKeyShare).where(HsmKeyShare.cluster_id == user.cluster_id, HsmKeyShare.username == username)
    )
    step.session.delete(user)
    return view


def change_password(
    step: Step, sessions: LiveSessions, caller_user: HsmUser, username: str, role: str, password: str
) -> dict[str, str]:
    """``user change-password``: anyone changes its own password; an admin changes anyone's (no old password
    needed) unless that user is logged in, which also unlocks it. Only an admin's change unlocks a user."""
    username, role, password = normalize_name(username), check_role(role), check_password(password)
    cluster_id = caller_user.cluster_id
    if username == caller_user.username:
        user = _user(step, cluster_id, username, role)
        if not user.locked:
            user.failed_logins = 0
    else:
        _require_admin(caller_user, "change the password of another user")
        user = _user(step, cluster_id, username, role)
        _require_logged_out(sessions, user, "password cannot be changed")
        user.failed_logins, user.locked = 0, False
    user.password_hash = hash_password(password)
    return _view(user)
