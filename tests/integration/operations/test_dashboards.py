"""Dashboards and alert rules read only metrics the running services export.

The five services run on the session's broker; each one's /metrics is scraped over HTTP, and every metric
named by a Grafana panel or an alert/recording rule must be there (or be a recording rule, or `up`)."""

from __future__ import annotations

import importlib.util
import json
import urllib.request
from pathlib import Path

import pytest
import yaml

from services import registry
from services.platform.kafka_io import ensure_topics
from tests.integration.operations.promql import exported_names, metric_names
from tests.system import whole_system

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"


def _generator():
    spec = importlib.util.spec_from_file_location("grafana_generate", DEPLOY / "grafana" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rules() -> list[dict]:
    groups = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())["groups"]
    return [rule for g in groups for rule in g["rules"]]


def _panel_exprs() -> dict[str, str]:
    exprs = {}
    for path in sorted((DEPLOY / "grafana" / "dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                exprs[f"{path.name}: {panel['title']} ({target['refId']})"] = target["expr"]
    return exprs


def test_the_dashboard_files_are_what_the_generator_writes():
    files = {p.name: p.read_text() for p in (DEPLOY / "grafana" / "dashboards").glob("*.json")}
    assert files == _generator().render(), "run `python deploy/grafana/generate.py` and commit the result"


def test_every_service_has_a_dashboard_with_its_stream_grpc_and_process_rows():
    for service in registry.NAMES:
        board = json.loads((DEPLOY / "grafana" / "dashboards" / f"{service}.json").read_text())
        rows = [p["title"] for p in board["panels"] if p["type"] == "row"]
        assert rows == [service, "Stream worker", "gRPC", "Process"], service


def test_promql_metric_names_skip_functions_labels_and_ranges():
    expr = ('histogram_quantile(0.99, sum by (le, kind) (rate(a_seconds_bucket{job="x", le="0.5"}[5m])))'
            ' / on (job) b_total > 0 and time() - c offset 5m')
    assert metric_names(expr) == {"a_seconds_bucket", "b_total", "c"}


@pytest.fixture(scope="module")
def exported(kafka_settings, tmp_path_factory, fraud_model_dir) -> set[str]:
    settings = kafka_settings.with_overrides(topic_prefix="ops.", consumer_group_prefix="ops",
                                             data_dir=tmp_path_factory.mktemp("ops"), grpc_port=0, metrics_port=0)
    ensure_topics(settings)
    names = {"up"}
    with whole_system(settings, fraud_model_dir) as system:
        for svc in system.values():
            url = f"http://127.0.0.1:{svc.running.metrics_port}/metrics"
            with urllib.request.urlopen(url, timeout=10) as response:
                names |= exported_names(response.read().decode())
    return names


def test_every_panel_reads_metrics_the_services_export(exported):
    recorded = {r["record"] for r in _rules() if "record" in r}
    missing = {where: sorted(metric_names(expr) - exported - recorded)
               for where, expr in _panel_exprs().items()}
    assert {k: v for k, v in missing.items() if v} == {}
    assert len(missing) > 60  # the panels were found


def test_every_rule_reads_metrics_the_services_export(exported):
    recorded = {r["record"] for r in _rules() if "record" in r}
    missing = {r.get("alert") or r["record"]: sorted(metric_names(r["expr"]) - exported - recorded)
               for r in _rules()}
    assert {k: v for k, v in missing.items() if v} == {}
    # the services really export the go-grpc-prometheus names and the process collectors
    assert {"grpc_server_handled_total", "process_resident_memory_bytes",
            "proactivecare_notify_time_to_deliverable_seconds_bucket"} <= exported
