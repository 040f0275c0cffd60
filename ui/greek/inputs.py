"""The Greek letters page's state and inputs: the visitor's sample set and queries (kept on the
server under the visitor, ``engine.fewshot.store``), the cut layer, the head's settings, and the
ways to add samples and queries. The Webcam page uses ``samples``/``replace_samples`` too."""

from __future__ import annotations

import streamlit as st

from engine import EngineError
from engine.fewshot import store
from engine.fewshot.files import from_csv_pair, from_zip, to_csv_pair, to_zip
from engine.fewshot.samples import (
    GREEK,
    UNLABELLED,
    SampleError,
    SampleSet,
    from_images,
    synthetic_greek,
)
from engine.runs.hosting import HostingError
from ui import draw, state, visitor
from ui.greek.analysis import HeadSettings

SAMPLES = "greek_samples"  # this visitor's SampleSet (a copy of what the server keeps)
QUERIES = "greek_queries"  # this visitor's letters to recognise
FLASH = "greek_flash"  # messages to show after the rerun that follows an action
CONFIRM_CLEAR = "greek_confirm_clear"  # "Remove all samples" waits for a second click
DEFAULT_LETTERS = ["alpha", "beta", "gamma"]
IMAGE_TYPES = ["png", "jpg", "jpeg", "bmp", "webp", "tif", "tiff", "gif"]
EPOCHS = (10, 1000, 100)  # the head's epochs: min, max, default
RATES = (0.001, 0.003, 0.01, 0.03, 0.05, 0.1, 0.3)  # Adam learning rates offered for the head


# --- the visitor's sets ---------------------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def default_samples() -> SampleSet:
    """What a new visitor starts with: 9 synthetic alpha, beta and gamma (shared, never changed)."""
    return synthetic_greek(DEFAULT_LETTERS, per_class=9)


def _stored(kind: str) -> SampleSet | None:
    try:
        return store.load(visitor.current().id, kind)
    except EngineError as e:
        st.warning(f"Your stored {kind} could not be read, so they start afresh: {e}")
        return None


def samples() -> SampleSet:
    """The visitor's sample set: as kept on the server, else the synthetic default."""
    if SAMPLES not in st.session_state:
        kept = _stored("samples")  # an emptied set stays empty
        st.session_state[SAMPLES] = default_samples() if kept is None else kept
    return st.session_state[SAMPLES]


def queries() -> SampleSet:
    """The visitor's letters to recognise, with or without their classes."""
    if QUERIES not in st.session_state:
        kept = _stored("queries")
        st.session_state[QUERIES] = SampleSet() if kept is None else kept
    return st.session_state[QUERIES]


def _keep(key: str, kind: str, new: SampleSet) -> bool:
    """Make ``new`` the visitor's set and store it. A hosting cap refuses the change (False,
    with the message); a failed write keeps it for this session only."""
    try:
        store.save(visitor.current(), kind, SampleSet(new.samples))
    except HostingError as e:
        st.error(str(e))
        return False
    except SampleError as e:
        st.warning(f"{e} They are kept until you close this tab.")
    st.session_state[key] = SampleSet(new.samples)
    return True


def replace_samples(new: SampleSet) -> bool:
    """Make ``new`` the sample set (kept on the server); False when a storage cap refused it."""
    return _keep(SAMPLES, "samples", new)


def replace_queries(new: SampleSet) -> bool:
    return _keep(QUERIES, "queries", new)


def is_synthetic(s) -> bool:
    return s.name.startswith("synthetic ")


def synthetic_count(s: SampleSet) -> int:
    return sum(map(is_synthetic, s.samples))


def flash(kind: str, text: str, where: str = "samples") -> None:
    """A message (st.success/warning/…) for the next run, shown in section ``where``."""
    st.session_state.setdefault(FLASH, []).append((where, kind, text))


def show_flashes(where: str) -> None:
    kept = []
    for w, kind, text in st.session_state.pop(FLASH, []):
        if w == where:
            getattr(st, kind)(text)
        else:
            kept.append((w, kind, text))
    if kept:
        st.session_state[FLASH] = kept


# --- settings -------------------------------------------------------------------------------------
def layer_choices(model) -> list[str]:
    """Where the network can be cut: every layer up to its output layer."""
    names = model.layer_names
    return names[: names.index("out") + 1] if "out" in names else names


def chosen_layer(model) -> str:
    """The layer chosen on the Greek page (``state.GREEK_LAYER``) when ``model`` has it, else
    the model's default embedding layer. The Webcam's Greek mode cuts the network here too."""
    chosen = st.session_state.get(state.GREEK_LAYER)
    return chosen if chosen in layer_choices(model) else model.embedding_layer()


def choose_layer(model) -> str:
    layers = layer_choices(model)
    layer = st.selectbox(
        "Cut the network at layer", layers, index=layers.index(chosen_layer(model)),
        help="The embedding is this layer's output. The Webcam's Greek mode uses it too.",
    )  # fmt: skip
    st.session_state[state.GREEK_LAYER] = layer
    return layer


def head_settings() -> HeadSettings:
    c1, c2 = st.columns(2)
    lo, hi, default = EPOCHS
    epochs = c1.slider("Head: epochs", lo, hi, default, step=10, key="greek_head_epochs")
    lr = c2.select_slider("Head: learning rate", RATES, HeadSettings.lr, key="greek_head_lr")
    return HeadSettings(int(epochs), float(lr))


def reject_threshold(suggested: float, layer: str) -> float | None:
    """The optional "none of these" distance: None when off."""
    on = st.toggle(
        "Answer “unknown” for letters far from every sample",
        key="greek_reject",
        help="A letter outside the set is otherwise forced into the nearest class.",
    )
    if not on:
        return None
    return float(
        st.number_input(
            "Unknown when the least SSD to any sample is above",
            min_value=0.0,
            value=float(round(suggested * 1.5, 1)),
            step=max(1.0, suggested / 20),
            key=f"greek_reject_at_{layer}",
            help=f"Suggested: 1.5 × {suggested:.1f}, the largest distance from a sample to its "
            "nearest other sample at this layer.",
        )  # fmt: skip
    )


# --- adding samples and queries -------------------------------------------------------------------
def _upload(key: str, what: str, need_class: bool, button: str) -> tuple[str, list] | None:
    """A class name, an uploader and a button. The name stays after a submit; an empty submit
    (Enter in the name) says what is missing instead of clearing anything."""
    gen = st.session_state.get(f"{key}_gen", 0)
    with st.form(key, border=False):
        label = st.text_input(
            "Class name" if need_class else "Class name (optional: given, the answers are scored)",
            placeholder="e.g. alpha", key=f"{key}_class",
        )  # fmt: skip
        files = st.file_uploader(
            what, type=IMAGE_TYPES, accept_multiple_files=True, key=f"{key}_files_{gen}"
        )
        pressed = st.form_submit_button(button)
    if not pressed:
        return None
    if not files:
        st.info(f"Choose one or more image files, then press “{button}”.")
        return None
    if need_class and not label.strip():
        st.warning("Name the class of these images first (e.g. alpha).")
        return None
    st.session_state[f"{key}_gen"] = gen + 1  # the next run shows an empty uploader
    return label.strip(), files


def _take(load, on_added, where: str = "samples") -> None:
    """Run a loader (given a progress callback) under a progress bar; say why it failed or what
    it skipped, and hand on what it read."""
    bar = st.empty()

    def progress(done: int, total: int) -> None:
        if total > 1:
            bar.progress(done / total, text=f"Preparing image {min(done + 1, total)} of {total}…")

    try:
        added = load(progress)
    except EngineError as e:
        st.error(str(e))
        return
    finally:
        bar.empty()
    if not added.samples:
        for msg in added.skipped or ["Nothing usable in what you gave: nothing was added."]:
            st.warning(msg)
        return
    for msg in added.skipped:
        flash("warning", msg, where)
    for msg in added.notes:  # read, but perhaps not as meant: "several symbols: 2 found, …"
        flash("info", msg, where)
    on_added(added)


def _add_samples(drop_synthetic: bool):
    def add(added: SampleSet) -> None:
        current = samples()
        base = [s for s in current.samples if not (drop_synthetic and is_synthetic(s))]
        dropped = len(current) - len(base)
        if replace_samples(SampleSet(base + added.samples)):
            if dropped:
                note = f" The {dropped} synthetic samples were removed."
            elif n := synthetic_count(current):
                note = f" The set also holds the {n} synthetic samples."
            else:
                note = ""
            flash("success", f"Added {len(added)} sample(s): {_counts(added)}.{note}")
            st.rerun()

    return add


def _add_queries(added: SampleSet) -> None:
    if replace_queries(queries().merged(SampleSet(added.samples))):
        flash("success", f"Added {len(added)} letter(s) to recognise: {_counts(added)}.", "queries")
        st.rerun()


def _counts(s: SampleSet) -> str:
    c = {(k or "no class"): s.labels.count(k) for k in dict.fromkeys(s.labels)}
    return ", ".join(f"{k} {n}" for k, n in c.items())


def sample_inputs(current: SampleSet) -> None:
    """The ways to add samples, as tabs; what is added is kept, and the page reruns."""
    drop = False
    if n := synthetic_count(current):
        drop = st.checkbox(
            f"Replace the {n} synthetic samples with what I add", value=True,
            help="Unticked, your samples join the synthetic letters.",
        )  # fmt: skip
    add = _add_samples(drop)
    # The server tracks the chosen tab (on_change="rerun"), so it stays chosen when a message
    # above it comes or goes: a key alone lost it now and then, and with it an error shown in it.
    tabs = st.tabs(["Upload images", "ZIP of folders", "CSV pair", "Camera", "Built-in letters",
                    "Draw"], key="sample_tabs", on_change="rerun")  # fmt: skip
    with tabs[0]:
        if got := _upload("add_images", "Images of that class", True, "Add to the set"):
            label, files = got
            _take(lambda p: from_images([(f.name, f.getvalue()) for f in files], label, p), add)
    with tabs[1]:
        _zip_form("add_zip", "A ZIP whose folders are the classes (alpha/1.png, beta/1.png, …)",
                  False, add)  # fmt: skip
        st.download_button(
            "Download the samples (ZIP of class folders)", lambda: to_zip(current),
            "greek-samples.zip", "application/zip", on_click="ignore", disabled=not len(current),
        )  # fmt: skip
    with tabs[2]:
        _csv_form("add_csv", add)
        e1, e2 = st.columns(2)
        e1.download_button("Export data.csv", lambda: to_csv_pair(current)[0], "data.csv",
                           "text/csv", on_click="ignore")  # fmt: skip
        e2.download_button("Export letter_cat.csv", lambda: to_csv_pair(current)[1],
                           "letter_cat.csv", "text/csv", on_click="ignore")  # fmt: skip
    with tabs[3]:
        snap_label = st.text_input("Class of the snapshot", value=(current.classes or ["alpha"])[0])
        shot = st.camera_input("Hold a letter written on paper up to the camera")
        if shot is not None and st.button("Add this snapshot"):
            _take(lambda p: from_images([("camera snapshot", shot.getvalue())], snap_label), add)
    with tabs[4], st.form("builtin"):
        st.caption("Synthetic letters rendered from this machine's fonts with random distortions.")
        letters = st.multiselect("Letters", list(GREEK), default=DEFAULT_LETTERS)
        per = st.slider("Samples per letter", 2, 30, 9)
        if st.form_submit_button("Replace the set with these") and letters:
            if replace_samples(synthetic_greek(letters, per)):
                st.rerun()
    with tabs[5]:  # drawn samples are prepared like photos
        if drawn := draw.labelled_drawing("greek_draw", (current.classes or ["alpha"])[0]):
            _take(lambda p: from_images([("drawing", drawn[1])], drawn[0]), add)


def _zip_form(key: str, what: str, unlabelled: bool, add, where: str = "samples") -> None:
    with st.form(key, clear_on_submit=True, border=False):
        z = st.file_uploader(what, type=["zip"])
        if st.form_submit_button("Add the ZIP") and z:
            _take(
                lambda p: from_zip(z.getvalue(), z.name, unlabelled=unlabelled, progress=p),
                add, where,
            )  # fmt: skip


def _csv_form(key: str, add, where: str = "samples") -> None:
    with st.form(key, clear_on_submit=True, border=False):
        c1, c2 = st.columns(2)
        data_csv = c1.file_uploader("data.csv (784 pixel values per row)", type=["csv"])
        cat_csv = c2.file_uploader("letter_cat.csv (the class of each row)", type=["csv"])
        if st.form_submit_button("Import") and data_csv and cat_csv:
            _take(lambda p: from_csv_pair(data_csv.getvalue(), cat_csv.getvalue()), add, where)


def query_inputs(current: SampleSet) -> None:
    """The ways to add letters to recognise; with their classes, the answers are scored."""
    if n := len(current):
        given = sum(bool(x) for x in current.labels)
        st.write(f"**{n} letters to recognise** — {given} with a class")
    tabs = st.tabs(
        ["Upload images", "ZIP of folders", "CSV pair", "Draw"], key="query_tabs", on_change="rerun"
    )
    with tabs[0]:
        if got := _upload("add_queries", "Letters to recognise", False, "Add the letters"):
            label, files = got
            pairs = [(f.name, f.getvalue()) for f in files]
            _take(lambda p: from_images(pairs, label or UNLABELLED, p), _add_queries, "queries")
    with tabs[1]:
        what = (
            "A ZIP: class folders score the answers (alpha/1.png); images at the top level are "
            "letters of unknown class"
        )
        _zip_form("add_query_zip", what, True, _add_queries, "queries")
    with tabs[2]:
        _csv_form("add_query_csv", _add_queries, "queries")
    with tabs[3]:
        if drawn := draw.labelled_drawing("greek_query_draw", ""):
            _take(
                lambda p: from_images([("drawn query", drawn[1])], drawn[0].strip()),
                _add_queries,
                "queries",
            )
    c1, c2 = st.columns(2)
    if c1.button("Clear all queries", disabled=not len(current)):
        if replace_queries(SampleSet()):
            flash("success", f"Removed all {len(current)} queries.", "queries")
            st.rerun()
    c2.download_button(
        "Download the queries (ZIP)", lambda: to_zip(current), "greek-queries.zip",
        "application/zip", on_click="ignore", disabled=not len(current),
    )  # fmt: skip
