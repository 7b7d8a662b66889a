"""The committed Grafana dashboard is what the generator builds, and its layout is Grafana's."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import yaml

from edge_llm_ros.cli.main import main
from edge_llm_ros.ops.monitoring.dashboard import DASHBOARD_FILE, DASHBOARD_UID, dashboard_queries, load_committed

needs_sdk = pytest.mark.skipif(
    sys.version_info < (3, 11) or importlib.util.find_spec("grafana_foundation_sdk") is None,
    reason="grafana-foundation-sdk (Python >= 3.11) is needed to build the dashboard: pip install -e '.[dashboard]'",
)


@needs_sdk
def test_committed_json_equals_generator_output() -> None:
    from edge_llm_ros.ops.monitoring.dashboard import build_dashboard_json

    assert DASHBOARD_FILE.read_text(encoding="utf-8") == build_dashboard_json(), (
        "regenerate with: python3 -m edge_llm_ros.cli.main monitor --regenerate-dashboard"
    )


@needs_sdk
def test_committed_json_loads_into_the_sdk_types() -> None:
    from grafana_foundation_sdk.models.dashboard import Dashboard

    model = Dashboard.from_json(load_committed())
    assert model.uid == DASHBOARD_UID
    assert model.panels is not None and len(model.panels) == 20


def test_panels_cover_the_issue() -> None:
    document = load_committed()
    titles = {p["title"] for p in document["panels"]}
    wanted = {
        "Sensor-to-decision latency",
        "Per-stage p99",
        "Decided within budget",
        "Frames in / out",
        "Drops by reason",
        "Batch size",
        "Queue depth",
        "Resident memory",
        "CPU",
        "Temperature",
        "Network",
        "Advisory latency",
        "Generation speed",
    }
    assert wanted <= titles
    names = {a["name"] for a in document["annotations"]["list"]}
    assert names == {"Failovers", "Rollbacks", "Model swaps"}
    ids = [p["id"] for p in document["panels"]]
    assert len(ids) == len(set(ids))
    assert all(q for _, q in dashboard_queries(document))


def test_grafana_provisioning_layout(tmp_path: Path) -> None:
    assert main(["monitor", "--grafana-out", str(tmp_path)]) == 0
    provider = yaml.safe_load((tmp_path / "provisioning/dashboards/edge_llm_ros.yml").read_text(encoding="utf-8"))
    path = Path(provider["providers"][0]["options"]["path"])
    assert provider["apiVersion"] == 1 and provider["providers"][0]["type"] == "file"
    assert json.loads((path / "edge_llm_ros.json").read_text(encoding="utf-8"))["uid"] == DASHBOARD_UID
    datasources = yaml.safe_load((tmp_path / "provisioning/datasources/edge_llm_ros.yml").read_text(encoding="utf-8"))
    panel_sources = {p["datasource"]["uid"] for p in load_committed()["panels"] if "datasource" in p}
    assert panel_sources == {datasources["datasources"][0]["uid"]}
