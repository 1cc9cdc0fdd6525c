"""``finsig demo-data``: write the demo landing zone and print a short summary.

    finsig demo-data [--landing-dir DIR] [--first-session YYYY-MM-DD] [--sessions N]
                     [--seed S] [--articles-per-session N] [--news-effect X]
                     [--no-malformed] [--no-overlapping-files] [--force]

``--landing-dir`` defaults to ``FINSIG_LANDING_DIR`` (``$FINSIG_HOME/landing``). The
``market/`` and ``news/`` folders there must be empty; ``--force`` deletes them first (only
those two folders).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from finsig_assets import settings
from finsig_assets.demo_data.landing_writer import write_demo_landing


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="finsig demo-data",
        description="Write a realistic demo landing zone (SPX500_USD M1 candles and financial news).",
    )
    parser.add_argument("--landing-dir", type=Path, default=None, help="landing directory (default: FINSIG_LANDING_DIR)")
    parser.add_argument("--first-session", default="2024-06-24", help="first XNYS session, YYYY-MM-DD (default 2024-06-24)")
    parser.add_argument("--sessions", type=int, default=20, help="number of sessions (default 20)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--articles-per-session", type=int, default=30, help="articles per session on average (default 30)")
    parser.add_argument(
        "--news-effect", type=float, default=0.0, help="planted news effect, in typical 1-minute return stds over 30 min (default 0)"
    )
    parser.add_argument("--no-malformed", action="store_true", help="write no malformed market lines or bad news files")
    parser.add_argument("--no-overlapping-files", action="store_true", help="write no refetch files repeating candles")
    parser.add_argument("--force", action="store_true", help="delete the landing dir's market/ and news/ folders first")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    root = (args.landing_dir or settings.landing_dir()).resolve()
    if args.force:
        for sub in ("market", "news"):
            shutil.rmtree(root / sub, ignore_errors=True)
    started = time.perf_counter()
    try:
        summary = write_demo_landing(
            root,
            first_session=args.first_session,
            n_sessions=args.sessions,
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
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
