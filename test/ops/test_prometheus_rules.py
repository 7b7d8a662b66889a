"""The shipped Prometheus rules and config pass promtool: syntax checks and rule unit tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from edge_llm_ros.ops.monitoring.prometheus_config import render_config, rule_files

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (apt-get install prometheus)")
TESTS_DIR = Path(__file__).resolve().parent / "promtool"


def _promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=120, cwd=cwd, check=False)


def test_rule_files_pass_promtool_check() -> None:
    files = rule_files()
    assert [p.name for p in files] == ["edge_llm_recording.yml", "edge_llm_alerts.yml"]
    result = _promtool("check", "rules", *map(str, files))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 16 rules found" in result.stdout
    assert "SUCCESS: 8 rules found" in result.stdout


@pytest.mark.parametrize("name", ["recording_test.yml", "alerts_test.yml"])
def test_rule_unit_tests(name: str) -> None:
    result = _promtool("test", "rules", name, cwd=TESTS_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_unit_test() -> None:
    import yaml

    alerts = {
        rule["alert"]
        for group in yaml.safe_load(rule_files()[1].read_text(encoding="utf-8"))["groups"]
        for rule in group["rules"]
    }
    tests = yaml.safe_load((TESTS_DIR / "alerts_test.yml").read_text(encoding="utf-8"))["tests"]
    tested = {case["alertname"] for test in tests for case in test["alert_rule_test"] if case["exp_alerts"]}
    assert alerts == tested


def test_rendered_config_passes_promtool_check(tmp_path: Path) -> None:
    config = tmp_path / "prometheus.yml"
    config.write_text(render_config(["127.0.0.1:9100", "127.0.0.1:9101"], scrape_interval_s=1.0), encoding="utf-8")
    result = _promtool("check", "config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 rule files found" in result.stdout


def test_render_config_refuses_bad_targets() -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        render_config(["localhost"])
    with pytest.raises(ValueError, match="at least one"):
        render_config([])
