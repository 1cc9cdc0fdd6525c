"""docker/compose.yaml, rendered by the real Compose CLI (``docker compose config``), and what it
promises: nothing published beyond 127.0.0.1, no ``dagster dev``, the daemon in the code
server's PID namespace, a health check on every service, the data on named volumes, credentials
only from docker/.env, and commands that exist in the installed packages."""

from __future__ import annotations

import posixpath
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from finsig_assets_tests.deployment.docker_files import (
    COMPOSE_FILE,
    DOCKER,
    ENV_EXAMPLE,
    GPU_FILE,
    REPO,
    compose_config,
    dockerfile,
    env_file,
)

DAGSTER_SERVICES = ("codeserver", "webserver", "daemon")
PASSWORD = "pw-from-the-env-file-7f3a"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("compose")
    return compose_config(tmp, COMPOSE_FILE, env_file=env_file(tmp, PASSWORD))


@pytest.fixture(scope="module")
def rendered_gpu(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("compose-gpu")
    return compose_config(tmp, COMPOSE_FILE, GPU_FILE, env_file=env_file(tmp, PASSWORD))


def image_cmd() -> list[str]:
    _, stages = dockerfile()
    return stages[-1].of("CMD")[-1].json_or_shell()


def effective_command(service: dict) -> list[str]:
    """What the container runs: its compose command, else the image's CMD (project image only)."""
    if service.get("command"):
        return list(service["command"])
    assert "build" in service, "a service without a command of its own must be built from the project image"
    return image_cmd()


def healthcheck_argv(service: dict) -> list[str]:
    test = service["healthcheck"]["test"]
    assert test[0] in ("CMD", "CMD-SHELL"), test
    return test[1:] if test[0] == "CMD" else ["/bin/sh", "-c", test[1]]


def mounts(service: dict) -> dict[str, dict]:
    return {v["target"]: v for v in service.get("volumes", [])}


def test_expected_services(rendered):
    assert set(rendered["services"]) == {"postgres", "codeserver", "webserver", "daemon", "mlflow"}


@pytest.mark.parametrize("which", ["plain", "gpu"])
def test_ports_are_published_on_loopback_only(rendered, rendered_gpu, which):
    config = rendered if which == "plain" else rendered_gpu
    published = {}
    for name, service in config["services"].items():
        for port in service.get("ports", []):
            assert port.get("host_ip") == "127.0.0.1", f"{name} publishes {port} beyond 127.0.0.1"
            published[name] = int(port["target"])
    assert published == {"webserver": 3000, "mlflow": 5000}
    codeserver = config["services"]["codeserver"]
    assert not codeserver.get("ports") and "4000" in [str(p) for p in codeserver.get("expose", [])]


@pytest.mark.parametrize("which", ["plain", "gpu"])
def test_nothing_runs_dagster_dev(rendered, rendered_gpu, which):
    config = rendered if which == "plain" else rendered_gpu
    for name, service in config["services"].items():
        argvs = [service.get("command") or [], service.get("entrypoint") or [], healthcheck_argv(service)]
        if "build" in service:
            argvs.append(effective_command(service))
        for argv in argvs:
            text = " ".join(argv)
            assert "dagster dev" not in text and "dagster-dev" not in text, f"{name} runs `dagster dev`: {text}"


def test_the_daemon_shares_the_code_servers_pid_namespace(rendered):
    daemon = rendered["services"]["daemon"]
    assert daemon.get("pid") == "service:codeserver"
    dependency = daemon["depends_on"]["codeserver"]
    assert dependency["condition"] == "service_healthy" and dependency.get("restart") is True


@pytest.mark.parametrize("which", ["plain", "gpu"])
def test_every_service_has_a_health_check_and_waits_for_healthy_dependencies(rendered, rendered_gpu, which):
    config = rendered if which == "plain" else rendered_gpu
    for name, service in config["services"].items():
        check = service.get("healthcheck")
        assert check and not check.get("disable") and check["test"][0] in ("CMD", "CMD-SHELL"), f"{name}: no health check"
        for dependency, how in (service.get("depends_on") or {}).items():
            assert how["condition"] == "service_healthy", f"{name} starts before {dependency} is healthy"
    services = config["services"]
    assert set(services["codeserver"]["depends_on"]) == {"postgres", "mlflow"}
    assert set(services["webserver"]["depends_on"]) >= {"postgres", "codeserver"}
    assert set(services["mlflow"]["depends_on"]) == {"postgres"}


def test_health_checks_probe_the_right_ports(rendered):
    services = rendered["services"]
    assert healthcheck_argv(services["codeserver"]) == ["dagster", "api", "grpc-health-check", "-p", "4000"]
    cmd = image_cmd()
    assert cmd[:3] == ["dagster", "code-server", "start"] and cmd[cmd.index("-p") + 1] == "4000"
    assert cmd[cmd.index("-h") + 1] == "0.0.0.0" and cmd[cmd.index("-m") + 1] == "finsig_assets.definitions"
    assert "http://127.0.0.1:3000/server_info" in " ".join(healthcheck_argv(services["webserver"]))
    assert "http://127.0.0.1:5000/health" in " ".join(healthcheck_argv(services["mlflow"]))
    assert "pg_isready" in " ".join(healthcheck_argv(services["postgres"]))
    assert healthcheck_argv(services["daemon"]) == ["dagster-daemon", "liveness-check"]


def test_data_lives_on_named_volumes(rendered):
    services, volumes = rendered["services"], rendered["volumes"]
    assert {"landing", "warehouse", "mlflow-artifacts", "postgres-data", "dagster-home"} <= set(volumes)

    def volume_at(service: str, target: str) -> str:
        mount = mounts(services[service]).get(target)
        assert mount is not None and mount["type"] == "volume", f"{service}: no named volume at {target}"
        return mount["source"]

    code_env = services["codeserver"]["environment"]
    assert volume_at("codeserver", code_env["FINSIG_LANDING_DIR"]) == "landing"
    assert volume_at("codeserver", posixpath.dirname(code_env["FINSIG_DUCKDB_PATH"])) == "warehouse"
    assert volume_at("postgres", "/var/lib/postgresql/data") == "postgres-data"
    mlflow_cmd = services["mlflow"]["command"]
    assert volume_at("mlflow", mlflow_cmd[mlflow_cmd.index("--artifacts-destination") + 1]) == "mlflow-artifacts"


def test_dagster_home_is_a_shared_volume_with_the_instance_yaml_mounted_read_only(rendered):
    for name in DAGSTER_SERVICES:
        service = rendered["services"][name]
        home = service["environment"]["DAGSTER_HOME"]
        assert home == "/data/dagster"
        by_target = mounts(service)
        assert by_target[home]["type"] == "volume" and by_target[home]["source"] == "dagster-home"
        yaml_mount = by_target[posixpath.join(home, "dagster.yaml")]
        assert yaml_mount["type"] == "bind" and yaml_mount.get("read_only") is True
        assert Path(yaml_mount["source"]) == DOCKER / "dagster.yaml"


def test_dagster_processes_get_the_instance_url_and_the_workspace(rendered):
    instance = yaml.safe_load((DOCKER / "dagster.yaml").read_text())
    url_variable = instance["storage"]["postgres"]["postgres_url"]["env"]
    for name in DAGSTER_SERVICES:
        url = rendered["services"][name]["environment"][url_variable]
        assert urlparse(url).hostname == "postgres" and urlparse(url).port == 5432
    for name in ("webserver", "daemon"):
        service = rendered["services"][name]
        command = service["command"]
        workspace = command[command.index("-w") + 1]
        mount = mounts(service)[workspace]
        assert mount["type"] == "bind" and mount.get("read_only") and Path(mount["source"]) == DOCKER / "workspace.yaml"
    web = rendered["services"]["webserver"]["command"]
    assert web[0] == "dagster-webserver" and web[web.index("-h") + 1] == "0.0.0.0" and web[web.index("-p") + 1] == "3000"
    assert rendered["services"]["daemon"]["command"][:2] == ["dagster-daemon", "run"]


def test_database_urls_name_a_driver_that_is_installed(rendered):
    """SQLAlchemy 2 reads a bare postgresql:// as psycopg 3, which is not installed: the URLs
    must name psycopg2, or every Dagster process and the MLflow server fail at start."""
    import sqlalchemy

    urls = [rendered["services"][name]["environment"]["DAGSTER_POSTGRES_URL"] for name in DAGSTER_SERVICES]
    urls.append(rendered["services"]["mlflow"]["environment"]["MLFLOW_BACKEND_STORE_URI"])
    for url in urls:
        engine = sqlalchemy.create_engine(url)  # imports the driver; connects to nothing
        assert engine.dialect.driver == "psycopg2", url
        engine.dispose()


def test_codeserver_environment(rendered):
    env = rendered["services"]["codeserver"]["environment"]
    for name in ("FINSIG_HOME", "FINSIG_LANDING_DIR", "FINSIG_DUCKDB_PATH", "DAGSTER_HOME", "DAGSTER_POSTGRES_URL"):
        assert env.get(name), f"codeserver lacks {name}"
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"


def test_mlflow_server_on_postgres_serving_artifacts(rendered):
    from mlflow.server.security_utils import is_allowed_host_header

    service = rendered["services"]["mlflow"]
    command = service["command"]
    assert command[:2] == ["mlflow", "server"] and "--serve-artifacts" in command
    assert command[command.index("--host") + 1] == "0.0.0.0" and command[command.index("--port") + 1] == "5000"
    store = urlparse(service["environment"]["MLFLOW_BACKEND_STORE_URI"])
    assert (store.scheme, store.hostname, store.port, store.path) == ("postgresql+psycopg2", "postgres", 5432, "/mlflow")
    init = "\n".join(p.read_text() for p in sorted((DOCKER / "postgres-init").iterdir()))
    assert "CREATE DATABASE mlflow" in init
    mount = mounts(rendered["services"]["postgres"])["/docker-entrypoint-initdb.d"]
    assert Path(mount["source"]) == DOCKER / "postgres-init" and mount.get("read_only")
    # MLflow 3 refuses requests whose Host header it does not know: the code server's must pass.
    hosts = [h.strip() for h in command[command.index("--allowed-hosts") + 1].split(",")]
    tracking = urlparse(rendered["services"]["codeserver"]["environment"]["MLFLOW_TRACKING_URI"])
    for host in (tracking.netloc, "127.0.0.1:5000", "localhost:5000"):
        assert is_allowed_host_header(hosts, host), f"mlflow would refuse Host: {host}"


def test_credentials_come_from_the_env_file_only(rendered):
    services = rendered["services"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == PASSWORD
    assert urlparse(services["daemon"]["environment"]["DAGSTER_POSTGRES_URL"]).password == PASSWORD
    assert urlparse(services["mlflow"]["environment"]["MLFLOW_BACKEND_STORE_URI"]).password == PASSWORD
    example = dict(
        line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines() if line.strip() and not line.startswith("#")
    )
    for path in [COMPOSE_FILE, GPU_FILE, DOCKER / "dagster.yaml", DOCKER / "workspace.yaml"]:
        text = path.read_text()
        assert example["POSTGRES_PASSWORD"] not in text, f"{path.name} holds the example password"
        for line in text.splitlines():
            if "PASSWORD" in line and not line.lstrip().startswith("#"):
                assert "${POSTGRES_PASSWORD" in line, f"{path.name}: a password not taken from docker/.env: {line}"
    assert "docker/.env" in (REPO / ".gitignore").read_text().split()


def test_postgres_image_is_pinned(rendered):
    image = rendered["services"]["postgres"]["image"]
    name, _, tag = image.partition(":")
    assert name == "postgres" and any(c.isdigit() for c in tag) and tag != "latest", image


def test_project_image_services_share_one_build(rendered):
    built = {name: s for name, s in rendered["services"].items() if "build" in s}
    assert set(built) == {"codeserver", "webserver", "daemon", "mlflow"}
    assert len({s["image"] for s in built.values()}) == 1
    for service in built.values():
        assert Path(service["build"]["context"]) == REPO
        assert Path(service["build"]["dockerfile"]).as_posix().endswith("docker/Dockerfile")
        base_default, _ = dockerfile()
        assert service["build"]["args"]["BASE_IMAGE"] == base_default["BASE_IMAGE"]


def test_gpu_override_reserves_a_gpu_for_the_code_server_only(rendered, rendered_gpu):
    def devices(config: dict, name: str) -> list:
        return (((config["services"][name].get("deploy") or {}).get("resources") or {}).get("reservations") or {}).get(
            "devices"
        ) or []

    [device] = devices(rendered_gpu, "codeserver")
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert all(not devices(rendered_gpu, name) for name in rendered_gpu["services"] if name != "codeserver")
    assert all(not devices(rendered, name) for name in rendered["services"])


def test_a_missing_password_is_refused(tmp_path):
    from finsig_assets_tests.deployment.docker_files import compose_command

    env = tmp_path / "env"
    env.write_text("POSTGRES_USER=finsig\n")
    base, environ = compose_command(tmp_path)
    out = subprocess.run(
        [*base, "-f", str(COMPOSE_FILE), "--env-file", str(env), "config", "--format", "json"],
        env=environ, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode != 0 and "POSTGRES_PASSWORD" in out.stderr


def test_service_commands_exist_in_the_installed_packages(rendered):
    """Each project-image service's command and health check, with ``--help``, from the venv;
    every option the compose file passes must appear in that help."""
    bin_dir = Path(sys.executable).parent
    argvs: dict[tuple[str, ...], set[str]] = {}
    for name, service in rendered["services"].items():
        if "build" not in service:
            continue
        for argv in (effective_command(service), healthcheck_argv(service)):
            if argv[0] == "python":
                assert argv[1] == "-c"
                compile(argv[2], f"<{name} health check>", "exec")
                continue
            words = []
            for word in argv:
                if word.startswith("-"):
                    break
                words.append(word)
            options = {w.split("=", 1)[0] for w in argv[len(words):] if w.startswith("-")}
            argvs.setdefault(tuple(words), set()).update(options)
    expected = {
        ("dagster", "code-server", "start"),
        ("dagster", "api", "grpc-health-check"),
        ("dagster-webserver",),
        ("dagster-daemon", "run"),
        ("dagster-daemon", "liveness-check"),
        ("mlflow", "server"),
    }
    assert set(argvs) == expected
    started = time.monotonic()
    procs = {}
    for words in argvs:
        executable = bin_dir / words[0]
        assert executable.is_file(), f"{words[0]} is not installed in {bin_dir}"
        procs[words] = subprocess.Popen(
            [str(executable), *words[1:], "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
    for words, proc in procs.items():
        output, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{' '.join(words)} --help failed:\n{output}"
        for option in argvs[words]:
            assert option in output.replace(",", " ").split(), f"{' '.join(words)} has no option {option}"
    assert time.monotonic() - started < 120


def test_make_up_needs_the_env_file(tmp_path):
    """``make up`` says what to do without docker/.env, refuses the example's placeholder
    password, and otherwise builds and starts the stack with the env file (``-n``: printed)."""
    if shutil.which("make") is None:
        pytest.skip("no make")
    (tmp_path / "docker").mkdir()
    shutil.copy(REPO / "Makefile", tmp_path / "Makefile")
    out = subprocess.run(["make", "up"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "cp docker/.env.example docker/.env" in out.stderr
    shutil.copy(ENV_EXAMPLE, tmp_path / "docker" / ".env")
    out = subprocess.run(["make", "up"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "POSTGRES_PASSWORD" in out.stderr and "docker compose" not in out.stdout
    env_path = tmp_path / "docker" / ".env"
    env_path.write_text(env_path.read_text().replace("POSTGRES_PASSWORD=change-me", f"POSTGRES_PASSWORD={PASSWORD}"))
    up = subprocess.run(["make", "-n", "up", "GPU=1"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    down = subprocess.run(["make", "-n", "down"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert up.returncode == 0 and down.returncode == 0
    [up_cmd] = [line for line in up.stdout.splitlines() if line.startswith("docker compose")]
    [down_cmd] = [line for line in down.stdout.splitlines() if line.startswith("docker compose")]
    assert up_cmd.split() == [
        "docker", "compose", "-f", "docker/compose.yaml", "-f", "docker/compose.gpu.yaml", "--env-file", "docker/.env",
        "up", "--build", "--detach", "--wait",
    ]
    assert down_cmd.split() == ["docker", "compose", "-f", "docker/compose.yaml", "--env-file", "docker/.env", "down"]
