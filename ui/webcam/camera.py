"""How the Webcam page's live video connects (ICE servers, streamlit-webrtc's own TURN
providers) and whether the browser has a camera, in plain words for the visitor."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass

import streamlit as st

from engine.settings import current as settings

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
    env = settings()
    if raw := env.webrtc_ice_servers:
        try:
            return list(json.loads(raw))
        except ValueError:  # the operator reads the log; the visitor gets plain words
            logging.getLogger(__name__).warning("WEBRTC_ICE_SERVERS is not valid JSON: ignored")
            st.warning("This server's live-video settings are not valid, so they are ignored.")
    out = []
    split = lambda v: [u.strip() for u in v.split(",") if u.strip()]  # noqa: E731
    if stun := split(env.webrtc_stun_urls):
        out.append({"urls": stun})
    if turn := split(env.webrtc_turn_urls):
        out.append(
            {
                "urls": turn,
                "username": env.webrtc_turn_username,
                "credential": env.webrtc_turn_credential,
            }
        )
    return out


# The TURN services streamlit-webrtc asks for credentials itself when it is given no
# rtc_configuration, in its order, with the public function that fetches each one's servers.
# Each needs every variable of its pair; the secrets' top-level keys become such variables too.
PROVIDERS = (
    ("Cloudflare", ("CLOUDFLARE_TURN_KEY_ID", "CLOUDFLARE_TURN_KEY_API_TOKEN"), "cloudflare"),
    ("Twilio", ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"), "twilio"),
    ("Hugging Face", ("HF_TOKEN",), "hf"),
)


def webrtc_provider() -> str | None:
    """The TURN service whose credential settings streamlit-webrtc will use, if any."""
    for name, variables, _ in PROVIDERS:
        if all(os.environ.get(v) for v in variables):
            return name
    return None


def _provider_servers(provider: str) -> list:
    """The servers that provider gives, through streamlit-webrtc's public fetch for it (cached
    by streamlit-webrtc: the component's own fetch when it renders is the same call)."""
    import streamlit_webrtc

    _, variables, fetch = next(p for p in PROVIDERS if p[0] == provider)
    get = getattr(streamlit_webrtc, f"get_{fetch}_ice_servers")
    return get(*(os.environ[v] for v in variables))


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
        try:
            relay = _has_relay(_provider_servers(provider))
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
