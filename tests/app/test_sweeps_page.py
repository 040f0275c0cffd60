"""AppTest of the Sweeps page: the seed's setup preselected; a finished sweep's results."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl

from streamlit.testing.v1 import AppTest

from engine import sweep
from engine.config import PRESETS

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def page(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    at.switch_page("app_pages/sweeps.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_renders_with_the_seed_dimensions_preselected():
    at = page()
    assert at.multiselect(key="sw_dims").value == list(sweep.SEED_DIMENSIONS)
    assert at.multiselect(key="sw_v_batch_size").value == [64, 256]
    assert at.multiselect(key="sw_v_activation").value == ["relu", "tanh"]
    assert at.selectbox(key="sw_dataset").value == "fashion-mnist"
    assert at.number_input(key="sw_workers").value == 1
    assert at.slider(key="sw_epochs").value == 1
    assert any(m.value == "16" for m in at.metric)  # 2 × 2 × 2 × 2 trials
    assert "No sweeps yet" in " ".join(i.value for i in at.info)

    at.multiselect(key="sw_v_activation").set_value([]).run()
    assert not at.exception
    assert "cannot start a sweep" in at.warning[0].value


def test_a_finished_sweep_shows_table_conclusions_charts_and_train_link():
    spec = sweep.SweepSpec(
        base=sweep.default_base(limit_train=256, limit_test=200),
        space={"batch_size": (32, 128), "activation": ("relu", "tanh")},
    )
    name = sweep.create(spec, "apptest")
    assert sweep.work(name, echo=lambda s: None) == 4
    at = page({"sweep": name})
    text = " ".join(m.value for m in at.markdown)
    assert "Conclusions" in text and "Best:" in text and "points" in text
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == 4
    assert at.get("plotly_chart") and len(at.get("plotly_chart")) == 4
    assert any("Sweep complete" in s.value for s in at.success)
    url = at.get("link_button")[0].proto.url
    best = sweep.report(name).best
    assert url.startswith("train?preset=fast")
    query = dict(parse_qsl(url.split("?", 1)[1]))
    fast = PRESETS["fast"]
    assert query.get("activation", fast.model.activation) == best.params["activation"]
    assert int(query.get("batch_size", fast.batch_size)) == best.params["batch_size"]
