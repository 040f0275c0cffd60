"""The Webcam page's helpers: ICE servers from settings, the thread-safe holder that the video
callback uses, the live predictions panel and the single-shot fallback."""

from __future__ import annotations

import json
import os
import threading
import time
from collections import deque

import av
import numpy as np
import streamlit as st

from engine import EngineError
from engine.live import Detection, LiveRecognizer
from engine.preprocess import open_image
from engine.samples import Sample, SampleSet, check_class_name
from ui import greek_views as gv

HOLDER = "webcam_holder"  # this browser session's LiveHolder
FPS_WINDOW = 2.0  # s, the frame rate is measured over the frames of the last two seconds


def ice_servers() -> list[dict]:
    """STUN/TURN servers from st.secrets ``[webrtc] ice_servers`` (a list of RTCIceServer
    dicts) or the environment: WEBRTC_ICE_SERVERS (the same list as JSON), or
    WEBRTC_STUN_URLS and WEBRTC_TURN_URLS (comma-separated) with WEBRTC_TURN_USERNAME and
    WEBRTC_TURN_CREDENTIAL. An empty list means host candidates only (same machine/network)."""
    try:
        servers = st.secrets.get("webrtc", {}).get("ice_servers")
    except Exception:  # noqa: BLE001 - no secrets.toml, or an unreadable one: use the env
        servers = None
    if servers:
        return [dict(s) for s in servers]
    if raw := os.environ.get("WEBRTC_ICE_SERVERS"):
        try:
            return list(json.loads(raw))
        except ValueError:
            st.warning("WEBRTC_ICE_SERVERS is not valid JSON: ignored")
    out = []
    split = lambda v: [u.strip() for u in os.environ.get(v, "").split(",") if u.strip()]  # noqa: E731
    if stun := split("WEBRTC_STUN_URLS"):
        out.append({"urls": stun})
    if turn := split("WEBRTC_TURN_URLS"):
        out.append(
            {
                "urls": turn,
                "username": os.environ.get("WEBRTC_TURN_USERNAME", ""),
                "credential": os.environ.get("WEBRTC_TURN_CREDENTIAL", ""),
            }
        )
    return out


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


@st.fragment(run_every=1.0)
def live_panel(h: LiveHolder) -> None:
    """Last predictions and the measured frame rate, refreshed every second."""
    fps = h.fps()
    st.metric("Frame rate", f"{fps:.1f} fps", help="frames that reached the recogniser per second")
    if h.error:
        st.warning(h.error)
    dets = h.latest()
    if dets and fps == 0:
        st.caption(f"No frames in the last {FPS_WINDOW:.0f} s: these are the last ones seen.")
    show_detections(dets)


def live_video(h: LiveHolder, ice: list[dict]):
    """The WebRTC player wired to ``h.callback``; None (with a warning) when the component
    cannot run in this server, so the page falls back to single shots."""
    from streamlit_webrtc import WebRtcMode, webrtc_streamer

    try:
        ctx = webrtc_streamer(
            key="webcam",
            mode=WebRtcMode.SENDRECV,
            rtc_configuration={"iceServers": ice},  # never streamlit-webrtc's own defaults
            media_stream_constraints={"video": {"width": 640, "height": 480}, "audio": False},
            video_frame_callback=h.callback,
            async_processing=True,  # frames are dropped, not queued, when we fall behind
        )
    except Exception as e:  # noqa: BLE001 - any failure of the component: offer single shots
        st.warning(f"Live video is not available here ({type(e).__name__}): use single shots.")
        return None
    if ctx.state.signalling and not ctx.state.playing:
        st.caption("Connecting… if the video never starts, use single shots below.")
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
    best = max(dets, key=lambda d: d.box[2] * d.box[3])  # the biggest symbol
    gv.replace_samples(gv.samples().merged(SampleSet([Sample(best.image, label, "webcam")])))
    st.success(f"Added a '{label}' sample ({len(gv.samples())} in the set).")


def single_shot(h: LiveHolder) -> None:
    """The fallback without WebRTC: one photo through the same engine function."""
    shot = st.camera_input("Take a picture of your writing")
    if shot is None:
        return
    try:
        rgb = np.asarray(open_image(shot.getvalue(), "camera shot").convert("RGB"))
        annotated, dets = h.process(np.ascontiguousarray(rgb[..., ::-1]))  # RGB → BGR
    except EngineError as e:
        st.error(str(e))
        return
    st.image(annotated[..., ::-1], caption="What the recogniser found")
    show_detections(dets)
