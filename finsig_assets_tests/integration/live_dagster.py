"""A real Dagster instance for integration tests: ``dagster dev`` (webserver, daemon, code server).

Started in its own process group (``dagster dev`` ignores SIGTERM): stopped with SIGINT, then
SIGKILL for whatever is left of the group. The test talks to it as the UI does (GraphQL over
HTTP) and reads the instance's storage directly for its waits.
"""

from __future__ import annotations

import json
import os
import signal
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import dagster as dg

from finsig_assets.instance_setup import open_instance

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def finsig_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINSIG_", "DAGSTER_", "MLFLOW_"))}
    env |= {
        "FINSIG_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "FINSIG_SENTIMENT_BACKEND": "lexicon",
        "OMP_WAIT_POLICY": "PASSIVE",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
    return env


FAST_DAEMON_DIR = Path(__file__).resolve().parent / "fast_daemon"
FAST_DAEMON_MARKER = "finsig tests: backfill daemon interval"  # fast_daemon/sitecustomize.py prints it


def fast_backfill_daemon(env: dict[str, str], seconds: float = 5) -> dict[str, str]:
    """``env`` for a Dagster daemon whose backfill daemon evaluates every ``seconds`` instead of 30
    (fast_daemon/sitecustomize.py): each stage of an asset backfill waits for the next evaluation.
    Nothing else changes, in the daemon or any other process; :meth:`LiveDagster.check_fast_backfill_daemon`
    says whether it took effect."""
    path = os.pathsep.join(p for p in (str(FAST_DAEMON_DIR), env.get("PYTHONPATH", "")) if p)
    return env | {"PYTHONPATH": path, "FINSIG_TEST_BACKFILL_INTERVAL_SECONDS": str(seconds)}


class BackgroundCli:
    """``python -m <args>`` in its own process group, its output to ``log_path``, while the test goes on;
    :meth:`finish` waits for it and fails with its output when it failed. Used as a context manager,
    whatever is left of it is stopped on exit."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path):
        self.args, self.log_path = args, log_path
        self._log = open(log_path, "w")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", *args], env=env, cwd=REPO_ROOT, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def finish(self, timeout: float = 600) -> float:
        """Seconds from its start to its end."""
        self.proc.wait(timeout=timeout)
        self._log.close()
        seconds = time.perf_counter() - self.started
        if self.proc.returncode != 0:
            output = self.log_path.read_text(errors="replace")
            raise AssertionError(f"{' '.join(self.args)} failed ({self.proc.returncode}):\n{output[-8000:]}")
        print(f"[{seconds:6.1f}s] python -m {' '.join(self.args[:4])} ... (in the background)")
        return seconds

    def __enter__(self) -> "BackgroundCli":
        return self

    def __exit__(self, *exc) -> None:
        stop_process_group(self.proc)
        self._log.close()


def twin_home(source: Path, target: Path) -> tuple[str, str]:
    """A second home over a copy of ``source``'s landing files and ``finsig.env`` (a profile's
    run there meets exactly the same input); returns the demo's first and last session."""
    target.mkdir(parents=True)
    shutil.copytree(source / "landing", target / "landing")
    shutil.copy(source / "finsig.env", target / "finsig.env")
    text = dict(line.split("=", 1) for line in (source / "finsig.env").read_text().splitlines() if "=" in line and not line.startswith("#"))
    first, last = text["FINSIG_DEMO_RANGE"].split("...")
    return first, last


def run_cli(args: list[str], env: dict[str, str], timeout: float = 600) -> str:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", *args], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    print(f"[{time.perf_counter() - started:6.1f}s] python -m {' '.join(args[:4])} ...")
    return proc.stdout + proc.stderr


class LiveDagster:
    def __init__(self, env: dict[str, str], log_path: Path):
        self.env = env
        self.port = free_port()
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.instance = open_instance(env["DAGSTER_HOME"])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "LiveDagster":
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dagster", "dev", "-m", "finsig_assets.definitions", "-h", "127.0.0.1", "-p", str(self.port)],
            env=self.env,
            cwd=REPO_ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait(self._serving, timeout=180, what="the webserver to answer")
        self.location, self.repository = self._repository()
        return self

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            pgid = os.getpgid(self.proc.pid)
            os.killpg(pgid, signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=30)
        self._log.close()

    def log_tail(self, chars: int = 6000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def daemon_log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def check_fast_backfill_daemon(self) -> None:
        """The daemon runs with :func:`fast_backfill_daemon`'s interval (else the test would only be slow)."""
        assert FAST_DAEMON_MARKER in self.daemon_log_text(), (
            f"the daemon did not take fast_daemon/sitecustomize.py's backfill interval (a Dagster upgrade?):\n{self.log_tail()}"
        )

    def _serving(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"dagster dev exited with {self.proc.returncode}:\n{self.log_tail()}")
        try:
            return "data" in self.graphql("{ version }")
        except OSError:
            return False

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            out = json.loads(response.read())
        if out.get("errors"):
            raise AssertionError(f"GraphQL errors: {out['errors']}")
        return out

    def _repository(self) -> tuple[str, str]:
        def loaded():
            data = self.graphql(
                "{ repositoriesOrError { __typename ... on RepositoryConnection { nodes { name location { name } } } } }"
            )["data"]["repositoriesOrError"]
            return data.get("nodes") or None

        nodes = self.wait(loaded, timeout=180, what="the code location to load")
        return nodes[0]["location"]["name"], nodes[0]["name"]

    def launch_backfill(self, asset_keys: list[dg.AssetKey], partition_names: list[str]) -> str:
        """``launchPartitionBackfill`` with exactly the parameters the UI's Materialize dialog sends."""
        mutation = """
        mutation LaunchPartitionBackfill($backfillParams: LaunchBackfillParams!) {
          launchPartitionBackfill(backfillParams: $backfillParams) {
            __typename
            ... on LaunchBackfillSuccess { backfillId }
            ... on PythonError { message stack }
            ... on PartitionSetNotFoundError { message }
            ... on InvalidStepError { invalidStepKey }
            ... on InvalidOutputError { stepKey invalidOutputName }
            ... on UnauthorizedError { message }
          }
        }"""
        params = {
            "tags": [],
            "assetSelection": [{"path": k.path} for k in asset_keys],
            "partitionNames": partition_names,
            "fromFailure": False,
        }
        result = self.graphql(mutation, {"backfillParams": params})["data"]["launchPartitionBackfill"]
        assert result["__typename"] == "LaunchBackfillSuccess", result
        return result["backfillId"]

    def reexecute_backfill_from_failure(self, backfill_id: str) -> str:
        """The backfill page's "Re-execute from failure": a new backfill of what failed; returns its id."""
        mutation = """
        mutation Reexecute($p: ReexecutionParams!) {
          reexecutePartitionBackfill(reexecutionParams: $p) {
            __typename
            ... on LaunchBackfillSuccess { backfillId }
            ... on PythonError { message stack }
            ... on UnauthorizedError { message }
          }
        }"""
        params = {"parentRunId": backfill_id, "strategy": "FROM_FAILURE"}
        result = self.graphql(mutation, {"p": params})["data"]["reexecutePartitionBackfill"]
        assert result["__typename"] == "LaunchBackfillSuccess", result
        return result["backfillId"]

    def set_sensor(self, name: str, running: bool) -> None:
        selector = {"repositoryLocationName": self.location, "repositoryName": self.repository, "sensorName": name}
        if running:
            mutation = "mutation($s: SensorSelector!) { startSensor(sensorSelector: $s) { __typename ... on PythonError { message } } }"
            data = self.graphql(mutation, {"s": selector})["data"]
        else:
            # stopSensor takes the sensor's id (as the UI sends it), not a selector.
            sensor = self.graphql(
                "query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) { __typename ... on Sensor { id } } }",
                {"s": selector},
            )["data"]["sensorOrError"]
            assert sensor["__typename"] == "Sensor", sensor
            mutation = "mutation($id: String!) { stopSensor(id: $id) { __typename ... on PythonError { message } } }"
            data = self.graphql(mutation, {"id": sensor["id"]})["data"]
        assert "Error" not in json.dumps(data), data

    def finished_ticks(self, sensor: str, since: float) -> list[dict]:
        """The ticks of ``sensor`` that started at or after ``since`` (epoch seconds) and have ended."""
        selector = {"repositoryLocationName": self.location, "repositoryName": self.repository, "sensorName": sensor}
        query = """
        query($s: SensorSelector!, $after: Float) {
          sensorOrError(sensorSelector: $s) {
            __typename
            ... on Sensor { sensorState { ticks(afterTimestamp: $after, limit: 20) { timestamp endTimestamp status runIds } } }
          }
        }"""
        data = self.graphql(query, {"s": selector, "after": since})["data"]["sensorOrError"]
        assert data["__typename"] == "Sensor", data
        return [t for t in data["sensorState"]["ticks"] if t["timestamp"] >= since and t["endTimestamp"] is not None]

    def wait(self, condition: Callable[[], object], timeout: float, what: str, every: float = 2.0):
        deadline = time.monotonic() + timeout
        started = time.perf_counter()
        while True:
            value = condition()
            if value:
                print(f"[{time.perf_counter() - started:6.1f}s] waited for {what}")
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{self.diagnosis()}")
            time.sleep(every)

    def diagnosis(self) -> str:
        runs = self.instance.get_runs(limit=50)
        lines = [f"{r.run_id[:8]} {r.status.value:<10} {r.job_name} {r.tags.get('dagster/asset_partition_range_start', r.tags.get('dagster/partition', ''))}"
                 f"..{r.tags.get('dagster/asset_partition_range_end', '')} {sorted(k.to_user_string() for k in (r.asset_selection or []))}"
                 for r in runs]
        backfills = [f"{b.backfill_id} {b.status.value}" for b in self.instance.get_backfills(limit=10)]
        return "runs:\n" + "\n".join(lines) + "\nbackfills: " + ", ".join(backfills) + "\nlog:\n" + self.log_tail()

    # -- reading the instance

    def materialized(self, key: dg.AssetKey) -> set[str]:
        return set(self.instance.get_materialized_partitions(key))

    def busy(self) -> bool:
        active = self.instance.get_runs(
            filters=dg.RunsFilter(
                statuses=[
                    dg.DagsterRunStatus.QUEUED,
                    dg.DagsterRunStatus.NOT_STARTED,
                    dg.DagsterRunStatus.STARTING,
                    dg.DagsterRunStatus.STARTED,
                    dg.DagsterRunStatus.CANCELING,
                ]
            )
        )
        backfills = [b for b in self.instance.get_backfills(limit=50) if b.status.value in ("REQUESTED", "CANCELING")]
        return bool(active or backfills)


def stop_process_group(proc: subprocess.Popen | None, grace: float = 30) -> None:
    """SIGINT to the process group of ``proc`` (started with ``start_new_session=True``, so the
    group's id is its pid), then SIGKILL for whatever is left of the group, even when ``proc``
    itself has already exited (Dagster's processes ignore SIGTERM)."""
    if proc is None:
        return
    try:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=grace)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


class LiveWebserverDaemon(LiveDagster):
    """``dagster-webserver`` and ``dagster-daemon`` as two separate processes over one instance, as
    a deployment runs them (not ``dagster dev``), both loading the repository's ``workspace.yaml``
    (code location ``finsig``; each starts its own code server). Each runs in its own process
    group with its own log (``log_path`` with ``-webserver``/``-daemon`` added to the name); both
    are stopped on exit, also when starting failed.

    ``start_daemon=False`` starts only the webserver: the caller can then set instigator states
    (``set_sensor``) before any sensor ticks, and call :meth:`start_daemon`.
    """

    def __init__(self, env: dict[str, str], log_path: Path, start_daemon: bool = True):
        super().__init__(env, log_path)
        self.daemon: subprocess.Popen | None = None
        self._start_daemon_on_enter = start_daemon
        self.webserver_log = log_path.with_name(f"{log_path.stem}-webserver{log_path.suffix}")
        self.daemon_log = log_path.with_name(f"{log_path.stem}-daemon{log_path.suffix}")
        self._logs: list = []

    def _spawn(self, command: str, args: list[str], log: Path) -> subprocess.Popen:
        """``command``: a console script of the test's own environment (beside its python)."""
        handle = open(log, "w")
        self._logs.append(handle)
        return subprocess.Popen(
            [str(Path(sys.executable).parent / command), *args, "-w", str(REPO_ROOT / "workspace.yaml")],
            env=self.env,
            cwd=REPO_ROOT,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start_daemon(self) -> None:
        if self.daemon is None:
            self._daemon_started = time.time()
            self.daemon = self._spawn("dagster-daemon", ["run"], self.daemon_log)

    def wait_for_daemon(self, daemons: tuple[str, ...] = ("BACKFILL", "QUEUED_RUN_COORDINATOR", "SENSOR"), timeout: float = 180) -> None:
        """Until each of ``daemons`` has sent a heartbeat since the daemon started (the UI warns
        "The backfill daemon is not running" before that)."""

        def beating() -> bool:
            if self.daemon.poll() is not None:
                raise AssertionError(f"dagster-daemon exited with {self.daemon.returncode}:\n{self.log_tail()}")
            beats = self.instance.get_daemon_heartbeats()
            return all(d in beats and beats[d].timestamp >= self._daemon_started for d in daemons)

        self.wait(beating, timeout, f"heartbeats of the {', '.join(daemons)} daemons", every=1.0)

    def __enter__(self) -> "LiveWebserverDaemon":
        try:
            self.proc = self._spawn("dagster-webserver", ["-h", "127.0.0.1", "-p", str(self.port)], self.webserver_log)
            if self._start_daemon_on_enter:
                self.start_daemon()
            self.wait(self._serving, timeout=180, what="the webserver to answer")
            self.location, self.repository = self._repository()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            stop_process_group(self.daemon)
            stop_process_group(self.proc)
        finally:
            for handle in self._logs:
                handle.close()

    def log_tail(self, chars: int = 6000) -> str:
        def tail(path: Path) -> str:
            return path.read_text(errors="replace")[-chars // 2 :] if path.exists() else "(no log)"

        return f"webserver:\n{tail(self.webserver_log)}\ndaemon:\n{tail(self.daemon_log)}"

    def daemon_log_text(self) -> str:
        return self.daemon_log.read_text(errors="replace") if self.daemon_log.exists() else ""

    def _serving(self) -> bool:
        for name, proc in (("dagster-webserver", self.proc), ("dagster-daemon", self.daemon)):
            if proc is not None and proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode}:\n{self.log_tail()}")
        try:
            return "data" in self.graphql("{ version }")
        except OSError:
            return False
