"""Remote operations over gRPC with mutual TLS, on loopback, with real certificates.

The device side is a real `edge-llm-ros run` session (inproc, the decision node under the
lifecycle manager, with a black box); every refusal the issue lists has its own test.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

grpc = pytest.importorskip("grpc", reason="remote operations need grpcio (pip install -e '.[ops]')")
pytest.importorskip("cryptography", reason="certificates need cryptography (pip install -e '.[ops]')")

from edge_llm_ros._compat import UTC  # noqa: E402
from edge_llm_ros.app.run_session import RunOptions, RunSession  # noqa: E402
from edge_llm_ros.cli.main import main  # noqa: E402
from edge_llm_ros.config_files import find_config  # noqa: E402
from edge_llm_ros.ops.blackbox.recorder import BlackBoxConfig, BlackBoxRecorder, sensor_topics  # noqa: E402
from edge_llm_ros.ops.remote.backend import LogRing, RunBackend  # noqa: E402
from edge_llm_ros.ops.remote.certs import Issued, issue_client, issue_server, make_ca, role_of  # noqa: E402
from edge_llm_ros.ops.remote.client import OpsClient  # noqa: E402
from edge_llm_ros.ops.remote.server import OpsServer  # noqa: E402


@dataclass
class Device:
    server: OpsServer
    ca: Issued
    audit: Path
    session: RunSession

    def client(self, cert: Issued | None, *, ca: Issued | None = None, server_name: str | None = None) -> OpsClient:
        return OpsClient(
            self.server.target,
            cert=cert.cert_pem if cert else None,
            key=cert.key_pem if cert else None,
            ca=(ca or self.ca).cert_pem,
            server_name=server_name,
            timeout_s=10.0,
        )

    def audit_entries(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.audit.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def ca() -> Issued:
    return make_ca()


@pytest.fixture(scope="module")
def device(ca: Issued, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Device]:
    tmp = tmp_path_factory.mktemp("device")
    options = RunOptions(
        config=find_config("traffic.yaml"),
        transport="inproc",
        manager_params={"node_names": ["decision"], "swap_validate": False},
        run_dir=tmp / "run",
    )
    ring = LogRing()
    logging.getLogger("edge_llm_ros").addHandler(ring)
    server_cert = issue_server(ca, ["localhost"], ["127.0.0.1"])
    with RunSession(options) as session:
        recorder = BlackBoxRecorder(
            session.bus, BlackBoxConfig(out_dir=tmp / "blackbox"), sensor_topics(session.document)
        )
        backend = RunBackend(session, ring, recorder=recorder)
        server = OpsServer(
            backend, cert=server_cert.cert_pem, key=server_cert.key_pem, ca=ca.cert_pem, audit_path=tmp / "audit.log"
        )
        try:
            with server:
                yield Device(server, ca, tmp / "audit.log", session)
        finally:
            recorder.close()
            logging.getLogger("edge_llm_ros").removeHandler(ring)


@pytest.fixture(scope="module")
def operator(ca: Issued) -> Issued:
    return issue_client(ca, "alice", "operator")


@pytest.fixture(scope="module")
def reader(ca: Issued) -> Issued:
    return issue_client(ca, "bob", "read-only")


def test_operator_reads_and_acts(device: Device, operator: Issued) -> None:
    with device.client(operator) as client:
        status = client.status()
        assert [g["node"] for g in status["nodes"]] == ["decision"]
        assert status["nodes"][0]["instances"][0]["role"] == "active"
        assert client.diagnostics()[0]["level"] == "OK"
        assert 'edge_llm_manager_events_total{event="failover"} 0.0' in client.metrics()
        assert client.lifecycle("stop") == "stop: done"
        assert client.status()["nodes"][0]["instances"][0]["state"] == "inactive"
        assert client.lifecycle("start") == "start: done"
        logging.getLogger("edge_llm_ros.ops.test").warning("marker for the logs call")
        assert client.logs(500, "WARNING")[-1].endswith("edge_llm_ros.ops.test WARNING marker for the logs call")
        assert client.logs(500, "ERROR") == [] or "marker" not in client.logs(500, "ERROR")[-1]
        # The swap reaches the manager, which refuses a node kind without a model.
        result = client.swap("decision", "roi_classifier@1.0.0")
        assert result["ok"] is False and result["outcome"] == "rejected"
        with pytest.raises(grpc.RpcError) as bad:
            client.lifecycle("explode")
        assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_operator_dumps_the_black_box(device: Device, operator: Issued) -> None:
    # The dump holds what crossed the bus: publish one decision-topic message so the window is not empty.
    node = device.session.bus.create_node("probe")
    try:
        publisher = node.create_publisher("/edge_llm/decision", "std_msgs/msg/String", _qos())
        codec = device.session.bus.codec
        publisher.publish(codec.msg_class("std_msgs/msg/String")(data='{"action":"CONTINUE"}'))
        with device.client(operator) as client:
            path = Path(client.blackbox_dump())
    finally:
        node.close()
    assert (path / "metadata.yaml").exists()
    assert "blackbox_" in path.name and path.name.endswith("_operator")


def test_an_empty_black_box_is_a_failed_precondition(ca: Issued, operator: Issued, tmp_path: Path) -> None:
    # A device whose window is empty (nothing crossed the bus yet) says so instead of writing an empty bag.
    options = RunOptions(
        config=find_config("traffic.yaml"), transport="inproc", manager_params={"node_names": ["decision"]}
    )
    server_cert = issue_server(ca)
    with RunSession(options) as session:
        recorder = BlackBoxRecorder(session.bus, BlackBoxConfig(out_dir=tmp_path), [])
        server = OpsServer(
            RunBackend(session, LogRing(), recorder=recorder),
            cert=server_cert.cert_pem,
            key=server_cert.key_pem,
            ca=ca.cert_pem,
        )
        try:
            with (
                server,
                OpsClient(
                    server.target, cert=operator.cert_pem, key=operator.key_pem, ca=ca.cert_pem, timeout_s=10.0
                ) as client,
                pytest.raises(grpc.RpcError) as refused,
            ):
                client.blackbox_dump()
        finally:
            recorder.close()
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "empty" in refused.value.details()


def test_read_only_reads_but_may_not_swap(device: Device, reader: Issued) -> None:
    with device.client(reader) as client:
        assert client.status()["running"] is True
        for call in (lambda: client.swap("decision", "x@1"), lambda: client.lifecycle("stop"), client.blackbox_dump):
            with pytest.raises(grpc.RpcError) as refused:
                call()
            assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED
            assert "needs role operator" in refused.value.details()
    assert device.session.status()["nodes"][0]["instances"][0]["state"] == "active"
    denied = [e for e in device.audit_entries() if e["client"] == "bob" and e["outcome"] == "permission_denied"]
    assert [e["method"] for e in denied] == ["Swap", "Lifecycle", "BlackBoxDump"]
    assert denied[0]["role"] == "read-only" and denied[0]["args"] == {"node": "decision", "model": "x@1"}


def _refused(device: Device, client: OpsClient) -> None:
    before = len(device.audit_entries())
    with client, pytest.raises(grpc.RpcError) as refused:
        client.status()
    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
    assert len(device.audit_entries()) == before  # refused in the handshake: no handler ran


def test_no_client_certificate_is_refused(device: Device) -> None:
    _refused(device, device.client(None))


def test_certificate_from_another_ca_is_refused(device: Device) -> None:
    other = make_ca("someone else's CA")
    _refused(device, device.client(issue_client(other, "mallory", "operator")))


def test_expired_certificate_is_refused(device: Device, ca: Issued) -> None:
    expired = issue_client(ca, "carol", "operator", days=1, not_before=dt.datetime.now(UTC) - dt.timedelta(days=3))
    assert expired.certificate.not_valid_after_utc < dt.datetime.now(UTC)
    _refused(device, device.client(expired))


def test_server_name_mismatch_is_refused(device: Device, operator: Issued) -> None:
    # The certificate names localhost and 127.0.0.1; a client that expects another device refuses it.
    _refused(device, device.client(operator, server_name="device-17.fleet.example"))
    with device.client(operator, server_name="localhost") as client:
        assert client.status()["running"] is True


def test_every_call_is_audited(device: Device, operator: Issued) -> None:
    with device.client(operator) as client:
        client.status()
    entry = device.audit_entries()[-1]
    assert entry["method"] == "Status" and entry["client"] == "alice" and entry["role"] == "operator"
    assert entry["outcome"] == "ok" and str(entry["peer"]).startswith("ipv4:127.0.0.1:")


def test_server_binds_loopback_unless_allowed(ca: Issued) -> None:
    cert = issue_server(ca)
    with pytest.raises(ValueError, match="not loopback"):
        OpsServer(RunBackend.__new__(RunBackend), cert=cert.cert_pem, key=cert.key_pem, ca=ca.cert_pem, host="0.0.0.0")


def test_certs_command_writes_a_working_set(tmp_path: Path) -> None:
    assert (
        main(["ops", "certs", "--out", str(tmp_path), "--client", "alice:operator", "--client", "bob:read-only"]) == 0
    )
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["alice.crt", "alice.key", "bob.crt", "bob.key", "ca.crt", "ca.key", "server.crt", "server.key"]
    assert role_of((tmp_path / "bob.crt").read_bytes()) == "read-only"
    assert (tmp_path / "alice.key").stat().st_mode & 0o777 == 0o600


def _qos():  # type: ignore[no-untyped-def]
    from edge_llm_ros.transport.qos import QoSProfile

    return QoSProfile(depth=10)
