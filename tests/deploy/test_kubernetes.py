"""The Kubernetes manifests (deploy/kubernetes): each overlay rendered by
``kubectl kustomize`` and every object validated against the Kubernetes API schemas of
one fixed version (``kubernetes-validate``, strict: an unknown field fails); the
ServiceMonitor, a Prometheus Operator CRD the package does not bundle, against the
schema in tests/deploy/schemas. Then what the schemas cannot say: the probes name real
endpoints, the pods outwait the drain, serving pods never migrate, secrets come only from
an existing Secret, the selectors find their pods, the HPA's metric is one /metrics
exports. Last, the quickstart pod's start run for real on a read-only root filesystem
(where user namespaces allow it). Skipped only when kubectl is missing."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml

from gateway.base import lifecycle
from tests.live import ROOT, free_port, gateway_env, wait_until_up

KUSTOMIZE = ROOT / "deploy" / "kubernetes"
OVERLAYS = ("quickstart", "production-ha", "production-ha/migrate")
KUBERNETES_VERSION = "1.30"  # the schemas validated against (kubernetes-validate bundles them)
SERVICE_MONITOR_SCHEMA = Path(__file__).parent / "schemas" / "servicemonitor-monitoring-v1.json"
ENTRYPOINT = ROOT / "deploy" / "docker-entrypoint.sh"
ROLES = ("api", "console", "worker", "all")
REQUIRED_SECRETS = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "SWITCHYARD_MASTER_KEY")
JOURNAL_DRAIN_SECONDS = 5  # the journal's last write after the server stopped (as systemd's unit)

Doc = dict[str, Any]


def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        pytest.skip("kubectl is not installed (scripts/test.sh installs it)")
    return found


@cache
def render(overlay: str) -> list[Doc]:
    result = subprocess.run(
        [kubectl(), "kustomize", str(KUSTOMIZE / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, (
        f"kubectl kustomize {overlay} failed (the layout needs kubectl 1.22+, kustomize "
        f"v4.1+; Debian bookworm's kubernetes-client 1.20 is too old): {result.stderr}"
    )
    assert "Warning" not in result.stderr, result.stderr  # no deprecated kustomize fields
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def of_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [doc for doc in docs if doc["kind"] == kind]


def named(docs: list[Doc], kind: str, name: str) -> Doc:
    (found,) = [d for d in of_kind(docs, kind) if d["metadata"]["name"] == name]
    return found


def validate(doc: Doc) -> None:
    """One rendered object against its schema (raises on a violation)."""
    if doc["kind"] == "ServiceMonitor":
        schema = json.loads(SERVICE_MONITOR_SCHEMA.read_text())
        jsonschema.Draft202012Validator(schema).validate(doc)
        return
    import kubernetes_validate

    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def pod_spec(doc: Doc) -> Doc:
    spec: Doc = doc["spec"]["template"]["spec"]
    return spec


def server(doc: Doc) -> Doc:
    (container,) = [c for c in pod_spec(doc)["containers"] if c["name"] == "switchyard"]
    return container


def config_map_env(docs: list[Doc], container: Doc) -> dict[str, str]:
    """What the container's ConfigMaps give it, then its own ``env`` values over them."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(named(docs, "ConfigMap", source["configMapRef"]["name"])["data"])
    env.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
    return env


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def seconds(value: str) -> float:
    return float(value)


# --- rendering and schemas ---------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_overlay_renders_and_every_object_is_valid(overlay: str):
    docs = render(overlay)
    assert docs
    for doc in docs:
        try:
            validate(doc)
        except Exception as error:  # say which object
            raise AssertionError(f"{doc['kind']}/{doc['metadata']['name']}: {error}") from error
    assert not of_kind(docs, "Secret")  # secrets are never in the manifests


def test_the_validation_catches_a_misspelt_field_and_a_wrong_type():
    deployment = copy.deepcopy(of_kind(render("production-ha"), "Deployment")[0])
    pod_spec(deployment)["terminationGracePeriod"] = 60  # the field is ...Seconds
    with pytest.raises(Exception, match="terminationGracePeriod"):
        validate(deployment)
    deployment = copy.deepcopy(of_kind(render("production-ha"), "Deployment")[0])
    server(deployment)["ports"][0]["containerPort"] = "4000"
    with pytest.raises(Exception, match="4000"):
        validate(deployment)
    monitor = copy.deepcopy(of_kind(render("production-ha"), "ServiceMonitor")[0])
    monitor["spec"]["endpoints"][0]["intervall"] = "15s"
    with pytest.raises(jsonschema.ValidationError, match="intervall"):
        validate(monitor)


# --- every serving pod -------------------------------------------------------------------


def deployments() -> list[tuple[str, Doc, list[Doc]]]:
    out = []
    for overlay in ("quickstart", "production-ha"):
        docs = render(overlay)
        out += [(overlay, d, docs) for d in of_kind(docs, "Deployment")]
    return out


def test_probes_are_on_the_gateways_real_endpoints():
    from django.urls import resolve

    for overlay, deployment, _ in deployments():
        container = server(deployment)
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        paths = {}
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            get = container[probe]["httpGet"]
            assert get["port"] in ports, (overlay, probe)
            resolve(get["path"])  # a URL the gateway serves (Resolver404 otherwise)
            paths[probe] = get["path"]
        assert paths["readinessProbe"] == "/health/readiness"  # 503 while draining
        assert paths["livenessProbe"] == "/health/liveliness"  # no database, no upstream


async def test_readiness_answers_503_while_the_server_drains():
    """What the readiness probe relies on (gateway/edge/health.py)."""
    from django.test import RequestFactory

    from gateway.edge import health

    request = RequestFactory().get("/health/readiness")
    assert lifecycle.draining() is False
    lifecycle._draining = True
    try:
        answer = await health.readiness(request)
        assert answer.status_code == 503
        assert json.loads(answer.content) == {"status": "shutting down"}
        assert (await health.liveliness(request)).status_code == 200  # not restarted for it
    finally:
        lifecycle._draining = False


def test_pods_wait_out_the_prestop_and_the_drain():
    for overlay, deployment, docs in deployments():
        container = server(deployment)
        sleep = container["lifecycle"]["preStop"]["exec"]["command"]
        assert sleep[0] == "sleep", overlay
        grace = seconds(config_map_env(docs, container)["SWITCHYARD_SHUTDOWN_GRACE_SECONDS"])
        server_timeout = grace + lifecycle.SERVER_MARGIN_SECONDS
        budget = pod_spec(deployment)["terminationGracePeriodSeconds"]
        # the kubelet's countdown includes the preStop hook
        assert budget > float(sleep[1]) + server_timeout + JOURNAL_DRAIN_SECONDS, overlay
        # the readiness probe needs fewer seconds to fail than the sleep gives
        readiness = container["readinessProbe"]
        assert readiness["periodSeconds"] * readiness["failureThreshold"] <= 3 * float(sleep[1])


def test_pods_run_non_root_on_a_read_only_root_with_what_they_write_mounted():
    for overlay, deployment, docs in deployments():
        spec = pod_spec(deployment)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] != 0
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert spec["automountServiceAccountToken"] is False
        # a Service named switchyard would otherwise set SWITCHYARD_PORT=tcp://...
        assert spec["enableServiceLinks"] is False
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in spec["containers"] + spec.get("initContainers", []):
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, (overlay, container["name"])
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
            assert set(mounts) == {"/data", "/tmp"}
            for volume in mounts.values():
                assert "emptyDir" in volume or "persistentVolumeClaim" in volume
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"])
            assert "memory" in resources["limits"]
        assert config_map_env(docs, server(deployment))["SWITCHYARD_DATA_DIR"] == "/data"


def test_serving_pods_never_migrate_and_the_job_does():
    for overlay, deployment, docs in deployments():
        container = server(deployment)
        assert "command" not in container  # the image's entrypoint: SWITCHYARD_MIGRATE counts
        assert config_map_env(docs, container)["SWITCHYARD_MIGRATE"] == "0", overlay
        args = container["args"]
        assert args[0] == "--role" and args[1] in ROLES
        assert deployment["metadata"]["labels"]["app.kubernetes.io/component"] == args[1]
    (job,) = of_kind(render("production-ha/migrate"), "Job")
    (migrate,) = pod_spec(job)["containers"]
    assert migrate["command"] == ["python", "manage.py", "migrate", "--no-input"]
    assert pod_spec(job)["restartPolicy"] == "Never"
    assert "serviceAccountName" not in pod_spec(job)  # applied before the overlay made it
    assert not of_kind(render("production-ha"), "Job")  # applied on its own, first
    # quickstart: one pod on SQLite, migrated by its init container before the server
    (deployment,) = of_kind(render("quickstart"), "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    (init,) = pod_spec(deployment)["initContainers"]
    assert init["command"] == migrate["command"]
    volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
    claim = volumes["data"]["persistentVolumeClaim"]["claimName"]
    assert named(render("quickstart"), "PersistentVolumeClaim", claim)["spec"]["accessModes"] == [
        "ReadWriteOnce"
    ]


def env_sources(container: Doc) -> dict[str, str]:
    return {
        e["name"]: e["valueFrom"]["secretKeyRef"]["name"]
        for e in container.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    }


def test_production_reads_its_secrets_from_one_existing_secret():
    docs = render("production-ha")
    secrets = set()
    for deployment in of_kind(docs, "Deployment"):
        container = server(deployment)
        refs = env_sources(container)
        assert set(REQUIRED_SECRETS) <= set(refs)
        secrets |= set(refs.values())
        secrets |= {s["secretRef"]["name"] for s in container["envFrom"] if "secretRef" in s}
        for entry in container["env"]:  # nothing secret as a literal value
            assert not ("value" in entry and re.search("KEY|URL|PASSWORD", entry["name"]))
        assert not any(s.get("secretRef", {}).get("optional") for s in container["envFrom"])
    assert secrets == {"switchyard"}
    (job,) = of_kind(render("production-ha/migrate"), "Job")
    assert env_sources(pod_spec(job)["containers"][0]) == {
        "DATABASE_URL": "switchyard",
        "SECRET_KEY": "switchyard",
    }


def test_production_roles_replicas_and_autoscaling():
    from gateway.telemetry import metrics

    docs = render("production-ha")
    by_role = {server(d)["args"][1]: d for d in of_kind(docs, "Deployment")}
    assert set(by_role) == {"api", "console", "worker"}
    assert "replicas" not in by_role["api"]["spec"]  # the HPA owns it
    assert by_role["console"]["spec"]["replicas"] == 2
    assert by_role["worker"]["spec"]["replicas"] == 1
    (hpa,) = of_kind(docs, "HorizontalPodAutoscaler")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", by_role["api"]["metadata"]["name"])
    assert hpa["spec"]["minReplicas"] == 3 and hpa["spec"]["maxReplicas"] > 3
    kinds = {m["type"]: m for m in hpa["spec"]["metrics"]}
    assert kinds["Resource"]["resource"]["name"] == "cpu"
    assert "requests" in server(by_role["api"])["resources"]  # CPU utilization needs one
    stream_metric = kinds["Pods"]["pods"]["metric"]["name"]
    assert stream_metric == "switchyard_streams_in_flight"
    exported = metrics.render(lambda: {})
    assert f"# TYPE {stream_metric} gauge" in exported  # what /metrics really serves


def test_services_budgets_policy_and_monitor_find_their_pods():
    for overlay in ("quickstart", "production-ha"):
        docs = render(overlay)
        pods = [
            (d, d["spec"]["template"]["metadata"]["labels"]) for d in of_kind(docs, "Deployment")
        ]
        for service in of_kind(docs, "Service"):
            chosen = [d for d, labels in pods if matches(service["spec"]["selector"], labels)]
            assert len(chosen) == 1, service["metadata"]["name"]
            names = {p["name"] for p in server(chosen[0])["ports"]}
            assert {p["targetPort"] for p in service["spec"]["ports"]} <= names
        for budget in of_kind(docs, "PodDisruptionBudget"):
            selector = budget["spec"]["selector"]["matchLabels"]
            assert len([d for d, labels in pods if matches(selector, labels)]) == 1
        (policy,) = of_kind(docs, "NetworkPolicy")
        selector = policy["spec"]["podSelector"]["matchLabels"]
        assert all(matches(selector, labels) for _, labels in pods)
        allowed = {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]}
        for deployment, _ in pods:
            assert {p["containerPort"] for p in server(deployment)["ports"]} <= allowed
        egress = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
        assert {53, 443, 5432, 6379} <= egress
    docs = render("production-ha")
    (monitor,) = of_kind(docs, "ServiceMonitor")
    watched = [
        s
        for s in of_kind(docs, "Service")
        if matches(monitor["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])
    ]
    assert len(watched) == 3  # api, console and worker
    for endpoint in monitor["spec"]["endpoints"]:
        assert endpoint["path"] == "/metrics"
        for service in watched:
            assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}


# --- the entrypoint as the pods run it ----------------------------------------------------


def fake_python(tmp_path: Path) -> tuple[Path, Path]:
    """A ``python`` that records its arguments instead of running (the entrypoint's
    steps, without a server)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    script = bin_dir / "python"
    script.write_text(f'#!/bin/sh\necho "$*" >> "{calls}"\n')
    script.chmod(0o755)
    return bin_dir, calls


@pytest.mark.parametrize("migrate", ["1", "0", None])
def test_the_entrypoint_migrates_unless_told_not_to_and_passes_its_arguments(
    tmp_path: Path, migrate: str | None
):
    bin_dir, calls = fake_python(tmp_path)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "SWITCHYARD_APP_DIR": str(ROOT),
        "SWITCHYARD_IMPORT_CONFIG": str(tmp_path / "absent.yaml"),
    }
    if migrate is not None:
        env["SWITCHYARD_MIGRATE"] = migrate
    subprocess.run(["sh", str(ENTRYPOINT), "--role", "api"], env=env, check=True, timeout=30)
    lines = calls.read_text().splitlines()
    assert ("manage.py migrate --no-input -v 1" in lines) is (migrate != "0")
    assert (
        lines[-1]
        == "manage.py serve --no-migrate --host 0.0.0.0 --port 4000 --workers 2 --role api"
    )


def _read_only_root_supported() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -o remount,bind,ro / && ! touch /.switchyard-probe"],
        capture_output=True,
    )
    return probe.returncode == 0


READ_ONLY_START = r"""
set -eu
# every mount read-only, as a pod's root filesystem with readOnlyRootFilesystem
awk '{print $5}' /proc/self/mountinfo | sort -u | while read -r point; do
  case "$point" in /proc*|/sys*|/dev*) continue ;; esac
  mount -o remount,bind,ro "$point" 2>/dev/null || true
done
# ... but for the pod's two volumes
for volume in "$POD_DATA" "$POD_TMP"; do
  mount --bind "$volume" "$volume"
  mount -o remount,bind,rw "$volume"
done
if touch "$SWITCHYARD_APP_DIR/.switchyard-probe" 2>/dev/null || touch "$HOME/.switchyard-probe" 2>/dev/null; then
  echo "the root is still writable" >&2
  exit 97
fi
exec sh "$ENTRYPOINT" "$@"
"""


def test_the_quickstart_pod_starts_and_stops_on_a_read_only_root(tmp_path: Path):
    """The pod's container (its ConfigMap's settings, SWITCHYARD_MIGRATE=0, its
    arguments) started through the image's entrypoint with every mount read-only but
    its /data and /tmp volumes, after the init container's migrate: it serves, answers
    its probes and /metrics, and stops on SIGTERM with nothing written elsewhere."""
    if not _read_only_root_supported():
        pytest.skip("unshare cannot make a read-only root here (no user namespaces)")
    docs = render("quickstart")
    (deployment,) = of_kind(docs, "Deployment")
    container = server(deployment)
    pod_env = config_map_env(docs, container)
    data, tmp = tmp_path / "data", tmp_path / "tmp"
    data.mkdir()
    tmp.mkdir()
    port = free_port()
    env = gateway_env(data)
    env.update(pod_env)
    env.update(
        SWITCHYARD_DATA_DIR=str(data),  # the pod's /data
        TMPDIR=str(tmp),  # the pod's /tmp
        SWITCHYARD_PORT=str(port),
        SWITCHYARD_WORKERS="1",  # (two cores shared by the whole suite)
        SWITCHYARD_APP_DIR=str(ROOT),
        PYTHONDONTWRITEBYTECODE="1",  # as the image sets it
        POD_DATA=str(data),
        POD_TMP=str(tmp),
        ENTRYPOINT=str(ENTRYPOINT),
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (bin_dir / "python").chmod(0o755)
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    init = pod_spec(deployment)["initContainers"][0]["command"]
    subprocess.run([sys.executable, *init[1:]], env=env, cwd=ROOT, check=True, capture_output=True)
    args = container["args"] if _serve_takes("--role") else []  # (until roles land)
    log = tmp_path / "pod.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            ["unshare", "-rm", "sh", "-c", READ_ONLY_START, "pod", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url, process, log, timeout=90)
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            path = container[probe]["httpGet"]["path"]
            assert httpx.get(url + path, timeout=5).status_code == 200, path
        exported = httpx.get(url + "/metrics", timeout=5).text
        assert "switchyard_streams_in_flight 0" in exported
        models = httpx.get(
            url + "/v1/models",
            headers={"Authorization": f"Bearer {env['SWITCHYARD_MASTER_KEY']}"},
            timeout=5,
        )
        assert models.status_code == 200
    finally:
        process.terminate()
        code = process.wait(timeout=60)
    text = log.read_text()
    assert "Read-only file system" not in text and "Traceback" not in text, text
    assert code == 0, text
    assert (data / "staticfiles").is_dir()  # collectstatic wrote into the data volume


def _serve_takes(option: str) -> bool:
    from gateway.management.commands.serve import Command

    return option in Command().create_parser("manage.py", "serve").format_help()
