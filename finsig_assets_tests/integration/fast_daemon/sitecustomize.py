"""Test-only start-up hook: a shorter loop for Dagster's backfill daemon (see ``live_dagster.fast_backfill_daemon``).

Python imports ``sitecustomize`` at start-up from ``PYTHONPATH``; the tests that start a Dagster
daemon put this folder there and set ``FINSIG_TEST_BACKFILL_INTERVAL_SECONDS``. In the daemon's
process only (``dagster-daemon run``, or ``python -m dagster._daemon run`` as ``dagster dev``
starts it) Dagster's ``DEFAULT_DAEMON_INTERVAL_SECONDS`` -- the sleep between two evaluations
of the backfill daemon, 30 s, which no setting changes -- becomes that many seconds. Each stage of
an asset backfill waits for the next evaluation; what the backfill requests and runs is the same.
Every other process (webserver, code server, run workers, CLI) is left alone.
"""

import os
import sys

MARKER = "finsig tests: backfill daemon interval"

_seconds = os.environ.get("FINSIG_TEST_BACKFILL_INTERVAL_SECONDS")
_argv = list(getattr(sys, "orig_argv", sys.argv))
if _seconds and ("dagster._daemon" in _argv or any(a.endswith("dagster-daemon") for a in _argv)):
    import dagster._daemon.controller as _controller

    # Renamed by a Dagster upgrade: no marker line, and LiveDagster.check_fast_backfill_daemon fails the test.
    if hasattr(_controller, "DEFAULT_DAEMON_INTERVAL_SECONDS"):
        _controller.DEFAULT_DAEMON_INTERVAL_SECONDS = float(_seconds)
        print(f"{MARKER} {_seconds} s", file=sys.stderr, flush=True)
