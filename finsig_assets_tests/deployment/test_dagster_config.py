"""docker/dagster.yaml and the workspace files, through Dagster's own config validation.

The production instance is validated as Dagster loads it (``dagster_instance_config``, the
instance schema), then each configurable class it names is imported and its config checked
against that class's schema; the launcher, the coordinator and the other classes that need no
database are also built. The PostgreSQL storage is not connected to (no server here): its
config is validated with DAGSTER_POSTGRES_URL set to a dummy URL.
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest
import yaml
from dagster._config import process_config, resolve_to_config_type
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config
from dagster._core.instance.ref import InstanceRef
from dagster._core.launcher import RunLauncher
from dagster._core.remote_origin import GrpcServerCodeLocationOrigin, ManagedGrpcPythonEnvCodeLocationOrigin
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._core.workspace.load import location_origins_from_yaml_paths
from dagster._serdes.config_class import ConfigurableClassData

from finsig_assets_tests.deployment.docker_files import DOCKER, REPO, dockerfile

DUMMY_URL = "postgresql://finsig:dummy@postgres.invalid:5432/dagster"
STORAGE_MODULES = ("dagster_postgres",)


@pytest.fixture
def instance_dir(tmp_path, monkeypatch) -> Path:
    """A DAGSTER_HOME holding docker/dagster.yaml, as compose mounts it."""
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", DUMMY_URL)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DOCKER / "dagster.yaml", home / "dagster.yaml")
    return home


def class_data(ref: InstanceRef) -> dict[str, ConfigurableClassData]:
    return {name: value for name, value in ref._asdict().items() if isinstance(value, ConfigurableClassData)}


def test_the_production_instance_config_passes_dagsters_validation(instance_dir):
    config, custom_instance_class = dagster_instance_config(str(instance_dir))
    assert custom_instance_class is None
    assert set(config) >= {"storage", "run_coordinator", "run_launcher", "run_monitoring", "concurrency"}
    assert config["run_monitoring"]["enabled"] is True

    ref = InstanceRef.from_dir(str(instance_dir))
    classes = class_data(ref)
    assert classes["storage_data"].module_name == "dagster_postgres"
    for name, data in classes.items():
        module = __import__(data.module_name, fromlist=[data.class_name])
        klass = getattr(module, data.class_name)
        result = process_config(resolve_to_config_type(klass.config_type()), data.config_dict)
        assert result.success, f"{name} ({data.module_name}.{data.class_name}): {result.errors}"
        if data.module_name in STORAGE_MODULES:
            # Validated, not built: building it connects to the database.
            assert result.value.get("postgres_url") == DUMMY_URL, result.value
        else:
            data.rehydrate()


def test_the_launcher_and_coordinator_are_the_ones_compose_relies_on(instance_dir):
    classes = class_data(InstanceRef.from_dir(str(instance_dir)))
    launcher = classes["run_launcher_data"].rehydrate(as_type=RunLauncher)
    # The daemon's run monitoring asks the launcher about each run's worker (by pid, in the code
    # server's PID namespace, which docker/compose.yaml shares with the daemon).
    assert type(launcher).__module__ == "finsig_assets.run_worker_health"
    assert launcher.supports_check_run_worker_health
    assert isinstance(classes["run_coordinator_data"].rehydrate(), QueuedRunCoordinator)


def test_a_mistake_in_the_instance_config_is_caught(instance_dir):
    config = yaml.safe_load((instance_dir / "dagster.yaml").read_text())
    config["run_monitoring"]["poll_interval_seconds"] = "often"
    (instance_dir / "dagster.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(DagsterInvalidConfigError):
        dagster_instance_config(str(instance_dir))


def test_the_storage_url_comes_from_the_environment(instance_dir, monkeypatch):
    monkeypatch.delenv("DAGSTER_POSTGRES_URL")
    data = class_data(InstanceRef.from_dir(str(instance_dir)))["storage_data"]
    klass = getattr(__import__(data.module_name, fromlist=[data.class_name]), data.class_name)
    result = process_config(resolve_to_config_type(klass.config_type()), data.config_dict)
    assert not result.success  # no URL in the file: without the variable there is none


def test_the_docker_workspace_points_at_the_code_server():
    [origin] = location_origins_from_yaml_paths([str(DOCKER / "workspace.yaml")])
    assert isinstance(origin, GrpcServerCodeLocationOrigin)
    assert (origin.host, origin.port, origin.location_name) == ("codeserver", 4000, "finsig")
    # The code server serves that location name on that port.
    _, stages = dockerfile()
    cmd = stages[-1].of("CMD")[-1].json_or_shell()
    assert cmd[cmd.index("--location-name") + 1] == "finsig" and cmd[cmd.index("-p") + 1] == "4000"


def test_the_repository_workspace_loads_the_same_location():
    [origin] = location_origins_from_yaml_paths([str(REPO / "workspace.yaml")])
    assert isinstance(origin, ManagedGrpcPythonEnvCodeLocationOrigin)
    assert origin.location_name == "finsig"
    assert origin.loadable_target_origin.module_name == "finsig_assets.definitions"
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["tool"]["dagster"]["code_location_name"] == origin.location_name


def test_a_broken_workspace_is_refused(tmp_path):
    path = tmp_path / "workspace.yaml"
    path.write_text("load_from:\n  - grpc_server:\n      hostname: codeserver\n      port: 4000\n")
    with pytest.raises(DagsterInvalidConfigError):
        location_origins_from_yaml_paths([str(path)])
