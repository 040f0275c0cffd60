"""A run on screen: the live view while it trains and the result view when it is done.

Shared by the Train and Runs pages. Everything here reads the run directory; nothing trains.
"""

from __future__ import annotations

import re

import numpy as np
import streamlit as st

from engine import EngineError
from engine.nn.export import readme
from engine.nn.models import count_params
from engine.queue import jobs
from engine.runs import hosting
from engine.runs.store import Run, RunError, RunState, open_run
from ui import resources, visitor
from ui.run import figures
from ui.run.try_it import framed, try_it

ICONS = {
    "created": ":material/hourglass_top:",
    "queued": ":material/hourglass_top:",
    "running": ":material/directions_run:",
    "complete": ":material/check_circle:",
    "failed": ":material/error:",
    "cancelled": ":material/cancel:",
}


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    m, s = divmod(int(round(seconds)), 60)
    return f"{m} min {s:02d} s" if m else f"{s} s"


def log_tail(run: Run, lines: int = 14) -> str:
    try:
        text = run.log_path.read_text(errors="replace")
    except OSError:
        return "(no log yet)"
    return "\n".join(text.splitlines()[-lines:]) or "(starting…)"


def cancel_button(run: Run, key: str) -> None:
    me = visitor.current()
    if not hosting.may_change(run.status(), me):
        st.caption("Started by another visitor: only they or the admin can cancel it.")
        return
    if st.button("Cancel", key=f"{key}_cancel", icon=":material/stop:"):
        try:
            jobs.cancel(run, by=me)
            st.toast(f"Cancelling {run.id}…")
        except EngineError as e:
            st.error(str(e))


@st.fragment(run_every=2.0)  # every open Train page redraws: keep the server free for clicks
def live(run_id: str, key: str = "live") -> None:
    """Progress of a queued or running job, redrawn every 2 s from its run directory."""
    try:
        run = open_run(run_id)
    except RunError as e:
        st.error(str(e))
        return
    status = run.status()
    state = RunState(status.get("state", "failed"))
    if state.is_finished():
        st.rerun()  # the whole page redraws with the result view
    now = resources.live_board(run)  # its place or the queue moved: the whole page redraws
    cfg = run.config()
    if state in (RunState.CREATED, RunState.QUEUED):
        st.info(f"Queued — {resources.standing_line(run, now)}", icon=":material/schedule:")
        if status.get("message"):
            st.caption(no_paths(status["message"]))
        cancel_button(run, key)
        return
    done, total = status.get("progress") or 0, status.get("total") or 0
    eta = jobs.eta_seconds(status)
    frac = min(1.0, done / total) if total else 0.0
    text = (
        f"Epoch {min(status.get('epoch', 0) + 1, cfg.epochs)} of {cfg.epochs} · "
        f"{100 * frac:.0f}% · "
        + (f"about {duration(eta)} left" if eta is not None else "starting…")
    )
    c1, c2 = st.columns([6, 1], vertical_alignment="bottom")
    c1.progress(frac, text=text)
    with c2:
        cancel_button(run, key)
    metrics = run.metrics()
    c1, c2 = st.columns(2)
    c1.plotly_chart(figures.loss_curve(metrics), key=f"{key}_loss")
    c2.plotly_chart(figures.accuracy_curve(metrics, cfg.epochs), key=f"{key}_acc")
    st.code(log_tail(run), language=None)


_PATH = re.compile(r"(?<![\w:/.~-])/(?:[^\s/'\"(),;:]+/)+([^\s/'\"(),;:]*)")


def no_paths(text: str) -> str:
    """``text`` with every absolute path cut to its last part: a run's status message (written
    by a job, perhaps from an exception) must not show the server's folders on a page."""
    return _PATH.sub(lambda m: f"…/{m.group(1)}" if m.group(1) else "…/", text)


RESUME_ON_RUNS_PAGE = "Resume it on the Runs page to continue from its last finished epoch."


def header(run: Run, resume_hint: str = RESUME_ON_RUNS_PAGE) -> None:
    """The run's one-line summary; a failed or cancelled run says what happened and, with
    ``resume_hint`` (the page's own words: where its Resume button is), what to do."""
    status = run.status()
    state = status.get("state", "failed")
    cfg = run.config()
    st.markdown(
        f"{ICONS.get(state, '')} **{run.id}** · {resources.state_label(run, status)} · "
        f"{cfg.dataset} · "
        f"{resources.describe_model(cfg)} · {cfg.optimizer} lr {cfg.lr:g} · batch {cfg.batch_size}"
    )
    hint = f" {resume_hint}" if resume_hint else ""
    if state == "failed":
        st.error(f"This run failed: {no_paths(status.get('message') or 'no message')}.{hint}")
    elif state == "cancelled":
        msg = no_paths(status.get("message") or "cancelled")
        msg = msg if msg.startswith("cancelled") else f"cancelled: {msg}"
        st.warning(f"This run was {msg}.{hint}")


def result(run: Run, key: str = "res") -> None:
    """Test accuracy, curves, confusion matrix, galleries, downloads and "try it"."""
    status = run.status()
    cfg = run.config()
    metrics = run.metrics()
    if not run.has_checkpoint():
        st.info("No epoch finished, so there is no model to show.")
        return
    try:
        pred = resources.predictions(run)
    except (EngineError, RunError) as e:
        st.error(f"Cannot load this run's model: {e}")
        return
    epochs = [m for m in metrics if m.get("kind") == "epoch"]
    last = epochs[-1] if epochs else {}
    acc = float((pred.predicted == pred.labels).mean())
    c = st.columns(5)
    c[0].metric("Test accuracy", f"{100 * acc:.2f}%", border=True)
    c[1].metric("Test loss", f"{last.get('test_loss', float('nan')):.4f}", border=True)
    c[2].metric("Epochs", f"{len(epochs)} of {cfg.epochs}", border=True)
    c[3].metric("Training time", duration(status.get("seconds")), border=True)
    c[4].metric("Parameters", f"{count_params(resources.model(run)[0]):,}", border=True)
    st.caption(f"Measured on {len(pred.labels):,} test images the network never trained on.")
    c1, c2 = st.columns(2)
    c1.plotly_chart(figures.loss_curve(metrics), key=f"{key}_loss")
    c2.plotly_chart(figures.accuracy_curve(metrics, cfg.epochs), key=f"{key}_acc")

    names = ["Confusion matrix", "Test images", "Worst mistakes", "Try it", "Download"]
    tabs = st.tabs(names, key=f"{key}_tabs")  # keeps the chosen tab over reruns (pad strokes)
    cm = pred.confusion()
    with tabs[0]:
        c1, c2 = st.columns([3, 2])
        c1.plotly_chart(figures.confusion(cm, pred.classes), key=f"{key}_cm")
        c2.plotly_chart(figures.per_class_accuracy(cm, pred.classes), key=f"{key}_pc")
    with tabs[1]:
        n = 24
        st.caption(f"The first {n} test images with the network's answer.")
        gallery(pred, np.arange(min(n, len(pred.labels))))
    with tabs[2]:
        wrong = np.flatnonzero(pred.predicted != pred.labels)
        conf = pred.probs[wrong, pred.predicted[wrong]]
        worst = wrong[np.argsort(-conf)][:24]
        st.caption(
            f"{len(wrong):,} of {len(pred.labels):,} test images are misclassified; these are "
            "the ones the network was most sure about."
        )
        gallery(pred, worst, with_confidence=True)
    with tabs[3]:
        try_it(run, pred, key)
    with tabs[4]:
        downloads(run, key)


def gallery_caption(predicted: str, actual: str, conf: str = "") -> str:
    """Markdown: a mistake in red with a cross (the colour is not the only mark)."""
    if predicted == actual:
        return f"Predicted: {predicted}{conf}, Actual: {actual}"
    return f":red[**✗ Predicted: {predicted}**{conf}, Actual: {actual}]"


def gallery(pred: resources.Predictions, idx: np.ndarray, with_confidence: bool = False) -> None:
    """Test images with the network's answers; mistakes get a red frame and a red caption."""
    if len(idx) == 0:
        st.success("Nothing to show: no mistakes.")
        return
    for row in range(0, len(idx), 8):  # one st.columns per row keeps the rows aligned
        cols = st.columns(8)
        for col, i in zip(cols, idx[row : row + 8], strict=False):
            p, a = pred.classes[pred.predicted[i]], pred.classes[pred.labels[i]]
            conf = f" ({100 * pred.probs[i].max():.0f}%)" if with_confidence else ""
            col.image(framed(pred.images[i], p != a), width="stretch")
            col.caption(gallery_caption(p, a, conf))


def downloads(run: Run, key: str) -> None:
    """The checkpoint and the ONNX file, each in a ZIP with its model card (README.md)."""
    st.write(
        "Each download is a ZIP: the model file and its model card (README.md) saying what the "
        "input must look like (shape, normalisation, ink polarity), what the outputs mean and "
        "the class names. The checkpoint holds the model, the optimizer state and the full "
        "config (`python -m engine resume` continues it); the ONNX file runs without PyTorch "
        "and carries the same card in its metadata."
    )
    c1, c2 = st.columns(2)
    c1.download_button(
        "Checkpoint + model card (.zip)", lambda: resources.checkpoint_zip(run),
        file_name=f"{run.id}-checkpoint.zip", mime="application/zip", key=f"{key}_dl_pt",
        icon=":material/download:", on_click="ignore",
    )  # fmt: skip
    c2.download_button(
        "ONNX + model card (.zip)", lambda: resources.onnx_zip(run),
        file_name=f"{run.id}-onnx.zip", mime="application/zip", key=f"{key}_dl_onnx",
        icon=":material/download:", on_click="ignore",
    )  # fmt: skip
    with st.expander("The model card"):
        st.markdown(readme(run.config(), run.id, f"{run.id}.onnx"))


def show(run_id: str, key: str, resume_hint: str = RESUME_ON_RUNS_PAGE) -> Run | None:
    """The live view while a run is queued or running, else its result view."""
    try:
        run = open_run(run_id)
        header(run, resume_hint)
        if run.state().is_finished():
            result(run, key)
        else:
            live(run_id, key)
        return run
    except RunError as e:
        st.error(str(e))
        return None
