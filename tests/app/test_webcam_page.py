"""AppTest of the Webcam page: renders, explains missing ICE servers, offers single shots."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from engine.config import DEFAULT_RUN_ID


def test_renders_and_says_when_no_ice_servers_are_configured(open_page, monkeypatch, digit_runs):
    for var in ("WEBRTC_ICE_SERVERS", "WEBRTC_STUN_URLS", "WEBRTC_TURN_URLS"):
        monkeypatch.delenv(var, raising=False)
    at = open_page("app_pages/webcam.py", digit_runs)
    assert at.title[0].value == "Webcam"
    assert any("No STUN/TURN servers are configured" in i.value for i in at.info)
    assert [m.label for m in at.metric] == ["Frame rate"]
    assert at.get("camera_input")  # the single-shot fallback


def test_configured_ice_servers_silence_the_notice(open_page, monkeypatch, digit_runs):
    monkeypatch.setenv("WEBRTC_STUN_URLS", "stun:stun.example.org:3478")
    at = open_page("app_pages/webcam.py", digit_runs)
    assert not any("No STUN/TURN" in i.value for i in at.info)


def test_ice_servers_from_the_environment(monkeypatch):
    from ui.webcam_views import ice_servers

    for var in ("WEBRTC_ICE_SERVERS", "WEBRTC_STUN_URLS", "WEBRTC_TURN_URLS"):
        monkeypatch.delenv(var, raising=False)
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


def test_the_holder_runs_frames_through_the_engine(monkeypatch, digit_runs, mnist):
    """The callback path without a browser: av frames in, annotated av frames out."""
    import av

    from engine import live
    from engine.runs import load_model
    from ui.webcam_views import LiveHolder

    model, cfg = load_model(digit_runs / DEFAULT_RUN_ID)
    h = LiveHolder()
    h.configure("k", lambda: live.LiveRecognizer(live.net_classifier(model, cfg)))
    labels = [str(v) for v in mnist.y_test.tolist()]
    frames = live.bench_frames(mnist.x_test.numpy(), labels, n=3, per_frame=4, seed=2)
    for frame, _ in frames:
        out = h.callback(av.VideoFrame.from_ndarray(frame, format="bgr24"))
        assert out.to_ndarray(format="bgr24").shape == frame.shape
    assert len(h.latest()) == 4 and h.frames == 3 and h.fps() > 0


def test_single_shot_photo_goes_through_the_same_engine(monkeypatch, digit_runs, mnist):
    """camera_input cannot be driven by AppTest; its handler is what the holder does."""
    from engine import live

    ((frame, truth),) = live.bench_frames(  # fmt: skip
        mnist.x_test.numpy(), [str(v) for v in mnist.y_test.tolist()], n=1, per_frame=3
    )
    buf = io.BytesIO()
    Image.fromarray(frame[..., ::-1]).save(buf, format="JPEG", quality=90)
    photo = np.asarray(Image.open(buf).convert("RGB"))[..., ::-1].copy()
    from engine.runs import load_model

    model, cfg = load_model(digit_runs / DEFAULT_RUN_ID)
    _, dets = live.LiveRecognizer(live.net_classifier(model, cfg)).process(photo)
    assert len(dets) == 3


def test_snapshot_adds_the_current_crop_to_the_greek_samples(
    open_page, monkeypatch, digit_runs, mnist
):
    from engine import live
    from ui.greek_views import SAMPLES
    from ui.webcam_views import HOLDER

    at = open_page("app_pages/webcam.py", digit_runs)
    add = next(b for b in at.button if b.label.startswith("Add the current crop"))
    add.click().run()
    assert any("nothing to add" in w.value for w in at.warning)
    ((frame, _),) = live.bench_frames(  # fmt: skip
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
