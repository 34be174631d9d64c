#!/usr/bin/env bash
# Sets up (idempotently) and starts the server: scripts/serve.sh [hsmsim serve options]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/hsmsim serve "$@"
