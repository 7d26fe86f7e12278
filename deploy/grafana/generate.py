"""Grafana dashboards as code: `python deploy/grafana/generate.py` writes deploy/grafana/dashboards/*.json.

Plain Grafana dashboard JSON (schema 39), provisioned from files (deploy/grafana/provisioning). A test
(tests/integration/operations/test_dashboards.py) checks that the JSON files are what this script writes and
that every metric a panel queries is exported by the running services.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def panel(title: str, *exprs: str, unit: str = "short", kind: str = "timeseries", legend: str = "",
          description: str = "") -> dict[str, Any]:
    return {
        "type": kind, "title": title, "description": description, "datasource": DATASOURCE,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": chr(65 + i), "expr": e, "legendFormat": legend, "datasource": DATASOURCE}
                    for i, e in enumerate(exprs)],
    }


def dashboard(uid: str, title: str, rows: list[tuple[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    y = 0
    for row_title, row_panels in rows:
        panels.append({"type": "row", "title": row_title, "collapsed": False, "panels": [],
                       "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}, "id": len(panels) + 1})
        y += 1
        for i, p in enumerate(row_panels):
            p = {**p, "id": len(panels) + 1, "gridPos": {"x": (i % 3) * 8, "y": y + (i // 3) * 8, "w": 8, "h": 8}}
            panels.append(p)
        y += ((len(row_panels) + 2) // 3) * 8
    return {
        "uid": uid, "title": title, "tags": ["proactive-care"], "schemaVersion": 39, "version": 1,
        "editable": False, "time": {"from": "now-6h", "to": "now"}, "refresh": "30s",
        "templating": {"list": [
            {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"},
        ]},
        "panels": panels,
    }


def _stream_panels(job: str) -> list[dict[str, Any]]:
    sel = f'job="{job}"'
    return [
        panel("Records handled /s", f"sum by (topic) (rate(proactivecare_stream_records_handled_total{{{sel}}}[5m]))",
              unit="ops", legend="{{topic}}"),
        panel("Consumer lag", f"sum by (topic) (proactivecare_stream_consumer_lag_records{{{sel}}})",
              legend="{{topic}}"),
        panel("Dead letters /s", f"sum by (topic, reason) (rate(proactivecare_stream_records_dead_lettered_total"
              f"{{{sel}}}[5m]))", unit="ops", legend="{{topic}} {{reason}}"),
        panel("Batch handling p99", f"histogram_quantile(0.99, sum by (le) "
              f"(rate(proactivecare_stream_batch_handling_seconds_bucket{{{sel}}}[5m])))", unit="s"),
        panel("Redelivered records /s", f"sum(rate(proactivecare_stream_records_redelivered_total{{{sel}}}[5m]))",
              unit="ops"),
        panel("Seconds since last commit", f"time() - max(proactivecare_stream_last_processed_timestamp_seconds"
              f"{{{sel}}})", unit="s", kind="stat"),
    ]


def _grpc_panels(job: str) -> list[dict[str, Any]]:
    sel = f'job="{job}"'
    return [
        panel("Calls /s by method", f"sum by (grpc_method) (rate(grpc_server_handled_total{{{sel}}}[5m]))",
              unit="reqps", legend="{{grpc_method}}"),
        panel("Errors by code", f'sum by (grpc_code) (rate(grpc_server_handled_total{{{sel}, grpc_code!="OK"}}[5m]))',
              unit="reqps", legend="{{grpc_code}}"),
        panel("Latency p99 by method", f"histogram_quantile(0.99, sum by (grpc_method, le) "
              f"(rate(grpc_server_handling_seconds_bucket{{{sel}}}[5m])))", unit="s", legend="{{grpc_method}}"),
    ]


def _process_panels(job: str) -> list[dict[str, Any]]:
    sel = f'job="{job}"'
    return [
        panel("Resident memory by replica", f"process_resident_memory_bytes{{{sel}}}", unit="bytes",
              legend="{{instance}}"),
        panel("CPU by replica", f"rate(process_cpu_seconds_total{{{sel}}}[5m])", unit="percentunit",
              legend="{{instance}}"),
        panel("Replicas up", f"sum(up{{{sel}}})", kind="stat"),
    ]


SERVICES = ("fraud", "notify", "advice", "advisor", "mortgage")


def overview() -> dict[str, Any]:
    jobs = "|".join(SERVICES)
    return dashboard("proactive-care-overview", "proactive-care: overview", [
        ("Streams", [
            panel("Records handled /s",
                  f'sum by (job) (rate(proactivecare_stream_records_handled_total{{job=~"{jobs}"}}[5m]))',
                  unit="ops", legend="{{job}}"),
            panel("Consumer lag", f'sum by (job, topic) (proactivecare_stream_consumer_lag_records{{job=~"{jobs}"}})',
                  legend="{{job}} {{topic}}"),
            panel("Dead letters /s", f'sum by (job, reason) (rate(proactivecare_stream_records_dead_lettered_total'
                  f'{{job=~"{jobs}"}}[5m]))', unit="ops", legend="{{job}} {{reason}}"),
        ]),
        ("Requests", [
            panel("gRPC error ratio (5m)", "proactivecare:grpc_errors:ratio_rate5m", unit="percentunit",
                  legend="{{grpc_service}}"),
            panel("gRPC calls /s", f'sum by (job) (rate(grpc_server_handled_total{{job=~"{jobs}"}}[5m]))',
                  unit="reqps", legend="{{job}}"),
            panel("Replicas up", f'sum by (job) (up{{job=~"{jobs}"}})', legend="{{job}}"),
        ]),
        ("Customers", [
            panel("Time to notify p50 / p99 (deliverable)",
                  'histogram_quantile(0.5, sum by (le) (rate(proactivecare_notify_time_to_deliverable_seconds_bucket'
                  '{kind="FRAUD_ALERT"}[5m])))',
                  'proactivecare:time_to_deliverable_seconds:p99_5m{kind="FRAUD_ALERT"}', unit="s",
                  description="From the transaction's produce time to the alert stored and ready; SLO p99 < 500 ms"),
            panel("Time to notify p99 (on an open stream)", "proactivecare:time_to_notify_seconds:p99_5m", unit="s",
                  legend="{{kind}}"),
            panel("Fraud alerts raised /s", "sum by (decision) (rate(proactivecare_fraud_alerts_raised_total[5m]))",
                  unit="ops", legend="{{decision}}"),
            panel("Nudges sent /s", "sum by (type) (rate(proactivecare_advice_nudges_sent_total[5m]))", unit="ops",
                  legend="{{type}}"),
            panel("Nudges held /s", "sum by (why) (rate(proactivecare_advice_nudges_held_total[5m]))", unit="ops",
                  legend="{{why}}"),
            panel("Notifications by outcome /s",
                  "sum by (outcome) (rate(proactivecare_notify_notifications_total[5m]))", unit="ops",
                  legend="{{outcome}}"),
            # did the care work? of the warnings whose outcome became known, the share whose problem was avoided
            panel("Did the care work? Avoided share (30 days)",
                  'sum by (kind) (increase(proactivecare_care_followups_total{outcome="avoided"}[30d]))'
                  ' / sum by (kind) (increase(proactivecare_care_followups_total{outcome=~"avoided|happened"}[30d]))',
                  unit="percentunit", legend="{{kind}}"),
        ]),
    ])


def per_service() -> dict[str, dict[str, Any]]:
    domain: dict[str, list[dict[str, Any]]] = {
        "fraud": [
            panel("Score distribution (drift)", "sum by (le) (rate(proactivecare_fraud_score_bucket[1h]))",
                  kind="heatmap"),
            panel("Decisions /s", "sum by (decision, path) (rate(proactivecare_fraud_decisions_total[5m]))",
                  unit="ops", legend="{{path}} {{decision}}"),
            panel("Models (champion decides, challenger in shadow)",
                  "max by (role, version, algorithm, serving) (proactivecare_fraud_model_info)", kind="table"),
            panel("Shadow agreement", "sum(rate(proactivecare_fraud_shadow_decisions_total{agreement=\"agree\"}[1h]))"
                  " / sum(rate(proactivecare_fraud_shadow_decisions_total[1h]))", unit="percentunit"),
            panel("Model promotions and rollbacks", "max by (event) (proactivecare_fraud_model_events_total)",
                  kind="table"),
            panel("Customers' answers /s", "sum by (answer) (rate(proactivecare_fraud_feedback_total[5m]))",
                  unit="ops", legend="{{answer}}"),
            panel("Scoring p99", "histogram_quantile(0.99, sum by (path, le) "
                  "(rate(proactivecare_fraud_scoring_seconds_bucket[5m])))", unit="s", legend="{{path}}"),
            panel("Rows per model call (median)", "histogram_quantile(0.5, sum by (path, le) "
                  "(rate(proactivecare_fraud_scoring_batch_size_bucket[5m])))", legend="{{path}}"),
        ],
        "notify": [
            panel("Open Subscribe streams", "sum(proactivecare_notify_subscribers)"),
            panel("Notifications by kind and outcome /s",
                  "sum by (kind, outcome) (rate(proactivecare_notify_notifications_total[5m]))", unit="ops",
                  legend="{{kind}} {{outcome}}"),
            panel("Time to deliverable p99 by kind", "proactivecare:time_to_deliverable_seconds:p99_5m", unit="s",
                  legend="{{kind}}"),
            panel("Stream messages sent /s", 'sum(rate(grpc_server_msg_sent_total{job="notify"}[5m]))', unit="ops"),
        ],
        "advice": [
            panel("Eligible nudges /s", "sum by (type) (rate(proactivecare_advice_nudges_eligible_total[5m]))",
                  unit="ops", legend="{{type}}"),
            panel("Sent /s", "sum by (type) (rate(proactivecare_advice_nudges_sent_total[5m]))", unit="ops",
                  legend="{{type}}"),
            panel("Held /s by why", "sum by (why) (rate(proactivecare_advice_nudges_held_total[5m]))", unit="ops",
                  legend="{{why}}"),
            panel("Customers' answers /s",
                  "sum by (type, response) (rate(proactivecare_advice_nudge_responses_total[5m]))", unit="ops",
                  legend="{{type}} {{response}}"),
            panel("Advisor tasks raised /s", "sum by (kind) (rate(proactivecare_advice_advisor_tasks_raised_total"
                  "[5m]))", unit="ops", legend="{{kind}}"),
            panel("Evaluate p99", "histogram_quantile(0.99, sum by (le) "
                  "(rate(proactivecare_advice_evaluate_seconds_bucket[5m])))", unit="s"),
        ],
        "advisor": [
            panel("Open tasks by queue and state", "sum by (queue, state) (proactivecare_advisor_open_tasks)",
                  legend="{{queue}} {{state}}"),
            panel("Tasks received /s", "sum by (queue) (rate(proactivecare_advisor_tasks_received_total[5m]))",
                  unit="ops", legend="{{queue}}"),
            panel("Claims /s", "sum by (queue) (rate(proactivecare_advisor_claims_total[5m]))", unit="ops",
                  legend="{{queue}}"),
            panel("Completed by outcome /s",
                  "sum by (queue, outcome) (rate(proactivecare_advisor_tasks_completed_total[5m]))", unit="ops",
                  legend="{{queue}} {{outcome}}"),
            panel("SLA breaches (1h)", "sum by (queue) (increase(proactivecare_advisor_sla_breaches_total[1h]))",
                  legend="{{queue}}"),
            panel("Outcomes waiting in the outbox", "max(proactivecare_advisor_outcomes_pending)"),
            panel("Oldest open task age", "max by (queue) (proactivecare_advisor_oldest_open_task_age_seconds)",
                  unit="s", legend="{{queue}}"),
        ],
        "mortgage": [
            panel("Eligibility decisions /s",
                  "sum by (jurisdiction, outcome) (rate(proactivecare_mortgage_eligibility_decisions_total[5m]))",
                  unit="ops",
                  legend="{{jurisdiction}} {{outcome}}"),
            panel("Care offers /s", "sum(rate(proactivecare_mortgage_care_offers_total[5m]))", unit="ops"),
            panel("Difficulty signals /s", "sum by (signal) (rate(proactivecare_mortgage_signals_total[5m]))",
                  unit="ops",
                  legend="{{signal}}"),
            panel("Care evaluations by result /s",
                  "sum by (result) (rate(proactivecare_mortgage_care_evaluations_total[5m]))", unit="ops",
                  legend="{{result}}"),
            panel("Advisor tasks raised /s", "sum(rate(proactivecare_mortgage_advisor_tasks_total[5m]))", unit="ops"),
        ],
    }
    return {name: dashboard(f"proactive-care-{name}", f"proactive-care: {name}", [
        (name, panels), ("Stream worker", _stream_panels(name)), ("gRPC", _grpc_panels(name)),
        ("Process", _process_panels(name)),
    ]) for name, panels in domain.items()}


def render() -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    boards = {"overview": overview(), **per_service()}
    return {f"{name}.json": json.dumps(board, indent=2, sort_keys=True) + "\n" for name, board in boards.items()}


if __name__ == "__main__":
    OUT.mkdir(exist_ok=True)
    for name, text in render().items():
        (OUT / name).write_text(text)
        print(OUT / name)
