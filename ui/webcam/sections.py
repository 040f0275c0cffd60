"""The Webcam page's helpers (how video connects, and the camera probe, are in
``ui.webcam.camera``): the thread-safe holder that the video callback uses, the live predictions
panel and the photo fallback (an uploaded photo, or one camera shot, through the same engine
function)."""

from __future__ import annotations

import threading
import time
from collections import deque

import av
import numpy as np
import streamlit as st

from engine import EngineError
from engine.fewshot.samples import Sample, SampleSet, check_class_name
from engine.nn.live import Detection, LiveRecognizer
from ui.greek import inputs as gv
from ui.webcam.camera import BROWSER_ERRORS, PLAYER_TEXT, USE_A_PHOTO, Connection

HOLDER = "webcam_holder"  # this browser session's LiveHolder
FPS_WINDOW = 2.0  # s, the frame rate is measured over the frames of the last two seconds
PANEL_EVERY = 1.0  # s, the live panel's refresh while a stream plays (never when none does)
RECORD = "webcam_record"  # the Record toggle: on while samples are being recorded
RECORD_EVERY = 0.3  # s between recorded samples (a new video frame each time)
RECORD_CAP = 30  # samples per recording; it stops by itself there
BARS = 3  # confidence bars in the live panel: the top classes of the biggest symbol
PHOTO_TYPES = ["png", "jpg", "jpeg", "bmp", "webp", "tif", "tiff", "gif"]


# --- what the video callback and the page share -------------------------------------------------


class LiveHolder:
    """What the page and the video callback share. The callback runs in a WebRTC worker thread
    (no st.* there): it reads the recognizer and writes the results under a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rec: LiveRecognizer | None = None
        self._key: object = None
        self._times: deque[float] = deque(maxlen=120)
        self.detections: list[Detection] = []
        self.frames = 0
        self.error = ""

    def configure(self, key: object, make) -> None:
        """Use ``make()``'s recognizer, built again only when ``key`` (the settings) changes."""
        if key == self._key:
            return
        rec = make()
        with self._lock:
            self._rec, self._key = rec, key

    def process(self, img: np.ndarray) -> tuple[np.ndarray, list[Detection]]:
        """One BGR frame through the current recognizer; results recorded for the panel."""
        with self._lock:
            rec = self._rec
        if rec is None:
            return img, []
        # One stream calls this from one thread at a time, so the recognizer runs unlocked.
        out, dets = rec.process(img)
        with self._lock:
            self.detections = dets
            self.frames += 1
            self._times.append(time.monotonic())
        return out, dets

    def process_photo(self, src, name: str = "photo") -> tuple[np.ndarray, list[Detection]]:
        """A photo (file bytes) through the same recognizer as the video frames
        (``LiveRecognizer.process_photo``); its symbols become the latest detections (so the
        snapshot form can add one), without counting as a video frame."""
        with self._lock:
            rec = self._rec
        if rec is None:
            raise EngineError("the recogniser is not ready yet")
        out, dets = rec.process_photo(src, name)
        with self._lock:
            self.detections = dets
        return out, dets

    def callback(self, frame: av.VideoFrame) -> av.VideoFrame:
        """streamlit-webrtc's video_frame_callback."""
        try:
            out, _ = self.process(frame.to_ndarray(format="bgr24"))
        except EngineError as e:
            with self._lock:
                self.error = str(e)
            return frame
        return av.VideoFrame.from_ndarray(out, format="bgr24")

    def fps(self) -> float:
        """Frames per second that reached the callback over the last FPS_WINDOW seconds."""
        with self._lock:
            now = time.monotonic()
            recent = [t for t in self._times if now - t <= FPS_WINDOW]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(1e-6, recent[-1] - recent[0])

    def latest(self) -> list[Detection]:
        with self._lock:
            return list(self.detections)


def holder() -> LiveHolder:
    if HOLDER not in st.session_state:
        st.session_state[HOLDER] = LiveHolder()
    return st.session_state[HOLDER]


def detection_rows(dets: list[Detection]) -> list[dict]:
    return [
        {"label": d.label, "confidence": round(100 * d.confidence, 1), "seen": d.image}
        for d in dets
    ]


def show_detections(dets: list[Detection]) -> None:
    if not dets:
        st.caption("Nothing recognised yet.")
        return
    st.markdown("**Seen:** " + " ".join(f"`{d.label}`" for d in dets))
    st.image([d.image for d in dets], width=56, caption=[d.text for d in dets])


def biggest(dets: list[Detection]) -> Detection:
    return max(dets, key=lambda d: d.box[2] * d.box[3])


def confidence_bars(d: Detection, k: int = BARS) -> None:
    """The top ``k`` classes of one detection, a bar each (as "try it" shows a photo's)."""
    st.caption(f"Confidence for the biggest symbol in view (`{d.label}`):")
    for label, p in d.scores[:k]:
        st.progress(min(1.0, max(0.0, p)), text=f"{label} · {100 * p:.1f}%")


def _panel(h: LiveHolder, playing: bool) -> None:
    fps = h.fps()
    st.metric("Frame rate", f"{fps:.1f} fps", help="frames that reached the recogniser per second")
    if h.error:
        st.warning(h.error)
    dets = h.latest()
    if not playing:
        st.caption("Live video is not playing: press START, or use a photo.")
    elif dets and fps == 0:
        st.caption(f"No frames in the last {FPS_WINDOW:.0f} s: these are the last ones seen.")
    show_detections(dets)
    if dets:
        confidence_bars(biggest(dets))


def live_panel(h: LiveHolder, playing: bool) -> None:
    """Last predictions and the measured frame rate: refreshed every PANEL_EVERY seconds while
    a stream plays, and not at all otherwise (an idle open tab costs the server nothing). The
    page reruns when the stream starts or stops, so the refresh follows it."""
    st.fragment(_panel, run_every=PANEL_EVERY if playing else None)(h, playing)


def is_playing(ctx) -> bool:
    return bool(ctx is not None and ctx.state.playing)


def live_video(h: LiveHolder, conn: Connection):
    """The WebRTC player wired to ``h.callback``; None (with a warning) when the component
    cannot run in this server, so the page falls back to photos."""
    from streamlit_webrtc import WebRtcMode, webrtc_streamer

    try:
        ctx = webrtc_streamer(
            key="webcam",
            mode=WebRtcMode.SENDRECV,
            rtc_configuration=conn.rtc_configuration,  # None: streamlit-webrtc's TURN service
            media_stream_constraints={"video": {"width": 640, "height": 480}, "audio": False},
            video_frame_callback=h.callback,
            async_processing=True,  # frames are dropped, not queued, when we fall behind
            translations=PLAYER_TEXT,
        )
    except Exception as e:  # noqa: BLE001 - any failure of the component: offer photos
        st.warning(f"Live video is not available here ({type(e).__name__}): {USE_A_PHOTO}.")
        return None
    if ctx.state.signalling and not ctx.state.playing:
        st.caption(f"Connecting… if the video never starts, {USE_A_PHOTO}.")
    if not ctx.state.playing:
        st.caption(
            "If the player shows an error: "
            + "; ".join(f"`{k}` means {v}" for k, v in BROWSER_ERRORS.items())
            + f". In each case, {USE_A_PHOTO}."
        )
    return ctx


def snapshot_form(h: LiveHolder) -> None:
    """Add the crop of the biggest symbol in view to this session's Greek sample set."""
    with st.form("snapshot", clear_on_submit=False, border=False):
        label = st.text_input("Class of the snapshot", value="alpha")
        if not st.form_submit_button("Add the current crop to the Greek samples"):
            return
    dets = h.latest()
    try:
        label = check_class_name(label.strip())
    except EngineError as e:
        st.warning(str(e))
        return
    if not dets:
        st.warning("No symbol in view: nothing to add.")
        return
    best = biggest(dets)
    gv.replace_samples(gv.samples().merged(SampleSet([Sample(best.image, label, "webcam")])))
    st.success(f"Added a '{label}' sample ({len(gv.samples())} in the set).")


def recorder(h: LiveHolder) -> None:
    """Teachable Machine's "hold to record": while Record is on, the biggest symbol of a new
    video frame joins the Greek samples every RECORD_EVERY s, up to RECORD_CAP. Streamlit has
    no press-and-hold button, so Record is a switch: on records, off stops."""
    if st.session_state.pop(f"{RECORD}__stop", False):  # the cap: off before it is drawn
        st.session_state[RECORD] = False
    label = st.text_input("Class to record", value="alpha", key=f"{RECORD}_class")
    on = st.toggle(
        f"Record samples (one every {RECORD_EVERY:.1f} s, up to {RECORD_CAP})", key=RECORD,
        help="Hold the letter up to the camera, switch this on, move it a little; switch it "
        "off to stop. Each new frame's biggest symbol becomes a sample of the class.",
    )  # fmt: skip
    if not on:  # the last recording's result stays until the next one starts
        if (ended := st.session_state.pop(f"{RECORD}__state", None)) is not None:
            st.session_state[f"{RECORD}__last"] = ended
        last = st.session_state.get(f"{RECORD}__last")
        if last and last.get("refused"):
            st.warning("Recording stopped: this server keeps no more samples for you.")
        elif last and not last["n"]:
            st.info("Nothing recorded: no new video frame showed a symbol while Record was on.")
        if last and last["n"]:
            st.success(
                f"Recorded {last['n']} samples of {last['label']} "
                f"({len(gv.samples())} in the Greek set)."
            )
        return
    st.session_state.pop(f"{RECORD}__last", None)
    try:
        label = check_class_name(label.strip())
    except EngineError as e:
        st.warning(str(e))
        return
    st.fragment(_record, run_every=RECORD_EVERY)(h, label)


def _record(h: LiveHolder, label: str) -> None:
    """One tick of a recording: a sample when a new frame showed a symbol."""
    state = st.session_state.setdefault(f"{RECORD}__state", {"n": 0, "frame": h.frames})
    state["label"] = label
    dets = h.latest()
    if h.frames != state["frame"] and dets:
        state["frame"] = h.frames
        new = SampleSet([Sample(biggest(dets).image, label, "webcam")])
        if gv.replace_samples(gv.samples().merged(new)):
            state["n"] += 1
        else:  # a storage cap refused it: stop, and say so
            state["refused"] = True
    if state["n"] >= RECORD_CAP or state.get("refused"):
        st.session_state[f"{RECORD}__last"] = st.session_state.pop(f"{RECORD}__state")
        st.session_state[f"{RECORD}__stop"] = True
        st.rerun(scope="app")
    what = "waiting for a symbol in view" if not dets else "switch Record off to stop"
    st.caption(f"Recording: {state['n']} samples of {label} — {what}.")


# --- the photo fallback ---------------------------------------------------------------------


def recognise_photo(h: LiveHolder, data: bytes, name: str) -> None:
    """One photo through the live recogniser; the annotated photo and what was seen."""
    try:
        annotated, dets = h.process_photo(data, name)
    except EngineError as e:
        st.error(str(e))
        return
    st.image(annotated[..., ::-1], caption=f"What the recogniser found in {name}")
    show_detections(dets)


def photo_input(h: LiveHolder, camera: bool = True) -> None:
    """A photo of a sheet with one or more symbols: uploaded (works with no camera at all) or,
    when the browser has a camera, one shot. Each gets the boxes, labels and confidences a
    video frame gets."""
    up = st.file_uploader(
        "Upload a photo of your writing (one sheet, several symbols are fine)",
        type=PHOTO_TYPES, key="webcam_photo",
    )  # fmt: skip
    if up is not None:
        recognise_photo(h, up.getvalue(), up.name)
    if not camera:
        return
    shot = st.camera_input("Or take one picture with the camera", key="webcam_shot")
    if shot is not None:
        recognise_photo(h, shot.getvalue(), "camera shot")
