"""The ``key`` commands of ``hsmsim cloudhsm-cli`` (:mod:`hsmsim.cloudhsm_cli`), over the data plane's ``…/keys``.

Names, options and output follow the AWS CloudHSM CLI:

* ``key list``: https://docs.aws.amazon.com/cloudhsm/latest/userguide/cloudhsm_cli-key-list.html
* ``key generate-symmetric aes|generic-secret``:
  https://docs.aws.amazon.com/cloudhsm/latest/userguide/cloudhsm_cli-key-generate-symmetric.html
* ``key generate-asymmetric-pair rsa|ec``:
  https://docs.aws.amazon.com/cloudhsm/latest/userguide/cloudhsm_cli-key-generate-asymmetric-pair.html
* ``key delete``, ``key share``, ``key unshare``, ``key set-attribute``: ``cloudhsm_cli-key-delete.html``,
  ``…-key-share.html``, ``…-key-unshare.html``, ``…-key-set-attribute.html`` in the same guide
* Filters (``key-reference=0x…`` or ``attr.NAME=VALUE``; commands on one key refuse a filter matching several):
  https://docs.aws.amazon.com/cloudhsm/latest/userguide/manage-keys-cloudhsm-cli-filtering.html

Not simulated: session keys (``--session``), quorum values, ``--approval`` tokens.
"""

from __future__ import annotations

import argparse
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hsmsim.cloudhsm_cli import Shell

FILTER_HELP = "key-reference=0x... or space separated attr.KEY_ATTRIBUTE_NAME=KEY_ATTRIBUTE_VALUE terms"


def add_key_commands(commands: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    """Add ``key ...`` to the CLI's parser; ``command(parent, name, text, *options)`` makes one command."""
    key = commands.add_parser("key", help="key commands").add_subparsers(dest="action", required=True)

    def many(sub: argparse.ArgumentParser, option: str, metavar: str, required: bool = False) -> None:
        sub.add_argument(option, nargs="+", default=[], required=required, metavar=metavar)

    listing = command(key, "list", "List the keys the current user owns, shares, and all public keys")
    many(listing, "--filter", "FILTER")
    listing.add_argument("--max-items", type=int, default=10, help="keys per page (default 10)")
    listing.add_argument("--starting-token", help="the next_token of the previous page")
    listing.add_argument("-v", "--verbose", action="store_true", help="all attributes and key information")

    symmetric = key.add_parser("generate-symmetric", help="generate a symmetric key")
    kinds = symmetric.add_subparsers(dest="kind", required=True)
    for kind, text in (("aes", "Generate an AES key"), ("generic-secret", "Generate a generic secret key")):
        sub = command(kinds, kind, text)
        sub.add_argument("--label", required=True, help="label for the key")
        sub.add_argument("--key-length-bytes", type=int, required=True, help="key length in bytes")
        many(sub, "--attributes", "KEY_ATTRIBUTE=VALUE")
        many(sub, "--share-crypto-users", "USERNAME")

    pair = key.add_parser("generate-asymmetric-pair", help="generate an asymmetric key pair")
    kinds = pair.add_subparsers(dest="kind", required=True)
    for kind, text in (("rsa", "Generate an RSA key pair"), ("ec", "Generate an Elliptic-Curve Cryptography key pair")):
        sub = command(kinds, kind, text)
        sub.add_argument("--public-label", required=True, help="label for the public key")
        sub.add_argument("--private-label", required=True, help="label for the private key")
        if kind == "rsa":
            sub.add_argument("--modulus-size-bits", type=int, required=True, help="modulus size in bits")
            sub.add_argument("--public-exponent", required=True, help="public exponent (e.g. 65537)")
        else:
            sub.add_argument("--curve", required=True, help="secp224r1, secp256r1 (prime256v1), secp384r1, "
                             "secp521r1 or secp256k1")
        many(sub, "--public-attributes", "KEY_ATTRIBUTE=VALUE")
        many(sub, "--private-attributes", "KEY_ATTRIBUTE=VALUE")
        many(sub, "--share-crypto-users", "USERNAME")

    for name, text, options in (
        ("delete", "Delete a key in the HSM cluster", ()),
        ("share", "Share a key in the HSM cluster with another user", ("username", "role")),
        ("unshare", "Unshare a key in the HSM cluster with another user", ("username", "role")),
        ("set-attribute", "Set an attribute for a key in the HSM cluster", ()),
    ):
        sub = command(key, name, text, *options)
        many(sub, "--filter", "FILTER", required=True)
        if name == "set-attribute":
            sub.add_argument("--name", required=True, help="name of the attribute to set")
            sub.add_argument("--value", required=True, help="value to set")


def _query(filters: list[str], **extra: str) -> str:
    return "/keys?" + urllib.parse.urlencode([("filter", f) for f in filters] + list(extra.items()))


def _one_key(shell: Shell, cluster_id: str, filters: list[str]) -> str:
    """The reference of the single key ``filters`` select, as the CLI requires for commands on one key."""
    from hsmsim.cloudhsm_cli import CliError

    found = shell.plane.call(cluster_id, "GET", _query(filters), token=shell.tokens[cluster_id])
    count = found["total_key_count"]
    if count == 0:
        raise CliError("Key selection criteria matched no keys. Refine selection criteria to select a single key.")
    if count > 1:
        raise CliError(
            f"Key selection criteria matched {count} keys. Refine selection criteria to select a single key."
        )
    return urllib.parse.quote(found["matched_keys"][0]["key-reference"], safe="")


def key_list(shell: Shell, cluster_id: str, args: argparse.Namespace) -> Any:
    extra = {"verbose": "true" if args.verbose else "false", "max_items": str(args.max_items)}
    if args.starting_token is not None:
        extra["starting_token"] = args.starting_token
    return shell.plane.call(cluster_id, "GET", _query(args.filter, **extra), token=shell.tokens[cluster_id])


def key_generate_symmetric(shell: Shell, cluster_id: str, args: argparse.Namespace) -> Any:
    body = {
        "key_type": args.kind,
        "label": args.label,
        "key_length_bytes": args.key_length_bytes,
        "attributes": args.attributes,
        "share_crypto_users": args.share_crypto_users,
    }
    return shell.plane.call(cluster_id, "POST", "/keys/generate-symmetric", body, token=shell.tokens[cluster_id])


def key_generate_pair(shell: Shell, cluster_id: str, args: argparse.Namespace) -> Any:
    body = {
        "key_type": args.kind,
        "public_label": args.public_label,
        "private_label": args.private_label,
        "public_attributes": args.public_attributes,
        "private_attributes": args.private_attributes,
        "share_crypto_users": args.share_crypto_users,
    }
    if args.kind == "rsa":
        body.update(modulus_size_bits=args.modulus_size_bits, public_exponent=args.public_exponent)
    else:
        body["curve"] = args.curve
    path = "/keys/generate-asymmetric-pair"
    return shell.plane.call(cluster_id, "POST", path, body, token=shell.tokens[cluster_id])


def key_delete(shell: Shell, cluster_id: str, args: argparse.Namespace) -> Any:
    reference = _one_key(shell, cluster_id, args.filter)
    return shell.plane.call(cluster_id, "DELETE", f"/keys/{reference}", token=shell.tokens[cluster_id])


def _sharing(action: str) -> Callable[[Shell, str, argparse.Namespace], Any]:
    def run(shell: Shell, cluster_id: str, args: argparse.Namespace) -> Any:
        reference = _one_key(shell, cluster_id, args.filter)
        body = {"username": args.username, "role": args.role}
        return shell.plane.call(cluster_id, "POST", f"/keys/{reference}/{action}", body, token=shell.tokens[cluster_id])

    return run


def key_set_attribute(shell: Shell, cluster_id: str, args: argparse.Namespace) -> Any:
    reference = _one_key(shell, cluster_id, args.filter)
    body = {"name": args.name, "value": args.value}
    return shell.plane.call(cluster_id, "POST", f"/keys/{reference}/attributes", body, token=shell.tokens[cluster_id])


KEY_COMMANDS: dict[str, tuple[Callable[[Shell, str, argparse.Namespace], Any], bool]] = {
    # command: (handler, needs a logged-in user)
    "key list": (key_list, True),
    "key generate-symmetric aes": (key_generate_symmetric, True),
    "key generate-symmetric generic-secret": (key_generate_symmetric, True),
    "key generate-asymmetric-pair rsa": (key_generate_pair, True),
    "key generate-asymmetric-pair ec": (key_generate_pair, True),
    "key delete": (key_delete, True),
    "key share": (_sharing("share"), True),
    "key unshare": (_sharing("unshare"), True),
    "key set-attribute": (key_set_attribute, True),
}
