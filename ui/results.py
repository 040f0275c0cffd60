"""A run on screen: the live view while it trains and the result view when it is done.

Shared by the Train and Runs pages. Everything here reads the run directory; nothing trains.
"""

from __future__ import annotations

import time

import numpy as np
import streamlit as st

from engine import EngineError, jobs
from engine.data import CLASSES
from engine.models import count_params
from engine.preprocess import preprocess
from engine.runs import Run, RunError, RunState, open_run
from ui import charts, draw, resources

ICONS = {
    "queued": ":material/hourglass_top:",
    "running": ":material/directions_run:",
    "complete": ":material/check_circle:",
    "failed": ":material/error:",
    "cancelled": ":material/cancel:",
}
UPLOAD_TYPES = ["png", "jpg", "jpeg", "bmp", "webp", "tif", "tiff", "gif"]


def _big(img: np.ndarray, scale: int = 3) -> np.ndarray:
    """Nearest-neighbour upscaling: the browser would blur a 28 px image scaled up."""
    return np.kron(img, np.ones((scale, scale), dtype=img.dtype))


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
    if st.button("Cancel", key=f"{key}_cancel", icon=":material/stop:"):
        jobs.cancel(run)
        st.toast(f"Cancelling {run.id}…")


_PUMPED = "live_pumped"  # session state: when the live view last asked for a full rerun


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
    cfg = run.config()
    if state == RunState.QUEUED:
        # A slot is free and nothing took it (its job was killed without pumping the queue):
        # one full rerun, at most every 5 s, lets the sidebar's pump (the only one) start it.
        now = time.monotonic()
        if len(jobs.running()) < jobs.max_jobs() and now - st.session_state.get(_PUMPED, 0) > 5:
            st.session_state[_PUMPED] = now
            st.rerun()
        pos, waiting = jobs.position(run), len(jobs.queue())
        st.info(
            f"Queued — position {pos or '?'} of {waiting}. It starts when a running job "
            f"finishes ({jobs.max_jobs()} job(s) at a time)."
        )
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
    c1.plotly_chart(charts.loss_curve(metrics), key=f"{key}_loss")
    c2.plotly_chart(charts.accuracy_curve(metrics, cfg.epochs), key=f"{key}_acc")
    st.code(log_tail(run), language=None)


def header(run: Run) -> None:
    status = run.status()
    state = status.get("state", "failed")
    cfg = run.config()
    st.markdown(
        f"{ICONS.get(state, '')} **{run.id}** · {state} · {cfg.dataset} · "
        f"{resources.describe_model(cfg)} · {cfg.optimizer} lr {cfg.lr:g} · batch {cfg.batch_size}"
    )
    if state == "failed":
        st.error(f"This run failed: {status.get('message') or 'no message'}")
    elif state == "cancelled":
        msg = status.get("message") or "cancelled"
        msg = msg if msg.startswith("cancelled") else f"cancelled: {msg}"
        st.warning(
            f"This run was {msg}. Resume (on the Runs page) continues from its last finished epoch."
        )


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
    c1.plotly_chart(charts.loss_curve(metrics), key=f"{key}_loss")
    c2.plotly_chart(charts.accuracy_curve(metrics, cfg.epochs), key=f"{key}_acc")

    names = ["Confusion matrix", "Test images", "Worst mistakes", "Try it", "Download"]
    tabs = st.tabs(names, key=f"{key}_tabs")  # keeps the chosen tab over reruns (pad strokes)
    cm = pred.confusion()
    with tabs[0]:
        c1, c2 = st.columns([3, 2])
        c1.plotly_chart(charts.confusion(cm, pred.classes), key=f"{key}_cm")
        c2.plotly_chart(charts.per_class_accuracy(cm, pred.classes), key=f"{key}_pc")
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


def gallery(pred: resources.Predictions, idx: np.ndarray, with_confidence: bool = False) -> None:
    if len(idx) == 0:
        st.success("Nothing to show: no mistakes.")
        return
    captions = []
    for i in idx:
        p, a = pred.classes[pred.predicted[i]], pred.classes[pred.labels[i]]
        conf = f" ({100 * pred.probs[i].max():.0f}%)" if with_confidence else ""
        captions.append(f"Predicted: {p}{conf}, Actual: {a}")
    for row in range(0, len(idx), 8):  # one st.columns per row keeps the rows aligned
        cols = st.columns(8)
        for col, i, cap in zip(cols, idx[row : row + 8], captions[row : row + 8], strict=False):
            col.image(_big(pred.images[i]), caption=cap, width="stretch")


def try_it(run: Run, pred: resources.Predictions, key: str) -> None:
    """Upload a photo (or pick a test image) → the 28×28 input → class probabilities."""
    model, cfg = resources.model(run)
    left, right = st.columns([2, 3])
    with left:
        source = st.radio(
            "Image", ("A test image", "Upload a photo", "Draw"), key=f"{key}_src", horizontal=True
        )
        img, actual = None, None
        if source == "A test image":
            i = st.number_input("Test image number", 0, len(pred.labels) - 1, 0, key=f"{key}_idx")
            img, actual = pred.images[int(i)], pred.classes[pred.labels[int(i)]]
            st.image(_big(img, 6), caption=f"Actual: {actual}")
        else:
            what = "handwritten digit" if cfg.dataset == "mnist" else "piece of clothing"
            if source == "Draw":  # a drawing is prepared like a photo
                up = draw.pad_file(f"{key}_draw", hint=f"Draw one {what} with the mouse or a pen.")
            else:
                up = st.file_uploader(
                    f"Photo of one {what} (dark on a plain light background works best)",
                    type=UPLOAD_TYPES, key=f"{key}_up",
                )  # fmt: skip
            if up is not None:
                try:
                    pre = preprocess(up.getvalue(), name=up.name, keep_steps=True)
                except EngineError as e:
                    st.error(str(e))
                else:
                    img = pre.image
                    cols = st.columns(len(pre.steps))
                    for col, (name, step) in zip(cols, pre.steps, strict=True):
                        col.image(step, caption=name, width="stretch")
                    st.image(_big(img, 6), caption="what the network sees (28×28)")
    with right:
        if img is None:
            st.info("Pick a test image or upload a photo to see what the network thinks.")
            return
        probs = resources.probabilities(model, cfg, img)[0]
        top = CLASSES[cfg.dataset][int(probs.argmax())]
        verdict = f"**Predicted: {top}** ({100 * probs.max():.1f}%)"
        if actual is not None:
            verdict += f", Actual: {actual}"
        st.markdown(verdict)
        st.plotly_chart(charts.probability_bars(probs, pred.classes), key=f"{key}_probs")


def downloads(run: Run, key: str) -> None:
    st.write(
        "The checkpoint holds the model, the optimizer state and the full config: "
        "`python -m engine resume` continues it, `engine.runs.load_model` rebuilds the model. "
        "The ONNX file runs without PyTorch (input `image`: normalised 1×28×28 images)."
    )
    c1, c2 = st.columns(2)
    c1.download_button(
        "Checkpoint (.pt)", run.checkpoint_path.read_bytes(), file_name=f"{run.id}.pt",
        mime="application/octet-stream", key=f"{key}_dl_pt", icon=":material/download:",
        on_click="ignore",
    )  # fmt: skip
    c2.download_button(
        "ONNX model (.onnx)", lambda: resources.onnx(run), file_name=f"{run.id}.onnx",
        mime="application/octet-stream", key=f"{key}_dl_onnx", icon=":material/download:",
        on_click="ignore",
    )  # fmt: skip


def show(run_id: str, key: str) -> Run | None:
    """The live view while a run is queued or running, else its result view."""
    try:
        run = open_run(run_id)
        header(run)
        if run.state().is_finished():
            result(run, key)
        else:
            live(run_id, key)
        return run
    except RunError as e:
        st.error(str(e))
        return None
