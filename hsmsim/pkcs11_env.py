"""``hsmsim pkcs11-env``: shell ``export`` lines for PKCS#11 tools (pkcs11-tool, OpenSSL engines, ...) on a cluster.

Prints ``SOFTHSM2_CONF`` (the server's rendered configuration: its token directory), ``HSMSIM_PKCS11_MODULE``,
the token labels of the cluster's ACTIVE HSMs (label = HSM id) and, with ``--pin <user>:<password>`` of a crypto
user, ``HSMSIM_PKCS11_PIN``, the token user PIN for ``pkcs11-tool --login --pin``::

    eval "$(hsmsim pkcs11-env --cluster-id cluster-… --pin alice:secret)"
    pkcs11-tool --module "$HSMSIM_PKCS11_MODULE" --token-label "$HSMSIM_PKCS11_TOKEN" \\
        --login --pin "$HSMSIM_PKCS11_PIN" --list-objects

Caveats (``docs/pkcs11-application-path.md`` §3): pkcs11-tool shows every object of a token, not only the user's;
objects it creates are not replicated and the next replication removes them; SoftHSM 2.6.1 + pkcs11-tool 0.23
cannot do AES-GCM. The PIN is printed only when a valid crypto-user ``--pin`` is given.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from hsmsim.config import DEFAULT_HOST, DEFAULT_PORT
from hsmsim.pkcs11_plane import ConnectError, DataPlaneError, Plane, login

PROG = "hsmsim pkcs11-env"
DEFAULT_ENDPOINT = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Print shell exports for PKCS#11 tools on a cluster.")
    parser.add_argument("--endpoint", default=os.environ.get("HSMSIM_ENDPOINT", DEFAULT_ENDPOINT),
                        help=f"the simulator's URL (default $HSMSIM_ENDPOINT or {DEFAULT_ENDPOINT})")
    parser.add_argument("--cluster-id", required=True, help="the cluster whose HSM tokens to use")
    parser.add_argument("--pin", help="<username>:<password> of a crypto user: also print the token user PIN")
    return parser


def fetch(endpoint: str, cluster_id: str, pin: str | None) -> dict[str, Any]:
    """The server's ``…/pkcs11`` info, or (with a crypto user's PIN) its ``…/pkcs11/connect`` reply."""
    plane = Plane(endpoint, cluster_id)
    try:
        if not pin:
            return plane.call("GET", "/pkcs11", error=ConnectError)
        login(plane, pin)
        try:
            return plane.call("POST", "/pkcs11/connect", error=ConnectError)
        finally:
            with contextlib.suppress(DataPlaneError):  # the exports are what matters
                plane.call("POST", "/logout")
    finally:
        plane.close_connection()


def render(info: dict[str, Any]) -> str:
    """The ``export`` lines and a commented pkcs11-tool example per ACTIVE HSM."""
    labels = [h["label"] for h in info["hsms"]]
    lines = [
        f"export SOFTHSM2_CONF={shlex.quote(info['softhsm_conf'])}",
        f"export HSMSIM_PKCS11_MODULE={shlex.quote(info['module'])}",
        f"export HSMSIM_PKCS11_TOKENS={shlex.quote(' '.join(labels))}",
    ]
    if labels:
        lines.append(f"export HSMSIM_PKCS11_TOKEN={shlex.quote(labels[0])}")
    pin = '"$HSMSIM_PKCS11_PIN"' if "pin" in info else "<token user PIN: rerun with --pin user:password>"
    if "pin" in info:
        lines.append(f"export HSMSIM_PKCS11_PIN={shlex.quote(info['pin'])}")
    for hsm in info["hsms"]:
        lines.append(f"# {hsm['hsm_id']} (ACTIVE, serial {hsm['serial']}): pkcs11-tool --module "
                     f"\"$HSMSIM_PKCS11_MODULE\" --token-label {hsm['label']} --login --pin {pin} --list-objects")
    lines.append("# pkcs11-tool lists every object of a token; keys it creates are not replicated (the next "
                 "replication removes them); no AES-GCM in pkcs11-tool 0.23.")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    out = out or sys.stdout
    try:
        info = fetch(args.endpoint, args.cluster_id, args.pin)
    except ConnectError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 1
    if not info["hsms"]:
        print(f"{PROG}: cluster {args.cluster_id} has no ACTIVE HSM", file=sys.stderr)
        return 1
    out.write(render(info))
    return 0
