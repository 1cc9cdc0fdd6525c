"""What loading the code location costs: every `dagster` command, run and step imports it.

The heavy libraries are imported by the steps that use them (training, registry, plots,
FinBERT), never by the definitions -- a fresh interpreter that imports
``finsig_assets.definitions`` must not have loaded them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

NOT_AT_IMPORT = [
    "mlflow",
    "dagster_mlflow",
    "xgboost",
    "sklearn",
    "scipy",
    "matplotlib",
    "torch",
    "transformers",
    "exchange_calendars",
    "pandas",
    "pyarrow",
]

PROBE = f"""
import json, sys
import finsig_assets.definitions as d
d.defs.resolve_all_job_defs()
print(json.dumps(sorted(m for m in {NOT_AT_IMPORT!r} if m in sys.modules)))
"""


def loaded_by_definitions(env: dict[str, str]) -> list[str]:
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_definitions_import_none_of_the_heavy_libraries(tmp_path):
    env = {**os.environ, "FINSIG_CALENDAR_CACHE": str(tmp_path / "calendar")}
    loaded_by_definitions(env)  # the first process on a machine computes the session table
    assert loaded_by_definitions(env) == []

