#!/usr/bin/env bash
# Sets up (idempotently) and runs the whole test suite: scripts/test.sh [pytest options]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
exec .venv/bin/python -m pytest "$@"
