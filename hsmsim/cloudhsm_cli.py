"""``hsmsim cloudhsm-cli``: the AWS CloudHSM CLI (Client SDK 5) against a simulated cluster.

A thin HTTP client of the data plane (:mod:`hsmsim.dataplane`) with the real CLI's command names, options and
output: ``{"error_code": 0, "data": ...}`` on stdout, or a non-zero ``error_code`` with the message in ``data`` and
a non-zero exit status (1 for a failed command, 2 for a command line that does not parse).

* Commands: https://docs.aws.amazon.com/cloudhsm/latest/userguide/cloudhsm_cli-reference.html
* Single command and interactive modes: https://docs.aws.amazon.com/cloudhsm/latest/userguide/cloudhsm_cli-modes.html

Single command mode (``hsmsim cloudhsm-cli --cluster-id ID user create ...``): a command that needs a logged-in
user logs in with ``CLOUDHSM_ROLE`` and ``CLOUDHSM_PIN=<username>:<password>``, acts and logs out; ``login`` alone
logs in and out again (its session ends with the process). ``cluster activate`` and ``user list`` need no login.
Interactive mode (``... interactive``) reads commands from stdin and keeps the session of ``login`` until
``logout`` or ``quit``. Passwords not given with ``--password`` are prompted for (read from stdin if it is not a
terminal). The ``key`` commands are in :mod:`hsmsim.cloudhsm_cli_keys`.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import shlex
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TextIO

from hsmsim.cloudhsm_cli_keys import KEY_COMMANDS, add_key_commands
from hsmsim.config import DEFAULT_HOST, DEFAULT_PORT

PROG = "hsmsim cloudhsm-cli"
ROLES = ("admin", "crypto-user")
DEFAULT_ENDPOINT = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"


class CliError(Exception):
    """A failed command: its message goes to ``data`` of the error envelope."""


class UsageError(CliError):
    """A command line that does not parse."""


class _Parser(argparse.ArgumentParser):
    """Usage errors become the error envelope (exit status 2) instead of argparse's exit."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="The AWS CloudHSM CLI against an hsmsim cluster.")
    parser.add_argument("--endpoint", default=os.environ.get("HSMSIM_ENDPOINT", DEFAULT_ENDPOINT),
                        help=f"the simulator's URL (default $HSMSIM_ENDPOINT or {DEFAULT_ENDPOINT})")
    parser.add_argument("--cluster-id", help="the cluster to run the command against")
    # Like the real CLI, every command also takes --cluster-id.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--cluster-id", default=argparse.SUPPRESS, help="the cluster to run the command against")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(parent: Any, name: str, text: str, *options: str) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = parent.add_parser(name, help=text, description=text, parents=[common])
        if "username" in options:
            sub.add_argument("--username", required=True, help="the user's name (case-insensitive)")
        if "role" in options:
            sub.add_argument("--role", required=True, choices=ROLES, help="the user's role")
        if "password" in options:
            sub.add_argument("--password", help="the password (prompted for if not given)")
        return sub

    cluster = commands.add_parser("cluster", help="cluster commands").add_subparsers(dest="action", required=True)
    command(cluster, "activate", "Activate the cluster: set the initial admin password", "password")
    command(commands, "login", "Log in to every HSM of the cluster", "username", "role", "password")
    command(commands, "logout", "Log out of every HSM of the cluster")
    user = commands.add_parser("user", help="user commands").add_subparsers(dest="action", required=True)
    command(user, "list", "List the users of the cluster")
    command(user, "create", "Create a user (admins only)", "username", "role", "password")
    command(user, "delete", "Delete a user (admins only)", "username", "role")
    command(user, "change-password", "Change a user's password", "username", "role", "password")
    add_key_commands(commands, command)
    commands.add_parser("interactive", help="read commands from stdin (quit to end)")
    return parser


def read_password(confirm: bool, stdin: TextIO) -> str:
    """Prompt like the real CLI; read plain lines when stdin is not a terminal (scripts, tests)."""

    def ask(prompt: str) -> str:
        if stdin.isatty():
            return getpass.getpass(prompt)
        print(prompt, file=sys.stderr, flush=True)
        line = stdin.readline()
        if not line:
            raise CliError("No password given.")
        return line.rstrip("\r\n")

    password = ask("Enter password:")
    if confirm and ask("Confirm password:") != password:
        raise CliError("Passwords do not match.")
    return password


class DataPlane:
    """The HTTP client of ``/_hsmsim/clusters/{ClusterId}/...``; returns ``data`` or raises :class:`CliError`."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint.rstrip("/")

    def call(self, cluster_id: str, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        return self.exchange(cluster_id, method, path, body, token)["data"]

    def exchange(
        self, cluster_id: str, method: str, path: str, body: Any = None, token: str | None = None
    ) -> dict[str, Any]:
        url = f"{self.endpoint}/_hsmsim/clusters/{urllib.parse.quote(cluster_id, safe='')}{path}"
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return self._envelope(response.read())
        except urllib.error.HTTPError as error:
            raise CliError(self._envelope(error.read()).get("data") or f"HTTP {error.code}") from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise CliError(f"Unable to connect to the simulator at {self.endpoint}: {reason}") from None

    @staticmethod
    def _envelope(raw: bytes) -> dict[str, Any]:
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict) or "data" not in body:
            raise CliError("The simulator sent an unexpected response (is --endpoint an hsmsim server?).")
        return body


class Shell:
    """Runs commands; keeps one login session per cluster (interactive mode keeps it between commands)."""

    def __init__(self, plane: DataPlane, stdin: TextIO, environ: dict[str, str]) -> None:
        self.plane = plane
        self.stdin = stdin
        self.environ = environ
        self.tokens: dict[str, str] = {}

    def run(self, args: argparse.Namespace) -> Any:
        """The ``data`` of a successful command."""
        cluster_id = getattr(args, "cluster_id", None)
        if not cluster_id:
            raise CliError("No cluster given: use --cluster-id <CLUSTER_ID>.")
        name = " ".join(filter(None, (args.command, getattr(args, "action", None), getattr(args, "kind", None))))
        handler, needs_login = COMMANDS[name]
        temporary = needs_login and cluster_id not in self.tokens
        if temporary:
            self.tokens[cluster_id] = self._login_from_environment(cluster_id)
        try:
            return handler(self, cluster_id, args)
        finally:
            if temporary:
                self._logout_quietly(cluster_id)

    def close(self) -> None:
        """End every session this process opened."""
        for cluster_id in list(self.tokens):
            self._logout_quietly(cluster_id)

    def _password(self, args: argparse.Namespace, confirm: bool) -> str:
        return args.password if args.password is not None else read_password(confirm, self.stdin)

    def _login(self, cluster_id: str, username: str, password: str, role: str) -> tuple[str, Any]:
        body = {"username": username, "password": password, "role": role}
        reply = self.plane.exchange(cluster_id, "POST", "/login", body)
        return reply["token"], reply["data"]

    def _login_from_environment(self, cluster_id: str) -> str:
        pin, role = self.environ.get("CLOUDHSM_PIN"), self.environ.get("CLOUDHSM_ROLE")
        if pin is None:
            raise CliError(
                "This command needs a logged-in user: set CLOUDHSM_ROLE and CLOUDHSM_PIN=<username>:<password> "
                "(single command mode) or log in first (interactive mode)."
            )
        username, colon, password = pin.partition(":")
        if not colon:
            raise CliError("CLOUDHSM_PIN must be <username>:<password>.")
        if role not in ROLES:
            raise CliError(f"CLOUDHSM_ROLE must be one of {', '.join(ROLES)}, not {role!r}.")
        return self._login(cluster_id, username, password, role)[0]

    def _logout_quietly(self, cluster_id: str) -> None:
        token = self.tokens.pop(cluster_id, None)
        if token:
            try:
                self.plane.call(cluster_id, "POST", "/logout", token=token)
            except CliError:
                pass  # the session is gone already (e.g. the simulator restarted)

    # -- commands --------------------------------------------------------------------------------------------

    def cluster_activate(self, cluster_id: str, args: argparse.Namespace) -> Any:
        return self.plane.call(cluster_id, "POST", "/activate", {"password": self._password(args, confirm=True)})

    def login(self, cluster_id: str, args: argparse.Namespace) -> Any:
        if cluster_id in self.tokens:
            raise CliError("A user is already logged in to this cluster: log out first.")
        token, data = self._login(cluster_id, args.username, self._password(args, confirm=False), args.role)
        self.tokens[cluster_id] = token
        return data

    def logout(self, cluster_id: str, args: argparse.Namespace) -> Any:
        data = self.plane.call(cluster_id, "POST", "/logout", token=self.tokens[cluster_id])
        self.tokens.pop(cluster_id)
        return data

    def user_list(self, cluster_id: str, args: argparse.Namespace) -> Any:
        return self.plane.call(cluster_id, "GET", "/users")

    def user_create(self, cluster_id: str, args: argparse.Namespace) -> Any:
        body = {"username": args.username, "role": args.role, "password": self._password(args, confirm=True)}
        return self.plane.call(cluster_id, "POST", "/users", body, token=self.tokens[cluster_id])

    def user_delete(self, cluster_id: str, args: argparse.Namespace) -> Any:
        path = f"/users/{urllib.parse.quote(args.username, safe='')}?role={urllib.parse.quote(args.role)}"
        return self.plane.call(cluster_id, "DELETE", path, token=self.tokens[cluster_id])

    def user_change_password(self, cluster_id: str, args: argparse.Namespace) -> Any:
        path = f"/users/{urllib.parse.quote(args.username, safe='')}/password"
        body = {"role": args.role, "password": self._password(args, confirm=True)}
        return self.plane.call(cluster_id, "POST", path, body, token=self.tokens[cluster_id])


COMMANDS: dict[str, tuple[Callable[[Shell, str, argparse.Namespace], Any], bool]] = {
    # command: (handler, needs a logged-in user)
    "cluster activate": (Shell.cluster_activate, False),
    "login": (Shell.login, False),
    "logout": (Shell.logout, True),
    "user list": (Shell.user_list, False),
    "user create": (Shell.user_create, True),
    "user delete": (Shell.user_delete, True),
    "user change-password": (Shell.user_change_password, True),
    **KEY_COMMANDS,
}


def _print(envelope: dict[str, Any], out: TextIO) -> None:
    print(json.dumps(envelope, indent=2), file=out, flush=True)


def respond(shell: Shell, args: argparse.Namespace, out: TextIO) -> int:
    """Run one parsed command; print its envelope; return the exit status."""
    try:
        data = shell.run(args)
    except CliError as error:
        _print({"error_code": 1, "data": str(error)}, out)
        return 1
    _print({"error_code": 0, "data": data}, out)
    return 0


def parse(parser: argparse.ArgumentParser, argv: Sequence[str], out: TextIO) -> argparse.Namespace | None:
    try:
        return parser.parse_args(argv)
    except UsageError as error:
        _print({"error_code": 1, "data": str(error)}, out)
        return None


def interactive(shell: Shell, parser: argparse.ArgumentParser, cluster_id: str | None, out: TextIO) -> int:
    """``aws-cloudhsm >`` commands from stdin until ``quit`` or end of input; then every session ends."""
    prompt = "aws-cloudhsm > " if shell.stdin.isatty() else ""
    try:
        while True:
            print(prompt, end="", file=out, flush=True)
            line = shell.stdin.readline()
            if not line:
                return 0
            try:
                words = shlex.split(line)
            except ValueError as error:
                _print({"error_code": 1, "data": f"Cannot parse the command: {error}"}, out)
                continue
            if words in (["quit"], ["exit"]):
                return 0
            try:
                args = parse(parser, words, out) if words else None
            except SystemExit:  # --help printed
                continue
            if args is None:
                continue
            if args.command == "interactive":
                _print({"error_code": 1, "data": "Interactive mode is already running."}, out)
                continue
            args.cluster_id = args.cluster_id or cluster_id
            respond(shell, args, out)
    finally:
        shell.close()


def main(argv: Sequence[str] | None = None, stdin: TextIO | None = None, out: TextIO | None = None) -> int:
    stdin, out = stdin or sys.stdin, out or sys.stdout
    parser = build_parser()
    args = parse(parser, list(sys.argv[1:] if argv is None else argv), out)
    if args is None:
        return 2
    shell = Shell(DataPlane(args.endpoint), stdin, dict(os.environ))
    if args.command == "interactive":
        return interactive(shell, parser, args.cluster_id, out)
    try:
        return respond(shell, args, out)
    finally:
        shell.close()
