"""HSM users (spec 1.5, 2) through the data plane: login and lockout, the logged-in rules, the permission matrix,
names and passwords, cluster states, and users in backups.

Plain HTTP against the real server (``/_hsmsim/clusters/{id}/...``); every failed command must leave the users
exactly as they were (``unchanged``).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from conftest import ServerProcess
from helpers import ADMIN, SUBNETS, active_cluster, describe, initialized_cluster, new_cluster

ADMIN_PASSWORD = ADMIN.password  # what helpers.active_cluster activates


class Plane:
    """The data plane of one cluster."""

    def __init__(self, sim: Any, cluster_id: str) -> None:
        self.sim, self.cluster_id = sim, cluster_id

    def request(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, dict[str, Any]]:
        url = f"{self.sim.url}/_hsmsim/clusters/{self.cluster_id}{path}"
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def login(self, username: str, password: str, role: str) -> tuple[int, dict[str, Any]]:
        return self.request("POST", "/login", {"username": username, "password": password, "role": role})

    def session(self, username: str, password: str, role: str) -> str:
        status, body = self.login(username, password, role)
        assert status == 200, body
        assert body["data"] == {"username": username.lower(), "role": role}
        return body["token"]

    def logout(self, token: str) -> tuple[int, dict[str, Any]]:
        return self.request("POST", "/logout", token=token)

    def create(self, token: str, username: str, role: str, password: str) -> tuple[int, dict[str, Any]]:
        return self.request("POST", "/users", {"username": username, "role": role, "password": password}, token)

    def delete(self, token: str, username: str, role: str) -> tuple[int, dict[str, Any]]:
        return self.request("DELETE", f"/users/{username}?role={role}", token=token)

    def change_password(self, token: str, username: str, role: str, password: str) -> tuple[int, dict[str, Any]]:
        return self.request("POST", f"/users/{username}/password", {"role": role, "password": password}, token)

    def users(self) -> dict[str, dict[str, Any]]:
        status, body = self.request("GET", "/users")
        assert status == 200, body
        return {u["username"]: u for u in body["data"]["users"]}

    @contextmanager
    def unchanged(self) -> Iterator[None]:
        before = self.users()
        yield
        assert self.users() == before


def assert_error(reply: tuple[int, dict[str, Any]], status: int, code: str, fragment: str = "") -> None:
    got_status, body = reply
    assert (got_status, body["__type"]) == (status, code), body
    assert body["error_code"] == 1 and body["data"] == body["message"] and fragment in body["data"]


@pytest.fixture
def plane(sim, cloudhsm) -> Plane:
    cluster_id, _ = active_cluster(sim, cloudhsm)
    return Plane(sim, cluster_id)


@pytest.fixture
def admin(plane) -> str:
    return plane.session("admin", ADMIN_PASSWORD, "admin")


def entry(username: str, role: str, locked: str = "false") -> dict[str, Any]:
    return {"username": username, "role": role, "locked": locked, "mfa": [], "cluster-coverage": "full"}


# -- activation -----------------------------------------------------------------------------------------------


def test_activation_turns_the_unactivated_admin_into_admin(sim, cloudhsm):
    cluster_id, _ = initialized_cluster(cloudhsm)
    plane = Plane(sim, cluster_id)
    status, body = plane.request("GET", "/users")
    assert status == 200
    assert body == {
        "error_code": 0,
        "data": {"users": [entry("admin", "unactivated-admin"), entry("app_user", "internal(APPLIANCE_USER)")]},
    }
    with plane.unchanged():
        assert_error(plane.login("admin", ADMIN_PASSWORD, "admin"), 409, "ClusterNotReady", "cluster activate")
        assert_error(plane.create("no-token", "bob", "crypto-user", "Bob-Pass-1"), 409, "ClusterNotReady")
        for password in ("short", "x" * 33):
            assert_error(plane.request("POST", "/activate", {"password": password}), 400,
                         "CloudHsmInvalidRequestException", "7 to 32")
        assert_error(plane.request("POST", "/activate", {}), 400, "ValidationException", "password")
    assert describe(cloudhsm, cluster_id)["State"] == "INITIALIZED"

    assert plane.request("POST", "/activate", {"password": ADMIN_PASSWORD}) == (
        200, {"error_code": 0, "data": "Cluster activation successful"}
    )
    assert describe(cloudhsm, cluster_id)["State"] == "ACTIVE"
    assert plane.users()["admin"] == entry("admin", "admin")
    with plane.unchanged():
        assert_error(plane.request("POST", "/activate", {"password": "Another-Pass"}), 400,
                     "CloudHsmInvalidRequestException", "ACTIVE")
    plane.session("admin", ADMIN_PASSWORD, "admin")


def test_commands_need_a_reachable_cluster(sim, cloudhsm):
    missing = Plane(sim, "cluster-aaaaaaaaaaa")
    assert_error(missing.request("GET", "/users"), 404, "ClusterNotFound")
    assert_error(missing.login("admin", ADMIN_PASSWORD, "admin"), 404, "ClusterNotFound")
    assert_error(missing.request("POST", "/activate", {"password": ADMIN_PASSWORD}), 404, "ClusterNotFound")
    cluster_id = new_cluster(cloudhsm)
    cloudhsm.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1a")
    uninitialized = Plane(sim, cluster_id)
    assert_error(uninitialized.request("GET", "/users"), 409, "ClusterNotReady", "UNINITIALIZED")
    assert_error(uninitialized.login("admin", ADMIN_PASSWORD, "admin"), 409, "ClusterNotReady")


# -- login, logout, lockout -------------------------------------------------------------------------------------


def test_login_and_logout(plane, admin):
    status, body = plane.logout(admin)
    assert (status, body) == (200, {"error_code": 0, "data": "Logout successful"})
    assert_error(plane.logout(admin), 401, "NotLoggedIn")
    assert_error(plane.create(admin, "bob", "crypto-user", "Bob-Pass-1"), 401, "NotLoggedIn")
    assert_error(plane.request("POST", "/users", {"username": "bob", "role": "crypto-user", "password": "Bob-Pass-1"}),
                 401, "NotLoggedIn")
    token = plane.session("ADMIN", ADMIN_PASSWORD, "admin")  # names are case-insensitive
    assert plane.create(token, "bob", "crypto-user", "Bob-Pass-1")[0] == 200
    with plane.unchanged():
        assert_error(plane.login("nobody", "whatever1", "crypto-user"), 404, "UserNotFound")
        assert_error(plane.login("bob", "Bob-Pass-1", "admin"), 400, "RoleMismatch", "crypto-user")
        assert_error(plane.login("app_user", "whatever1", "admin"), 403, "AccessDenied")
        assert_error(plane.login("bob", "Bob-Pass-1", "superuser"), 400, "ValidationException", "role")
        assert_error(plane.request("POST", "/login", {"username": "bob"}), 400, "ValidationException", "password")


def test_five_failed_logins_lock_a_user_until_an_admin_changes_its_password(plane, admin):
    plane.create(admin, "alice", "crypto-user", "Alice-Pass-1")
    plane.create(admin, "bob", "crypto-user", "Bob-Pass-1")
    for _ in range(4):
        assert_error(plane.login("alice", "wrong-pass", "crypto-user"), 401, "InvalidCredentials")
    plane.logout(plane.session("alice", "Alice-Pass-1", "crypto-user"))  # a success resets the count
    for _ in range(4):
        assert_error(plane.login("alice", "wrong-pass", "crypto-user"), 401, "InvalidCredentials")
    assert plane.users()["alice"]["locked"] == "false"
    assert_error(plane.login("alice", "wrong-pass", "crypto-user"), 401, "InvalidCredentials", "now locked")
    assert plane.users()["alice"] == entry("alice", "crypto-user", locked="true")

    with plane.unchanged():
        assert_error(plane.login("alice", "Alice-Pass-1", "crypto-user"), 403, "UserLocked", "admin")
        bob = plane.session("bob", "Bob-Pass-1", "crypto-user")
        assert_error(plane.change_password(bob, "alice", "crypto-user", "Bob-Sets-It"), 403, "AccessDenied")
        plane.logout(bob)
    assert plane.change_password(admin, "alice", "crypto-user", "Alice-Pass-2") == (
        200, {"error_code": 0, "data": {"username": "alice", "role": "crypto-user"}}
    )
    assert plane.users()["alice"]["locked"] == "false"
    assert_error(plane.login("alice", "Alice-Pass-1", "crypto-user"), 401, "InvalidCredentials")
    plane.session("alice", "Alice-Pass-2", "crypto-user")


def test_a_locked_user_cannot_unlock_itself(plane, admin):
    plane.create(admin, "alice", "crypto-user", "Alice-Pass-1")
    alice = plane.session("alice", "Alice-Pass-1", "crypto-user")  # a session from before the lockout
    for _ in range(5):
        plane.login("alice", "wrong-pass", "crypto-user")
    assert plane.change_password(alice, "alice", "crypto-user", "Alice-Pass-2")[0] == 200
    assert plane.users()["alice"]["locked"] == "true"
    plane.logout(alice)
    assert_error(plane.login("alice", "Alice-Pass-2", "crypto-user"), 403, "UserLocked")


def test_a_restart_logs_everyone_out(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    server = ServerProcess(data_dir).start()
    try:
        plane = Plane(server, active_cluster(server, server.client("cloudhsmv2"))[0])
        admin = plane.session("admin", ADMIN_PASSWORD, "admin")
        plane.create(admin, "alice", "crypto-user", "Alice-Pass-1")
        alice = plane.session("alice", "Alice-Pass-1", "crypto-user")
        server.stop()
        server.start()
        assert_error(plane.logout(alice), 401, "NotLoggedIn", "restarts")
        admin = plane.session("admin", ADMIN_PASSWORD, "admin")
        assert plane.change_password(admin, "alice", "crypto-user", "Alice-Pass-2")[0] == 200  # not logged in
    finally:
        server.stop()


# -- the logged-in rules ---------------------------------------------------------------------------------------------


def test_a_logged_in_user_cannot_be_changed_or_deleted(plane, admin):
    plane.create(admin, "alice", "crypto-user", "Alice-Pass-1")
    first = plane.session("alice", "Alice-Pass-1", "crypto-user")
    second = plane.session("alice", "Alice-Pass-1", "crypto-user")  # concurrent logins are allowed
    for token in (first, second):  # logged in while at least one session lives
        with plane.unchanged():
            assert_error(plane.change_password(admin, "alice", "crypto-user", "Alice-Pass-2"), 409, "UserLoggedIn")
            assert_error(plane.delete(admin, "alice", "crypto-user"), 409, "UserLoggedIn")
        assert plane.logout(token)[0] == 200
    plane.logout(plane.session("alice", "Alice-Pass-1", "crypto-user"))  # the password was not changed
    assert plane.delete(admin, "alice", "crypto-user")[0] == 200


def test_logged_out_user_can_be_changed_and_deleted(plane, admin):
    plane.create(admin, "alice", "crypto-user", "Alice-Pass-1")
    plane.logout(plane.session("alice", "Alice-Pass-1", "crypto-user"))
    assert plane.change_password(admin, "alice", "crypto-user", "Alice-Pass-2")[0] == 200
    assert plane.delete(admin, "alice", "crypto-user") == (
        200, {"error_code": 0, "data": {"username": "alice", "role": "crypto-user"}}
    )
    assert "alice" not in plane.users()
    assert_error(plane.login("alice", "Alice-Pass-2", "crypto-user"), 404, "UserNotFound")


def test_users_cannot_delete_themselves_but_change_their_own_password(plane, admin):
    with plane.unchanged():
        assert_error(plane.delete(admin, "admin", "admin"), 403, "AccessDenied", "itself")
    assert plane.change_password(admin, "admin", "admin", "Admin-Pass-2")[0] == 200  # while logged in
    assert plane.create(admin, "still_works", "crypto-user", "Still-Works")[0] == 200  # the session goes on
    plane.logout(admin)
    assert_error(plane.login("admin", ADMIN_PASSWORD, "admin"), 401, "InvalidCredentials")
    plane.session("admin", "Admin-Pass-2", "admin")


# -- the permission matrix (spec 2.1) ----------------------------------------------------------------------------


def test_permission_matrix(plane, admin):
    assert plane.create(admin, "admin2", "admin", "Admin2-Pass")[1]["data"] == {"username": "admin2", "role": "admin"}
    plane.create(admin, "carol", "crypto-user", "Carol-Pass-1")
    plane.create(admin, "dave", "crypto-user", "Dave-Pass-1")
    carol = plane.session("carol", "Carol-Pass-1", "crypto-user")
    with plane.unchanged():
        assert_error(plane.create(carol, "eve", "crypto-user", "Eve-Pass-1"), 403, "AccessDenied", "crypto-user")
        assert_error(plane.delete(carol, "dave", "crypto-user"), 403, "AccessDenied")
        assert_error(plane.change_password(carol, "dave", "crypto-user", "Dave-Pass-2"), 403, "AccessDenied")
        assert_error(plane.change_password(carol, "admin2", "admin", "Admin2-Pass2"), 403, "AccessDenied")
    assert plane.change_password(carol, "carol", "crypto-user", "Carol-Pass-2")[0] == 200  # its own
    assert plane.request("GET", "/users")[0] == 200  # no login needed

    admin2 = plane.session("admin2", "Admin2-Pass", "admin")
    assert plane.change_password(admin2, "dave", "crypto-user", "Dave-Pass-2")[0] == 200  # no old password
    assert plane.delete(admin2, "dave", "crypto-user")[0] == 200
    assert plane.change_password(admin, "admin2", "admin", "Admin2-Pass2")[0] == 409  # admin2 is logged in
    plane.logout(admin2)
    assert plane.delete(admin, "admin2", "admin")[0] == 200
    assert sorted(plane.users()) == ["admin", "app_user", "carol"]

    with plane.unchanged():  # the appliance user is AWS's
        assert_error(plane.create(admin, "app_user", "crypto-user", "Some-Pass-1"), 409, "UserAlreadyExists")
        assert_error(plane.delete(admin, "app_user", "crypto-user"), 403, "AccessDenied")
        assert_error(plane.change_password(admin, "app_user", "admin", "Some-Pass-1"), 403, "AccessDenied")
        assert_error(plane.delete(admin, "carol", "admin"), 400, "RoleMismatch")
        assert_error(plane.delete(admin, "nobody", "admin"), 404, "UserNotFound")


# -- names and passwords (spec 2.4) --------------------------------------------------------------------------------


def test_names_and_passwords(plane, admin):
    assert plane.create(admin, "Mixed_Case_1", "crypto-user", "1234567")[1]["data"]["username"] == "mixed_case_1"
    assert plane.create(admin, "a" * 31, "crypto-user", "p" * 32)[0] == 200
    with plane.unchanged():
        assert_error(plane.create(admin, "MIXED_case_1", "crypto-user", "1234567"), 409, "UserAlreadyExists")
        for name in ("a" * 32, "bad-name", "two words", "", "n\u00e4me"):
            assert_error(plane.create(admin, name, "crypto-user", "Good-Pass-1"), 400, "ValidationException",
                         "31 characters")
        for password in ("123456", "p" * 33, ""):
            assert_error(plane.create(admin, "newuser", "crypto-user", password), 400, "ValidationException",
                         "7 to 32")
        assert_error(plane.create(admin, "newuser", "auditor", "Good-Pass-1"), 400, "ValidationException", "role")
        assert_error(plane.request("POST", "/users", {"username": "newuser"}, admin), 400, "ValidationException")
        assert_error(plane.request("POST", "/users", b"[]", admin), 400, "ValidationException", "object")
        assert_error(plane.change_password(admin, "mixed_case_1", "crypto-user", "short"), 400, "ValidationException")
    plane.session("MIXED_CASE_1", "1234567", "crypto-user")


# -- backups (spec 1.8, 1.9) ---------------------------------------------------------------------------------------


def latest_backup(cloudhsm, cluster_id: str) -> str:
    found = cloudhsm.describe_backups(Filters={"clusterIds": [cluster_id]}, SortAscending=True)["Backups"]
    return found[-1]["BackupId"]


def test_users_are_in_every_backup(sim, cloudhsm, plane, admin):
    plane.create(admin, "kmsuser", "crypto-user", "KmsUserPass1")
    plane.create(admin, "app_cu", "crypto-user", "App-Cu-Pass")
    plane.create(admin, "locked_cu", "crypto-user", "Locked-Pass")
    for _ in range(5):
        plane.login("locked_cu", "wrong-pass", "crypto-user")
    plane.logout(admin)
    users = plane.users()
    assert users["locked_cu"]["locked"] == "true"

    cloudhsm.create_hsm(ClusterId=plane.cluster_id, AvailabilityZone="us-east-1b")  # adding an HSM backs up
    assert plane.users() == users  # the same on every HSM
    backup_id = latest_backup(cloudhsm, plane.cluster_id)

    restored = Plane(sim, cloudhsm.create_cluster(HsmType="hsm1.medium", SubnetIds=SUBNETS[:2],
                                                  SourceBackupId=backup_id)["Cluster"]["ClusterId"])
    assert describe(cloudhsm, restored.cluster_id)["State"] == "ACTIVE"
    assert_error(restored.request("GET", "/users"), 409, "ClusterNotReady", "no ACTIVE HSM")
    cloudhsm.create_hsm(ClusterId=restored.cluster_id, AvailabilityZone="us-east-1a")
    assert restored.users() == users
    restored.logout(restored.session("kmsuser", "KmsUserPass1", "crypto-user"))
    assert_error(restored.login("locked_cu", "Locked-Pass", "crypto-user"), 403, "UserLocked")

    # The clusters are independent from now on.
    restored_admin = restored.session("admin", ADMIN_PASSWORD, "admin")
    restored.delete(restored_admin, "app_cu", "crypto-user")
    assert "app_cu" in plane.users() and "app_cu" not in restored.users()
