"""The Runs page's table and comparison: filtered by dataset, sweep trials hidden unless asked,
on a hosted server the visitor's own runs marked "mine" (and "only mine" as a filter), run ids
shown whole, one colour per run in both comparison charts."""

from __future__ import annotations

import streamlit as st

from engine.runs import hosting
from engine.runs.store import Run, open_run
from ui import resources, visitor
from ui.run import figures

ALL = "all datasets"


def is_sweep_trial(run: Run) -> bool:
    """A run kept by a sweep (its best trial so far), not one a visitor started."""
    return run.id.startswith("sweep-") or bool(run.status().get("sweep"))


def filtered_rows(all_runs: list[Run]) -> list[dict]:
    """The filter controls (dataset, sweep trials, only mine) and the table rows they leave."""
    rows = resources.run_rows(all_runs)
    sweeps = {r.id for r in all_runs if is_sweep_trial(r)}
    datasets = sorted({r["dataset"] for r in rows})
    mine = my_runs(all_runs)
    c = st.columns([3, 2, 2] if mine is not None else [3, 2], vertical_alignment="bottom")
    dataset = c[0].segmented_control(
        "Dataset", [ALL, *datasets], default=ALL, key="runs_dataset",
        help="Runs on different datasets are not comparable: show one at a time.",
    )  # fmt: skip
    show_sweeps = c[1].toggle(
        f"Show sweep trials ({len(sweeps)})", value=False, key="runs_sweeps",
        disabled=not sweeps, help="The best trial of each sweep is kept as a run.",
    )  # fmt: skip
    only_mine = False
    if mine is not None:
        only_mine = c[2].toggle(
            f"Only mine ({len(mine)})", value=False, key="runs_mine", disabled=not mine,
            help="The runs you started in this browser. Other visitors' runs are shown too, "
            "but only they (or the admin) can cancel, resume or delete them.",
        )  # fmt: skip
        rows = [{"run": r["run"], "mine": r["run"] in mine, **r} for r in rows]
    shown = [
        r
        for r in rows
        if (dataset in (None, ALL) or r["dataset"] == dataset)
        and (show_sweeps or r["run"] not in sweeps)
        and (not only_mine or r["mine"])
    ]
    hidden = len(rows) - len(shown)
    if hidden:
        st.caption(f"{len(shown)} of {len(rows)} runs shown ({hidden} hidden by the filters).")
    return shown


def my_runs(all_runs: list[Run]) -> set[str] | None:
    """The ids of the runs this visitor started; None when not hosted (one user owns all)."""
    if not hosting.public():
        return None
    me = visitor.current().id
    return {r.id for r in all_runs if hosting.owner_of(r.status()) == me}


def table(rows: list[dict]) -> None:
    if not rows:
        st.info("No run matches the filters.")
        return
    longest = max(len(r["run"]) for r in rows)
    st.dataframe(
        rows, hide_index=True, width="stretch",
        column_config={
            # wide enough for the longest id: ids are never cut off
            "run": st.column_config.TextColumn("run", width=max(160, 8 * longest + 24)),
            "mine": st.column_config.CheckboxColumn("mine", help="Started by you"),
            "accuracy": st.column_config.ProgressColumn(
                "test accuracy", format="%.1f%%", min_value=0, max_value=100
            ),
        },
    )  # fmt: skip


def compare(rows: list[dict]) -> list[str]:
    """Overlay the chosen runs' curves; returns the chosen ids."""
    st.subheader("Compare")
    ids = [r["run"] for r in rows]
    finished = [r["run"] for r in rows if r["status"] == "complete"]
    chosen = st.multiselect(
        "Runs to overlay", ids, default=finished[:3],
        help="Their training loss and test accuracy on the same axes, one colour per run.",
    )  # fmt: skip
    if chosen:
        loss, acc = figures.overlay({rid: open_run(rid).metrics() for rid in chosen})
        c1, c2 = st.columns(2)
        c1.plotly_chart(loss, key="cmp_loss")
        c2.plotly_chart(acc, key="cmp_acc")
    return chosen
