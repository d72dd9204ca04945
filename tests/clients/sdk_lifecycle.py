"""Drives the mock ARM with the real Azure SDK for Python (azure-mgmt-containerinstance).

create -> get -> list -> restart -> stop -> start -> logs -> exec -> delete, asserting each
result, with a trivial credential over HTTPS (the mock's self-signed CA). Run by
tests/clients/run.sh, which starts `aci-chaos mock serve --tls` and passes:

  MOCK_URL=https://127.0.0.1:PORT  MOCK_CA=path/to/ca.pem  MOCK_SUBSCRIPTION=<id>
"""

import hashlib
import os
import sys
import time

import websocket  # websocket-client, what the Azure CLI uses for exec
from azure.core.credentials import AccessToken
from azure.core.exceptions import ResourceNotFoundError
from azure.core.rest import HttpRequest
from azure.mgmt.containerinstance import ContainerInstanceManagementClient
from azure.mgmt.containerinstance.models import (
    Container,
    ContainerExecRequest,
    ContainerExecRequestTerminalSize,
    ContainerGroup,
    EnvironmentVariable,
    ResourceRequests,
    ResourceRequirements,
)

URL = os.environ["MOCK_URL"].rstrip("/")
CA = os.environ["MOCK_CA"]
SUB = os.environ["MOCK_SUBSCRIPTION"]
RG, GROUP, CONTAINER = "rg-sdk", "sdk-probe", "probe"
SECRET = "sdk-secure-" + hashlib.sha256(str(time.time()).encode()).hexdigest()[:20]
PLAIN = "sdk-plain-value"


def fp(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


class StaticCredential:
    """The trivial credential: any bearer token will do for the mock."""

    def get_token(self, *scopes, **kwargs):
        return AccessToken("fake-token", int(time.time()) + 3600)


seen_bodies = []


def hook(response):
    # Every raw response body, to prove no secret ever comes back.
    try:
        seen_bodies.append(response.http_response.text())
    except Exception:  # noqa: BLE001 - streaming bodies have no text
        pass


steps = []


def step(name):
    def wrap(fn):
        t = time.monotonic()
        fn()
        steps.append((name, time.monotonic() - t))
        print(f"ok   {name} ({time.monotonic() - t:.2f}s)", flush=True)
        return fn

    return wrap


client = ContainerInstanceManagementClient(
    StaticCredential(), SUB, base_url=URL, connection_verify=CA, raw_response_hook=hook, polling_interval=1
)


@step("resource group (raw PUT through the SDK pipeline)")
def _():
    r = client._send_request(HttpRequest("PUT", f"{URL}/subscriptions/{SUB}/resourcegroups/{RG}?api-version=2021-04-01", json={"location": "eastus"}))
    assert r.status_code in (200, 201), r.status_code


@step("create (begin_create_or_update, LRO)")
def _():
    env = [
        EnvironmentVariable(name="ACI_CHAOS_PROFILE", value="probe"),
        EnvironmentVariable(name="ACI_CHAOS_CHANNELS", value="secure-env,plain-env"),
        EnvironmentVariable(name="ACI_CHAOS_PLAIN_ENV", value=PLAIN),
        EnvironmentVariable(name="ACI_CHAOS_SECURE_ENV", secure_value=SECRET),
    ]
    c = Container(
        name=CONTAINER,
        image="mcr.microsoft.com/cbl-mariner/busybox:2.0",
        resources=ResourceRequirements(requests=ResourceRequests(memory_in_gb=0.5, cpu=1.0)),
        environment_variables=env,
        command=["/bin/sh", "-c", "echo aci-chaos-probe; sleep 3600"],
    )
    g = client.container_groups.begin_create_or_update(
        RG, GROUP, ContainerGroup(location="eastus", containers=[c], os_type="Linux", restart_policy="Always", tags={"t": "1"})
    ).result()
    assert g.provisioning_state == "Succeeded", g.provisioning_state
    secure = [e for e in g.containers[0].environment_variables if e.name == "ACI_CHAOS_SECURE_ENV"][0]
    assert secure.value is None and secure.secure_value is None, secure


@step("get")
def _():
    g = client.container_groups.get(RG, GROUP)
    assert g.instance_view.state == "Running", g.instance_view.state
    iv = g.containers[0].instance_view
    assert iv.current_state.state == "Running" and iv.restart_count == 0, iv


@step("list by resource group and by subscription (no instanceView)")
def _():
    by_rg = list(client.container_groups.list_by_resource_group(RG))
    assert [g.name for g in by_rg] == [GROUP], by_rg
    assert by_rg[0].instance_view is None
    assert GROUP in [g.name for g in client.container_groups.list()]


@step("restart (LRO, in place)")
def _():
    before = client.containers.list_logs(RG, GROUP, CONTAINER).content
    client.container_groups.begin_restart(RG, GROUP).result()
    g = client.container_groups.get(RG, GROUP)
    assert g.provisioning_state == "Succeeded" and g.instance_view.state == "Running", g
    after = client.containers.list_logs(RG, GROUP, CONTAINER).content
    boot = lambda s: [w for w in s.split() if w.startswith("boot=")][-1]  # noqa: E731
    assert boot(before) == boot(after), "restart is in place: same host and boot"


@step("stop (synchronous)")
def _():
    client.container_groups.stop(RG, GROUP)
    g = client.container_groups.get(RG, GROUP)
    assert g.instance_view.state == "Stopped", g.instance_view.state
    cs = g.containers[0].instance_view.current_state
    assert cs.state == "Terminated" and cs.detail_status == "Container stopped per client request", cs


@step("start (LRO)")
def _():
    client.container_groups.begin_start(RG, GROUP).result()
    g = client.container_groups.get(RG, GROUP)
    assert g.instance_view.state == "Running", g.instance_view.state


@step("logs (tail, timestamps)")
def _():
    logs = client.containers.list_logs(RG, GROUP, CONTAINER, tail=1, timestamps=True).content
    assert "aci-chaos-probe v=1" in logs, logs
    assert f"secure-env={fp(SECRET)}" in logs and f"plain-env={fp(PLAIN)}" in logs, logs
    assert logs[:4].isdigit(), "timestamps=true prefixes each line with its time"


def exec_ws(command, password_override=None):
    r = client.containers.execute_command(
        RG, GROUP, CONTAINER, ContainerExecRequest(command=command, terminal_size=ContainerExecRequestTerminalSize(rows=24, cols=80))
    )
    assert r.web_socket_uri.startswith("wss://") and r.password, r
    ws = websocket.create_connection(r.web_socket_uri, sslopt={"ca_certs": CA}, timeout=10)
    ws.send(password_override or r.password)
    out = []
    while True:
        try:
            op, data = ws.recv_data(control_frame=True)
        except websocket.WebSocketConnectionClosedException:
            break
        if op == websocket.ABNF.OPCODE_CLOSE:
            code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
            return "".join(out), code
        if op in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
            out.append(data.decode())
    return "".join(out), None


@step("exec (websocket: password frame, printenv / probe script / wrong password)")
def _():
    out, code = exec_ws("printenv ACI_CHAOS_PLAIN_ENV")
    assert out == PLAIN + "\n" and code == 1000, (out, code)
    script = '/bin/sh -c \'echo "aci-chaos-probe v=1 boot=$(cat /proc/sys/kernel/random/boot_id) host=$(hostname)"\''
    out, _ = exec_ws(script)
    assert out.startswith("aci-chaos-probe v=1") and f"secure-env={fp(SECRET)}" in out, out
    out, code = exec_ws("env", password_override="wrong")
    assert out == "" and code == 1008, (out, code)


@step("delete (LRO) and 404 after")
def _():
    client.container_groups.begin_delete(RG, GROUP).result()
    try:
        client.container_groups.get(RG, GROUP)
        raise AssertionError("the group still exists")
    except ResourceNotFoundError as e:
        assert e.error.code == "ResourceNotFound", e.error.code


leaks = [b for b in seen_bodies if SECRET in (b or "")]
assert not leaks, "a response echoed the secure value"
print(f"sdk lifecycle: {len(steps)} steps passed, {len(seen_bodies)} responses checked for secrets, {sum(t for _, t in steps):.1f}s")
sys.exit(0)
