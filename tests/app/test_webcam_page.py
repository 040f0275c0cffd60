"""AppTest of the Webcam page: renders, says how live video connects (and which ICE servers win),
explains a missing camera in plain words, offers a photo upload through the same engine, and
refreshes its live panel only while a stream plays."""

from __future__ import annotations

import io
import logging

import numpy as np
import pytest
import streamlit
from PIL import Image

from engine.config import DEFAULT_RUN_ID

ICE_VARS = (
    "WEBRTC_ICE_SERVERS",
    "WEBRTC_STUN_URLS",
    "WEBRTC_TURN_URLS",
    "WEBRTC_TURN_USERNAME",
    "WEBRTC_TURN_CREDENTIAL",
    "CLOUDFLARE_TURN_KEY_ID",
    "CLOUDFLARE_TURN_KEY_API_TOKEN",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "HF_TOKEN",
)


@pytest.fixture(autouse=True)
def no_ice_settings(monkeypatch):
    for var in ICE_VARS:
        monkeypatch.delenv(var, raising=False)
    from streamlit_webrtc.credentials import get_available_ice_servers

    get_available_ice_servers.clear()  # streamlit-webrtc caches its servers for an hour
    yield
    get_available_ice_servers.clear()


@pytest.fixture()
def provider_servers(monkeypatch):
    """streamlit-webrtc's Cloudflare fetch, answered here (no network in tests)."""
    import streamlit_webrtc
    from streamlit_webrtc import credentials

    servers = [
        {"urls": ["stun:stun.cloudflare.com:3478"]},
        {
            "urls": ["turn:turn.cloudflare.com:3478?transport=udp"],
            "username": "cf-user-s3cr3t",
            "credential": "cf-credential-s3cr3t",
        },
    ]
    calls = []

    def fake(turn_key_id, turn_key_api_token):
        calls.append(turn_key_id)
        return servers

    monkeypatch.setattr(credentials, "get_cloudflare_ice_servers", fake)  # the component's fetch
    monkeypatch.setattr(streamlit_webrtc, "get_cloudflare_ice_servers", fake)  # the public one
    return calls


def _page_text(at) -> str:
    return " ".join(str(getattr(e, "value", "")) for e in [*at.main, *at.sidebar])


def _photo_bytes(frame_bgr: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(frame_bgr[..., ::-1])).save(buf, format=fmt)
    return buf.getvalue()


def test_renders_and_says_live_video_is_direct_only(open_page, digit_runs):
    at = open_page("app_pages/webcam.py", digit_runs)
    assert at.title[0].value == "Webcam"
    assert any("direct connections only" in c.value for c in at.caption)
    [note] = [i.value for i in at.info if "Live video only connects" in i.value]
    assert "use a photo instead" in note and "always work" not in _page_text(at)
    assert [m.label for m in at.metric] == ["Frame rate"]
    labels = [u.label for u in at.file_uploader]
    assert any(label.startswith("Upload a photo of your writing") for label in labels)
    assert at.get("camera_input")  # one shot, when the browser has a camera


def test_configured_ice_servers_win_over_streamlit_webrtc_settings(monkeypatch, provider_servers):
    from ui.webcam.camera import connection

    monkeypatch.setenv("CLOUDFLARE_TURN_KEY_ID", "key-id")
    monkeypatch.setenv("CLOUDFLARE_TURN_KEY_API_TOKEN", "api-token")
    monkeypatch.setenv("WEBRTC_TURN_URLS", "turn:turn.example.org:3478")
    conn = connection()
    assert conn.source == "configured" and conn.relay
    assert conn.rtc_configuration["iceServers"][0]["urls"] == ["turn:turn.example.org:3478"]
    assert provider_servers == []  # streamlit-webrtc was not asked
    monkeypatch.delenv("WEBRTC_TURN_URLS")
    monkeypatch.setenv("WEBRTC_STUN_URLS", "stun:stun.example.org:3478")
    conn = connection()
    assert (conn.source, conn.relay) == ("configured", False)
    assert "direct connection" in conn.note


def test_streamlit_webrtc_credentials_get_no_rtc_configuration(monkeypatch, provider_servers):
    """With only streamlit-webrtc's own settings, the player gets rtc_configuration=None, so
    streamlit-webrtc fetches the TURN credentials itself."""
    from ui.webcam.camera import connection

    monkeypatch.setenv("CLOUDFLARE_TURN_KEY_ID", "key-id")
    monkeypatch.setenv("CLOUDFLARE_TURN_KEY_API_TOKEN", "api-token")
    conn = connection()
    assert (conn.source, conn.provider, conn.relay) == ("provider", "Cloudflare", True)
    assert conn.rtc_configuration is None and conn.note == ""
    assert "Cloudflare's TURN service" in conn.summary


def test_half_a_credential_pair_is_not_a_provider(monkeypatch):
    from ui.webcam.camera import connection, webrtc_provider

    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "sid-only")
    assert webrtc_provider() is None
    assert connection().rtc_configuration == {"iceServers": []}  # never Google's STUN
    monkeypatch.setenv("HF_TOKEN", "hf_x")
    assert webrtc_provider() == "Hugging Face"


def test_provider_path_on_the_page_keeps_credentials_off_it(
    open_page, monkeypatch, digit_runs, provider_servers, capsys, caplog
):
    import streamlit_webrtc.component as component

    seen = []
    real = component.webrtc_streamer

    def spy(*args, **kwargs):
        seen.append(kwargs.get("rtc_configuration", "missing"))
        return real(*args, **kwargs)

    monkeypatch.setattr(component, "webrtc_streamer", spy)
    monkeypatch.setattr("streamlit_webrtc.webrtc_streamer", spy)
    monkeypatch.setenv("CLOUDFLARE_TURN_KEY_ID", "key-id")
    monkeypatch.setenv("CLOUDFLARE_TURN_KEY_API_TOKEN", "api-token-s3cr3t")
    caplog.set_level(logging.DEBUG)
    at = open_page("app_pages/webcam.py", digit_runs)
    assert seen and seen[-1] is None  # streamlit-webrtc's own credentials are used
    assert any("Cloudflare's TURN service" in c.value for c in at.caption)
    assert not any("Live video only connects" in i.value for i in at.info)
    shown = _page_text(at)
    out = capsys.readouterr()
    for secret in ("s3cr3t", "api-token"):
        assert secret not in shown
        assert secret not in out.out + out.err and secret not in caplog.text


def test_provider_that_gives_no_relay_is_said_so(monkeypatch, provider_servers):
    import streamlit_webrtc
    from streamlit_webrtc import credentials

    from ui.webcam.camera import connection

    def refused(turn_key_id, turn_key_api_token):
        raise ValueError("Failed to get credentials from Cloudflare Realtime TURN")

    monkeypatch.setattr(credentials, "get_cloudflare_ice_servers", refused)
    monkeypatch.setattr(streamlit_webrtc, "get_cloudflare_ice_servers", refused)
    monkeypatch.setenv("CLOUDFLARE_TURN_KEY_ID", "key-id")
    monkeypatch.setenv("CLOUDFLARE_TURN_KEY_API_TOKEN", "api-token")
    conn = connection()
    assert (conn.source, conn.relay, conn.rtc_configuration) == ("provider", False, None)
    assert "did not answer" in conn.note and "use a photo instead" in conn.note


def test_ice_servers_from_the_environment(monkeypatch):
    from ui.webcam.camera import ice_servers

    assert ice_servers() == []
    monkeypatch.setenv("WEBRTC_STUN_URLS", "stun:a:3478, stun:b:3478")
    monkeypatch.setenv("WEBRTC_TURN_URLS", "turn:t:3478")
    monkeypatch.setenv("WEBRTC_TURN_USERNAME", "u")
    monkeypatch.setenv("WEBRTC_TURN_CREDENTIAL", "p")
    assert ice_servers() == [
        {"urls": ["stun:a:3478", "stun:b:3478"]},
        {"urls": ["turn:t:3478"], "username": "u", "credential": "p"},
    ]
    monkeypatch.setenv("WEBRTC_ICE_SERVERS", '[{"urls": "stun:c:1"}]')
    assert ice_servers() == [{"urls": "stun:c:1"}]


@pytest.mark.parametrize(
    ("probe", "words"),
    [
        ({"secure": True, "media": True, "cameras": 0, "permission": "prompt"}, "No camera found"),
        ({"secure": False, "media": False, "cameras": -1, "permission": "unknown"}, "HTTPS"),
        ({"secure": True, "media": False, "cameras": -1, "permission": "unknown"}, "cannot share"),
        ({"secure": True, "media": True, "cameras": 1, "permission": "denied"}, "blocked"),
    ],
)
def test_camera_problems_in_plain_words(probe, words):
    from ui.webcam.camera import camera_problem

    text = camera_problem(probe)
    assert words in text and text.endswith("use a photo instead.")
    assert "Error" not in text  # no browser jargon (NotFoundError, ...)


def test_a_working_camera_or_no_answer_yet_is_no_problem():
    from ui.webcam.camera import camera_problem

    assert camera_problem(None) is None
    assert not camera_problem(
        {"secure": True, "media": True, "cameras": 1, "permission": "granted"}
    )
    assert not camera_problem({"secure": True, "media": True, "cameras": 2, "permission": "prompt"})


def test_no_camera_puts_the_photo_upload_first(open_page, monkeypatch, digit_runs):
    no_camera = {"secure": True, "media": True, "cameras": 0, "permission": "prompt"}
    monkeypatch.setattr("ui.webcam.camera.camera_probe", lambda: no_camera)
    at = open_page("app_pages/webcam.py", digit_runs)
    assert any(w.value == "No camera found: use a photo instead." for w in at.warning)
    assert at.file_uploader and not at.get("camera_input")  # no camera: no camera shot
    assert [e.label for e in at.expander][0] == "Try live video anyway"


def test_uploaded_photo_gets_a_box_and_the_video_frames_label_for_each_digit(
    open_page, digit_runs, mnist
):
    from engine.nn import live_bench
    from ui.webcam.sections import HOLDER

    labels = [str(v) for v in mnist.y_test.tolist()]
    ((frame, truth),) = live_bench.bench_frames(
        mnist.x_test.numpy(), labels, n=1, per_frame=4, seed=3
    )
    at = open_page("app_pages/webcam.py", digit_runs)
    holder = at.session_state[HOLDER]
    _, video = holder.process(frame)  # what the video callback gets for this frame
    upload = next(u for u in at.file_uploader if u.label.startswith("Upload a photo"))
    upload.set_value(("sheet.png", _photo_bytes(frame), "image/png")).run()
    assert not at.exception, [e.value for e in at.exception]
    photo = at.session_state[HOLDER].latest()
    assert len(video) == 4 and len(photo) == 4
    # A photo's boxes hug the ink (the whole photo's ink map); a frame's are padded squares.
    assert [d.label for d in photo] == [d.label for d in video]
    for t in truth:
        cx, cy = t.box[0] + t.box[2] / 2, t.box[1] + t.box[3] / 2
        inside = [d for d in photo if d.box[0] <= cx <= d.box[0] + d.box[2]]
        assert [d for d in inside if d.box[1] <= cy <= d.box[1] + d.box[3]], t
    seen = next(m.value for m in at.markdown if m.value.startswith("**Seen:**"))
    assert all(f"`{d.label}`" in seen for d in video)
    captions = [c for i in at.get("image") for c in i.captions]
    assert "What the recogniser found in sheet.png" in captions  # the annotated photo


def test_a_bad_upload_is_a_message(open_page, digit_runs):
    at = open_page("app_pages/webcam.py", digit_runs)
    upload = next(u for u in at.file_uploader if u.label.startswith("Upload a photo"))
    upload.set_value(("notes.png", b"not an image", "image/png")).run()
    assert not at.exception
    assert any("not an image we can read" in e.value for e in at.error)


def test_photo_of_a_rotated_phone_picture_is_turned_upright(digit_runs, mnist):
    """EXIF orientation: a phone photo stored sideways is read as it was taken."""
    from engine.nn import live, live_bench
    from engine.runs.store import load_model

    labels = [str(v) for v in mnist.y_test.tolist()]
    ((frame, _),) = live_bench.bench_frames(mnist.x_test.numpy(), labels, n=1, per_frame=3, seed=5)
    model, cfg = load_model(digit_runs / DEFAULT_RUN_ID)
    rec = live.LiveRecognizer(live.net_classifier(model, cfg))
    upright = [(d.label, d.box) for d in rec.process_photo(_photo_bytes(frame), "up.png")[1]]
    assert len(upright) == 3
    sideways = Image.fromarray(np.ascontiguousarray(frame[..., ::-1])).transpose(
        Image.Transpose.ROTATE_90
    )
    exif = Image.Exif()
    exif[0x0112] = 6  # "turn 90° clockwise to view": undoes the (anticlockwise) ROTATE_90
    buf = io.BytesIO()
    sideways.save(buf, format="PNG", exif=exif)
    _, dets = rec.process_photo(buf.getvalue(), "phone.png")
    assert [(d.label, d.box) for d in dets] == upright


def test_live_panel_refreshes_only_while_a_stream_plays(open_page, monkeypatch, digit_runs):
    intervals = []
    real = streamlit.fragment

    def spy(func=None, *, run_every=None):
        if getattr(func, "__name__", "") == "_panel":
            intervals.append(run_every)
        return real(func, run_every=run_every)

    monkeypatch.setattr(streamlit, "fragment", spy)
    open_page("app_pages/webcam.py", digit_runs)
    assert intervals and set(intervals) == {None}  # not playing: no timer at all
    intervals.clear()
    monkeypatch.setattr("ui.webcam.sections.is_playing", lambda ctx: True)
    open_page("app_pages/webcam.py", digit_runs)
    assert intervals and set(intervals) == {1.0}


def test_the_holder_runs_frames_through_the_engine(digit_runs, mnist):
    """The callback path without a browser: av frames in, annotated av frames out."""
    import av

    from engine.nn import live, live_bench
    from engine.runs.store import load_model
    from ui.webcam.sections import LiveHolder

    model, cfg = load_model(digit_runs / DEFAULT_RUN_ID)
    h = LiveHolder()
    h.configure("k", lambda: live.LiveRecognizer(live.net_classifier(model, cfg)))
    labels = [str(v) for v in mnist.y_test.tolist()]
    frames = live_bench.bench_frames(mnist.x_test.numpy(), labels, n=3, per_frame=4, seed=2)
    for frame, _ in frames:
        out = h.callback(av.VideoFrame.from_ndarray(frame, format="bgr24"))
        assert out.to_ndarray(format="bgr24").shape == frame.shape
    assert len(h.latest()) == 4 and h.frames == 3 and h.fps() > 0
    h.process_photo(_photo_bytes(frames[0][0]), "photo.png")
    assert h.frames == 3  # a photo is not a video frame


def test_jpeg_photo_goes_through_the_same_engine(digit_runs, mnist):
    from engine.nn import live, live_bench
    from engine.runs.store import load_model

    ((frame, truth),) = live_bench.bench_frames(  # fmt: skip
        mnist.x_test.numpy(), [str(v) for v in mnist.y_test.tolist()], n=1, per_frame=3
    )
    model, cfg = load_model(digit_runs / DEFAULT_RUN_ID)
    rec = live.LiveRecognizer(live.net_classifier(model, cfg))
    _, dets = rec.process_photo(_photo_bytes(frame, "JPEG"), "shot.jpg")
    assert len(dets) == 3


def test_snapshot_adds_the_current_crop_to_the_greek_samples(open_page, digit_runs, mnist):
    from engine.nn import live_bench
    from ui.greek.inputs import SAMPLES
    from ui.webcam.sections import HOLDER

    at = open_page("app_pages/webcam.py", digit_runs)
    add = next(b for b in at.button if b.label.startswith("Add the current crop"))
    add.click().run()
    assert any("nothing to add" in w.value for w in at.warning)
    ((frame, _),) = live_bench.bench_frames(  # fmt: skip
        mnist.x_test.numpy(), [str(v) for v in mnist.y_test.tolist()], n=1, per_frame=2
    )
    at.session_state[HOLDER].process(frame)  # what the video callback does with a frame
    at.text_input[0].set_value("delta")
    next(b for b in at.button if b.label.startswith("Add the current crop")).click().run()
    assert not at.exception
    samples = at.session_state[SAMPLES]
    assert [(x.label, x.name) for x in samples.samples if x.name == "webcam"] == [
        ("delta", "webcam")
    ]
    assert samples.samples[-1].image.shape == (28, 28)


def _two_digit_frame(mnist, seed: int = 0) -> np.ndarray:
    from engine.nn import live_bench

    ((frame, _),) = live_bench.bench_frames(  # fmt: skip
        mnist.x_test.numpy(), [str(v) for v in mnist.y_test.tolist()], n=1, per_frame=2, seed=seed
    )
    return frame


def test_live_panel_shows_confidence_bars_for_the_biggest_symbol(open_page, digit_runs, mnist):
    from ui.webcam.sections import HOLDER

    at = open_page("app_pages/webcam.py", digit_runs)
    assert not at.get("progress")  # nothing seen yet: no bars
    _, dets = at.session_state[HOLDER].process(_two_digit_frame(mnist))
    at.run()  # what the panel's timer does while the video plays
    assert not at.exception, [e.value for e in at.exception]
    best = max(dets, key=lambda d: d.box[2] * d.box[3])
    bars = at.get("progress")
    assert len(bars) == 3  # the top 3 classes of the biggest symbol in view
    texts = [b.proto.text for b in bars]
    assert texts[0].startswith(f"{best.label} · ") and all("%" in t for t in texts)
    values = [b.value for b in bars]
    assert values == sorted(values, reverse=True) and 0 < sum(values) <= 101  # percent


def test_record_adds_a_sample_from_each_new_frame_until_stopped(
    open_page, digit_runs, mnist, monkeypatch
):
    from ui.greek.inputs import SAMPLES
    from ui.webcam.sections import HOLDER

    monkeypatch.setattr("ui.webcam.sections.RECORD_CAP", 5)
    at = open_page("app_pages/webcam.py", digit_runs)
    at.text_input(key="webcam_record_class").set_value("delta")
    at.toggle(key="webcam_record").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    webcam = lambda: [x.label for x in at.session_state[SAMPLES].samples if x.name == "webcam"]  # noqa: E731
    frame = _two_digit_frame(mnist)
    for n in (1, 2, 3):
        at.session_state[HOLDER].process(frame)  # a new video frame arrives…
        at.run()  # …and the recorder's timer fires
        assert webcam() == ["delta"] * n
        assert any(f"Recording: {n} samples of delta" in c.value for c in at.caption)
    at.run()  # no new frame: nothing added twice
    assert len(webcam()) == 3
    for _ in range(3):  # the cap (5 here) ends the recording on its own
        at.session_state[HOLDER].process(frame)
        at.run()
    assert len(webcam()) == 5 and at.toggle(key="webcam_record").value is False
    assert any("Recorded 5 samples of delta" in s.value for s in at.success)
