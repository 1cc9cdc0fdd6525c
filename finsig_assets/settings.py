"""Where finsig keeps its files and how it is tuned, from the environment (the configuration contract).

Every default hangs off ``FINSIG_HOME`` so that a fresh checkout works with no set-up and a
deployment moves everything by setting one variable.

``$FINSIG_HOME/finsig.env`` (``NAME=value`` lines, ``#`` comments) holds settings that belong to
one home rather than to one shell: every process that opens the home -- ``dagster asset
materialize``, ``dagster dev``, the daemon, a sensor's or the automation's runs -- reads the
same values, so an automatic run is configured like the run that built the data. A variable
set in the environment wins over the file. ``finsig demo-data`` writes the demo's file.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

HOME_SETTINGS_FILE = "finsig.env"


def finsig_home() -> Path:
    return Path(os.environ.get("FINSIG_HOME", "./.finsig")).resolve()


def home_settings_path(home: Path | None = None) -> Path:
    return (home or finsig_home()) / HOME_SETTINGS_FILE


@lru_cache(maxsize=8)
def _read_home_settings(path: str, mtime_ns: int) -> dict[str, str]:
    out: dict[str, str] = {}
    for lineno, raw in enumerate(Path(path).read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip().isidentifier():
            raise ValueError(f"{path}:{lineno}: expected NAME=value, got {raw!r}")
        out[name.strip()] = value.strip().strip('"').strip("'")
    return out


def home_settings(home: Path | None = None) -> dict[str, str]:
    """The settings written in ``$FINSIG_HOME/finsig.env`` (empty when there is no such file)."""
    path = home_settings_path(home)
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError:
        return {}
    return dict(_read_home_settings(str(path), mtime))


def setting(name: str, default: str | None = None) -> str | None:
    """``name`` from the environment, else from ``$FINSIG_HOME/finsig.env``, else ``default``."""
    value = os.environ.get(name)
    if value is not None and value.strip() != "":
        return value
    return home_settings().get(name, default)


def int_setting(name: str, default: int) -> int:
    text = setting(name)
    if text is None or not text.strip():
        return default
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not an integer (environment or {home_settings_path()})") from None


def choice_setting(name: str, choices: tuple[str, ...]) -> str:
    """``name`` as one of ``choices`` (case-insensitive; the first is the default), else an error naming them."""
    value = (setting(name) or choices[0]).strip().lower()
    if value not in choices:
        raise ValueError(f"{name}={value!r}: expected one of {', '.join(choices)}")
    return value


def float_setting(name: str, default: float) -> float:
    text = setting(name)
    if text is None or not text.strip():
        return default
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a number (environment or {home_settings_path()})") from None


def landing_dir() -> Path:
    return Path(setting("FINSIG_LANDING_DIR") or str(finsig_home() / "landing")).resolve()


def duckdb_path() -> Path:
    return Path(setting("FINSIG_DUCKDB_PATH") or str(finsig_home() / "warehouse.duckdb")).resolve()


WAREHOUSE_PROFILES = ("duckdb", "ducklake")


def warehouse_profile() -> str:
    """Which warehouse the assets write (:mod:`finsig_assets.warehouse_profiles`): ``duckdb``
    (one file, the default) or ``ducklake`` (catalog in PostgreSQL, for several workers)."""
    return choice_setting("FINSIG_WAREHOUSE", WAREHOUSE_PROFILES)


def ducklake_catalog() -> str:
    """libpq connection string of the DuckLake catalog's PostgreSQL database."""
    return setting("FINSIG_DUCKLAKE_CATALOG") or "dbname=finsig_lake host=127.0.0.1 user=postgres"


def ducklake_data_path() -> str:
    """Where the DuckLake's Parquet files go: a shared directory, or an object-store URL."""
    value = setting("FINSIG_DUCKLAKE_DATA_PATH") or str(finsig_home() / "lake")
    return value if is_url(value) else str(Path(value).resolve())


def is_url(path: str) -> bool:
    """An object-store location (``s3://...``) rather than a local path."""
    return "://" in path


def partitions_per_run(name: str) -> int | None:
    """A backfill policy setting: ``None`` (unset or empty) backfills a range as one run, like
    every asset; N splits a backfill into runs of at most N sessions, which workers run side by
    side. Dagster's ``asset materialize --partition-range`` then no longer takes a selection with
    that asset (backfill from the UI or the daemon)."""
    text = setting(name)
    if text is None or not text.strip():
        return None
    value = int_setting(name, 0)
    if value < 1:
        raise ValueError(f"{name}={text!r}: expected a whole number of sessions, at least 1")
    return value


def sentiment_partitions_per_run() -> int | None:
    """``silver/news_sentiment``'s backfill (:func:`partitions_per_run`): the ``gpu`` workers
    score the runs side by side."""
    return partitions_per_run("FINSIG_SENTIMENT_PARTITIONS_PER_RUN")


def model_fits_partitions_per_run() -> int | None:
    """``ml/model_fits``' backfill (:func:`partitions_per_run`): the workers fit the runs'
    windows side by side; ``ml/direction_model`` then registers them in order."""
    return partitions_per_run("FINSIG_MODEL_FITS_PARTITIONS_PER_RUN")


def dagster_home() -> Path:
    return Path(os.environ.get("DAGSTER_HOME", str(finsig_home() / "dagster"))).resolve()


def mlflow_tracking_uri() -> str:
    return setting("MLFLOW_TRACKING_URI") or f"sqlite:///{finsig_home() / 'mlflow' / 'mlflow.db'}"


def partitions_start() -> str:
    return setting("FINSIG_PARTITIONS_START") or "2020-01-02"


def landing_settle_seconds() -> float:
    """A landing file changed more recently than this is still being written: not read yet.

    Short by default because every second of it is latency between a file landing and its
    session's predictions. Reading a file too early loses nothing: a half-written last line is
    quarantined, and when the file changes again the sensor re-ingests its sessions, replacing
    that partition's rows and quarantine entries."""
    return float_setting("FINSIG_LANDING_SETTLE_SECONDS", 3.0)


def model_window_sessions() -> int:
    """Sessions in ``ml/direction_model``'s training window (and its lineage look-back)."""
    return int_setting("FINSIG_MODEL_WINDOW_SESSIONS", 60)


def model_min_sessions() -> int:
    return int_setting("FINSIG_MODEL_MIN_SESSIONS", 10)


EXECUTORS = ("in_process", "multiprocess", "celery")


def executor() -> str:
    """The runs' default executor (:mod:`finsig_assets.run_worker_executor`): ``in_process``,
    ``multiprocess`` or ``celery`` (steps on Celery workers, :mod:`finsig_assets.celery_workers`)."""
    return choice_setting("FINSIG_EXECUTOR", EXECUTORS)


def celery_broker() -> str:
    """The Celery broker of the ``celery`` executor and of its workers (RabbitMQ by default)."""
    return setting("FINSIG_CELERY_BROKER") or "pyamqp://guest:guest@127.0.0.1:5672//"


def celery_backend() -> str:
    """Where Celery workers send a step's events back to the run (``rpc://``: over the broker)."""
    return setting("FINSIG_CELERY_BACKEND") or "rpc://"


def celery_queue_prefix() -> str:
    """Put before every Celery queue name (``dagster``, ``gpu``), so that homes sharing one broker
    (a test, a bench, a staging deployment) never take each other's steps. Empty by default."""
    return (setting("FINSIG_CELERY_QUEUE_PREFIX") or "").strip()


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def sql_dir() -> Path:
    """The SQL models and table DDL: ``FINSIG_SQL_DIR`` when set; else the ``dbt_like_sql/`` beside
    the package in a checkout (editable install); else the copy a wheel installs inside the package
    (``finsig_assets/dbt_like_sql``, package data: pyproject.toml maps it from the repository root).
    """
    override = setting("FINSIG_SQL_DIR")
    if override:
        return Path(override).resolve()
    checkout = repo_root() / "dbt_like_sql"
    if checkout.is_dir():
        return checkout.resolve()
    installed = Path(__file__).resolve().parent / "dbt_like_sql"
    if installed.is_dir():
        return installed
    return checkout.resolve()  # neither: errors name the checkout's path


def write_home_settings(updates: dict[str, str], home: Path | None = None, header: str | None = None) -> Path:
    """Set ``updates`` in ``$FINSIG_HOME/finsig.env``, keeping the file's other lines and comments."""
    path = home_settings_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = path.read_text().splitlines() if path.exists() else ([f"# {line}" for line in header.splitlines()] if header else [])
    pending = dict(updates)
    out = []
    for raw in lines:
        name = raw.split("=", 1)[0].strip() if "=" in raw and not raw.lstrip().startswith("#") else None
        if name in pending:
            out.append(f"{name}={pending.pop(name)}")
        else:
            out.append(raw)
    out += [f"{name}={value}" for name, value in pending.items()]
    tmp = path.with_suffix(".env.tmp")
    tmp.write_text("\n".join(out) + "\n")
    tmp.replace(path)
    return path
