"""The Webcam page's helpers: how live video connects (ICE servers), whether the browser has a
camera, the thread-safe holder that the video callback uses, the live predictions panel and
the photo fallback (an uploaded photo, or one camera shot, through the same engine function)."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass

import av
import numpy as np
import streamlit as st

from engine import EngineError
from engine.live import Detection, LiveRecognizer
from engine.samples import Sample, SampleSet, check_class_name
from ui import greek_views as gv

HOLDER = "webcam_holder"  # this browser session's LiveHolder
FPS_WINDOW = 2.0  # s, the frame rate is measured over the frames of the last two seconds
PANEL_EVERY = 1.0  # s, the live panel's refresh while a stream plays (never when none does)
PHOTO_TYPES = ["png", "jpg", "jpeg", "bmp", "webp", "tif", "tiff", "gif"]
USE_A_PHOTO = "use a photo instead"


# --- how live video connects --------------------------------------------------------------------


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
        except ValueError:  # the operator reads the log; the visitor gets plain words
            logging.getLogger(__name__).warning("WEBRTC_ICE_SERVERS is not valid JSON: ignored")
            st.warning("This server's live-video settings are not valid, so they are ignored.")
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


# The TURN services streamlit-webrtc asks for credentials itself when it is given no
# rtc_configuration (streamlit_webrtc.credentials.get_available_ice_servers), in its order.
# Each needs every variable of its pair; the secrets' top-level keys become such variables too.
PROVIDERS = (
    ("Cloudflare", ("CLOUDFLARE_TURN_KEY_ID", "CLOUDFLARE_TURN_KEY_API_TOKEN")),
    ("Twilio", ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN")),
    ("Hugging Face", ("HF_TOKEN",)),
)


def webrtc_provider() -> str | None:
    """The TURN service whose credential settings streamlit-webrtc will use, if any."""
    for name, variables in PROVIDERS:
        if all(os.environ.get(v) for v in variables):
            return name
    return None


def _urls(servers: list) -> list[str]:
    out = []
    for s in servers:
        urls = s.get("urls") if isinstance(s, dict) else getattr(s, "urls", None)
        out += [urls] if isinstance(urls, str) else list(urls or [])
    return out


def _has_relay(servers: list) -> bool:
    return any(u.startswith(("turn:", "turns:")) for u in _urls(servers))


@dataclass(frozen=True)
class Connection:
    """How live video connects, and what the page says about it (in the visitor's words)."""

    source: str  # "configured" (this server's settings), "provider" (streamlit-webrtc's), "none"
    rtc_configuration: dict | None  # for webrtc_streamer; None: streamlit-webrtc provides it
    relay: bool  # a TURN server is in use: live video works from most networks
    provider: str = ""

    @property
    def summary(self) -> str:
        """Which path is in use, for the page's caption."""
        if self.source == "configured":
            kind = "a relay (TURN) server" if self.relay else "direct connections (STUN)"
            return f"this server's own settings, {kind}"
        if self.source == "provider":
            got = "a relay (TURN) server" if self.relay else "no relay: it did not answer"
            return f"{self.provider}'s TURN service through streamlit-webrtc, {got}"
        return "direct connections only (no STUN/TURN server set up)"

    @property
    def note(self) -> str:
        """What it means for the visitor when live video may not connect; "" when it will."""
        if self.relay:
            return ""
        if self.source == "configured":
            return (
                "Live video works when your network allows a direct connection to this server "
                "(most home networks do; many office and mobile networks do not). If the video "
                f"never starts, {USE_A_PHOTO}."
            )
        if self.source == "provider":
            return (
                "The relay service this server uses did not answer, so live video only connects "
                f"from the server's own network. If the video never starts, {USE_A_PHOTO}."
            )
        return (
            "Live video only connects when your browser can reach this server directly (the "
            f"same computer or network). If the video never starts, {USE_A_PHOTO}."
        )


def connection() -> Connection:
    """Explicitly configured ICE servers win; otherwise, when streamlit-webrtc's own TURN
    credential settings are present, it gets no rtc_configuration and fetches its servers; with
    neither, host candidates only (never its default public STUN server). Credentials stay in
    the configuration the component needs: nothing here prints or logs them."""
    if servers := ice_servers():
        return Connection("configured", {"iceServers": servers}, _has_relay(servers))
    if provider := webrtc_provider():
        from streamlit_webrtc.credentials import get_available_ice_servers

        try:  # cached by streamlit-webrtc; the component makes the same call when it renders
            relay = _has_relay(get_available_ice_servers())
        except Exception:  # noqa: BLE001 - any failure means no relay
            relay = False
        return Connection("provider", None, relay, provider)
    return Connection("none", {"iceServers": []}, False)


def show_connection(conn: Connection, note: bool = True) -> None:
    """Which path live video takes; with ``note``, what that means when it may not connect."""
    st.caption(f"Video connection: {conn.summary}.")
    if note and conn.note:
        st.info(conn.note, icon=":material/info:")


# --- does this browser have a camera? -----------------------------------------------------------

_PROBE_JS = """
export default function (component) {
  const { setStateValue } = component;
  const md = navigator.mediaDevices;
  const secure = window.isSecureContext;
  let last = "";
  async function probe() {
    let r = { secure, media: !!(md && md.getUserMedia), cameras: -1, permission: "unknown" };
    if (r.media) {
      try {
        r.cameras = (await md.enumerateDevices()).filter((d) => d.kind === "videoinput").length;
      } catch (e) {}
      try {
        r.permission = (await navigator.permissions.query({ name: "camera" })).state;
      } catch (e) {}
    }
    const text = JSON.stringify(r);
    if (text !== last) {
      last = text;
      setStateValue("camera", r);
    }
  }
  probe();
  if (md && md.addEventListener) md.addEventListener("devicechange", probe);
  return () => { if (md && md.removeEventListener) md.removeEventListener("devicechange", probe); };
}
"""
_probe_component = None


def camera_probe() -> dict | None:
    """What the browser says about its camera: {secure, media, cameras, permission}; None until
    the browser has answered (the first run of the page)."""
    global _probe_component
    if _probe_component is None:
        _probe_component = st.components.v2.component("webcam_camera_probe", js=_PROBE_JS)
    res = _probe_component(
        key="camera_probe", default={"camera": None}, on_camera_change=lambda: None, height=0
    )
    value = res.get("camera") if hasattr(res, "get") else getattr(res, "camera", None)
    return value if isinstance(value, dict) else None


def camera_problem(probe: dict | None) -> str | None:
    """The browser's camera trouble in plain words, or None (none known)."""
    if not probe:
        return None
    if not probe.get("media"):
        if probe.get("secure") is False:
            return (
                "Your browser lends the camera only to pages served over HTTPS (or from this "
                f"computer), and this one is not: {USE_A_PHOTO}."
            )
        return f"This browser cannot share a camera with web pages: {USE_A_PHOTO}."
    if probe.get("cameras") == 0:
        return f"No camera found: {USE_A_PHOTO}."
    if probe.get("permission") == "denied":
        return (
            "Camera access is blocked for this site: allow it with the camera icon in the "
            f"address bar and reload, or {USE_A_PHOTO}."
        )
    return None


# The player's own messages (streamlit-webrtc's translations), in the same plain words.
PLAYER_TEXT = {
    "device_not_available": f"No camera found: {USE_A_PHOTO} (below)",
    "device_access_denied": f"Camera access blocked: allow it in the address bar, or {USE_A_PHOTO}",
    "media_api_not_available": f"This browser cannot share a camera here: {USE_A_PHOTO}",
    "device_ask_permission": "Allow the camera when your browser asks",
}
# What the player shows when the browser refuses the camera after START, in plain words.
BROWSER_ERRORS = {
    "NotFoundError": "no camera found",
    "NotAllowedError": "camera access blocked (allow it in the address bar)",
    "NotReadableError": "the camera is in use by another program",
    "OverconstrainedError": "the camera cannot give the requested picture size",
    "navigator.mediaDevices is undefined": "the page is not served over HTTPS",
}


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
    best = max(dets, key=lambda d: d.box[2] * d.box[3])  # the biggest symbol
    gv.replace_samples(gv.samples().merged(SampleSet([Sample(best.image, label, "webcam")])))
    st.success(f"Added a '{label}' sample ({len(gv.samples())} in the set).")


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
