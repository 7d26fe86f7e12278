"""Alert rules an on-call engineer can act on: valid, unit-tested by promtool, each with its runbook."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from services import registry
from tests.integration.operations.tools import tool

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
JOBS = registry.NAMES


def _promtool(*args: str) -> str:
    done = subprocess.run([tool("promtool"), *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _alerts() -> list[dict]:
    groups = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
    return [rule for g in groups for rule in g["rules"] if "alert" in rule]


def test_the_config_and_rules_are_valid():
    assert "SUCCESS" in _promtool("check", "config", "prometheus.yml")
    assert "SUCCESS" in _promtool("check", "rules", "alerts.yml")


def test_the_rule_unit_tests_pass():
    assert "SUCCESS" in _promtool("test", "rules", "tests/alerts_test.yml")


def test_every_alert_has_a_unit_test():
    tests = yaml.safe_load((PROMETHEUS / "tests" / "alerts_test.yml").read_text())["tests"]
    tested = {case["alertname"] for t in tests for case in t.get("alert_rule_test", []) if case.get("exp_alerts")}
    assert {a["alert"] for a in _alerts()} == tested


def test_every_alert_says_what_to_do():
    for rule in _alerts():
        assert rule["labels"]["severity"] in ("page", "ticket"), rule["alert"]
        assert {"summary", "description", "runbook_url"} <= set(rule["annotations"]), rule["alert"]
        runbook = DEPLOY.parent / rule["annotations"]["runbook_url"]
        text = runbook.read_text()
        assert "## How to confirm" in text and "## How to mitigate" in text, runbook


def test_every_job_is_watched_for_down_and_absent():
    exprs = " ".join(a["expr"] for a in _alerts())
    for job in JOBS:
        assert f'absent(up{{job="{job}"}})' in exprs, job
    assert 'up{job=~"fraud|notify|advice|advisor|mortgage"} == 0' in exprs
    scrape = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())["scrape_configs"]
    assert sorted(c["job_name"] for c in scrape) == sorted(JOBS)
    assert all("labels" not in sc for c in scrape for sc in c["static_configs"])  # no `service` label collision
