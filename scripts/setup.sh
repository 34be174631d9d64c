#!/usr/bin/env bash
# Installs what hsmsim needs on a Debian/Ubuntu machine, idempotently:
#   SoftHSMv2 (Debian package softhsm2), OpenSC (pkcs11-tool) and a venv at .venv with hsmsim installed;
#   with the "test" extra also PostgreSQL's server binaries (Debian package postgresql), since the tests start a
#   private PostgreSQL cluster of their own (no system-wide service is started).
# Usage: scripts/setup.sh [extra]   (extra: a pip extra such as "test" or "test,bench")
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-}"

need_apt=()
[ -e /usr/lib/softhsm/libsofthsm2.so ] || need_apt+=(softhsm2)
command -v pkcs11-tool >/dev/null 2>&1 || need_apt+=(opensc)
case ",$extra," in
    *,test,*)
        compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need_apt+=(postgresql)
        command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)  # a test signs the CSR with the openssl CLI
        ;;
esac
if [ "${#need_apt[@]}" -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing ${need_apt[*]} with apt-get" >&2
    # No service may start from the install (PostgreSQL's would): a policy-rc.d that denies every start, for the
    # duration of the install only, unless the machine already has one.
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
        trap '$sudo rm -f "$policy"' EXIT
        printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
        $sudo chmod 755 "$policy"
    fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
stamp=".venv/.hsmsim-installed${extra:+-$extra}"
if [ ! -e "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e ".${extra:+[$extra]}"
    touch "$stamp"
fi
