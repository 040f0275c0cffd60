"""AppTest of Inspect's epoch slider and filter animation (the runs' weight snapshots)."""

import numpy as np
import pytest
from inspect_runs import MLP_RUN, trained_runs

from ui.inspect.epochs import EPOCH, filters_animation
from ui.state import SELECTED_RUN

# it trains a run with epoch snapshots (make test-fast leaves it out)
pytestmark = pytest.mark.slow

INSPECT = "app_pages/inspect.py"


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory):
    return trained_runs(tmp_path_factory)


def markdown(at) -> str:
    return "\n".join(str(m.value) for m in [*at.markdown, *at.caption])


def correlation(at) -> float:
    text = markdown(at)
    return float(text.split("Neighbour correlation ")[1].split(" ")[0])


def test_the_slider_goes_back_to_the_initial_filters(open_page, runs_root):
    at = open_page(INSPECT, runs=runs_root)
    assert "Epoch by epoch" in [h.value for h in at.header]
    slider = at.select_slider(key=EPOCH)
    assert slider.options == ["0 (initial weights)", *slider.options[1:]]
    assert len(slider.options) == 3 and slider.value == 2  # the final model by default
    assert "Animation: the first-layer filters over 2 epochs" in [e.label for e in at.expander]
    learned = correlation(at)
    predicted = at.subheader[0].value
    slider.set_value(0).run()
    assert not at.exception and not at.error
    assert learned > 0.2 and abs(correlation(at)) < learned / 2  # random init: no structure
    assert at.subheader[0].value.startswith("Predicted: ")
    at.select_slider(key=EPOCH).set_value(2).run()
    assert correlation(at) == learned and at.subheader[0].value == predicted


def test_a_run_without_snapshots_says_why(open_page, runs_root):
    at = open_page(INSPECT, runs=runs_root)
    at.session_state[SELECTED_RUN] = MLP_RUN
    at.run()
    assert not at.exception
    assert "No epoch slider: the network's weights are 2.6 MB" in markdown(at)
    assert not [s for s in at.select_slider if s.key == EPOCH]


def test_the_animation_has_a_frame_per_epoch_on_one_colour_scale():
    rng = np.random.default_rng(0)
    growth = np.arange(1, 5, dtype=np.float32)[:, None, None, None]  # weights grow per epoch
    filters = rng.normal(size=(4, 10, 5, 5)).astype(np.float32) * growth
    fig = filters_animation([0, 1, 2, 3], filters, {1: 0.5, 2: 0.75, 3: 0.9})
    assert len(fig.frames) == 4
    assert [s.label for s in fig.layout.sliders[0].steps] == [
        "0 (initial weights)", "1 (50.0%)", "2 (75.0%)", "3 (90.0%)",
    ]  # fmt: skip
    scales = {(f.data[0].zmin, f.data[0].zmax) for f in fig.frames}
    assert len(scales) == 1 and next(iter(scales))[1] == pytest.approx(np.abs(filters).max())
    assert fig.layout.updatemenus[0].buttons[0].method == "animate"
