"""The Dagster UI in a real browser (Chromium through Playwright), over a deployment's processes.

A small demo home (five sessions and the latest partition, nothing materialized) and its
instance; ``dagster-webserver`` and ``dagster-daemon`` as two separate processes over it (not
``dagster dev``). The sensors are stopped before the daemon starts, so that the UI's runs are the
only ones. Then, as a user would, in the UI (``ui-NN-<step>.png``: one full-page screenshot per
step):

1. ``launch-run``: bronze/news_articles' page shows its description, owners, kinds and table; ->
   Materialize -> the partition dialog, one partition (the demo's last session) -> Launch 1 run;
2. ``launch-backfill``: bronze/market_candles -> Materialize -> the demo's five sessions -> Launch
   backfill;
3. ``lineage``: the global lineage, groups expanded, draws the bronze, silver, gold and ml groups,
   each with exactly its assets of ``defs`` (an asset belongs to the group box it is drawn in);
4. ``run-succeeded``: the run's page says Success (and the instance agrees);
5. ``backfill-completed``: the backfill's page says Succeeded, 100% completed (the instance agrees:
   completed, every session materialized, no run failed);
6. ``partitions``: bronze/market_candles' partitions view lists exactly the XNYS sessions from the
   first partition to the latest (the range spans a weekend, and here a holiday: none listed),
   the five sessions materialized and the latest partition missing;
7. ``automation``: ``landing_sensor``, ``default_automation_condition_sensor`` and
   ``session_close_schedule`` (off by default) switched on on the automation page: after a reload
   the page, and the instance, have them and ``freshness_sensor`` running.

The run and the backfill are launched first and checked later, so that the browser's checks
overlap their work. Screenshots go to ``$FINSIG_TEST_ARTIFACTS`` (else ``test-artifacts/`` in the
repository); a failed step adds ``ui-NN-<step>-FAILED.png`` and its message names the page's URL
and that file. Playwright never downloads a browser: it drives Debian's Chromium (``.ci/run``
installs it with apt-get); without ``/usr/bin/chromium`` the test is skipped.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.execution.backfill import BulkActionStatus

from finsig_assets import settings
from finsig_assets.trading_calendar import is_session, next_session, sessions_between
from finsig_assets_tests.integration.live_dagster import REPO_ROOT, LiveWebserverDaemon, fast_backfill_daemon, finsig_env, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
SESSIONS = 5
GROUPS = ("bronze", "silver", "gold", "ml")
RUN_ASSET = dg.AssetKey(["bronze", "news_articles"])  # one partition (the demo's last session), from its page
BACKFILL_ASSET = dg.AssetKey(["bronze", "market_candles"])  # the five sessions, from its page
AUTOMATIONS = ("landing_sensor", "default_automation_condition_sensor", "session_close_schedule")
RUN_TIMEOUT_MS = 180_000


def artifacts_dir() -> Path:
    folder = Path(os.environ.get("FINSIG_TEST_ARTIFACTS") or REPO_ROOT / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("ui-*.png"):
        old.unlink()
    return folder


def home_settings(home: Path) -> dict[str, str]:
    lines = (home / "finsig.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


class Browser:
    """One Chromium page on the webserver: steps with timings, screenshots and useful failures."""

    def __init__(self, page, base_url: str, artifacts: Path):
        self.page = page
        self.base_url = base_url
        self.artifacts = artifacts
        self.timings: dict[str, float] = {}
        self.screenshots: list[Path] = []
        self._step = 0

    def goto(self, path: str) -> None:
        self.page.goto(self.base_url + path, wait_until="domcontentloaded")

    def shot(self, name: str) -> Path:
        path = self.artifacts / f"ui-{self._step:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.screenshots.append(path)
        return path

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        self._step += 1
        started = time.perf_counter()
        try:
            yield
        except Exception as exc:
            try:
                shot = self.shot(f"{name}-FAILED")
            except Exception as shot_error:  # the page itself is gone
                shot = f"(no screenshot: {shot_error})"
            raise AssertionError(
                f"UI step {self._step} ({name}) failed at {self.page.url}\nscreenshot: {shot}\n{type(exc).__name__}: {exc}"
            ) from exc
        self.timings[name] = round(time.perf_counter() - started, 1)
        print(f"[{self.timings[name]:6.1f}s] UI step {self._step}: {name}")


@pytest.fixture
def chromium_page():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (CI installs Debian's chromium, see .ci/run)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-background-networking"]
        )
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(30_000)
            page.set_default_navigation_timeout(60_000)
            yield page
        finally:
            browser.close()


def test_the_dagster_ui_in_a_browser(tmp_path, chromium_page):
    from playwright.sync_api import expect

    started = time.perf_counter()
    artifacts = artifacts_dir()
    home = tmp_path / "ui"
    # The backfill daemon evaluates every 5 s instead of 30 s: the backfill's run, and its completion, wait for it.
    env = fast_backfill_daemon(finsig_env(home, FINSIG_LANDING_SETTLE_SECONDS="1"))
    run_cli(["finsig_assets.cli", "demo-data", "--sessions", str(SESSIONS), "--home-settings",
             "--articles-per-session", "8", "--seed", "11"], env)
    settings.write_home_settings({"FINSIG_MODEL_WINDOW_SESSIONS": "5", "FINSIG_MODEL_MIN_SESSIONS": "3"}, home)
    run_cli(["finsig_assets.cli", "init-instance"], env)
    # A fresh instance greets its first visitor with a newsletter dialog that can open over any
    # step (a locator handler skipping it still lost a click to its animation in CI); Dagster's
    # own instance setting turns it off.
    with (home / "dagster" / "dagster.yaml").open("a") as instance_yaml:
        instance_yaml.write("\nnux:\n  enabled: false\n")
    demo = home_settings(home)
    first, last = demo["FINSIG_DEMO_RANGE"].split("...")
    sessions = [d.isoformat() for d in sessions_between(first, last)]
    assert len(sessions) == SESSIONS and demo["FINSIG_PARTITIONS_START"] == sessions[0]
    run_partition = sessions[-1]
    expected_groups = _asset_groups()
    timings = {"setup": round(time.perf_counter() - started, 1)}

    t0 = time.perf_counter()
    with LiveWebserverDaemon(env, tmp_path / "dagster.log", start_daemon=False) as live:
        # The UI's runs are to be the only ones: no sensor may tick before these are stopped.
        for sensor in ("landing_sensor", "default_automation_condition_sensor"):
            live.set_sensor(sensor, running=False)
        live.start_daemon()
        timings["webserver"] = round(time.perf_counter() - t0, 1)
        ui = Browser(chromium_page, live.url, artifacts)
        page = ui.page

        # The run and the backfill are launched first and checked last, so that the browser's
        # other checks overlap their work (the daemon runs them one after the other: both write
        # DuckDB, whose writers queue on the duckdb_writer pool).
        with ui.step("launch-run"):
            ui.goto(f"/assets/{RUN_ASSET.to_user_string()}")
            # What the asset is, before it ever ran: description, owners, kinds, its table.
            node = _asset_node(RUN_ASSET)
            expect(page.get_by_text(node.description.split("\n")[0][:60]).first).to_be_visible(timeout=90_000)
            definition = page.get_by_text("Owners", exact=True).locator("xpath=ancestor::div[.//text()[.='Kinds']][1]")
            for text in [*(o.removeprefix("team:") for o in node.owners), "DuckDB", "Polars", ".".join(RUN_ASSET.path)]:
                expect(definition.get_by_text(text, exact=True).first).to_be_visible()
            page.get_by_role("button", name="Materialize…").click()
            dialog = page.get_by_role("dialog").filter(has_text="Launch runs to materialize")
            _select_partitions(dialog, run_partition, "1 partition")
            ui.shot("launch-run")
            dialog.get_by_role("button", name="Launch 1 run").click()
            toast = page.get_by_text(re.compile(r"^Launched run [0-9a-f]{8}$"))
            expect(toast).to_be_visible()
            short_id = toast.inner_text().split()[-1]
            [run_id] = [r.run_id for r in live.instance.get_runs() if r.run_id.startswith(short_id)]

        with ui.step("launch-backfill"):
            live.wait_for_daemon()  # else the dialog warns that the backfill daemon is not running
            ui.goto(f"/assets/{BACKFILL_ASSET.to_user_string()}")
            page.get_by_role("button", name="Materialize…").click(timeout=60_000)
            dialog = page.get_by_role("dialog").filter(has_text="Launch runs to materialize")
            _select_partitions(dialog, f"[{sessions[0]}...{sessions[-1]}]", f"{SESSIONS} partitions")
            ui.shot("launch-backfill")
            dialog.get_by_role("button", name="Launch backfill").click()
            toast = page.get_by_text(re.compile(r"^Created backfill [a-z0-9]+$"))
            expect(toast).to_be_visible()
            backfill_id = toast.inner_text().split()[-1]
            backfill = live.instance.get_backfill(backfill_id)
            assert backfill is not None and backfill.asset_selection == [BACKFILL_ASSET], backfill

        with ui.step("lineage"):
            ui.goto("/asset-groups")
            expect(page.get_by_role("button", name=re.compile("Materialize all"))).to_be_visible(timeout=60_000)
            page.keyboard.press("Alt+e")  # the graph's "Expand all groups" (its settings menu names the shortcut)
            names = Counter(key.path[-1] for keys in expected_groups.values() for key in keys)
            for name, count in names.items():
                expect(page.locator("svg foreignObject").get_by_text(name, exact=True)).to_have_count(count)
            shown = _groups_drawn(page)
            expected = {group: sorted(k.path[-1] for k in keys) for group, keys in expected_groups.items()}
            assert shown == expected, f"the lineage draws {shown}, the definitions have {expected}"
            ui.shot("lineage")

        with ui.step("run-succeeded"):
            ui.goto(f"/runs/{run_id}")
            expect(page.get_by_text(f"partition: {run_partition}")).to_be_visible(timeout=60_000)
            expect(page.get_by_text(RUN_ASSET.to_user_string().replace("/", " / ")).first).to_be_visible()
            outcome = page.get_by_text(re.compile(r"^(Success|Failure|Canceled)$")).first
            expect(outcome).to_be_visible(timeout=RUN_TIMEOUT_MS)
            assert outcome.inner_text() == "Success", f"the run page says {outcome.inner_text()}"
            run = live.instance.get_run_by_id(run_id)
            assert run.status == dg.DagsterRunStatus.SUCCESS and run.tags.get("dagster/partition") == run_partition, run
            assert live.materialized(RUN_ASSET) == {run_partition}
            ui.shot("run-succeeded")

        with ui.step("backfill-completed"):
            ui.goto(f"/runs/b/{backfill_id}")
            status = page.get_by_text("Status", exact=True).locator("xpath=..")
            expect(status).to_have_text(re.compile(r"^Status\s*(Succeeded|Failed|Canceled|Completed.*)$"), timeout=RUN_TIMEOUT_MS)
            assert status.inner_text().split("\n")[-1] == "Succeeded", f"the backfill page says {status.inner_text()!r}"
            expect(page.get_by_text("100% completed", exact=True)).to_be_visible()
            expect(page.get_by_text(BACKFILL_ASSET.to_user_string().replace("/", " / ")).first).to_be_visible()
            assert live.instance.get_backfill(backfill_id).status == BulkActionStatus.COMPLETED_SUCCESS, live.diagnosis()
            assert live.materialized(BACKFILL_ASSET) == set(sessions), sorted(live.materialized(BACKFILL_ASSET))
            failed = [r.run_id for r in live.instance.get_runs() if r.status != dg.DagsterRunStatus.SUCCESS]
            assert not failed, live.diagnosis()
            live.check_fast_backfill_daemon()
            ui.shot("backfill-completed")

        with ui.step("partitions"):
            ui.goto(f"/assets/{BACKFILL_ASSET.to_user_string()}?view=partitions")
            expect(page.get_by_text(re.compile(r"^\d+ Partitions Selected$"))).to_be_visible(timeout=60_000)
            listed = _partition_keys(page)
            latest = next_session(last).isoformat()
            calendar = [d.isoformat() for d in sessions_between(sessions[0], latest)]
            assert listed == calendar, f"partitions {listed}, XNYS sessions {calendar}"
            span = (dt.date.fromisoformat(latest) - dt.date.fromisoformat(sessions[0])).days + 1
            skipped = [d for d in (dt.date.fromisoformat(sessions[0]) + dt.timedelta(n) for n in range(span)) if not is_session(d)]
            assert any(d.weekday() >= 5 for d in skipped), f"the range {sessions[0]}..{latest} should span a weekend"
            expect(page.get_by_text(f"{len(calendar)} Partitions Selected", exact=True)).to_be_visible()
            # The backfill's sessions are materialized, the latest partition (no files yet) is not.
            expect(page.get_by_text(f"Materialized ({SESSIONS})", exact=True)).to_be_visible()
            expect(page.get_by_text("Missing (1)", exact=True)).to_be_visible()
            print(f"partitions: {listed}; not sessions: {[d.isoformat() for d in skipped]}")
            ui.shot("partitions")

        with ui.step("automation"):
            ui.goto("/automation")
            for name in AUTOMATIONS:
                expect(_automation_switch(page, name)).not_to_be_checked()
                _switch_on(page, live, name)
            page.reload()
            for name in (*AUTOMATIONS, "freshness_sensor"):
                expect(_automation_switch(page, name)).to_be_checked(timeout=60_000)
                assert _instigator_status(live, name) == "RUNNING", name
            ui.shot("automation")

    timings |= ui.timings
    timings["total"] = round(time.perf_counter() - started, 1)
    (artifacts / "ui-timings.json").write_text(json.dumps(timings, indent=1) + "\n")
    print(timings)
    print("screenshots:", *map(str, ui.screenshots), sep="\n  ")


def _asset_node(key: dg.AssetKey):
    from finsig_assets.definitions import defs

    return defs.resolve_asset_graph().get(key)


def _asset_groups() -> dict[str, list[dg.AssetKey]]:
    from finsig_assets.definitions import defs

    groups: dict[str, list[dg.AssetKey]] = {}
    for node in defs.resolve_asset_graph().asset_nodes:
        if node.is_materializable:
            groups.setdefault(node.group_name, []).append(node.key)
    assert sorted(groups) == sorted(GROUPS), groups
    return groups


def _groups_drawn(page) -> dict[str, list[str]]:
    """Each group box of the graph and the asset names drawn inside it (by their boxes on screen)."""
    boxes = {}
    for group in GROUPS:
        box = page.locator("svg foreignObject.group").filter(has=page.get_by_text(group, exact=True)).first.bounding_box()
        assert box, f"no box for group {group}"
        boxes[group] = box
    drawn: dict[str, list[str]] = {g: [] for g in GROUPS}
    for node in page.locator("svg foreignObject:not(.group)").all():
        name = (node.text_content() or "").strip()
        box = node.bounding_box()
        if not name or not box:
            continue  # a group's outline
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        inside = [g for g, b in boxes.items() if b["x"] <= x <= b["x"] + b["width"] and b["y"] <= y <= b["y"] + b["height"]]
        assert len(inside) == 1, f"{name} is drawn in groups {inside}"
        drawn[inside[0]].append(name)
    return {g: sorted(names) for g, names in drawn.items()}


def _partition_keys(page) -> list[str]:
    """Every partition key the partitions view lists (the list is short: no virtual scrolling)."""
    texts = page.get_by_text(re.compile(r"^\d{4}-\d{2}-\d{2}$")).all_inner_texts()
    return sorted({t.strip() for t in texts})


def _select_partitions(dialog, selection: str, expected: str) -> None:
    from playwright.sync_api import expect

    box = dialog.get_by_role("textbox").first
    box.fill(selection)
    box.press("Enter")
    expect(dialog.get_by_text(expected, exact=True)).to_be_visible()


def _automation_switch(page, name: str):
    """The on/off switch of automation ``name``: the checkbox after the link to it in its row (the
    row's selection box comes before the link)."""
    link = page.get_by_role("link").filter(has=page.get_by_text(name, exact=True))
    return link.locator("xpath=following-sibling::*//input[@type='checkbox']")


def _switch_on(page, live: LiveWebserverDaemon, name: str, timeout: float = 60) -> None:
    """Click automation ``name``'s switch until the instance has it running. A click while the
    list is still settling can be lost (no mutation is sent): then the page is reloaded and the
    switch clicked again."""
    from playwright.sync_api import expect

    deadline = time.monotonic() + timeout
    while True:
        switch = _automation_switch(page, name)
        if not switch.is_checked():
            switch.locator("xpath=ancestor::label[1]").click()  # the switch is drawn over its input
        for _ in range(10):
            if _instigator_status(live, name) == "RUNNING":
                expect(switch).to_be_checked()
                return
            page.wait_for_timeout(500)
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} is still {_instigator_status(live, name)} after switching it on")
        page.reload()


def _instigator_status(live: LiveWebserverDaemon, name: str) -> str:
    query = """query($s: SensorSelector!, $t: ScheduleSelector!) {
      sensorOrError(sensorSelector: $s) { ... on Sensor { sensorState { status } } }
      scheduleOrError(scheduleSelector: $t) { ... on Schedule { scheduleState { status } } }
    }"""
    repo = {"repositoryLocationName": live.location, "repositoryName": live.repository}
    data = live.graphql(query, {"s": {**repo, "sensorName": name}, "t": {**repo, "scheduleName": name}})["data"]
    state = data["sensorOrError"].get("sensorState") or data["scheduleOrError"].get("scheduleState")
    return state["status"] if state else "UNKNOWN"
