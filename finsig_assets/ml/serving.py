"""``finsig serving-example``: a request body for the champion behind MLflow's scoring server.

``make serve`` runs ``mlflow models serve -m models:/finsig-direction@champion``. That server
knows nothing about the warehouse: a caller has to send every input column of the model, by
name, in MLflow's ``dataframe_split`` format, and nothing in the server says what a right
answer is. So this command builds the body from real bars -- rows of ``gold.training_examples``,
the rows ``ml/predictions`` scores -- with the columns the champion's signature names, and
prints next to it (on stderr, so stdout stays a body that can be piped to ``curl -d @-``) the
``p_up`` that ``ml.predictions`` stored for the same bars. The two agree to float precision
when the stored row was scored by the version the alias points at now; ``ml/predictions``
uses the champion *as of the previous session*, so after a promotion the stored row may come
from the version before, which the note says.

    finsig serving-example [--session YYYY-MM-DD] [--rows N] [--database PATH] [--tracking-uri URI]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

from finsig_assets import settings
from finsig_assets.ml.champion_history import CHAMPION, TAG_RTH_ONLY, RegisteredVersion, alias_holder
from finsig_assets.ml.mlflow_tracking import MlflowTracking
from finsig_assets.ml.training_table import TABLE
from finsig_assets.one_row import one_row
from finsig_assets.warehouse import DuckDBWarehouse, Warehouse, WarehouseLockTimeout
from finsig_assets.warehouse_profiles import configured_warehouse

DEFAULT_PORT = 5001  # `make serve` (SERVE_PORT); `make mlflow-ui` has 5000
DEFAULT_ROWS = 3


class ServingExampleError(RuntimeError):
    """Something the user has to do first (train a champion, build the warehouse); the message says what."""


@dataclass(frozen=True)
class Bar:
    instrument: str
    ts: dt.datetime
    values: list[float | None]
    stored_p_up: float | None = None
    stored_version: int | None = None


@dataclass(frozen=True)
class ServingExample:
    model_name: str
    champion: RegisteredVersion
    columns: list[str]
    session: dt.date
    rth_only: bool
    bars: list[Bar] = field(default_factory=list)

    @property
    def model_uri(self) -> str:
        return f"models:/{self.model_name}@{CHAMPION}"

    def body(self) -> dict:
        """What ``POST /invocations`` takes (Content-Type: application/json)."""
        return {"dataframe_split": {"columns": list(self.columns), "data": [list(b.values) for b in self.bars]}}

    def notes(self, port: int = DEFAULT_PORT) -> list[str]:
        hours = "regular-hours " if self.rth_only else ""
        lines = [
            f"champion: {self.model_name} v{self.champion.version} ({self.model_uri}, trained through "
            f"{self.champion.trained_through or '?'}), {len(self.columns)} input columns",
            f"{len(self.bars)} {hours}bar(s) of session {self.session} from {TABLE}, in the body's row order, "
            "with the p_up ml/predictions stored for them:",
        ]
        for bar in self.bars:
            when = bar.ts.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            if bar.stored_p_up is None:
                stored = "none stored (ml/predictions has not scored this bar)"
            else:
                stored = f"{bar.stored_p_up:.9f} (v{bar.stored_version})"
                if bar.stored_version != self.champion.version:
                    stored += f" -- the server answers with v{self.champion.version}, so its number may differ"
            lines.append(f"  {bar.instrument} {when}  p_up {stored}")
        lines.append(
            f"score it: curl -s http://127.0.0.1:{port}/invocations -H 'Content-Type: application/json' -d @body.json"
            '  (answer: {"predictions": [p_up, ...]}, one per row)'
        )
        return lines


def champion_columns(tracking: MlflowTracking) -> tuple[RegisteredVersion, list[str]]:
    """The version the ``champion`` alias names and its input columns, in the signature's order.

    The signature is what the scoring server enforces (a missing column is a 400), so it is the
    contract the body must meet; the booster's own feature names are the fallback for a model
    logged without one.
    """
    import mlflow

    name = tracking.registered_model_name
    if tracking.tracking_uri.startswith("sqlite:///"):
        db = Path(tracking.tracking_uri[len("sqlite:///") :])
        if not db.exists():  # opening it would create an empty store, and say nothing useful
            raise ServingExampleError(
                f"no MLflow store at {db}: materialize ml/direction_model first (`make demo`), or point "
                f"MLFLOW_TRACKING_URI (or --tracking-uri) at the store that holds {name}"
            )
    client = tracking.client()
    holder = alias_holder(client, name, CHAMPION)
    if holder is None:
        raise ServingExampleError(
            f"{name} has no version with the '{CHAMPION}' alias in {tracking.tracking_uri}, so there is nothing to serve. "
            "Materialize ml/direction_model first (`make demo`); a version becomes champion only when it beats the "
            "market-only and majority baselines, which the honest demo's models do not (DEMO_NEWS_EFFECT=0) -- "
            "`make demo DEMO_NEWS_EFFECT=6 DEMO_ARTICLES=120` plants an effect they can learn. `make mlflow-ui` shows "
            "the versions and their aliases."
        )
    uri = tracking.model_uri(holder.version)
    signature = mlflow.models.get_model_info(uri).signature
    if signature is not None and signature.inputs is not None:
        columns = list(signature.inputs.input_names())
    else:
        import mlflow.xgboost

        columns = list(mlflow.xgboost.load_model(uri).feature_names or [])
    if not columns:
        raise ServingExampleError(f"{uri} names no input columns (no signature, no booster feature names)")
    return holder, columns


def serving_example(
    warehouse: Warehouse,
    tracking: MlflowTracking,
    session: dt.date | None = None,
    rows: int = DEFAULT_ROWS,
) -> ServingExample:
    """The last ``rows`` bars of ``session`` (default: the latest session with bars), as the champion takes them."""
    if rows < 1:
        raise ServingExampleError(f"--rows must be at least 1, got {rows}")
    champion, columns = champion_columns(tracking)
    rth_only = champion.tags.get(TAG_RTH_ONLY, "true") != "false"  # the bars it was trained on
    for c in ["instrument", "ts", *columns]:
        if not c.replace("_", "").isalnum():  # names are interpolated below: only plain identifiers
            raise ServingExampleError(f"bad column name {c!r} in the champion's signature")
    where_rth = " AND e.is_rth" if rth_only else ""
    with warehouse.read_only_connection() as conn:
        if conn is None:
            raise ServingExampleError(f"no warehouse at {warehouse.location}: materialize the graph first (`make demo`)")
        have = {
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'gold' AND table_name = 'training_examples'"
            ).fetchall()
        }
        missing = [c for c in columns if c not in have]
        if missing:
            raise ServingExampleError(
                f"champion v{champion.version} needs columns {TABLE} does not have: {missing} "
                "(the table changed since it was trained; materialize ml/direction_model again)"
            )
        if session is None:
            session = one_row(conn, f"SELECT max(e.trade_date) FROM {TABLE} e WHERE true{where_rth}")[0]
            if session is None:
                raise ServingExampleError(
                    f"{TABLE} has no {'regular-hours ' if rth_only else ''}bars in {warehouse.location}: "
                    "materialize gold/training_examples first (`make demo`)"
                )
        has_predictions = one_row(
            conn, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'ml' AND table_name = 'predictions'"
        )[0]
        stored = "p.p_up, p.model_version" if has_predictions else "NULL::DOUBLE, NULL::INTEGER"
        join = (
            " LEFT JOIN ml.predictions p ON p.instrument = e.instrument AND p.ts = e.ts AND p.model_name = $name"
            if has_predictions
            else ""
        )
        select = ", ".join(f'CAST(e."{c}" AS DOUBLE)' for c in columns)
        sql = (
            f"SELECT e.instrument, e.ts, {stored}, {select} FROM {TABLE} e{join} "
            f"WHERE e.trade_date = $day{where_rth} ORDER BY e.ts DESC, e.instrument DESC LIMIT $n"
        )
        params: dict = {"day": session, "n": rows}
        if has_predictions:
            params["name"] = tracking.registered_model_name
        found = conn.execute(sql, params).fetchall()
    if not found:
        raise ServingExampleError(
            f"{TABLE} has no {'regular-hours ' if rth_only else ''}bars of session {session} in {warehouse.location}"
        )
    bars = [
        Bar(instrument, ts, [_json_number(v) for v in values], p_up, version)
        for instrument, ts, p_up, version, *values in reversed(found)  # oldest first, as the session ran
    ]
    return ServingExample(tracking.registered_model_name, champion, columns, session, rth_only, bars)


def _json_number(value: float | None) -> float | None:
    # Strict JSON has no NaN (nor Infinity): a missing feature is null, which the server reads back as
    # NaN -- XGBoost's missing value, as ml/predictions passes a NULL.
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return float(value)


def _session_arg(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="finsig serving-example",
        description="Print a request body (MLflow dataframe_split JSON) for `make serve` built from real bars; "
        "stderr says which bars and the p_up ml/predictions stored for them.",
    )
    parser.add_argument("--session", type=_session_arg, default=None, help="session YYYY-MM-DD (default: the latest with bars)")
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help=f"the session's last N bars (default {DEFAULT_ROWS})")
    parser.add_argument("--database", default=None, help="a DuckDB file (default: the configured warehouse, FINSIG_WAREHOUSE)")
    parser.add_argument("--tracking-uri", default=None, help="MLflow tracking/registry URI (default: MLFLOW_TRACKING_URI or the store under $FINSIG_HOME/mlflow)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port in the curl hint (default {DEFAULT_PORT}, make serve's SERVE_PORT)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warehouse = DuckDBWarehouse(database=args.database) if args.database else configured_warehouse()
    tracking = MlflowTracking(tracking_uri=args.tracking_uri or settings.mlflow_tracking_uri())
    try:
        example = serving_example(warehouse, tracking, args.session, args.rows)
    except (ServingExampleError, WarehouseLockTimeout) as exc:  # a lock: a run is writing; try again after it
        print(f"finsig serving-example: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(example.body()))
    for line in example.notes(args.port):
        print(line, file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
