"""Deployment files are not run here (no Docker, systemd or Kubernetes): check them by reading."""

from pathlib import Path

import yaml

from collectors.agent.config import parse_config

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def daemonset() -> dict:
    return yaml.safe_load((DEPLOY / "kubernetes" / "greenai-agent.yaml").read_text())


def test_daemonset_follows_the_nvidia_device_plugin_conventions():
    spec = daemonset()["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    env = {item["name"]: item for item in container["env"]}
    assert spec["runtimeClassName"] == "nvidia"
    assert spec["hostPID"] is True
    assert env["NVIDIA_VISIBLE_DEVICES"]["value"] == "all"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec[
        "tolerations"
    ]
    assert "nvidia.com/gpu.present" in spec["nodeSelector"]
    assert "nvidia.com/gpu" not in str(container.get("resources"))  # never takes a GPU


def test_daemonset_token_is_a_secret_file_never_on_the_command_line_or_in_the_environment():
    spec = daemonset()["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    env = {item["name"]: item for item in container["env"]}
    assert "GREENAI_TOKEN" not in env and "--token" not in container["args"]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["token"]["secret"]["secretName"] == "greenai-agent"
    (item,) = volumes["token"]["secret"]["items"]
    assert mounts["token"]["readOnly"] is True
    assert env["GREENAI_TOKEN_FILE"]["value"] == f"{mounts['token']['mountPath']}/{item['path']}"


def test_daemonset_spool_is_on_a_host_path_and_its_options_parse(tmp_path):
    spec = daemonset()["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    env = {item["name"]: item.get("value", "from-k8s") for item in container["env"]}
    token = tmp_path / "token"  # where the Secret would be mounted
    token.write_text("gac_from_secret\n")
    env["GREENAI_TOKEN_FILE"] = str(token)
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert env["GREENAI_SPOOL_DIR"].startswith(mounts["spool"])
    assert volumes["spool"]["hostPath"]["path"] == "/var/lib/greenai-agent"
    config = parse_config(container["args"], environ=env)
    assert config.sources == ("nvml",) and config.metrics_port == 9417
    assert config.token == "gac_from_secret" and config.sample_s == 10


def test_systemd_unit_runs_the_agent_with_a_parsable_environment_file(tmp_path):
    unit = (DEPLOY / "systemd" / "greenai-agent.service").read_text()
    assert "ExecStart=/opt/greenai-agent/bin/python -m collectors.agent" in unit
    assert "KillSignal=SIGTERM" in unit and "StateDirectory=greenai-agent" in unit
    # The token reaches the agent as a systemd credential, a file only this service reads.
    assert "LoadCredential=greenai-token:/etc/greenai/agent.token" in unit
    assert "Environment=GREENAI_TOKEN_FILE=%d/greenai-token" in unit
    env = {}
    for line in (DEPLOY / "systemd" / "greenai-agent.env").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = value
    assert "GREENAI_TOKEN" not in env
    credential = tmp_path / "greenai-token"
    credential.write_text("gac_credential\n")
    config = parse_config([], environ={**env, "GREENAI_TOKEN_FILE": str(credential)})
    assert config.sources == ("nvml", "rapl")
    assert config.token == "gac_credential" and config.sample_s == 10


def test_agent_image_holds_only_the_agent_and_its_two_dependencies():
    dockerfile = (DEPLOY / "agent" / "Dockerfile").read_text()
    assert "COPY collectors/agent collectors/agent" in dockerfile
    requirements = (DEPLOY / "agent" / "requirements.txt").read_text().split()
    pins = [line for line in requirements if "==" in line]
    assert pins == ["nvidia-ml-py==13.615.71", "prometheus-client==0.26.0"]
    project = (DEPLOY.parent / "requirements.txt").read_text()
    assert all(pin in project for pin in pins)  # the same versions as the project
