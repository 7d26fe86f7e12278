"""Both kustomize overlays render, and every workload is one a bank's cluster would admit: probes, resources,
non-root with a read-only root filesystem, a disruption budget, spread over nodes, state in PostgreSQL."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from services import registry
from tests.integration.operations.tools import tool

K8S = Path(__file__).resolve().parents[3] / "deploy" / "k8s"
SERVICES = registry.NAMES


def render(overlay: str) -> list[dict]:
    done = subprocess.run([tool("kustomize"), "build", str(K8S / "overlays" / overlay)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


@pytest.fixture(scope="module", params=["dev", "production"])
def manifests(request) -> tuple[str, list[dict]]:
    return request.param, render(request.param)


def _of(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def _matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector["matchLabels"].items())


def test_every_service_is_a_replicated_deployment_with_grpc_probes(manifests):
    overlay, docs = manifests
    deployments = _of(docs, "Deployment")
    assert set(SERVICES) <= set(deployments)
    for name in SERVICES:
        d = deployments[name]
        assert d["spec"]["replicas"] >= (3 if overlay == "production" else 2), name
        assert d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0, name
        (container,) = d["spec"]["template"]["spec"]["containers"]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):  # the plaintext health-only port
            assert container[probe]["grpc"]["port"] == 8086, (name, probe)
        assert {"name": "health", "containerPort": 8086} in container["ports"], name
        mounts = {m["name"]: m for m in container["volumeMounts"]}
        assert mounts["tls"]["readOnly"] is True, name  # gRPC is TLS: the certificate Secret is mounted
        volumes = {v["name"]: v for v in d["spec"]["template"]["spec"]["volumes"]}
        assert volumes["tls"]["secret"]["secretName"] == "proactive-care-tls", name
    config = _of(docs, "ConfigMap")["proactive-care"]["data"]
    assert config["HEALTH_PORT"] == "8086" and config["TLS_CERT_FILE"].startswith("/etc/proactive-care/tls/")


def test_every_workload_has_resources_and_runs_locked_down(manifests):
    _, docs = manifests
    workloads = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet", "Job")]
    assert len(workloads) >= 8
    for w in workloads:
        pod = w["spec"]["template"]["spec"]
        where = f"{w['kind']}/{w['metadata']['name']}"
        assert pod["securityContext"]["runAsNonRoot"] is True, where
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", where
        for c in pod["containers"]:
            assert {"cpu", "memory"} <= set(c["resources"]["requests"]), where
            assert {"cpu", "memory"} <= set(c["resources"]["limits"]), where
            assert c["securityContext"]["allowPrivilegeEscalation"] is False, where
            assert c["securityContext"]["capabilities"]["drop"] == ["ALL"], where
            if w["metadata"]["name"] != "postgres":  # the dev overlay's database writes its own root files
                assert c["securityContext"]["readOnlyRootFilesystem"] is True, where


def test_every_service_has_a_budget_a_spread_a_service_and_a_monitor(manifests):
    _, docs = manifests
    pdbs, services, monitors = _of(docs, "PodDisruptionBudget"), _of(docs, "Service"), _of(docs, "ServiceMonitor")
    for name, d in _of(docs, "Deployment").items():
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert [p for p in pdbs.values() if _matches(p["spec"]["selector"], labels)], f"no PDB for {name}"
        assert pdbs[name]["spec"]["minAvailable"] < d["spec"]["replicas"], name  # a node can still drain
        keys = {c["topologyKey"] for c in d["spec"]["template"]["spec"]["topologySpreadConstraints"]}
        assert keys == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}, name
        if name not in SERVICES:  # a web app (the console): no gRPC, no metrics of its own
            continue
        assert {p["name"] for p in services[name]["spec"]["ports"]} == {"grpc", "metrics"}, name
        assert monitors[name]["spec"]["endpoints"][0]["port"] == "metrics", name
        assert d["spec"]["template"]["metadata"]["annotations"]["prometheus.io/scrape"] == "true", name


def test_state_lives_in_postgresql_and_secrets_are_referenced_not_written(manifests):
    overlay, docs = manifests
    for name in SERVICES:
        (container,) = _of(docs, "Deployment")[name]["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e for e in container["env"]}
        assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "proactive-care-database", "key": "url"}
        assert "AUTH_SECRET" not in env  # no shared signing key: tokens come from the identity provider
    secrets = _of(docs, "Secret")
    assert (secrets == {}) == (overlay == "production")  # production takes them from the cluster's store


def test_the_release_jobs_create_replicated_topics_migrate_and_train(manifests):
    overlay, docs = manifests
    jobs = _of(docs, "Job")
    assert set(jobs) == {"topics", "migrate", "fraud-train"}
    args = jobs["topics"]["spec"]["template"]["spec"]["containers"][0]["args"]
    expected = ["3", "2"] if overlay == "production" else ["1", "1"]
    assert [args[args.index("--replication-factor") + 1], args[args.index("--min-insync") + 1]] == expected
    fraud_volumes = _of(docs, "Deployment")["fraud"]["spec"]["template"]["spec"]["volumes"]
    train_volumes = jobs["fraud-train"]["spec"]["template"]["spec"]["volumes"]
    claim = {v["persistentVolumeClaim"]["claimName"] for v in fraud_volumes + train_volumes
             if "persistentVolumeClaim" in v}
    assert claim == {"fraud-models"} and "fraud-models" in _of(docs, "PersistentVolumeClaim")


def test_the_fraud_model_is_retrained_daily_into_the_shared_volume_locked_down(manifests):
    _, docs = manifests
    cron = _of(docs, "CronJob")["fraud-retrain"]
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"][:2] == ["fraud", "retrain"] and cron["spec"]["concurrencyPolicy"] == "Forbid"
    env = {e["name"]: e for e in container["env"]}
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "proactive-care-database", "key": "url"}
    assert {v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v} == {
        "fraud-models"}
    assert pod["securityContext"]["runAsNonRoot"] is True and container["securityContext"]["readOnlyRootFilesystem"]
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])


def test_the_console_is_reached_through_its_auth_proxy_and_reaches_every_service(manifests):
    overlay, docs = manifests
    console = _of(docs, "Deployment")["console"]["spec"]["template"]["spec"]
    app, proxy = console["containers"]
    assert app["args"] == ["console", "--host", "127.0.0.1", "--port", "8080"]  # loopback: only the proxy reaches it
    assert {e["name"]: e["value"] for e in app["env"]} == {"TLS_CERT_FILE": "", "TLS_KEY_FILE": ""}
    assert "DATABASE_URL" not in {e["name"] for e in app["env"]}  # stateless
    assert "--upstream=http://127.0.0.1:8080/" in proxy["args"] and "--pass-access-token=true" in proxy["args"]
    assert {e["valueFrom"]["secretKeyRef"]["name"] for e in proxy["env"] if "secretKeyRef" in e["valueFrom"]} == {
        "console-auth-proxy"}
    assert [p["name"] for p in _of(docs, "Service")["console"]["spec"]["ports"]] == ["https"]
    assert ("console-auth-proxy" in _of(docs, "Secret")) == (overlay == "dev")
    # the case view and the console find each service at its Service's gRPC port
    config = _of(docs, "ConfigMap")["proactive-care"]["data"]
    for name in SERVICES:
        port = next(p["port"] for p in _of(docs, "Service")[name]["spec"]["ports"] if p["name"] == "grpc")
        assert config[f"{name.upper()}_TARGET"] == f"{name}:{port}", name
    assert config["GRPC_TLS_CA_FILE"].startswith("/etc/proactive-care/tls/")
