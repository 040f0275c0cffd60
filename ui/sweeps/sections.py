"""The Sweeps page's pieces: setup cards, sweep picker, live trials view, charts, conclusions."""

from __future__ import annotations

import statistics
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from engine import EngineError, sweep
from engine.config import DATASETS, TrainConfig
from engine.presets import PRESETS
from engine.queue import taskq, trials
from engine.training import estimate
from ui import visitor
from ui.run import sections as run_sections
from ui.sweeps import figures
from ui.train import forms

SWEEP_PARAM = "sweep"  # query parameter: ?sweep=<name>
CURRENT = "sw_current"  # the sweep the page shows
SUBSETS = (500, 1000, 2000, 5000, 10000, 0)  # training examples per trial; 0 = all
TESTS = (500, 1000, 2000, 5000, 0)  # test examples evaluated per trial; 0 = all


def _count(n: int) -> str:
    return "all" if n == 0 else f"{n:,}"


def _preset_dataset(name: str) -> str:
    """The dataset a sweep around preset ``name`` starts on (FashionMNIST for "fast")."""
    return "fashion-mnist" if name == "fast" else PRESETS[name].dataset


def _on_preset() -> None:
    """on_change of the base preset: its dataset, and the settings that apply to its family."""
    name = st.session_state["sw_preset"]
    family = PRESETS[name].model.family
    st.session_state["sw_dataset"] = _preset_dataset(name)
    st.session_state["sw_dims"] = list(sweep.default_dimensions(family))
    for d in sweep.default_dimensions(family):  # and their usual values: a fresh start
        st.session_state[f"sw_v_{d}"] = list(sweep.DIMENSIONS[d].seed)


def _fresh_name() -> None:
    """Suggest a new name when the one in the box is taken (e.g. by the sweep just started)."""
    try:
        taken = sweep.list_sweeps()
    except EngineError:
        taken = []
    if st.session_state.get("sw_name", "") in taken or "sw_name" not in st.session_state:
        st.session_state["sw_name"] = sweep.new_name(taken)


def setup() -> tuple[sweep.SweepSpec | None, str, int, bool]:
    """The settings cards; returns (spec or None when invalid, name, workers, start clicked)."""
    dims_card, data_card, search_card = st.columns([2, 1, 1])
    space = {}
    st.session_state.setdefault("sw_preset", "fast")
    family = PRESETS[st.session_state["sw_preset"]].model.family
    offered = tuple(d for d in sweep.applicable(family) if d != sweep.REPEAT)
    # Widget values live in session state (set here or by _on_preset), never also as defaults.
    st.session_state.setdefault("sw_dims", list(sweep.default_dimensions(family)))
    if any(d not in offered for d in st.session_state["sw_dims"]):
        st.session_state["sw_dims"] = [d for d in st.session_state["sw_dims"] if d in offered]
    with dims_card.container(border=True, height="stretch"):
        st.markdown("**:material/tune: What to vary**")
        dims = st.multiselect(
            "Settings", offered, key="sw_dims",
            format_func=lambda d: sweep.DIMENSIONS[d].label.capitalize(),
            help="The seed's experiment varied batch size, conv layers, kernel size, activation.",
        )  # fmt: skip
        cols = st.columns(2)
        for i, d in enumerate(dims):
            dim = sweep.DIMENSIONS[d]
            st.session_state.setdefault(f"sw_v_{d}", list(dim.seed))
            space[d] = tuple(
                cols[i % 2].multiselect(
                    dim.label.capitalize(), dim.choices, key=f"sw_v_{d}", format_func=sweep.fmt
                )
            )
    with data_card.container(border=True, height="stretch"):
        st.markdown("**:material/dataset: Base and data per trial**")
        preset = st.selectbox(
            "Base preset", tuple(PRESETS), key="sw_preset", on_change=_on_preset,
            format_func=lambda p: f"{p} ({forms.PRESET_HELP[p]})" if p in forms.PRESET_HELP else p,
            help="Every trial starts from this network and optimizer; the sweep changes only "
            "the settings chosen on the left.",
        )  # fmt: skip
        st.session_state.setdefault("sw_dataset", _preset_dataset(preset))
        dataset = st.selectbox(
            "Dataset", DATASETS, key="sw_dataset", format_func=forms.DATASET_LABELS.get
        )
        limit = st.select_slider(
            "Training examples", SUBSETS, value=2000, key="sw_limit", format_func=_count,
            help="A fixed subset keeps each trial short; the same subset for every trial.",
        )  # fmt: skip
        limit_test = st.select_slider(
            "Test examples", TESTS, value=2000, key="sw_limit_test", format_func=_count
        )
        epochs = st.slider("Epochs per trial", 1, 10, 1, key="sw_epochs")
        repeats = st.number_input(
            "Repeats (seeds)", 1, 5, 1, key="sw_repeats",
            help="Train every combination with this many seeds: the conclusions then show the "
            "spread between repeats, so a difference can be told from chance.",
        )  # fmt: skip
    with search_card.container(border=True, height="stretch"):
        st.markdown("**:material/travel_explore: Search**")
        sampler = st.radio(
            "Sampler", ("grid", "tpe"), key="sw_sampler", horizontal=True,
            format_func={"grid": "Grid (every combination)", "tpe": "TPE (Bayesian)"}.get,
        )  # fmt: skip
        budget = st.number_input(
            "Trial budget", 2, 500, 20, key="sw_budget", disabled=sampler == "grid",
            help="TPE only: a grid trains each combination once.",
        )  # fmt: skip
        pruning = st.checkbox(
            "Median pruning", key="sw_pruning", disabled=epochs < 2,
            help="Stop a trial whose accuracy after an epoch is below the median (epochs > 1).",
        )  # fmt: skip
        workers = st.number_input(
            "Parallel workers", 1, 4, 1, key="sw_workers",
            help="Worker processes with one thread each. This machine has 2 cores: 1 is fastest "
            "unless other work is idle.",
        )  # fmt: skip
        _fresh_name()
        name = st.text_input("Name", key="sw_name")  # a fresh one after every start

    base = sweep.default_base(
        preset, dataset=dataset, epochs=epochs, limit_train=limit, limit_test=limit_test
    )
    if repeats > 1:
        space[sweep.REPEAT] = tuple(range(base.seed, base.seed + int(repeats)))
    spec = sweep.SweepSpec(
        base=base, space=space, sampler=sampler, n_trials=int(budget),
        pruning=bool(pruning and epochs > 1), preset=preset,
    )  # fmt: skip
    with st.container(border=True):
        c = st.columns([1, 1, 1, 2], vertical_alignment="center")
        try:
            spec.validate()
        except EngineError as e:
            c[3].button("Start sweep", type="primary", disabled=True, width="stretch")
            st.warning(f"These settings cannot start a sweep: {e}")
            return None, name, int(workers), False
        ok, bad = spec.grid()
        c[0].metric("Trials", f"{spec.size():,}", help=f"{len(bad)} combinations cannot train")
        c[1].metric(
            "Estimated time", f"~{run_sections.duration(_estimate(spec, ok, int(workers)))}"
        )
        c[2].metric("Examples × epochs", f"{_count(limit)} × {epochs}", help="per trial")
        start = c[3].button(
            "Start sweep", type="primary", icon=":material/play_arrow:", width="stretch"
        )
        if bad:
            st.caption(f"Skipped {len(bad)} combination(s) that cannot train, e.g. {bad[0][1]}")
    return spec, name, int(workers), start


def _estimate(spec: sweep.SweepSpec, points: list[dict], workers: int) -> float:
    cfgs = [sweep.apply(spec.base, p) for p in points]
    per = [c.epochs * estimate.epoch_seconds(c, 60000, 10000) for c in cfgs]
    total = sum(per) if spec.sampler == "grid" else statistics.fmean(per) * spec.n_trials
    return estimate.STARTUP_SECONDS + total / max(1, workers)


def start(spec: sweep.SweepSpec, name: str, workers: int) -> None:
    try:
        sweep.create(spec, name, by=visitor.current())
        trials.start(name, workers, by=visitor.current())
    except EngineError as e:
        st.error(f"Could not start the sweep: {e}")
        return
    st.session_state[CURRENT] = name
    st.query_params[SWEEP_PARAM] = name
    st.toast(f"Started {name}")
    st.rerun()  # the Name box suggests a fresh name at once; the results show the new sweep


def picker() -> str | None:
    """The sweep to show: ?sweep=, else the last one started, else the newest."""
    try:
        names = sweep.list_sweeps()
    except EngineError as e:
        st.error(str(e))
        return None
    if not names:
        st.info("No sweeps yet: pick what to vary above and start one.", icon=":material/science:")
        return None
    wanted = st.query_params.get(SWEEP_PARAM) or st.session_state.get(CURRENT)
    if wanted and wanted not in names:
        st.warning(f"There is no sweep named {wanted!r}; showing the newest.")
    index = names.index(wanted) if wanted in names else 0
    name = st.selectbox("Sweep", names, index=index, key=f"sw_pick_{names[index]}")
    if st.query_params.get(SWEEP_PARAM) != name:
        st.query_params[SWEEP_PARAM] = name
    st.session_state[CURRENT] = name
    return name


def _read(name: str):
    """(study, report, has it work to do?, active?) of a sweep; on error shows it, None."""
    try:
        study, spec = sweep.load(name)
        rep = sweep.read_report(name)
        alive = sweep.has_work(study, spec) and not sweep.stop_requested(study)
    except EngineError as e:
        st.error(f"Cannot read sweep {name}: {e}")
        return None
    return study, rep, alive, alive or rep.count("running") > 0


def show(name: str) -> None:
    """The sweep's live view; refreshes itself every 2 s while trials run."""
    if (read := _read(name)) is not None:
        st.fragment(run_every=2 if read[3] else None)(_view)(name, read[3])


def _view(name: str, was_active: bool) -> None:
    if (read := _read(name)) is None:
        return
    study, rep, alive, active = read
    if was_active and not active:
        st.rerun()  # stop refreshing: the whole page redraws once with the final results
    _status(rep, alive)
    if not rep.rows:
        return
    left, right = st.columns([3, 2])
    with left:
        _conclusions(rep)
    with right:
        _best(rep)
    st.dataframe(
        _table(rep), hide_index=True, width="stretch",
        height=min(420, 38 + 35 * len(rep.rows)),
        column_config={
            "accuracy %": st.column_config.NumberColumn(format="%.1f"),
            "seconds": st.column_config.NumberColumn(format="%.2f"),
            "parameters": st.column_config.NumberColumn(format="localized"),
        },
    )  # fmt: skip
    if len(rep.complete) >= 2:
        figures.show(rep, study)


def _status(rep: sweep.SweepReport, alive: bool) -> None:
    planned = rep.spec.size()
    done = rep.count("complete") + rep.count("pruned")
    with st.container(border=True):
        c = st.columns([1, 1, 1, 1, 2], vertical_alignment="center")
        c[0].metric("Done", f"{done} / {planned}")
        c[1].metric("Training now", rep.count("running"))
        c[2].metric(
            "Failed",
            rep.count("failed"),
            help="failed trials of dead or stopped workers are queued again",
        )
        c[3].metric("Queue workers", taskq.slots(), help="processes that take trials and trainings")
        if alive:
            if c[4].button("Stop", icon=":material/stop:", width="stretch", key="sw_stop"):
                try:
                    sweep.stop(rep.name, by=visitor.current())
                    st.toast("Stopping: running trials are queued again for a resume.")
                except EngineError as e:
                    st.error(str(e))
        elif not rep.finished or rep.count("queued"):
            if c[4].button(
                "Resume", icon=":material/play_arrow:", width="stretch", key="sw_resume",
                type="primary",
            ):  # fmt: skip
                try:
                    trials.start(
                        rep.name,
                        int(st.session_state.get("sw_workers", 1)),
                        by=visitor.current(),
                        resume=True,
                    )
                    st.rerun()
                except EngineError as e:
                    st.error(str(e))
        else:
            c[4].success("Sweep complete", icon=":material/check_circle:")
        st.progress(min(1.0, done / max(1, planned)))
        st.caption(
            f"{rep.spec.sampler.upper()} over {', '.join(sweep.label(d) for d in rep.spec.space)} "
            f"around {rep.spec.preset} on {rep.spec.base.dataset}, "
            f"{_count(rep.spec.base.limit_train)} training examples × "
            f"{rep.spec.base.epochs} epoch(s). Its trials are tasks of the training queue: "
            "`python -m engine worker` on another machine that shares the runs folder takes "
            "them too."
        )


def _table(rep: sweep.SweepReport) -> pd.DataFrame:
    dims = list(rep.spec.space)
    rows = []
    for r in sorted(rep.rows, key=lambda r: r.number):
        rows.append(
            {
                "trial": r.number,
                "state": r.state,
                **{sweep.label(d): sweep.fmt(r.params.get(d, "")) for d in dims},
                "accuracy %": None if r.accuracy is None else round(100 * r.accuracy, 1),
                "seconds": None if r.seconds is None else round(r.seconds, 2),
                "parameters": r.params_count,
                "note": r.error + (f" (retry of {r.retry_of})" if r.retry_of is not None else ""),
            }
        )
    return pd.DataFrame(rows)


def _conclusions(rep: sweep.SweepReport) -> None:
    with st.container(border=True, height="stretch"):
        st.markdown("**:material/lightbulb: Conclusions**")
        st.markdown("\n".join(f"- {line}" for line in rep.conclusions()))


def train_link(cfg: TrainConfig, preset: str = "fast", keep_epochs: bool = False) -> str:
    """A Train-page link with this configuration's architecture and hyperparameters, on all
    the training data, for the preset's number of epochs unless ``keep_epochs`` (a sweep that
    varied them). Encoded as the Train page encodes its own URL (``forms.query_of``)."""
    values = {**forms.values_of(cfg, preset), "limit_train": 0}
    if not keep_epochs:
        values["epochs"] = PRESETS[preset].epochs
    return "train?" + urlencode(forms.query_of(values))


def _best(rep: sweep.SweepReport) -> None:
    best = rep.best
    with st.container(border=True, height="stretch"):
        st.markdown("**:material/trophy: Best configuration**")
        if best is None:
            st.caption("No complete trial yet.")
            return
        st.metric("Test accuracy", f"{100 * best.accuracy:.1f}%", help=f"trial {best.number}")
        st.write(sweep.describe(best.params))
        cfg = sweep.apply(rep.spec.base, best.params)
        st.link_button(
            "Train it on all the data",
            train_link(cfg, rep.spec.preset, keep_epochs="epochs" in rep.spec.space),
            icon=":material/model_training:",
            type="primary", width="stretch",
        )  # fmt: skip
        if best.run_id:
            st.caption(f"Its model is kept as run `{best.run_id}` (Runs and Inspect pages).")
