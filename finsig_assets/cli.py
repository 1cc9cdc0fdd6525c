"""The ``finsig`` command: one entry point for the chores around the asset graph.

Sub-commands live next to the code they drive; this module only dispatches, so that
``finsig --help`` stays fast (nothing heavy is imported until a sub-command runs).
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "demo-data": ("finsig_assets.demo_data.command", "write a deterministic demo landing zone"),
    "init-instance": ("finsig_assets.instance_setup", "write $DAGSTER_HOME/dagster.yaml (pools, run queue, run monitoring)"),
    "summary": ("finsig_assets.warehouse_summary", "print row counts, quarantine reasons and feature ranges"),
    "model": ("finsig_assets.sentiment.model_download", "manage FinBERT weights: `finsig model download`"),
    "mlflow-store": ("finsig_assets.ml.mlflow_store_location", "point a moved or copied home's MLflow store at its own artifacts"),
    "serving-example": ("finsig_assets.ml.serving", "print a request body for `make serve` (the champion) from real bars"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="finsig",
        description="finsig: S&P 500 candles and news to features, sentiment and models.",
        epilog="\n".join(f"  {name:<16} {help_}" for name, (_, help_) in COMMANDS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=sorted(COMMANDS), help="sub-command (see below)")
    if not argv or argv[0] in {"-h", "--help"}:
        parser.print_help()
        return 0 if argv else 2
    args, rest = parser.parse_known_args(argv[:1])
    module = importlib.import_module(COMMANDS[args.command][0])
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
