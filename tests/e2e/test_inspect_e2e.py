"""Browser test: `streamlit run app.py` on a loopback port, the Inspect page in Chromium."""

import harness
import pytest
from inspect_runs import trained_runs

pytestmark = pytest.mark.e2e
ARTIFACTS = harness.ARTIFACTS


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    harness.require_browser()
    runs = trained_runs(tmp_path_factory)
    with harness.serve(runs, tmp_path_factory.mktemp("streamlit") / "server.log") as url:
        yield url


@pytest.fixture
def digit_photo(mnist, tmp_path):
    """Test digit 1 as a 'photo': inverted to dark ink on light paper, scaled up 8×."""
    from PIL import Image

    ink = 255 - mnist.x_test[1].numpy()
    path = tmp_path / "digit.png"
    Image.fromarray(ink).resize((224, 224), Image.Resampling.BILINEAR).save(path)
    return path


def test_inspect_page_in_a_browser(server, digit_photo):
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=harness.CHROMIUM, args=harness.FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        # Start at the root and wait for app.py's own sidebar.
        page.goto(server)
        expect(page.get_by_text("Model", exact=True)).to_be_visible(timeout=60_000)
        page.get_by_test_id("stSidebarNav").get_by_role("link", name="Inspect").click()
        expect(page.get_by_role("heading", name="Inspect a network")).to_be_visible(timeout=60_000)
        expect(page.get_by_text("Predicted:")).to_be_visible(timeout=60_000)
        expect(page.get_by_text("Total params: 21,840", exact=True)).to_be_visible()
        # Charts: the filters' animation over the epochs, filters ×2, input, responses,
        # 13 activation tabs, probabilities, saliency.
        expect(page.locator(".js-plotly-plot")).to_have_count(20, timeout=60_000)
        assert page.locator(".stException").count() == 0
        expect(page.get_by_text("Model", exact=True)).to_be_visible()  # still the app's sidebar
        # Streamlit scrolls inside its main section, so a full-page shot needs a tall window.
        height = page.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
        page.set_viewport_size({"width": 1400, "height": min(int(height) + 50, 12_000)})
        page.wait_for_timeout(1000)  # let plotly redraw at the new size
        page.screenshot(path=str(ARTIFACTS / "inspect_page.png"), full_page=True)
        page.set_viewport_size({"width": 1400, "height": 1000})

        # A photo-like upload: dark ink on light paper, larger than 28×28.
        page.get_by_text("Upload", exact=True).click()
        expect(page.get_by_text("Choose an image")).to_be_visible(timeout=30_000)
        page.locator("input[type=file]").set_input_files(str(digit_photo))
        expect(page.get_by_text("Predicted: ")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("28×28", exact=True)).to_be_visible()  # the preprocessing steps
        page.screenshot(path=str(ARTIFACTS / "inspect_upload.png"))

        # A file that is not an image: the engine's message, not a traceback.
        page.locator("input[type=file]").set_input_files(
            files=[{"name": "not-a-digit.png", "mimeType": "image/png", "buffer": b"no pixels"}]
        )
        expect(page.get_by_text("not an image we can read")).to_be_visible(timeout=30_000)
        assert page.locator(".stException").count() == 0
        page.screenshot(path=str(ARTIFACTS / "inspect_bad_upload.png"))
        browser.close()
