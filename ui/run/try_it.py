"""The "try it" panel of a finished run: uploaded photos, drawings or test images through the
model, answered as a grid of cards (the top 3 with bars; "not sure" with the preprocessed input
and the reason where one is known, when the model is not sure). A digit run that is weak on
photos is offered the default digit model, which reads the same inputs in one click."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from engine import EngineError
from engine.config import DEFAULT_RUN_ID, TrainConfig, augmentations
from engine.data.datasets import CLASSES
from engine.data.preprocess import ImageSource, preprocess
from engine.nn.models import NOT_SURE_BELOW
from engine.nn.predict import classify
from engine.runs.store import Run, RunError, RunState, open_run
from ui import draw, resources

UPLOAD_TYPES = ["png", "jpg", "jpeg", "bmp", "webp", "tif", "tiff", "gif"]


def _big(img: np.ndarray, scale: int = 3) -> np.ndarray:
    """Nearest-neighbour upscaling: the browser would blur a 28 px image scaled up."""
    return np.kron(img, np.ones((scale, scale), dtype=img.dtype))


MISTAKE_RGB = (224, 49, 49)  # the red frame of a misclassified image


def framed(img: np.ndarray, wrong: bool, scale: int = 3) -> np.ndarray:
    """The upscaled image, as RGB with a red frame when the network got it wrong."""
    big = _big(img, scale)
    if not wrong:
        return big
    rgb = np.repeat(big[..., None], 3, axis=2)
    w = max(2, big.shape[0] // 20)
    for sl in (np.s_[:w], np.s_[-w:], np.s_[:, :w], np.s_[:, -w:]):
        rgb[sl] = MISTAKE_RGB
    return rgb


UNSURE_BELOW = NOT_SURE_BELOW  # a top probability under this is answered "not sure"
MAX_TRY = 16  # images per "try it" grid
TRY_COLUMNS = 4


@dataclass(frozen=True)
class TryInput:
    """One image for "try it": a photo or drawing (anything ``engine.data.preprocess`` reads: file
    bytes, a PIL image, an RGB/gray array), prepared like an upload; or, with ``ready=True``, a
    (28, 28) uint8 network input such as a test image."""

    name: str
    source: ImageSource
    actual: str | None = None  # the true class when known (test images)
    ready: bool = False


@dataclass(frozen=True)
class Answer:
    name: str
    image: np.ndarray  # (28, 28) uint8, what the network saw
    probs: np.ndarray  # (K,) class probabilities
    actual: str | None = None
    steps: tuple = ()  # the preprocessing previews of a photo or drawing
    notes: tuple = ()  # what made the photo hard to read ("strokes too thin: …")

    def top(self, k: int = 3) -> list[int]:
        return [int(j) for j in np.argsort(-self.probs, kind="stable")[:k]]

    @property
    def unsure(self) -> bool:
        return float(self.probs.max()) < UNSURE_BELOW


def answers(model, cfg, inputs: list[TryInput], progress=None) -> tuple[list[Answer], list[str]]:
    """Prepare every input like an upload (test images as they are) and classify them in one
    batch → (answers in input order, one message per image that could not be read).
    ``progress(done, total)`` is called after each photo."""
    prepared, errors = [], []
    todo = inputs[:MAX_TRY]
    for k, item in enumerate(todo, start=1):
        if item.ready:
            prepared.append((item, np.asarray(item.source, np.uint8), (), ()))
            continue
        try:
            pre = preprocess(item.source, name=item.name, keep_steps=True)
        except EngineError as e:
            errors.append(str(e))
            continue
        finally:
            if progress:
                progress(k, len(todo))
        prepared.append((item, pre.image, tuple(pre.steps), tuple(pre.notes)))
    if len(inputs) > MAX_TRY:
        errors.append(f"Only the first {MAX_TRY} of {len(inputs)} images are shown.")
    if not prepared:
        return [], errors
    probs = classify(model, cfg, np.stack([img for _, img, _, _ in prepared]))
    out = [
        Answer(item.name, img, p, item.actual, steps, notes)
        for (item, img, steps, notes), p in zip(prepared, probs, strict=True)
    ]
    return out, errors


def answer_card(a: Answer, classes: tuple[str, ...], bars: int = 3) -> None:
    """The 28×28 input, the verdict ("not sure" when the top probability is low), what made
    the photo hard to read, and the top ``bars`` classes with bars."""
    top = a.top(bars)
    best, p = classes[top[0]], float(a.probs[top[0]])
    wrong = a.actual is not None and a.actual != best and not a.unsure
    st.image(framed(a.image, wrong, 4), caption=f"{a.name} (28×28 input)", width="stretch")
    if a.unsure:
        st.markdown(f"**not sure** · best guess {best} ({100 * p:.0f}%)")
    else:
        st.markdown(f"**Predicted: {best}** ({100 * p:.1f}%)")
    if a.actual is not None:
        mark = "✓" if a.actual == best else "✗"
        text = f"{mark} Actual: {a.actual}"
        st.caption(f":red[{text}]" if a.actual != best else text)
    for j in top:
        st.progress(float(a.probs[j]), text=f"{classes[j]} · {100 * float(a.probs[j]):.1f}%")
    for note in a.notes:
        st.caption(f":orange[⚠ {note}]")
    if (a.unsure or a.notes) and a.steps:
        st.caption("How the photo was prepared:")
        st.image([step for _, step in a.steps], width=48, caption=[n for n, _ in a.steps])


def answer_grid(
    model, cfg, classes, inputs: list[TryInput], key: str, bars: int = 3
) -> list[Answer]:
    """The "try it" answers for a list of images, a card each in a grid with the top ``bars``
    classes. The one entry point for every input (test images, uploads, the drawing pad)."""
    if not inputs:
        st.info("Pick test images or upload photos to see what the network thinks.")
        return []
    bar = st.empty()

    def progress(done: int, total: int) -> None:
        if total > 1:
            bar.progress(done / total, text=f"Preparing photo {done} of {total}…")

    out, errors = answers(model, cfg, inputs, progress)
    bar.empty()
    for e in errors:
        st.warning(e)
    for row in range(0, len(out), TRY_COLUMNS):
        cols = st.columns(TRY_COLUMNS)
        for col, a in zip(cols, out[row : row + TRY_COLUMNS], strict=False):
            with col.container(border=True):
                answer_card(a, classes, bars)
    if any(a.unsure for a in out):
        st.caption(
            f'"not sure": the network gives no class {100 * UNSURE_BELOW:.0f}% or more. Look at '
            "its 28×28 input: a photo may need a plainer background, darker ink or a tighter crop."
        )
    return out


def default_run() -> Run | None:
    """The default digit model's run when it is there and finished, else None."""
    try:
        run = open_run(DEFAULT_RUN_ID)
    except RunError:
        return None
    return run if run.state() == RunState.COMPLETE else None


def photo_weakness(run: Run, cfg: TrainConfig, out: list[Answer]) -> str:
    """Why the default digit model may read the visitor's photos better than ``run``, from what
    can be measured: the photo augmentations the default was trained with and this run was not,
    and how many of these photos this run is not sure of. "" when there is nothing to offer
    (not a digit run, the default itself, or no default model here)."""
    if cfg.dataset != "mnist" or run.id == DEFAULT_RUN_ID or not out:
        return ""
    default = default_run()
    if default is None:
        return ""
    try:
        theirs = augmentations(default.config().augment)
    except RunError:
        return ""
    missing = [a for a in theirs if a not in augmentations(cfg.augment)]
    unsure = sum(a.unsure for a in out)
    why = []
    if missing:
        kinds = ", ".join(missing[:-1]) + " and " + missing[-1] if len(missing) > 1 else missing[0]
        why.append(
            f"this run was trained without the {kinds} augmentation"
            f"{'s' if len(missing) > 1 else ''} that the default model learned photos with"
        )
    if unsure >= min(2, len(out)):
        who = "it" if why else "this run"
        why.append(f'{who} is "not sure" of {unsure} of your {len(out)} images')
    return ", and ".join(why)


def default_offer(run: Run, cfg: TrainConfig, out: list[Answer], key: str, bars: int) -> None:
    """For a digit run weak on photos: say so, and read the same prepared inputs with the
    default model on one click (a toggle: the answers stay while the visitor draws or adds)."""
    why = photo_weakness(run, cfg, out)
    if not why:
        return
    st.info(
        f"The default model (`{DEFAULT_RUN_ID}`) reads photos better: {why}.",
        icon=":material/lightbulb:",
    )
    if not st.toggle("Read them with the default model too", key=f"{key}_default"):
        return
    default = default_run()  # read again: it may have been deleted since
    try:
        if default is None:
            raise RunError("it is not here any more")
        model, dcfg = resources.model(default)
    except RunError as e:
        st.warning(f"The default model cannot be loaded: {e}")
        return
    st.markdown(f"**The default model's answers** (`{DEFAULT_RUN_ID}`, the same images):")
    same = [TryInput(a.name, a.image, a.actual, ready=True) for a in out]  # prepared once
    theirs = answer_grid(model, dcfg, CLASSES[dcfg.dataset], same, f"{key}_dm", bars)
    st.caption(
        f"Sure of {_sure(theirs)} of {len(theirs)}: the default model; {_sure(out)} of "
        f"{len(out)}: this run. Pick it in the sidebar to use it on every page."
    )


def _sure(out: list[Answer]) -> int:
    return sum(not a.unsure for a in out)


def try_it(run: Run, pred: resources.Predictions, key: str) -> None:
    """Test images, uploaded photos or a drawing → a grid of answers (top 3 with bars). A
    fragment: a stroke on the pad or a new photo redraws this panel, not the whole page."""
    st.fragment(_try_it)(run, pred, key)


def _try_it(run: Run, pred: resources.Predictions, key: str) -> None:
    model, cfg = resources.model(run)
    source = st.radio(
        "Images", ("Test images", "Upload photos", "Draw"), key=f"{key}_src", horizontal=True
    )
    inputs: list[TryInput] = []
    bars = 3
    if source == "Test images":
        c1, c2 = st.columns(2)
        first = c1.number_input(
            "From test image number", 0, len(pred.labels) - 1, 0, key=f"{key}_idx"
        )
        count = c2.slider("How many", 1, MAX_TRY, 8, key=f"{key}_n")
        for i in range(int(first), min(int(first) + count, len(pred.labels))):
            inputs.append(
                TryInput(f"test image {i}", pred.images[i], pred.classes[pred.labels[i]], True)
            )
    elif source == "Upload photos":
        what = "handwritten digits" if cfg.dataset == "mnist" else "pieces of clothing"
        ups = st.file_uploader(
            f"Photos of {what}, one per photo (dark on a plain light background works best; "
            f"up to {MAX_TRY} at once)",
            type=UPLOAD_TYPES, key=f"{key}_up", accept_multiple_files=True,
        )  # fmt: skip
        inputs = [TryInput(u.name, u.getvalue()) for u in ups or []]
    else:  # a drawing goes through the same preprocessing as a photo
        what = "digit" if cfg.dataset == "mnist" else "piece of clothing"
        hint = f"Draw one {what} with the mouse, a finger or a pen: the answer follows the pen."
        png = draw.pad(f"{key}_draw", hint=hint, live=True)
        inputs = [TryInput("drawing", png)] if png else []
        bars = len(pred.classes)  # one drawing: a bar for every class, live as it grows
    out = answer_grid(model, cfg, pred.classes, inputs, key, bars)
    if source != "Test images":  # the offer is about photos and drawings
        default_offer(run, cfg, out, key, bars)
