"""``finsig demo-data``: write the demo landing zone and print a short summary.

    finsig demo-data [--landing-dir DIR] [--first-session D | --last-session D] [--sessions N]
                     [--seed S] [--articles-per-session N] [--news-effect X]
                     [--no-malformed] [--no-overlapping-files] [--force] [--home-settings]
    finsig demo-data --next-session [--seed S] ...

``--landing-dir`` defaults to ``FINSIG_LANDING_DIR`` (``$FINSIG_HOME/landing``). The
``market/`` and ``news/`` folders there must be empty; ``--force`` deletes them first (only
those two folders).

Which sessions: ``--first-session`` (N sessions from it) or ``--last-session`` (N sessions up to
it); by default the N sessions before the latest partition, i.e. the most recent history, so
the demo sits where a live system's data sits -- at the end of the partitions, where the UI
shows it first -- and the latest partition is left for a new session to arrive
(``--next-session``).

``--home-settings`` writes ``$FINSIG_HOME/finsig.env`` for the demo (see
``finsig_assets/settings.py``): the first partition (``FINSIG_PARTITIONS_START``), the model's
training window sized to the demo (``FINSIG_MODEL_WINDOW_SESSIONS``,
``FINSIG_MODEL_MIN_SESSIONS``) and ``FINSIG_DEMO_RANGE``, so a run started by the UI, a sensor or
the automation is configured like the run that built the demo.

``--next-session`` lands ONE more session after the demo's last (``FINSIG_DEMO_RANGE``) into the
existing landing zone, the way a collector would: every file is written aside and moved into
place (so a sensor never sees it half-written), and the demo range is extended. It is a clean
session (no malformed lines or bad files): the demo's planted bad records are spread over its 20
sessions, but two bad files in one session of ~40 articles are a 5% rejection rate, which the
bronze check rightly fails.

``python -m finsig_assets.session_range demo`` prints the range ``make demo`` materializes: the
demo's sessions and the latest partition after them (the session in progress, empty until its
files land), so that the model for that session -- trained on the demo's last sessions -- exists
and every partition shows its state.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from finsig_assets import settings
from finsig_assets.demo_data.landing_writer import DemoSummary, write_demo_landing
from finsig_assets.trading_calendar import is_session, next_session, previous_session, sessions_between

DEMO_RANGE_SETTING = "FINSIG_DEMO_RANGE"
NEXT_SESSION_SEED_OFFSET = 1000
REPLACEABLE_NAMES = frozenset({"seen_articles.json"})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="finsig demo-data",
        description="Write a realistic demo landing zone (SPX500_USD M1 candles and financial news).",
    )
    parser.add_argument("--landing-dir", type=Path, default=None, help="landing directory (default: FINSIG_LANDING_DIR)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--first-session", default=None, help="first XNYS session, YYYY-MM-DD")
    which.add_argument("--last-session", default=None, help="last XNYS session, YYYY-MM-DD (default: the session before the latest partition)")
    which.add_argument("--next-session", action="store_true", help="land the session after the demo's last into the existing landing zone")
    parser.add_argument("--sessions", type=int, default=20, help="number of sessions (default 20)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--articles-per-session", type=int, default=30, help="articles per session on average (default 30)")
    parser.add_argument(
        "--news-effect", type=float, default=0.0, help="planted news effect, in typical 1-minute return stds over 30 min (default 0)"
    )
    parser.add_argument("--no-malformed", action="store_true", help="write no malformed market lines or bad news files")
    parser.add_argument("--no-overlapping-files", action="store_true", help="write no refetch files repeating candles")
    parser.add_argument("--force", action="store_true", help="delete the landing dir's market/ and news/ folders first")
    parser.add_argument("--home-settings", action="store_true", help="write $FINSIG_HOME/finsig.env for the demo")
    parser.add_argument(
        "--reset-home",
        action="store_true",
        help="start the demo from an empty home: delete the warehouse, the local MLflow store and the Dagster "
        "instance's storage under $FINSIG_HOME (refused for a home that is not a demo's)",
    )
    return parser


def reset_demo_home() -> list[Path]:
    """Delete what a previous demo left in ``$FINSIG_HOME``: warehouse, local MLflow store, Dagster storage.

    Refused when the home has settings but is not a demo's (no ``FINSIG_DEMO_RANGE``): a real
    home's warehouse must never go because someone typed ``make demo``. Only paths inside the
    home are touched (``dagster.yaml`` stays)."""
    home = settings.finsig_home()
    own = settings.home_settings(home)
    if own and DEMO_RANGE_SETTING not in own:
        raise ValueError(
            f"{home} has settings ({settings.home_settings_path(home)}) but is not a demo home; refusing to reset it. "
            "Point FINSIG_HOME at a new directory for the demo."
        )
    candidates = [settings.duckdb_path(), Path(f"{settings.duckdb_path()}.wal"), home / "mlflow"]
    dagster_home = settings.dagster_home()
    if dagster_home.is_dir():
        candidates += [p for p in dagster_home.iterdir() if p.name != "dagster.yaml"]
    removed = []
    for path in candidates:
        if not path.exists() or home not in path.resolve().parents:
            continue
        shutil.rmtree(path) if path.is_dir() else path.unlink()
        removed.append(path)
    return removed


def latest_partition_key() -> str:
    from finsig_assets.partitions import build_trading_day_partitions

    key = build_trading_day_partitions("2000-01-03").get_last_partition_key()
    if key is None:  # pragma: no cover - the calendar always has a session before today
        raise ValueError("no trading-day partition exists yet")
    return key


def demo_sessions(n: int, first: str | None = None, last: str | None = None) -> list[str]:
    """The demo's sessions: ``n`` from ``first``, ``n`` up to ``last``, or ``n`` before the latest partition."""
    if n < 1:
        raise ValueError(f"--sessions must be at least 1, got {n}")
    for day in (first, last):
        if day is not None and not is_session(day):
            raise ValueError(f"{day} is not an XNYS session")
    if first is not None:
        days = sessions_between(first, "2100-01-01")[:n]
        if len(days) < n:
            raise ValueError(f"the calendar has only {len(days)} sessions from {first}")
    else:
        end = last or previous_session(latest_partition_key()).isoformat()
        days = sessions_between("2000-01-03", end)[-n:]
    return [d.isoformat() for d in days]


def demo_home_settings(sessions: list[str]) -> dict[str, str]:
    n = len(sessions)
    return {
        "FINSIG_PARTITIONS_START": sessions[0],
        "FINSIG_MODEL_WINDOW_SESSIONS": str(min(n, 60)),
        "FINSIG_MODEL_MIN_SESSIONS": str(max(2, min(10, n * 2 // 5))),
        DEMO_RANGE_SETTING: f"{sessions[0]}...{sessions[-1]}",
    }


def demo_range() -> tuple[str, str]:
    """``(first, last)`` of the demo in ``$FINSIG_HOME`` (from its ``finsig.env``)."""
    text = settings.setting(DEMO_RANGE_SETTING)
    if not text or "..." not in text:
        raise ValueError(
            f"no demo in {settings.finsig_home()}: {DEMO_RANGE_SETTING} is not set in {settings.home_settings_path()} "
            "(run `finsig demo-data --home-settings` or `make demo` first)"
        )
    first, last = text.split("...", 1)
    return first, last


def materialize_range() -> tuple[str, str]:
    """What ``make demo`` materializes: the demo's first session .. the latest partition."""
    first, last = demo_range()
    latest = latest_partition_key()
    return first, max(last, latest)


def land_next_session(root: Path, args: argparse.Namespace) -> tuple[str, list[str], DemoSummary]:
    """Write the session after the demo's last aside, then move its files into ``root``."""
    first, last = demo_range()
    day = next_session(last).isoformat()
    root.mkdir(parents=True, exist_ok=True)
    # A dot-folder inside the landing root: same file system (atomic moves), ignored by the scan.
    staging = Path(tempfile.mkdtemp(prefix=".demo-next-", dir=root))
    try:
        summary = write_demo_landing(
            staging,
            first_session=day,
            n_sessions=1,
            seed=args.seed + NEXT_SESSION_SEED_OFFSET,
            malformed=False,
            articles_per_session=args.articles_per_session,
            news_effect=args.news_effect,
            overlapping_files=not args.no_overlapping_files,
        )
        moved = []
        for path in sorted(p for p in staging.rglob("*") if p.is_file()):
            rel = path.relative_to(staging)
            target = root / rel
            if target.exists() and rel.name not in REPLACEABLE_NAMES:
                raise FileExistsError(f"{target} already exists; the next session's files must not replace the demo's")
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
            moved.append(str(rel))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    settings.write_home_settings({DEMO_RANGE_SETTING: f"{first}...{day}"})
    return day, moved, summary


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    root = (args.landing_dir or settings.landing_dir()).resolve()
    started = time.perf_counter()
    try:
        if args.next_session:
            day, moved, summary = land_next_session(root, args)
            print(f"landed session {day} into {root}: {len(moved)} files ({time.perf_counter() - started:.1f} s)")
            for line in summary.lines():
                print(f"  {line}")
            return 0
        sessions = demo_sessions(args.sessions, args.first_session, args.last_session)
        if args.reset_home:
            for path in reset_demo_home():
                print(f"removed {path}")
        if args.force:
            for sub in ("market", "news"):
                shutil.rmtree(root / sub, ignore_errors=True)
        summary = write_demo_landing(
            root,
            first_session=sessions[0],
            n_sessions=len(sessions),
            seed=args.seed,
            malformed=not args.no_malformed,
            articles_per_session=args.articles_per_session,
            news_effect=args.news_effect,
            overlapping_files=not args.no_overlapping_files,
        )
    except (ValueError, FileExistsError) as exc:
        print(f"finsig demo-data: {exc}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started
    print(f"demo landing zone written to {root} in {elapsed:.1f} s (seed {args.seed}, news effect {args.news_effect:g})")
    for line in summary.lines():
        print(f"  {line}")
    if args.home_settings:
        path = settings.write_home_settings(
            demo_home_settings(summary.sessions),
            header="Settings of this finsig home (NAME=value); a variable set in the environment wins.",
        )
        print(f"  settings        {path}: " + ", ".join(f"{k}={v}" for k, v in demo_home_settings(summary.sessions).items()))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
