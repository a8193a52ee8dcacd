"""deploy/k8s rendered by kustomize (base and production overlay): every manifest valid
against the Kubernetes schemas of a current version (kubernetes-validate, strict), the
KEDA objects pointing at real Deployments and queues, each workload with its probes,
limits, non-root context and disruption budget, and the whole passing checkov's
Kubernetes checks with each exception justified where it is made."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from herald.domain.messages import WORK_QUEUES
from tests.servers import IN_CI

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
VERSION = "1.33.0"
CRDS = {"keda.sh/v1alpha1"}
WORKLOADS = {"Deployment", "Job"}


def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        message = "kubectl (with kustomize) is not installed"
        if IN_CI:
            pytest.fail(f"{message}; CI needs it")
        pytest.skip(message)
    return found


@pytest.fixture(scope="module", params=["base", "overlays/production"])
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    out = subprocess.run(
        [kubectl(), "kustomize", str(K8S / request.param)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def test_every_manifest_is_valid_kubernetes(rendered: list[dict[str, Any]]) -> None:
    for doc in rendered:
        if doc["apiVersion"] in CRDS:
            continue  # KEDA's: checked below
        kubernetes_validate.validate(doc, VERSION, strict=True)


def test_keda_scales_real_deployments_on_real_queues(rendered: list[dict[str, Any]]) -> None:
    deployments = {d["metadata"]["name"] for d in rendered if d["kind"] == "Deployment"}
    auths = {d["metadata"]["name"] for d in rendered if d["kind"] == "TriggerAuthentication"}
    scaled = [d for d in rendered if d["kind"] == "ScaledObject"]
    assert {s["spec"]["scaleTargetRef"]["name"] for s in scaled} == {
        "email-worker",
        "push-worker",
        "chat-worker",
        "in-app-worker",
    }
    for s in scaled:
        assert s["spec"]["scaleTargetRef"]["name"] in deployments
        [trigger] = s["spec"]["triggers"]
        assert trigger["type"] == "rabbitmq"
        assert trigger["metadata"]["queueName"] in WORK_QUEUES.values()
        assert trigger["authenticationRef"]["name"] in auths


def test_every_workload_is_probed_bounded_and_unprivileged(
    rendered: list[dict[str, Any]],
) -> None:
    budgets = {
        d["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
        for d in rendered
        if d["kind"] == "PodDisruptionBudget"
    }
    for doc in (d for d in rendered if d["kind"] in WORKLOADS):
        pod = doc["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, doc["metadata"]["name"]
        assert pod["automountServiceAccountToken"] is False
        for c in pod["containers"]:
            assert c["resources"]["requests"] and c["resources"]["limits"]
            assert c["securityContext"]["allowPrivilegeEscalation"] is False
            assert c["securityContext"]["readOnlyRootFilesystem"] is True
            assert {"configMapRef": {"name": "herald-config"}} in c["envFrom"]
            assert {"secretRef": {"name": "herald-secrets"}} in c["envFrom"]
            if doc["kind"] == "Deployment":
                assert c["readinessProbe"]["httpGet"]["path"] == "/ready"
                assert c["livenessProbe"]["httpGet"]["path"] == "/health"
        if doc["kind"] == "Deployment":
            assert doc["metadata"]["name"] in budgets
    # Secrets are referred to, never written here.
    assert not [d for d in rendered if d["kind"] == "Secret"]


def test_production_runs_two_of_everything_in_its_namespace(tmp_path: Path) -> None:
    out = subprocess.run(
        [kubectl(), "kustomize", str(K8S / "overlays/production")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    for d in docs:
        if d["kind"] == "Deployment":
            assert d["spec"]["replicas"] == 2, d["metadata"]["name"]
            assert d["metadata"]["namespace"] == "herald"
            image = d["spec"]["template"]["spec"]["containers"][0]["image"]
            assert image == "registry.example.com/herald:0.1.0"


def test_checkov_finds_nothing_unjustified(tmp_path: Path) -> None:
    """checkov runs in a virtual environment of its own: it pins versions of packages
    the test tools need newer."""
    out = subprocess.run(
        [kubectl(), "kustomize", str(K8S / "overlays/production")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    manifest = tmp_path / "production.yaml"
    manifest.write_text(out)
    checkov = _checkov(tmp_path)
    done = subprocess.run(
        [checkov, "-f", str(manifest), "--framework", "kubernetes", "--output", "json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(done.stdout)
    results = report["results"]
    failed = [f"{r['check_id']} {r['resource']}" for r in results["failed_checks"]]
    assert not failed, failed
    skipped = results["skipped_checks"]
    # Each exception is made in the manifest, with its reason; only these two.
    assert {s["check_id"] for s in skipped} == {"CKV_K8S_43", "CKV_K8S_35"}
    assert all(s["check_result"]["suppress_comment"].strip() for s in skipped)
    assert report["summary"]["passed"] > 500


def _checkov(tmp_path: Path) -> str:
    venv = ROOT / ".venv" / "checkov"
    binary = venv / "bin" / "checkov"
    if not binary.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "--quiet", "checkov>=3.2"],
            check=True,
            timeout=900,
        )
    return str(binary)
