"""The production profile for tests: Dagster over PostgreSQL as three separate processes.

``docker/dagster.yaml`` (PostgreSQL storage, queued runs, pools, run monitoring with finsig's
launcher) over a fresh database of the local PostgreSQL, and on 127.0.0.1: the code location
(``dagster code-server start``), ``dagster-webserver`` and ``dagster-daemon``, each its own process
group, as docker/compose.yaml runs them in containers. Each process can be killed and restarted
alone (the crash-recovery check). Everything is removed on exit: processes, then the database.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import psycopg2

from finsig_assets_tests.integration.live_dagster import REPO_ROOT, LiveDagster, free_port, stop_process_group

POSTGRES_ADMIN = os.environ.get("FINSIG_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


class PostgresDatabase:
    """A database created for one test and dropped after it, even when the test failed."""

    def __init__(self, prefix: str = "finsig_test"):
        self.name = f"{prefix}_{uuid.uuid4().hex[:10]}"

    @property
    def libpq_url(self) -> str:
        base, _, _ = POSTGRES_ADMIN.rpartition("/")
        return f"{base}/{self.name}"

    @property
    def url(self) -> str:
        """SQLAlchemy's URL (Dagster, MLflow): the driver named, as SQLAlchemy 2 defaults to psycopg 3."""
        return self.libpq_url.replace("postgresql://", "postgresql+psycopg2://", 1)

    def _admin(self, sql: str) -> None:
        connection = psycopg2.connect(POSTGRES_ADMIN)
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql)
        finally:
            connection.close()

    def admin_query(self, sql: str, params: tuple = ()) -> list[tuple]:
        """A query on the server's admin database (``pg_database`` and the like)."""
        connection = psycopg2.connect(POSTGRES_ADMIN)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall()
        finally:
            connection.close()

    def query(self, sql: str) -> list[tuple]:
        with psycopg2.connect(self.libpq_url) as connection, connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall()

    def __enter__(self) -> "PostgresDatabase":
        self._admin(f'CREATE DATABASE "{self.name}"')
        return self

    def __exit__(self, *exc) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def production_home(dagster_home: Path, code_server_port: int) -> Path:
    """DAGSTER_HOME with docker/dagster.yaml, and a workspace naming the code server; returns the workspace."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO_ROOT / "docker" / "dagster.yaml", dagster_home / "dagster.yaml")
    workspace = dagster_home / "workspace.yaml"
    workspace.write_text(
        "load_from:\n  - grpc_server:\n"
        f"      host: 127.0.0.1\n      port: {code_server_port}\n      location_name: finsig\n"
    )
    return workspace


class ProductionDagster(LiveDagster):
    """Code server, webserver and daemon over ``env``'s DAGSTER_HOME (with DAGSTER_POSTGRES_URL)."""

    def __init__(self, env: dict[str, str], log_dir: Path, start_daemon: bool = True):
        """``start_daemon=False``: the daemon waits for ``start("daemon")`` (e.g. after sensors are switched off)."""
        self.start_daemon = start_daemon
        self.code_server_port = free_port()
        self.workspace = production_home(Path(env["DAGSTER_HOME"]), self.code_server_port)
        os.environ["DAGSTER_POSTGRES_URL"] = env["DAGSTER_POSTGRES_URL"]  # this process's instance reads it too
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir = log_dir
        # Creates the schema once, before three processes would race to.
        super().__init__(env, log_dir / "webserver.log")
        self.processes: dict[str, subprocess.Popen] = {}
        self._logs = {}

    def commands(self) -> dict[str, list[str]]:
        bin_dir = Path(sys.executable).parent  # the commands compose runs, from this environment
        return {
            "codeserver": [str(bin_dir / "dagster"), "code-server", "start", "-h", "127.0.0.1", "-p", str(self.code_server_port),
                           "-m", "finsig_assets.definitions", "--location-name", "finsig"],
            "webserver": [str(bin_dir / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(self.port), "-w", str(self.workspace)],
            "daemon": [str(bin_dir / "dagster-daemon"), "run", "-w", str(self.workspace)],
        }

    def start(self, name: str) -> subprocess.Popen:
        log = self._logs.get(name) or open(self.log_dir / f"{name}.log", "a")
        self._logs[name] = log
        self.processes[name] = subprocess.Popen(
            self.commands()[name], env=self.env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        return self.processes[name]

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal the process group of ``name`` (its children too, as a container stop would)."""
        proc = self.processes[name]
        try:
            os.killpg(os.getpgid(proc.pid), sig)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)

    def code_server_healthy(self) -> bool:
        probe = subprocess.run(
            [sys.executable, "-m", "dagster", "api", "grpc-health-check", "-p", str(self.code_server_port), "-h", "127.0.0.1"],
            env=self.env, capture_output=True, text=True, timeout=60,
        )
        return probe.returncode == 0

    def __enter__(self) -> "ProductionDagster":
        self.start("codeserver")
        self.wait(self.code_server_healthy, timeout=180, what="the code server's health check")
        self.start("webserver")
        if self.start_daemon:
            self.start("daemon")
        self.proc = self.processes["webserver"]
        self.wait(self._serving, timeout=180, what="the webserver to answer")
        self.location, self.repository = self._repository()
        return self

    def __exit__(self, *exc) -> None:
        for name in ("daemon", "webserver", "codeserver"):
            stop_process_group(self.processes.get(name), grace=20)
        for log in self._logs.values():
            log.close()
        self.instance.dispose()
        os.environ.pop("DAGSTER_POSTGRES_URL", None)

    def daemon_log_text(self) -> str:
        path = self.log_dir / "daemon.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def log_tail(self, chars: int = 4000) -> str:
        out = []
        for name in ("codeserver", "webserver", "daemon"):
            path = self.log_dir / f"{name}.log"
            if path.exists():
                out.append(f"--- {name}\n" + path.read_text(errors="replace")[-chars:])
        return "\n".join(out)

    def wait_quiet_ticks(self, sensor: str, ticks: int, timeout: float, what: str) -> None:
        """Nothing queued or running across ``ticks`` ticks of ``sensor`` (ticks that started after it
        was first seen so, and ended): e.g. the automation has nothing left."""
        quiet = {"since": None}

        def settled() -> bool:
            if self.busy():
                quiet["since"] = None
                return False
            quiet["since"] = quiet["since"] or time.time()
            return len(self.finished_ticks(sensor, quiet["since"])) >= ticks

        self.wait(settled, timeout, what, every=2.0)

    def materializations(self, key: dg.AssetKey) -> dict[str, int]:
        """Materialization events per partition of ``key``."""
        counts: dict[str, int] = {}
        for record in self.instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key), limit=10000).records:
            partition = record.event_log_entry.dagster_event.partition
            counts[partition] = counts.get(partition, 0) + 1
        return counts
