"""The ``hsmsim`` command: ``hsmsim serve`` runs the server; ``hsmsim cloudhsm-cli`` is the AWS CloudHSM CLI;
``hsmsim pkcs11-env`` prints exports for PKCS#11 tools."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from hsmsim import __version__
from hsmsim.aws.sigv4 import is_account_id
from hsmsim.config import (
    DEFAULT_ACCOUNT,
    DEFAULT_HOST,
    DEFAULT_PORT,
    Config,
    DelayProfile,
    Quotas,
    default_data_dir,
)
from hsmsim.core.schema import SchemaError


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _account_id(text: str) -> str:
    if not is_account_id(text):
        raise argparse.ArgumentTypeError(f"an AWS account id is 12 digits, not {text!r}")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hsmsim", description="Local simulator of AWS CloudHSM v2 and AWS KMS.")
    parser.add_argument("--version", action="version", version=f"hsmsim {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the simulator server")
    serve.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})")
    serve.add_argument(
        "--data-dir", type=Path, default=default_data_dir(), help=f"where state lives (default {default_data_dir()})"
    )
    serve.add_argument("--db-url", help="SQLAlchemy URL of the database (default: SQLite in the data dir)")
    serve.add_argument(
        "--delays",
        type=DelayProfile,
        choices=list(DelayProfile),
        default=DelayProfile.INSTANT,
        help="how long provisioning steps take in simulated time (default instant)",
    )
    serve.add_argument("--max-clusters", type=_positive, default=Quotas.clusters_per_region,
                       help="clusters per account and region (AWS default 4)")
    serve.add_argument("--max-hsms", type=_positive, default=Quotas.hsms_per_region,
                       help="HSMs per account and region (AWS default 6)")
    serve.add_argument("--default-account", type=_account_id, default=DEFAULT_ACCOUNT, metavar="ID",
                       help="account of requests whose access key is not a 12-digit account id "
                            f"(default {DEFAULT_ACCOUNT}; moto's tests expect 123456789012)")
    serve.add_argument("--credentials", type=Path, default=os.environ.get("HSMSIM_CREDENTIALS") or None,
                       metavar="FILE",
                       help="verify every AWS request's SigV4 signature against the access keys in this JSON file "
                            '({"credentials": [{"access_key_id", "secret_access_key", "account_id", "principal"?}]}; '
                            "default $HSMSIM_CREDENTIALS; without it signatures are not checked)")
    serve.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    db = commands.add_parser("db", help="the database's schema version (Alembic migrations; the server upgrades at "
                                        "start)")
    db.add_argument("action", choices=["current", "upgrade"],
                    help="current: print the revision and the newest this release knows; upgrade: bring it to the "
                         "newest (copying a SQLite database aside first)")
    db.add_argument("--data-dir", type=Path, default=default_data_dir(), help="the server's data dir")
    db.add_argument("--db-url", help="SQLAlchemy URL of the database (default: SQLite in the data dir)")
    commands.add_parser("cloudhsm-cli", add_help=False,
                        help="the AWS CloudHSM CLI against a simulated cluster (hsmsim cloudhsm-cli --help)")
    commands.add_parser("pkcs11-env", add_help=False,
                        help="shell exports for PKCS#11 tools on a cluster's HSMs (hsmsim pkcs11-env --help)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["cloudhsm-cli"]:  # its own parser: hsmsim.cloudhsm_cli
        from hsmsim.cloudhsm_cli import main as cloudhsm_cli

        return cloudhsm_cli(argv[1:])
    if argv[:1] == ["pkcs11-env"]:  # its own parser: hsmsim.pkcs11_env
        from hsmsim.pkcs11_env import main as pkcs11_env

        return pkcs11_env(argv[1:])
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=getattr(args, "log_level", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return _run(args)
    except SchemaError as error:
        print(f"hsmsim: {error}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    if args.command == "db":
        return _db(args)
    if args.command == "serve":
        from hsmsim.aws.credentials import CredentialsFileError, load_credentials
        from hsmsim.server import create_app, run
        from kms.domainkey import DomainKeyLost

        credentials = None
        if args.credentials is not None:
            try:
                credentials = load_credentials(args.credentials)
            except CredentialsFileError as error:
                print(f"hsmsim serve: error: --credentials: {error}", file=sys.stderr)
                return 2
        config = Config(
            data_dir=args.data_dir,
            host=args.host,
            port=args.port,
            db_url=args.db_url,
            delays=args.delays,
            quotas=Quotas(clusters_per_region=args.max_clusters, hsms_per_region=args.max_hsms),
            default_account=args.default_account,
            credentials=credentials,
        )
        config.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            app = create_app(config)
        except DomainKeyLost as error:  # documented in the README ("Crash safety"); no traceback, one clear line
            logging.getLogger("hsmsim").error("cannot start on %s: %s", config.data_dir, error)
            return 3
        run(app, config.host, config.port)
        return 0
    return 2



def _db(args: argparse.Namespace) -> int:
    from hsmsim.core.db import make_engine
    from hsmsim.core.schema import current, head, prepare

    config = Config(data_dir=args.data_dir, db_url=args.db_url)
    if config.db_url is None and not (config.data_dir / "hsmsim.db").exists():
        print(f"hsmsim: no database in {config.data_dir} (start the server on it once, or give --db-url)",
              file=sys.stderr)
        return 2
    engine = make_engine(config.database_url)
    try:
        if args.action == "upgrade":
            prepare(engine)
        print(f"revision {current(engine) or 'none (made before migrations)'}; newest known {head()}")
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
