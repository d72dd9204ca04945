#!/usr/bin/env bash
# Drives the mock ARM with the real Azure CLI: registers the mock as a custom cloud, logs in with
# a service principal against the mock's token issuer, and runs
# `az container create/show/list/logs/restart/stop/start/delete`, asserting each.
# Run by tests/clients/run.sh with AZ, MOCK_URL, MOCK_CA, MOCK_TENANT, MOCK_SUBSCRIPTION set.
set -euo pipefail

: "${AZ:?path to az}" "${MOCK_URL:?}" "${MOCK_CA:?}" "${MOCK_TENANT:?}" "${MOCK_SUBSCRIPTION:?}"
export AZURE_CONFIG_DIR="${AZURE_CONFIG_DIR:-$(mktemp -d)}"
export REQUESTS_CA_BUNDLE="$MOCK_CA"          # trust the mock's self-signed CA (requests + MSAL)
export AZURE_CORE_COLLECT_TELEMETRY=0 AZURE_CORE_NO_COLOR=1 AZURE_CORE_ONLY_SHOW_ERRORS=1
RG=rg-cli GROUP=cli-probe C=cli-probe
SECRET="cli-secure-$RANDOM$RANDOM$RANDOM"
PLAIN=cli-plain-value
py() { "$(dirname "$AZ")/python" -c "$@"; }
fp() { printf %s "$1" | sha256sum | cut -c1-16; }
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok   $*"; }
# jq-free JSON field read: py_get 'expr on d' < json
jget() { py "import json,sys; d=json.load(sys.stdin); print($1)"; }

"$AZ" cloud register -n AciChaosMock --endpoint-resource-manager "$MOCK_URL/" >/dev/null
"$AZ" cloud set -n AciChaosMock >/dev/null
# MSAL would ask login.microsoftonline.com to validate the authority: the mock is its own.
"$AZ" config set core.instance_discovery=false >/dev/null 2>&1
ok "cloud registered"

sub=$("$AZ" login --service-principal -u aci-chaos-app -p not-a-real-secret --tenant "$MOCK_TENANT" -o json | jget 'd[0]["id"]')
[ "$sub" = "$MOCK_SUBSCRIPTION" ] || fail "login listed subscription '$sub', want $MOCK_SUBSCRIPTION"
ok "az login --service-principal (subscription $sub)"

"$AZ" group create -n "$RG" -l eastus -o none
ok "az group create"

state=$("$AZ" container create -g "$RG" -n "$GROUP" --image mcr.microsoft.com/cbl-mariner/busybox:2.0 --os-type Linux \
  --cpu 1 --memory 1 --restart-policy Always \
  --environment-variables ACI_CHAOS_PROFILE=probe ACI_CHAOS_CHANNELS=secure-env,plain-env "ACI_CHAOS_PLAIN_ENV=$PLAIN" \
  --secure-environment-variables "ACI_CHAOS_SECURE_ENV=$SECRET" -o json | tee "$AZURE_CONFIG_DIR/create.json" | jget 'd["provisioningState"]')
[ "$state" = Succeeded ] || fail "create: provisioningState $state"
grep -q "$SECRET" "$AZURE_CONFIG_DIR/create.json" && fail "create echoed the secure value"
ok "az container create"

show=$("$AZ" container show -g "$RG" -n "$GROUP" -o json)
grep -q "$SECRET" <<<"$show" && fail "show echoed the secure value"
[ "$(jget 'd["instanceView"]["state"]' <<<"$show")" = Running ] || fail "show: not Running"
[ "$(jget '[e for e in d["containers"][0]["environmentVariables"] if e["name"]=="ACI_CHAOS_SECURE_ENV"][0]["secureValue"]' <<<"$show")" = None ] \
  || fail "show: secureValue not null"
ok "az container show"

names=$("$AZ" container list -g "$RG" -o json | jget '",".join(g["name"] for g in d)')
[ "$names" = "$GROUP" ] || fail "list: $names"
ok "az container list"

# aci-chaos's own --auth cli (azure_identity's AzureCliCredential) gets its token from this very
# az login, as on a laptop: the credential path that needs a real Azure CLI.
if [ -n "${ACI_CHAOS_BIN:-}" ]; then
  out=$(PATH="$(dirname "$AZ"):$PATH" "$ACI_CHAOS_BIN" inspect -g "$RG" --auth cli --subscription "$MOCK_SUBSCRIPTION" \
    --arm-endpoint "$MOCK_URL" --ca-cert "$MOCK_CA" 2>&1) || fail "aci-chaos inspect --auth cli: $out"
  grep -q "auth: using cli credential" <<<"$out" || fail "aci-chaos --auth cli did not use the CLI: $out"
  grep -q "$GROUP" <<<"$out" || fail "aci-chaos inspect did not list $GROUP: $out"
  ok "aci-chaos inspect --auth cli (token from az)"
fi

logs=$("$AZ" container logs -g "$RG" -n "$GROUP")
grep -q "aci-chaos-probe v=1 .*secure-env=$(fp "$SECRET") plain-env=$(fp "$PLAIN")" <<<"$logs" || fail "logs: $logs"
ok "az container logs"

"$AZ" container restart -g "$RG" -n "$GROUP" -o none
[ "$("$AZ" container show -g "$RG" -n "$GROUP" --query instanceView.state -o tsv)" = Running ] || fail "restart: not Running"
ok "az container restart"

"$AZ" container stop -g "$RG" -n "$GROUP" -o none
[ "$("$AZ" container show -g "$RG" -n "$GROUP" --query instanceView.state -o tsv)" = Stopped ] || fail "stop: not Stopped"
ok "az container stop"

"$AZ" container start -g "$RG" -n "$GROUP" -o none
[ "$("$AZ" container show -g "$RG" -n "$GROUP" --query instanceView.state -o tsv)" = Running ] || fail "start: not Running"
ok "az container start"

"$AZ" container delete -g "$RG" -n "$GROUP" -y -o none
if "$AZ" container show -g "$RG" -n "$GROUP" -o none 2>"$AZURE_CONFIG_DIR/err"; then fail "delete: still there"; fi
grep -q ResourceNotFound "$AZURE_CONFIG_DIR/err" || fail "delete: $(cat "$AZURE_CONFIG_DIR/err")"
ok "az container delete"
echo "az lifecycle: passed"
