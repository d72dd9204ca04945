#!/usr/bin/env bash
# Real Azure clients against the mock: the Python SDK (azure-mgmt-containerinstance) and the
# Azure CLI, each in its own virtual environment installed from PyPI, against
# `aci-chaos mock serve --tls`. Run by .ci/run; also by hand: `bash tests/clients/run.sh`.
#
# Needs python3 (with venv) and PyPI. The venvs live in target/client-tests/ (or
# $CLIENT_TESTS_DIR) and are reused when their pinned versions match. Prints how long each part
# took.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
WORK="${CLIENT_TESTS_DIR:-$TARGET/client-tests}"
mkdir -p "$WORK"
t0=$(date +%s)
secs() { echo $(( $(date +%s) - $1 ))s; }

# Pinned to what the conformance material was recorded with (../shared/conformance/README.md).
SDK_PKGS=(azure-mgmt-containerinstance==10.1.0 "azure-core>=1.30,<2" "websocket-client>=1.6,<2")
CLI_PKGS=(azure-cli==2.91.0)

venv() { # venv DIR PKGS...: create DIR unless its stamp matches the package list
  local dir=$1; shift
  local want="$*"
  if [ -x "$dir/bin/python" ] && [ "$(cat "$dir/.pkgs" 2>/dev/null)" = "$want" ]; then return; fi
  rm -rf "$dir"
  python3 -m venv "$dir"
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
  echo "$want" > "$dir/.pkgs"
}

t=$(date +%s)
venv "$WORK/venv-sdk" "${SDK_PKGS[@]}"
echo "== python SDK venv ready ($(secs "$t"))"
t=$(date +%s)
venv "$WORK/venv-cli" "${CLI_PKGS[@]}"
echo "== azure-cli venv ready ($(secs "$t"))"

t=$(date +%s)
cargo build --quiet --bin aci-chaos
BIN="$TARGET/debug/aci-chaos"
TMP=$(mktemp -d)
MOCK_PID=
cleanup() { if [ -n "$MOCK_PID" ]; then kill "$MOCK_PID" 2>/dev/null || true; wait "$MOCK_PID" 2>/dev/null || true; fi; rm -rf "$TMP"; }
trap cleanup EXIT
SUB=00000000-0000-0000-0000-00000000c0de TENANT=00000000-0000-0000-0000-0000000000aa
"$BIN" mock serve --tls --listen 127.0.0.1:0 --cert-out "$TMP/ca.pem" --subscription "$SUB" --tenant "$TENANT" >"$TMP/mock.out" 2>"$TMP/mock.err" &
MOCK_PID=$!
URL=
for _ in $(seq 1 100); do
  URL=$(grep -o 'https://127.0.0.1:[0-9]*' "$TMP/mock.out" || true)
  [ -n "$URL" ] && break
  kill -0 "$MOCK_PID" 2>/dev/null || { cat "$TMP/mock.err" >&2; exit 1; }
  sleep 0.1
done
[ -n "$URL" ] || { echo "the mock did not start" >&2; exit 1; }
echo "== mock at $URL ($(secs "$t"))"

t=$(date +%s)
MOCK_URL=$URL MOCK_CA="$TMP/ca.pem" MOCK_SUBSCRIPTION=$SUB "$WORK/venv-sdk/bin/python" tests/clients/sdk_lifecycle.py
echo "== python SDK lifecycle passed ($(secs "$t"))"

t=$(date +%s)
ACI_CHAOS_BIN="$BIN" AZ="$WORK/venv-cli/bin/az" AZURE_CONFIG_DIR="$TMP/az" MOCK_URL=$URL MOCK_CA="$TMP/ca.pem" MOCK_TENANT=$TENANT MOCK_SUBSCRIPTION=$SUB \
  bash tests/clients/az_lifecycle.sh
echo "== azure-cli lifecycle passed ($(secs "$t"))"
echo "== real-client tests took $(secs "$t0")"
