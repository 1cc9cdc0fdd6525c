"""When an asset below bronze runs by itself: after its upstream partitions change.

Every asset below bronze carries :func:`follows_upstream`, so when the landing sensor (or a
schedule, or a user) re-materializes bronze partitions, exactly the partitions that read them
follow, layer by layer, as their partition mappings say: silver D (and D+1, whose first
``gap_minutes`` reads D's last bar), gold D and the sessions whose warm-up reads D, the model
partitions whose training window holds D, and the predictions that use those models.

Why not ``AutomationCondition.eager()``: it only looks at the latest time partition, so a
corrected file for last month would update bronze and stop there; and it waits while *any*
upstream partition is missing, which a look-back mapping at the start of the history (or a
model window longer than the history) makes permanent. The condition here is eager's trigger
without those two parts:

- the upstream became newer than this partition (some upstream partition was materialized after
  this one's latest materialization, by materialization times: :func:`upstream_newer`), it still
  is, and this partition has not been requested since; or a parent is requested on this tick (the
  same run takes both). A partition a run materialized after its upstream -- the whole-graph CLI
  run, a backfill's later stages -- is up to date, whoever ran it, so those trigger nothing more;
  one materialized *before* its upstream's latest update (a backfill of D - 1 computed silver D
  before the sensor's bronze run of D had written) runs again. A requested run that fails is not
  retried on every tick. The first evaluation starts nothing, so switching the automation on over
  an up-to-date warehouse runs nothing;
- no partition upstream -- parents, and their parents, up to bronze -- is in a run or a backfill
  (queued runs included), and this partition is not in one: wait for upstream work to finish,
  never start a second run of the same partition. Dagster's ``any_deps_in_progress`` only looks
  at the parents: when the sensor's market run finished while its news run was still queued,
  the news-dependent gold assets ran once with the market data and again with the news;
- no upstream partition's latest blocking check failed (duplicate keys, a label across a close):
  the data stops flowing until it is fixed. (Not Dagster's ``all_deps_blocking_checks_passed``:
  finsig's checks run inside the asset's step, so they are never "requested" on their own and
  that condition would hold every layer back for a tick.)

``ml/model_fits`` and ``ml/direction_model`` also run when their partition first appears
(``newly_missing``): partition D is the model for session D, trained on the sessions before it, and partition D
appears when session D begins -- after D - 1 has closed -- with no upstream update to trigger
it. Every other asset's new partition has nothing to compute until its own session's files land.

What one tick requests for one session becomes one run of all the assets it names (in
dependency order); when a tick requests several partitions of an asset (a corrected file from
last month), it becomes a backfill, which keeps the assets' single-run backfill policies.
"""

from __future__ import annotations

import dagster as dg

LABEL = "follows upstream updates"
NEW_PARTITION_LABEL = "follows upstream updates and new partitions"


# The longest path in the graph (bronze/news_articles -> ... -> ml/model_fits -> ... -> ml/performance_report has 8 edges).
GRAPH_DEPTH = 8


def upstream_in_progress(depth: int = GRAPH_DEPTH) -> dg.AutomationCondition:
    """Some partition upstream -- a parent, or a parent's parent, ... -- is in a run or backfill
    that has not executed it yet (queued runs count)."""
    reach = dg.AutomationCondition.in_progress()
    for _ in range(depth - 1):
        reach = dg.AutomationCondition.in_progress() | dg.AutomationCondition.any_deps_match(reach)
    return dg.AutomationCondition.any_deps_match(reach).with_label("any_upstream_in_progress")


def upstream_newer() -> dg.AutomationCondition:
    """Some upstream partition was materialized after this partition's latest materialization.

    Dagster's ``any_deps_updated().since_last_handled()`` drops an update when, between two ticks,
    this partition was materialized *and* an upstream partition after it: both the trigger and
    the reset fire on one tick, and without timestamps the reset wins. That happens when a run
    computes silver D before the landing sensor's bronze run of D has written (a backfill of
    session D - 1 carries silver D, which reads D - 1's last bar), and the new bronze rows never
    reach silver. Here the trigger and the reset are both ``newly_updated`` -- the conditions that
    carry each partition's materialization time -- so ``since`` compares the times: a partition
    materialized after its upstream is up to date (whoever ran it), one materialized before is not.
    """
    updated = dg.AutomationCondition.newly_updated()
    return dg.AutomationCondition.any_deps_match(updated).since(updated).with_label("upstream_newer")


def follows_upstream(on_new_partition: bool = False) -> dg.AutomationCondition:
    handled = (dg.AutomationCondition.newly_requested() | dg.AutomationCondition.initial_evaluation()).with_label("handled")
    newer = upstream_newer()
    # The upstream became newer and this partition has not been requested since -- and it still
    # is newer (a backfill that ran it after its upstream meanwhile leaves nothing to do). A run
    # that fails is not retried on every tick: the request handled it.
    trigger: dg.AutomationCondition = newer.newly_true().since(handled) & newer
    # A parent requested on this tick: the same run takes this partition too (one run per session).
    trigger = trigger | dg.AutomationCondition.any_deps_match(dg.AutomationCondition.will_be_requested())
    if on_new_partition:
        trigger = dg.AutomationCondition.newly_missing().since(handled) | trigger
    return (
        trigger
        & ~upstream_in_progress()
        & ~dg.AutomationCondition.in_progress()
        & ~dg.AutomationCondition.any_deps_match(
            dg.AutomationCondition.any_checks_match(dg.AutomationCondition.check_failed(), blocking_only=True)
        ).with_label("any_deps_blocking_check_failed")
    ).with_label(NEW_PARTITION_LABEL if on_new_partition else LABEL)
