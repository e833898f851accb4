"""The deployment files read as an operator's tools read them: the variables the settings read
reach the compose stack, the Kubernetes manifests validate against the API's schemas, the systemd
units pass `systemd-analyze verify`. `./test deploy` runs them (scripts/deploy-check.sh)."""

import ast
import re
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
APP_SERVICES = ("migrate", "web", "worker", "beat")
# Read by settings for the test suite only; a deployment never sets them.
TEST_ONLY = {"TEST_DATABASE_NAME", "CELERY_TASK_ALWAYS_EAGER", "WHITENOISE_USE_FINDERS"}
ENV_READERS = {"envstr", "envbool", "envint", "envfloat", "envlist"}


def settings_variables() -> set[str]:
    """Every environment variable greenai_site/settings.py reads, from its syntax tree."""
    tree = ast.parse((ROOT / "greenai_site" / "settings.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        function = node.func
        name = function.id if isinstance(function, ast.Name) else getattr(function, "attr", "")
        if name in ENV_READERS and node.args and isinstance(node.args[0], ast.Constant):
            names.add(node.args[0].value)
        elif name == "secret_key":  # greenai_site/env.py: SECRET_KEY or SECRET_KEY_FILE
            names.add("SECRET_KEY")
        elif name in ("get", "getenv") and "environ" in ast.unparse(function) + name:
            names.add(node.args[0].value)
    return names


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def env_example_variables() -> set[str]:
    """Variables the operator's .env template names, set or commented out with their default."""
    text = (DEPLOY / "greenai.env.example").read_text()
    return set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))


def test_the_settings_reader_finds_what_settings_reads():
    variables = settings_variables()
    assert {"DATABASE_URL", "SECRET_KEY", "METRICS_TOKEN", "ROLLUP_SHARDS"} <= variables
    assert TEST_ONLY <= variables


def test_every_variable_the_settings_read_reaches_the_app_containers():
    services = compose()["services"]
    for name in APP_SERVICES:
        # Everything set in .env reaches the container, not only a listed few.
        assert services[name]["env_file"] == ["${GREENAI_ENV_FILE:-.env}"], name
    explicit = set(services["web"]["environment"])
    documented = env_example_variables()
    missing = settings_variables() - TEST_ONLY - explicit - documented
    assert not missing, f"read by settings.py, absent from compose and .env example: {missing}"
    # Nothing the app containers get is unknown to the settings (a typo would be silent).
    passed_on = (explicit | documented) - {"POSTGRES_PASSWORD", "WEB_PORT"}
    unknown = passed_on - settings_variables() - {"PROMETHEUS_MULTIPROC_DIR"}
    assert not unknown, f"set for the app but read by nothing: {unknown}"


def test_compose_checks_health_on_the_health_endpoint_and_starts_gunicorn_with_its_config():
    services = compose()["services"]
    assert services["web"]["healthcheck"]["test"][-1].endswith(":8000/health")
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert '"--config", "python:greenai_site.gunicorn_conf"' in dockerfile
    assert services["web"]["environment"]["PROMETHEUS_MULTIPROC_DIR"]
    for name in APP_SERVICES:
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }


def kubernetes_documents() -> list[tuple[str, dict]]:
    return [
        (path.name, document)
        for path in sorted(KUBERNETES.glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
        if document
    ]


def test_every_kubernetes_manifest_validates_strictly():
    documents = kubernetes_documents()
    kinds = {(document["kind"], document["metadata"]["name"]) for _, document in documents}
    assert {
        ("Deployment", "greenai-web"),
        ("Service", "greenai-web"),
        ("Deployment", "greenai-worker"),
        ("Deployment", "greenai-beat"),
        ("Job", "greenai-migrate"),
        ("ConfigMap", "greenai-config"),
        ("Secret", "greenai-secrets"),
        ("DaemonSet", "greenai-agent"),
    } <= kinds
    for file_name, document in documents:
        kubernetes_validate.validate(document, "1.37.0", strict=True), file_name


def test_the_validator_refuses_a_misspelt_field():
    (web,) = [
        d
        for _, d in kubernetes_documents()
        if d["metadata"]["name"] == "greenai-web" and d["kind"] == "Deployment"
    ]
    web["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"path": "/health"}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(web, "1.37.0", strict=True)


def deployment(name: str) -> dict:
    (found,) = [
        d
        for _, d in kubernetes_documents()
        if d["kind"] == "Deployment" and d["metadata"]["name"] == name
    ]
    return found


def test_web_probes_health_beat_is_one_recreated_pod_and_nothing_runs_as_root():
    (web,) = deployment("greenai-web")["spec"]["template"]["spec"]["containers"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert web[probe]["httpGet"]["path"] == "/health"
        assert {"name": "Host", "value": "localhost"} in web[probe]["httpGet"]["httpHeaders"]
    assert "python:greenai_site.gunicorn_conf" in web["command"]
    beat = deployment("greenai-beat")["spec"]
    assert beat["replicas"] == 1 and beat["strategy"] == {"type": "Recreate"}
    config = next(d for _, d in kubernetes_documents() if d["kind"] == "ConfigMap")
    assert "localhost" in config["data"]["ALLOWED_HOSTS"].split(",")
    for name in ("greenai-web", "greenai-worker", "greenai-beat"):
        pod = deployment(name)["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        refs = {
            ref.get("configMapRef", ref.get("secretRef"))["name"]
            for ref in pod["containers"][0]["envFrom"]
        }
        assert refs == {"greenai-config", "greenai-secrets"}


SYSTEMD_UNITS = ("greenai-web", "greenai-worker", "greenai-beat", "greenai-migrate")


def systemd_root(tmp_path: Path) -> Path:
    """A root where the units' programs and environment file exist, with the host's own units."""
    root = tmp_path / "root"
    (root / "srv/greenai/venv/bin").mkdir(parents=True)
    for program in ("gunicorn", "celery", "python"):
        path = root / "srv/greenai/venv/bin" / program
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)
    (root / "etc/greenai").mkdir(parents=True)
    (root / "etc/greenai/greenai.env").write_text("")
    (root / "etc/systemd/system").mkdir(parents=True)
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    return root


def verify(root: Path, names) -> subprocess.CompletedProcess:
    paths = [str(root / "etc/systemd/system" / f"{name}.service") for name in names]
    return subprocess.run(
        ["systemd-analyze", "verify", f"--root={root}", *paths],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.skipif(
    not shutil.which("systemd-analyze")
    or not Path("/usr/lib/systemd/system/sysinit.target").exists(),
    reason="systemd-analyze and the system's units are needed (not installed here)",
)
def test_systemd_units_pass_systemd_analyze_verify(tmp_path):
    root = systemd_root(tmp_path)
    for name in SYSTEMD_UNITS:
        shutil.copy(DEPLOY / "systemd" / f"{name}.service", root / "etc/systemd/system")
    result = verify(root, SYSTEMD_UNITS)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    # The same check fails on a unit whose program is missing: it does read ExecStart.
    broken = (root / "etc/systemd/system/greenai-web.service").read_text()
    (root / "etc/systemd/system/greenai-web.service").write_text(
        broken.replace("/venv/bin/gunicorn ", "/venv/bin/no-such-program ")
    )
    assert verify(root, ["greenai-web"]).returncode != 0


def test_systemd_web_unit_starts_gunicorn_with_its_config_and_a_metrics_directory():
    unit = (DEPLOY / "systemd" / "greenai-web.service").read_text()
    assert "--config python:greenai_site.gunicorn_conf" in unit
    assert "Environment=PROMETHEUS_MULTIPROC_DIR=/run/greenai/prometheus" in unit
    assert "RuntimeDirectory=greenai/prometheus" in unit
