"""Celery workers for the ``celery`` executor, on the broker of ``FINSIG_CELERY_BROKER``, for tests and benches.

Every user gets a queue prefix of its own (:func:`queue_prefix`, passed as
``FINSIG_CELERY_QUEUE_PREFIX`` to the workers and the run), so that tests and benches sharing
one RabbitMQ -- in parallel, or in CI -- never take each other's steps; plain AMQP is enough
(no management API, no vhost to create). :func:`delete_queues` removes the queues and their
exchanges at the end.

Each worker is ``celery -A finsig_assets.celery_workers worker`` in its own process group
(stopped with SIGINT, Celery's warm shutdown, then SIGKILL for whatever is left of the group).
Where each step of a run ran is read from the run's event log: dagster-celery's worker-side
engine event "Executing steps <step> in celery worker" carries the metadata entry
``Celery worker: <the worker's -n name>`` (:func:`step_placement`).
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import psutil

from finsig_assets_tests.integration.live_dagster import REPO_ROOT, stop_process_group

CELERY = Path(sys.executable).parent / "celery"
WORKER_METADATA = "Celery worker"  # dagster_celery/tasks.py: the engine event's metadata key
QUEUES = ("dagster", "gpu")  # dagster-celery's default queue; silver/news_sentiment's op tag


def queue_prefix(what: str = "test") -> str:
    return f"finsig-{what}-{uuid.uuid4().hex[:8]}-"


def broker_reachable(url: str, timeout: float = 5.0) -> str | None:
    """None when ``url`` accepts an AMQP connection, else why not."""
    import kombu

    try:
        with kombu.Connection(url, connect_timeout=timeout) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:  # noqa: BLE001 -- any failure means: no broker here
        return f"{type(exc).__name__}: {exc}"
    return None


class CeleryWorker:
    """``celery -A finsig_assets.celery_workers worker -Q <queues> -n <name>@%h -c 1``."""

    def __init__(self, name: str, queues: list[str], env: dict[str, str], log_path: Path, concurrency: int = 1):
        self.name, self.queues, self.env, self.log_path = name, queues, env, log_path
        self.concurrency = concurrency
        self.proc: subprocess.Popen | None = None

    @property
    def command(self) -> list[str]:
        return [
            str(CELERY), "-A", "finsig_assets.celery_workers", "worker", "-Q", ",".join(self.queues),
            "-n", f"{self.name}@%h", "-c", str(self.concurrency), "-l", "INFO",
            # No gossip, mingle or heartbeats: nothing to learn from other workers, a faster start.
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip

    def start(self) -> "CeleryWorker":
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            self.command, env=self.env, cwd=REPO_ROOT, stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        return self

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"celery worker {self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
        return f"{self.name}@" in (text := self.log_path.read_text(errors="replace")) and " ready." in text

    def pool_pids(self) -> set[int]:
        """The worker's pool processes (where its steps run)."""
        return {p.pid for p in psutil.Process(self.proc.pid).children(recursive=True)}

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        try:
            stop_process_group(self.proc)
        finally:
            self._log.close()


def start_workers(workers: list[CeleryWorker], timeout: float = 120) -> None:
    """Start ``workers`` together and wait until each says it is ready; stops them all on failure."""
    try:
        for worker in workers:
            worker.start()
        deadline = time.monotonic() + timeout
        while not all(w.ready() for w in workers):
            if time.monotonic() > deadline:
                raise AssertionError("celery workers not ready:\n" + "\n".join(f"{w.name}:\n{w.log_tail()}" for w in workers))
            time.sleep(0.2)
    except BaseException:
        stop_workers(workers)
        raise


def stop_workers(workers: list[CeleryWorker]) -> None:
    for worker in workers:
        if worker.proc is not None:
            worker.stop()


def delete_queues(broker: str, names: list[str]) -> list[str]:
    """Delete the queues ``names`` and their (same-named) exchanges; returns the queues that existed."""
    import kombu
    from amqp.exceptions import NotFound

    existed = []
    with kombu.Connection(broker) as conn:
        for name in names:
            channel = conn.channel()
            try:
                channel.queue_declare(name, passive=True)
                existed.append(name)
                channel.queue_delete(name)
            except NotFound:
                channel = conn.channel()  # a failed passive declare closes the channel
            channel.exchange_delete(name)
            channel.close()
    return existed


def queue_exists(broker: str, name: str) -> bool:
    import kombu
    from amqp.exceptions import NotFound

    with kombu.Connection(broker) as conn:
        channel = conn.channel()
        try:
            channel.queue_declare(name, passive=True)
        except NotFound:
            return False
        channel.close()
        return True


@dataclass(frozen=True)
class StepPlacement:
    step_key: str
    worker: str  # the worker's -n name, host part included (``gpu-a@host``)
    queue: str  # as the run's submission event names it (before FINSIG_CELERY_QUEUE_PREFIX)
    pid: int  # the process the step ran in (its STEP_START event)
    seconds: float  # STEP_START to STEP_SUCCESS or STEP_FAILURE
    submitted_to_start: float  # the step's submission to its STEP_START: queue wait and task start

    @property
    def worker_name(self) -> str:
        return self.worker.split("@", 1)[0]


def step_placement(instance: dg.DagsterInstance, run_id: str) -> dict[str, StepPlacement]:
    """Where and how long each step of the run ran, from its event log."""
    worker, queue, submitted, started, ended, pid = {}, {}, {}, {}, {}, {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or event.step_key is None:
            continue
        key = event.step_key
        if event.event_type == dg.DagsterEventType.ENGINE_EVENT:
            metadata = getattr(event.event_specific_data, "metadata", None) or {}
            if WORKER_METADATA in metadata:
                worker[key] = str(getattr(metadata[WORKER_METADATA], "value", metadata[WORKER_METADATA]))
            elif (event.message or "").startswith("Submitting celery task"):
                queue[key] = event.message.rsplit('to queue "', 1)[1].rstrip('".')
                submitted[key] = record.timestamp
        elif event.event_type == dg.DagsterEventType.STEP_START:
            started[key], pid[key] = record.timestamp, event.pid
        elif event.event_type in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
            ended[key] = record.timestamp
    return {
        key: StepPlacement(
            key, worker.get(key, "(not on a celery worker)"), queue.get(key, ""), pid[key],
            round(ended.get(key, started[key]) - started[key], 2),
            round(started[key] - submitted[key], 2) if key in submitted else 0.0,
        )  # fmt: skip
        for key in sorted(started, key=started.get)
    }
