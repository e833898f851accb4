"""The deploy check (`./test deploy`): the images built, the compose stack run as an operator runs
it, data pushed by the agent's container, rolled up, read back through the API, a monthly PDF
rendered inside the worker, the stack restarted with the data still there, the Kubernetes
Deployments started under `podman kube play`; then everything it made removed.

Every wait is for a condition, with a generous deadline. Everything it makes carries the label
io.greenai.deploy-check=1 (or is named after the check's project), and only that is removed.
Images are kept between runs when GREENAI_DEPLOY_KEEP_IMAGES=1, and reused as they are (not
rebuilt) with GREENAI_DEPLOY_REUSE_IMAGES=1: both for iterating on the check itself only.
"""

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
LABEL = "io.greenai.deploy-check=1"
PROJECT = "greenai-deploy-check"
BASE = "localhost/greenai-base:bookworm"
APP_IMAGE = "localhost/greenai:deploy-check"
AGENT_IMAGE = "localhost/greenai-agent:deploy-check"
POSTGRES_IMAGE = "localhost/greenai-postgres:deploy-check"
REDIS_IMAGE = "localhost/greenai-redis:deploy-check"
# The manifests name the image an operator would push; the check tags its own build so.
KUBE_IMAGE = "ghcr.io/example/greenai:0.1.0"
KUBE_NAMESPACE_POD_PREFIX = ("greenai-web", "greenai-worker", "greenai-beat")
PASSWORD = "deploy-check-" + secrets.token_urlsafe(12)
timings: dict[str, float] = {}


def log(message: str) -> None:
    print(f"[deploy-check {datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def run(*args: str, check: bool = True, capture: bool = False, env=None, timeout=1800):
    result = subprocess.run(
        list(args),
        cwd=ROOT,
        env=env,
        text=True,
        capture_output=capture,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        detail = (result.stdout or "") + (result.stderr or "") if capture else ""
        raise SystemExit(f"failed ({result.returncode}): {' '.join(args)}\n{detail[-4000:]}")
    return result


def output(*args: str, **kwargs) -> str:
    return run(*args, capture=True, **kwargs).stdout.strip()


def wait_for(what: str, condition, timeout: float, every: float = 2.0, diagnose=None):
    """Until condition() returns something true; its value is returned."""
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    while True:
        value = condition()
        if value:
            log(f"{what}: after {time.monotonic() - started:.0f} s")
            return value
        if time.monotonic() > deadline:
            detail = diagnose() if diagnose else ""
            raise SystemExit(f"no {what} within {timeout:.0f} s\n{detail}")
        time.sleep(every)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- images -----------------------------------------------------------------------------------


def build(tag: str, dockerfile: str) -> None:
    started = time.monotonic()
    if os.environ.get("GREENAI_DEPLOY_REUSE_IMAGES") == "1" and (
        run("podman", "image", "exists", tag, check=False).returncode == 0
    ):
        log(f"reusing {tag} (GREENAI_DEPLOY_REUSE_IMAGES=1)")
        return
    run(
        "podman",
        "build",
        "--label",
        LABEL,
        "--build-arg",
        f"BASE={BASE}",
        # pip's CA bundle for the build only (a TLS-inspecting proxy); never copied into a layer.
        "--volume",
        "/etc/ssl/certs:/run/build-ca:ro",
        "-f",
        dockerfile,
        "-t",
        tag,
        ".",
    )
    timings[f"build {tag}"] = time.monotonic() - started
    size = int(output("podman", "image", "inspect", tag, "--format", "{{.Size}}"))
    timings[f"size {tag} MB"] = size / 1e6
    log(f"built {tag}: {size / 1e6:.0f} MB in {timings[f'build {tag}']:.0f} s")


def build_images() -> None:
    started = time.monotonic()
    run("deploy/base/make-base-image.sh", BASE)
    timings["base image"] = time.monotonic() - started
    build(APP_IMAGE, "Dockerfile")
    build(AGENT_IMAGE, "deploy/agent/Dockerfile")
    build(POSTGRES_IMAGE, "deploy/compose/postgres.Dockerfile")
    build(REDIS_IMAGE, "deploy/compose/redis.Dockerfile")


def check_images() -> None:
    """Non-root, no build-time secret in the environment, static files collected."""
    user = output("podman", "run", "--rm", APP_IMAGE, "id", "-u")
    assert user == "10001", f"the app image runs as uid {user}"
    user = output("podman", "run", "--rm", "--entrypoint", "id", AGENT_IMAGE, "-u")
    assert user == "10002", f"the agent image runs as uid {user}"
    version = output("podman", "run", "--rm", AGENT_IMAGE, "--version")
    assert version.startswith("greenai-agent"), version
    history = output("podman", "history", "--no-trunc", "--format", "{{.CreatedBy}}", APP_IMAGE)
    assert "PIP_CERT=/run/build-ca" not in output(
        "podman", "image", "inspect", APP_IMAGE, "--format", "{{.Config.Env}}"
    )
    assert "BEGIN CERTIFICATE" not in history
    manifest = output(
        "podman",
        "run",
        "--rm",
        APP_IMAGE,
        "sh",
        "-c",
        "ls /opt/greenai/app/staticfiles/staticfiles.json"
        " && test ! -e /run/build-ca/ca-certificates.crt && echo ok",
    )
    assert manifest.endswith("ok"), manifest


# --- the compose stack ------------------------------------------------------------------------


class Stack:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = free_port()
        self.env_file = workdir / "greenai.env"
        self.metrics_token = secrets.token_urlsafe(24)
        self.env_file.write_text(
            "\n".join(
                [
                    f"SECRET_KEY={secrets.token_urlsafe(50)}",
                    f"POSTGRES_PASSWORD={secrets.token_urlsafe(18)}",
                    "ALLOWED_HOSTS=localhost,127.0.0.1,web",
                    f"SITE_ROOT=http://localhost:{self.port}",
                    "SECURE_PROXY_SSL=0",
                    f"WEB_PORT={self.port}",
                    # Set to show that variables beyond the compose file's own reach the app.
                    f"METRICS_TOKEN={self.metrics_token}",
                    "ROLLUP_SHARDS=3",
                    "EMAIL_BACKEND=django.core.mail.backends.console.EmailBackend",
                    "",
                ]
            )
        )
        self.environ = {
            **os.environ,
            "GREENAI_ENV_FILE": str(self.env_file),
            "GREENAI_IMAGE": APP_IMAGE,
            "GREENAI_POSTGRES_IMAGE": POSTGRES_IMAGE,
            "GREENAI_REDIS_IMAGE": REDIS_IMAGE,
            # Interpolation in docker-compose.yml reads these too.
            **dict(line.split("=", 1) for line in self.env_file.read_text().splitlines() if line),
        }
        self.url = f"http://127.0.0.1:{self.port}"

    def compose(self, *args: str, check: bool = True, capture: bool = False):
        return run(
            str(ROOT / ".venv/bin/podman-compose"),
            "--project-name",
            PROJECT,
            "-f",
            "docker-compose.yml",
            "-f",
            "deploy/compose/check.yml",
            *args,
            env=self.environ,
            check=check,
            capture=capture,
        )

    def container(self, service: str) -> str:
        names = output(
            "podman",
            "ps",
            "-a",
            "--filter",
            f"label=io.podman.compose.project={PROJECT}",
            "--filter",
            f"label=com.docker.compose.service={service}",
            "--format",
            "{{.Names}}",
        ).split()
        assert len(names) == 1, f"{service}: containers {names}"
        return names[0]

    def state(self, service: str) -> tuple[str, int]:
        text = output(
            "podman",
            "inspect",
            self.container(service),
            "--format",
            "{{.State.Status}} {{.State.ExitCode}}",
        )
        status, code = text.split()
        return status, int(code)

    def logs(self, service: str) -> str:
        return run("podman", "logs", self.container(service), capture=True, check=False).stderr[
            -4000:
        ]

    def exec(self, service: str, *command: str, check: bool = True) -> str:
        return output("podman", "exec", self.container(service), *command, check=check)

    def up(self) -> None:
        started = time.monotonic()
        # podman-compose ignores `condition: service_healthy` with podman older than 4.6 (and
        # podman without systemd runs no health checks by itself): the database and the broker
        # are started and waited for first, then the rest, whose migrate service runs once.
        self.compose("up", "-d", "--no-build", "postgres", "redis")
        wait_for(
            "PostgreSQL accepting connections",
            lambda: (
                run(
                    "podman",
                    "exec",
                    self.container("postgres"),
                    "pg_isready",
                    "-U",
                    "greenai",
                    "-d",
                    "greenai",
                    capture=True,
                    check=False,
                ).returncode
                == 0
            ),
            timeout=300,
            diagnose=lambda: self.logs("postgres"),
        )
        wait_for(
            "Redis answering PING",
            lambda: (
                "PONG"
                in run(
                    "podman",
                    "exec",
                    self.container("redis"),
                    "redis-cli",
                    "ping",
                    capture=True,
                    check=False,
                ).stdout
            ),
            timeout=300,
            diagnose=lambda: self.logs("redis"),
        )
        # Then migrate alone, and once it has succeeded web, worker and beat. --no-deps: podman
        # 4.3 cannot start a container whose --requires chain holds a finished one (migrate);
        # --no-recreate: podman-compose would otherwise recreate what it just started.
        self.compose("up", "-d", "--no-build", "--no-recreate", "--no-deps", "migrate")
        wait_for(
            "migrations applied",
            lambda: self.state("migrate") == ("exited", 0),
            timeout=600,
            diagnose=lambda: self.logs("migrate"),
        )
        self.compose(
            "up", "-d", "--no-build", "--no-recreate", "--no-deps", "web", "worker", "beat"
        )
        wait_for(
            "web healthy on /health",
            self.health_ok,
            timeout=600,
            diagnose=lambda: self.logs("web"),
        )
        wait_for(
            "worker answering a ping",
            lambda: (
                "pong"
                in run(
                    "podman",
                    "exec",
                    self.container("worker"),
                    "celery",
                    "-A",
                    "greenai_site",
                    "inspect",
                    "ping",
                    "--timeout",
                    "10",
                    capture=True,
                    check=False,
                ).stdout
            ),
            timeout=600,
            every=5,
            diagnose=lambda: self.logs("worker"),
        )
        wait_for(
            "beat's schedule file written",
            lambda: (
                run(
                    "podman",
                    "exec",
                    self.container("beat"),
                    "sh",
                    "-c",
                    "ls /var/lib/greenai/celerybeat-schedule*",
                    capture=True,
                    check=False,
                ).returncode
                == 0
            ),
            timeout=600,
            diagnose=lambda: self.logs("beat"),
        )
        timings.setdefault("stack up (first)", time.monotonic() - started)

    def health_ok(self) -> bool:
        try:
            answer = requests.get(f"{self.url}/health", timeout=10)
        except requests.RequestException:
            return False
        return answer.status_code == 200 and answer.json()["database"] == "ok"

    def down(self, *args: str) -> None:
        self.compose("down", *args, check=False)


def log_in(stack: Stack) -> requests.Session:
    stack.exec(
        "web",
        "python",
        "manage.py",
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; U = get_user_model(); "
        "U.objects.filter(username='deploy-check').exists() or "
        f"U.objects.create_superuser('deploy-check', 'check@example.com', '{PASSWORD}')",
    )
    session = requests.Session()
    page = session.get(f"{stack.url}/accounts/login/", timeout=30)
    assert page.status_code == 200, page.status_code
    answer = session.post(
        f"{stack.url}/accounts/login/",
        data={
            "username": "deploy-check",
            "password": PASSWORD,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        headers={"Referer": f"{stack.url}/accounts/login/"},
        timeout=30,
    )
    assert answer.status_code == 200 and not answer.url.endswith("/accounts/login/"), answer.url
    log("logged in")
    return session


def push_from_the_agent_container(stack: Stack) -> None:
    token = stack.exec("web", "python", "manage.py", "createcollector", "deploy-check").split()[-1]
    network = output(
        "podman",
        "inspect",
        stack.container("web"),
        "--format",
        "{{range $name, $_ := .NetworkSettings.Networks}}{{$name}} {{end}}",
    ).split()[0]
    result = run(
        "podman",
        "run",
        "--rm",
        "--label",
        LABEL,
        "--network",
        network,
        "-e",
        "GREENAI_SERVER=http://web:8000",
        "-e",
        f"GREENAI_TOKEN={token}",
        AGENT_IMAGE,
        "--source",
        "sim:2",
        "--hostname",
        "deploy-check-node",
        "--interval",
        "2",
        "--once",
        capture=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    log("the agent container pushed a batch")


def energy_kwh(session: requests.Session, stack: Stack) -> float:
    today = datetime.now(UTC).date()
    answer = session.get(
        f"{stack.url}/api/v1/footprint",
        params={"start": str(today - timedelta(days=1)), "end": str(today + timedelta(days=1))},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text[:2000]
    return answer.json()["energy_kwh"]


def render_pdf_in_the_worker(stack: Stack) -> None:
    month = f"{datetime.now(UTC):%Y-%m}"
    started = time.monotonic()
    path = stack.exec(
        "worker", "python", "manage.py", "monthly_report", month, "--output", "/tmp/check.pdf"
    ).splitlines()[-1]
    timings["monthly PDF in the worker"] = time.monotonic() - started
    whoami = stack.exec("worker", "id", "-u")
    assert whoami == "10001", whoami
    local = stack.workdir / "report.pdf"
    run("podman", "cp", f"{stack.container('worker')}:{path}", str(local))
    assert local.read_bytes().startswith(b"%PDF"), path
    if shutil.which("pdftotext"):
        text = output("pdftotext", str(local), "-")
        assert "GreenAI" in text or "kWh" in text, text[:500]
    log(f"monthly PDF rendered in the worker as uid {whoami}: {local.stat().st_size} bytes")


def check_variables_reach_the_app(stack: Stack) -> None:
    shards = stack.exec(
        "worker",
        "python",
        "manage.py",
        "shell",
        "-c",
        "from django.conf import settings; print(settings.ROLLUP_SHARDS)",
    )
    assert shards.splitlines()[-1] == "3", shards
    assert requests.get(f"{stack.url}/metrics", timeout=30).status_code == 401
    answer = requests.get(
        f"{stack.url}/metrics",
        headers={"Authorization": f"Bearer {stack.metrics_token}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.status_code
    log("variables from the env file reach web and worker (METRICS_TOKEN, ROLLUP_SHARDS)")


# --- Kubernetes under podman kube play ----------------------------------------------------------


def kube_play(stack: Stack) -> None:
    """The web, worker and beat Deployments start, against the compose stack's database."""
    import yaml

    run("podman", "tag", APP_IMAGE, KUBE_IMAGE)
    kube = ROOT / "deploy" / "kubernetes"
    config = yaml.safe_load((kube / "greenai-config.yaml").read_text())
    config["data"]["ALLOWED_HOSTS"] = "localhost"
    secret = yaml.safe_load((kube / "greenai-secret.yaml").read_text())
    env = dict(line.split("=", 1) for line in stack.env_file.read_text().splitlines() if line)
    secret["stringData"].update(
        SECRET_KEY=env["SECRET_KEY"],
        DATABASE_URL=f"postgres://greenai:{env['POSTGRES_PASSWORD']}@postgres:5432/greenai",
        METRICS_TOKEN=stack.metrics_token,
    )
    # podman 4.3 cannot read a Secret for envFrom (from a played file it is ignored, from its
    # secret store it fails to decode it): the played copy takes the same values from a
    # ConfigMap instead. Everything else is played as written.
    secret_values = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "greenai-secrets-check", "namespace": "greenai"},
        "data": secret["stringData"],
    }
    app = [d for d in yaml.safe_load_all((kube / "greenai-app.yaml").read_text()) if d]
    deployments = [d for d in app if d["kind"] == "Deployment"]
    for deployment in deployments:
        deployment["spec"]["replicas"] = 1
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            for source in container["envFrom"]:
                if source.get("secretRef", {}).get("name") == secret["metadata"]["name"]:
                    source["configMapRef"] = {"name": "greenai-secrets-check"}
                    del source["secretRef"]
    play = stack.workdir / "kube-play.yaml"
    play.write_text(yaml.safe_dump_all([config, secret_values, *deployments]))
    network = output(
        "podman",
        "inspect",
        stack.container("web"),
        "--format",
        "{{range $name, $_ := .NetworkSettings.Networks}}{{$name}} {{end}}",
    ).split()[0]
    started = time.monotonic()
    media_existed = run("podman", "volume", "exists", "greenai-media", check=False).returncode == 0
    # kube play makes its default network even when given another one.
    kube_network = "podman-default-kube-network"
    network_existed = run("podman", "network", "exists", kube_network, check=False).returncode == 0
    try:
        run("podman", "kube", "play", "--network", network, str(play))

        def running() -> bool:
            ids = output(
                "podman",
                "ps",
                "-a",
                "-q",
                "--filter",
                "label=app.kubernetes.io/name=greenai",
                check=False,
            ).split()
            if len(ids) != 3:
                return False
            states = output(
                "podman", "inspect", "--format", "{{.State.Status}}", *ids, check=False
            ).split()
            return states == ["running"] * 3

        def kube_logs() -> str:
            return output("podman", "ps", "-a", "--format", "{{.Names}} {{.State}}", check=False)

        wait_for("web, worker and beat Deployments running under kube play", running, 300)
        web = output(
            "podman",
            "ps",
            "--filter",
            "label=app.kubernetes.io/component=web",
            "--format",
            "{{.Names}}",
        ).split()[0]
        wait_for(
            "the kube-played web answering /health",
            lambda: (
                run(
                    "podman",
                    "exec",
                    web,
                    "curl",
                    "--fail",
                    "--silent",
                    "-H",
                    "Host: localhost",
                    "http://127.0.0.1:8000/health",
                    capture=True,
                    check=False,
                ).returncode
                == 0
            ),
            300,
            diagnose=kube_logs,
        )
        timings["kube play: healthy"] = time.monotonic() - started
    finally:
        run("podman", "kube", "down", str(play), check=False)
        run("podman", "rmi", KUBE_IMAGE, check=False)
        if not media_existed:  # the claim kube play made into a volume
            run("podman", "volume", "rm", "-f", "greenai-media", check=False)
        if not network_existed:
            run("podman", "network", "rm", kube_network, check=False)


# --- cleanup ----------------------------------------------------------------------------------


def remove_what_the_check_made(stack: Stack | None, keep_images: bool) -> None:
    if stack is not None:
        stack.down("--volumes")
    # podman-compose puts the project's containers in a pod of its own.
    if run("podman", "pod", "exists", f"pod_{PROJECT}", check=False).returncode == 0:
        run("podman", "pod", "rm", "-f", f"pod_{PROJECT}", check=False)
    compose_label = f"io.podman.compose.project={PROJECT}"
    _remove_labelled(("container", "ls", "-a"), "container", (LABEL, compose_label))
    _remove_labelled(("pod", "ls", "-a"), "pod", (LABEL,))
    _remove_labelled(("volume", "ls"), "volume", (LABEL, compose_label))
    _remove_labelled(("network", "ls"), "network", (LABEL, compose_label))
    if not keep_images:
        _remove_labelled(("images",), "image", (LABEL,))


def _remove_labelled(list_args: tuple, kind: str, labels: tuple) -> None:
    """Removes what `podman LIST_ARGS` lists under any of these labels."""
    ids = []
    for label in labels:
        ids += output("podman", *list_args, "-q", "--filter", f"label={label}", check=False).split()
    if ids:
        run("podman", kind, "rm", "-f", *sorted(set(ids)), check=False)


def main() -> int:
    started = time.monotonic()
    os.environ.setdefault("CONTAINERS_CONF", str(ROOT / "deploy/podman/containers.conf"))
    keep_images = os.environ.get("GREENAI_DEPLOY_KEEP_IMAGES") == "1"
    stack = None
    workdir = Path(tempfile.mkdtemp(prefix="greenai-deploy-check."))
    try:
        remove_what_the_check_made(None, keep_images=True)  # leftovers of an interrupted run
        build_images()
        check_images()
        stack = Stack(workdir)
        stack.up()
        check_variables_reach_the_app(stack)
        session = log_in(stack)
        before = energy_kwh(session, stack)
        push_from_the_agent_container(stack)
        stack.exec("worker", "python", "manage.py", "rollup")
        after = wait_for(
            "the pushed energy in the API",
            lambda: (value := energy_kwh(session, stack)) > before and value,
            timeout=300,
            every=5,
        )
        log(f"API energy: {before} kWh before the push, {after} kWh after")
        render_pdf_in_the_worker(stack)
        kube_play(stack)
        # The stack restarted: the data is on the volumes.
        stack.down()
        stack.up()
        session = log_in(stack)
        assert energy_kwh(session, stack) == after, "the energy changed across the restart"
        log("after a restart of the stack the energy is still there")
    finally:
        remove_what_the_check_made(stack, keep_images)
        shutil.rmtree(workdir, ignore_errors=True)
    timings["deploy check"] = time.monotonic() - started
    log("passed: " + json.dumps({key: round(value, 1) for key, value in timings.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
