"""A drawing pad: a canvas for the mouse, a finger or a pen, as a Streamlit custom component v2
(inline HTML/CSS/JS, no build step, no extra package).

The pad sends its drawing as a PNG data URL when a stroke ends, and with ``live=True`` also while
the pen moves (every LIVE_EVERY ms at most), so an answer can follow the drawing as it grows;
``pad`` returns it as PNG bytes.
Callers put those bytes through ``engine.data.preprocess.preprocess``, exactly like an uploaded
photo: dark ink on a light page, cropped, scaled and centred into the 28×28 input.
"""

from __future__ import annotations

import base64
import binascii
import io

import streamlit as st

PREFIX = "data:image/png;base64,"
MAX_PNG = 2 * 1024 * 1024  # bytes; a 280×280 drawing is 5-20 KB
SIZE = 280  # px, the canvas side: ten times MNIST's 28
PEN = 18  # px, default pen width: MNIST's ~2 px stroke at ten times the scale
LIVE_EVERY = 400  # ms between sends while a stroke goes on (live=True): each one is a rerun

HTML = """
<div class="pad">
  <canvas aria-label="drawing pad"></canvas>
  <div class="tools">
    <label>Pen <input class="pen" type="range" min="4" max="40" step="1"
      aria-label="pen width"> <span class="pen-value"></span></label>
    <button class="clear" type="button">Clear</button>
  </div>
  <div class="hint"></div>
</div>
"""

CSS = """
.pad { font-family: var(--st-font); color: var(--st-text-color); }
canvas {
  display: block; max-width: 100%; aspect-ratio: 1 / 1; background: #fff;
  border: 1px solid var(--st-border-color); border-radius: var(--st-base-radius);
  cursor: crosshair; touch-action: none;
}
.tools { display: flex; align-items: center; gap: 1rem; margin-top: 0.4rem; font-size: 0.9rem; }
.tools input { vertical-align: middle; accent-color: var(--st-primary-color); }
.clear {
  font: inherit; padding: 0.2rem 0.8rem; cursor: pointer; color: var(--st-text-color);
  background: var(--st-secondary-background-color);
  border: 1px solid var(--st-border-color); border-radius: var(--st-button-radius);
}
.clear:hover { border-color: var(--st-primary-color); color: var(--st-primary-color); }
.hint { font-size: 0.8rem; opacity: 0.7; margin-top: 0.2rem; }
"""

# The function runs again whenever Streamlit re-renders the component with new data, on the same
# DOM: set up the canvas once (remembered on the element), and (re)assign handlers as properties,
# never addEventListener, so they do not pile up.
JS = """
export default function (component) {
  const { parentElement, data, setStateValue } = component;
  const canvas = parentElement.querySelector("canvas");
  const pen = parentElement.querySelector(".pen");
  const penValue = parentElement.querySelector(".pen-value");
  const clear = parentElement.querySelector(".clear");
  if (!canvas || !pen || !clear) return;
  const ctx = canvas.getContext("2d");
  const size = (data && data.size) || 280;
  const paper = () => {
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
  };
  if (!canvas._pad) {
    canvas._pad = { drawing: false, last: null };
    canvas.width = canvas.height = size;
    canvas.style.width = size + "px";
    pen.value = (data && data.pen) || 18;
    paper();
    if (data && data.image) {  // remounted with a drawing: show it again
      const img = new Image();
      img.onload = () => ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
      img.src = data.image;
    }
  }
  const s = canvas._pad;
  parentElement.querySelector(".hint").textContent = (data && data.hint) || "";
  const showPen = () => { penValue.textContent = pen.value + " px"; };
  showPen();
  pen.oninput = showPen;
  const at = (e) => {
    const r = canvas.getBoundingClientRect();
    return [(e.clientX - r.left) * canvas.width / r.width,
            (e.clientY - r.top) * canvas.height / r.height];
  };
  const segment = (a, b) => {
    ctx.strokeStyle = "#000";
    ctx.lineWidth = Number(pen.value);
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.moveTo(a[0], a[1]);
    ctx.lineTo(b[0], b[1]);
    ctx.stroke();
  };
  const every = (data && data.every) || 0;  // ms; 0: send only when a stroke ends
  const send = () => {
    clearTimeout(s.timer);
    s.timer = null;
    s.sent = performance.now();
    setStateValue("image", canvas.toDataURL("image/png"));
  };
  canvas.onpointerdown = (e) => {
    e.preventDefault();
    canvas.setPointerCapture(e.pointerId);
    s.drawing = true;
    s.sent = performance.now();
    s.last = at(e);
    segment(s.last, s.last);  // a click is a dot
  };
  canvas.onpointermove = (e) => {
    if (!s.drawing) return;
    const p = at(e);
    segment(s.last, p);
    s.last = p;
    if (every > 0 && !s.timer) {  // throttled, with a last send for the newest ink
      s.timer = setTimeout(send, Math.max(0, every - (performance.now() - s.sent)));
    }
  };
  const end = () => {
    if (!s.drawing) return;
    s.drawing = false;
    send();
  };
  canvas.onpointerup = end;
  canvas.onpointercancel = end;
  canvas.onlostpointercapture = end;
  clear.onclick = () => {
    clearTimeout(s.timer);
    s.timer = null;
    paper();
    setStateValue("image", null);
  };
  canvas.dataset.ready = "1";  // the handlers are set: strokes from now on are drawn and sent
}
"""

_PAD = st.components.v2.component("rdn_drawing_pad", html=HTML, css=CSS, js=JS)


def png_bytes(value: object) -> bytes | None:
    """The PNG inside the pad's data URL; None for an empty pad or anything that is not one."""
    if not isinstance(value, str) or not value.startswith(PREFIX):
        return None
    if len(value) > MAX_PNG * 4 // 3 + len(PREFIX) + 4:
        return None
    try:
        png = base64.b64decode(value[len(PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        return None
    return png if png.startswith(b"\x89PNG\r\n\x1a\n") else None


def _key(key: str) -> str:
    """The component's key: ``clear`` moves it on, which mounts a fresh, empty pad."""
    return f"{key}-{st.session_state.get(f'{key}__round', 0)}"


def clear(key: str) -> None:
    """Empty the pad ``key`` on the next run (e.g. once its drawing was added to a set)."""
    st.session_state[f"{key}__round"] = st.session_state.get(f"{key}__round", 0) + 1


def pad(
    key: str, *, hint: str = "", size: int = SIZE, pen: int = PEN, live: bool = False
) -> bytes | None:
    """Show a drawing pad; return the drawing as PNG bytes (None while it is empty).

    Dark ink on a white page, ``size`` px square; pen width and Clear are on the pad. The
    drawing arrives when a stroke ends; with ``live`` also while the pen moves (put the caller
    in a fragment: each arrival reruns it).
    """
    k = _key(key)
    previous = st.session_state.get(k)
    image = previous.get("image") if isinstance(previous, dict) else None
    result = _PAD(
        key=k,
        data={
            "size": size,
            "pen": pen,
            "hint": hint,
            "image": png_bytes(image) and image,
            "every": LIVE_EVERY if live else 0,
        },
        default={"image": None},
        on_image_change=lambda: None,
        width="content",
    )
    return png_bytes(result.get("image"))


class Drawing(io.BytesIO):
    """A drawing as an uploaded file looks to a page: ``getvalue()`` and ``name``."""

    def __init__(self, png: bytes, name: str = "drawing"):
        super().__init__(png)
        self.name = name


def pad_file(key: str, *, hint: str = "", name: str = "drawing") -> Drawing | None:
    """``pad`` as a file-like drawing, for pages written around ``st.file_uploader``."""
    png = pad(key, hint=hint)
    return Drawing(png, name) if png else None


def labelled_drawing(
    key: str, default_class: str, label: str = "Class of the drawing"
) -> tuple[str, bytes] | None:
    """A class name, a pad and "Add this drawing": returns (class, PNG) on the run after the
    click, with the pad emptied for the next sample."""
    added = st.session_state.pop(f"{key}__added", None)
    st.text_input(label, value=default_class, key=f"{key}_class")

    def add() -> None:  # a callback: runs before the script, so the new pad is already empty
        state = st.session_state.get(_key(key))
        png = png_bytes(state.get("image")) if isinstance(state, dict) else None
        if png:
            st.session_state[f"{key}__added"] = (st.session_state[f"{key}_class"], png)
        clear(key)

    png = pad(key, hint="Draw one letter, add it, draw the next: the pad empties each time.")
    st.button("Add this drawing", key=f"{key}_add", on_click=add, disabled=png is None)
    return added
