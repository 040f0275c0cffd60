"""AppTest of the Greek letters page: the default set, every method, scored and unscored
queries, the settings, what a new user trips over (issue 14), the cache, and the visitor's
samples kept on the server across a reload."""

from __future__ import annotations

import io
import json
import re
import secrets
import zipfile

import pytest
from streamlit.testing.v1 import AppTest

from engine.fewshot.samples import from_folder
from tests.app.conftest import APP
from ui import state

# its fixture embeds letters with a trained network (make test-fast leaves it out)
pytestmark = pytest.mark.slow

SEED_LINE = re.compile(r"^The predicted class for this test example is (\S+) with the least ssd "
                       r"being \d+(\.\d+)?(e[+-]\d+)?$")  # fmt: skip


@pytest.fixture(autouse=True)
def _digit_model(request, monkeypatch):
    """Every test but the last runs against the default digit model."""
    if "digit_runs" in request.fixturenames:
        monkeypatch.setenv("ENGINE_RUNS_DIR", str(request.getfixturevalue("digit_runs")))


def _open(runs, token: str | None = None) -> AppTest:
    """The page through the router, as the visitor ``token`` (a new one by default)."""
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["visitor_token"] = token or secrets.token_urlsafe(12)
    at.run()
    at.switch_page("app_pages/greek.py").run()
    _ok(at)
    return at


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _button(at: AppTest, label: str):
    return at.button[[b.label for b in at.button].index(label)]


def _uploader(at: AppTest, starts: str):
    return next(u for u in at.get("file_uploader") if u.label.startswith(starts))


def _text(at: AppTest, key: str):
    return at.text_input(key=key)


def _count_line(at: AppTest) -> str:
    return next(m.value for m in at.markdown if re.match(r"^\*\*\d+ samples\*\*", m.value))


def _pngs(files, label: str, n: int) -> list[tuple[str, bytes, str]]:
    return [(p.name, p.read_bytes(), "image/png") for p, lab in files if lab == label][:n]


def _seed_lines(at: AppTest) -> list[str]:
    return [c.value for c in at.code if c.value.startswith("The predicted class")][0].splitlines()


def _query_table(at: AppTest):
    return next(d.value for d in at.dataframe if "class given" in d.value.columns)


def test_a_new_visitor_gets_synthetic_letters_and_every_method(digit_runs):
    at = _open(digit_runs)
    assert any("**synthetic**" in i.value for i in at.info)
    assert _count_line(at).startswith("**27 samples** — alpha: 9, beta: 9, gamma: 9")
    assert [m.label for m in at.metric] == [
        "Nearest neighbour", "Nearest class mean", "Fine-tuned head",
    ]  # fmt: skip
    for m in at.metric:
        assert 60 <= int(m.value.rstrip("%")) <= 100, (m.label, m.value)  # well above 33% chance
    seed = [c.value for c in at.code if c.value.startswith("below are the distances")]
    assert seed and seed[0].splitlines()[1] == "0.0"  # a sample's distance to itself
    assert any("Add letters above" in c.value for c in at.caption)  # no queries yet
    at.toggle[0].set_value(True).run()  # each original beside its 28×28 version
    _ok(at)
    assert sum(len(i.proto.imgs) for i in at.get("image")) == 2 * 27


def test_replacing_the_set_with_other_letters(digit_runs):
    at = _open(digit_runs)
    letters = next(m for m in at.multiselect if m.label == "Letters")
    letters.set_value(["delta", "omega"])
    next(s for s in at.slider if s.label == "Samples per letter").set_value(4)
    _button(at, "Replace the set with these").click().run()
    _ok(at)
    assert _count_line(at).startswith("**8 samples** — delta: 4, omega: 4")


# --- scored queries (issue 13, item 3) ----------------------------------------------------------
def test_queries_uploaded_with_a_class_are_scored_with_the_seed_printout(digit_runs, greek_files):
    at = _open(digit_runs)
    for letter in ("alpha", "beta"):
        _text(at, "add_queries_class").input(letter)
        _uploader(at, "Letters to recognise").set_value(_pngs(greek_files, letter, 3))
        _button(at, "Add the letters").click().run()
        _ok(at)
    assert any(s.value.startswith("Added 3 letter(s) to recognise: beta 3") for s in at.success)
    assert any("Scored on the 6 queries" in m.value for m in at.markdown)
    scored = [m for m in at.metric][:3]  # the queries' scores come before leave-one-out's
    assert [m.label for m in scored] == ["Nearest neighbour", "Nearest class mean",
                                         "Fine-tuned head"]  # fmt: skip
    assert all(0 <= int(m.value.rstrip("%")) <= 100 for m in scored)
    table = _query_table(at)
    assert list(table["class given"]) == ["alpha"] * 3 + ["beta"] * 3
    assert all(v.endswith(("✓", "✗")) for v in table["nearest sample"])
    lines = _seed_lines(at)
    assert len(lines) == 6 and all(SEED_LINE.match(x) for x in lines), lines
    charts = [c for c in at.get("plotly_chart") if "actual" in c.proto.spec]
    assert len(charts) >= 6  # three confusion matrices for the queries, three for leave-one-out


def test_answers_that_win_by_a_hair_say_not_sure(digit_runs, greek_files, monkeypatch):
    monkeypatch.setattr("engine.fewshot.embed.NOT_SURE_MARGIN", 1.01)  # no answer is that clear
    at = _open(digit_runs)
    _text(at, "add_queries_class").input("alpha")
    _uploader(at, "Letters to recognise").set_value(_pngs(greek_files, "alpha", 2))
    _button(at, "Add the letters").click().run()
    _ok(at)
    table = _query_table(at)
    assert all("(not sure)" in v and v.endswith(("✓", "✗")) for v in table["nearest sample"])
    assert any(c.value.startswith('"not sure" (2)') for c in at.caption)


def test_a_zip_of_class_folders_and_loose_letters_as_queries(digit_runs, greek_files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data, _ in _pngs(greek_files, "gamma", 2):
            z.writestr(f"gamma/{name}", data)
        for name, data, _ in _pngs(greek_files, "beta", 1):
            z.writestr(name, data)  # top level: class unknown
    at = _open(digit_runs)
    _uploader(at, "A ZIP: class folders").set_value(("q.zip", buf.getvalue(), "application/zip"))
    next(b for b in at.button if b.label == "Add the ZIP" and "query" in b.form_id).click().run()
    _ok(at)
    table = _query_table(at)
    assert sorted(table["class given"]) == ["gamma", "gamma", "—"]
    assert any("Scored on the 2 queries" in m.value for m in at.markdown)


def test_the_seed_csv_pair_as_queries_with_pandas_index(digit_runs, greek_dir):
    import pandas as pd

    letters = from_folder(greek_dir)
    pick = letters.samples[::5]
    data = pd.DataFrame([s.image.ravel() for s in pick]).to_csv().encode()  # 785 values a row
    cats = pd.Series([s.label for s in pick]).to_csv().encode()
    at = _open(digit_runs)
    ups = [u for u in at.get("file_uploader") if u.label.startswith(("data.csv", "letter_cat"))]
    ups[2].set_value(("data.csv", data, "text/csv"))  # the query form's pair comes second
    ups[3].set_value(("letter_cat.csv", cats, "text/csv"))
    next(b for b in at.button if b.label == "Import" and "query" in b.form_id).click().run()
    _ok(at)
    assert list(_query_table(at)["class given"]) == [s.label for s in pick]
    assert any(f"Scored on the {len(pick)} queries" in m.value for m in at.markdown)


def test_unlabelled_queries_still_get_answers_without_a_score(digit_runs, greek_files):
    at = _open(digit_runs)
    _uploader(at, "Letters to recognise").set_value(_pngs(greek_files, "beta", 2))
    _button(at, "Add the letters").click().run()
    _ok(at)
    table = _query_table(at)
    assert list(table["class given"]) == ["—", "—"]
    assert not any("Scored on" in m.value for m in at.markdown)
    assert len(at.metric) == 3  # leave-one-out only
    assert all(SEED_LINE.match(x) for x in _seed_lines(at))


def test_head_epochs_and_learning_rate_are_adjustable(digit_runs):
    at = _open(digit_runs)
    at.slider(key="greek_head_epochs").set_value(50)
    at.select_slider(key="greek_head_lr").set_value(0.01).run()
    _ok(at)
    assert any("50 epochs at learning rate 0.01" in m.value for m in at.markdown)
    loss = next(c for c in at.get("plotly_chart") if "training loss" in c.proto.spec)
    assert len(json.loads(loss.proto.spec)["data"][0]["y"]) == 50


def test_the_chosen_layer_is_shared_with_the_webcam(digit_runs):
    at = _open(digit_runs)
    pick = next(s for s in at.selectbox if s.label == "Cut the network at layer")
    assert at.session_state[state.GREEK_LAYER] == pick.value  # the model's default at first
    pick.set_value("flatten").run()
    _ok(at)
    assert at.session_state[state.GREEK_LAYER] == "flatten"
    assert any("(layer `flatten`)" in c.value for c in at.caption)


def test_a_rerun_that_changes_nothing_recomputes_nothing(digit_runs, monkeypatch):
    from engine.fewshot import embed

    at = _open(digit_runs)
    calls = []

    def counting(name: str):
        real = getattr(embed, name)

        def call(*a, **k):
            calls.append(name)
            return real(*a, **k)

        return call

    for name in ("embed", "finetune_head", "leave_one_out", "pca_2d", "ssd"):
        monkeypatch.setattr(embed, name, counting(name))
    at.run()
    _ok(at)
    assert calls == []
    at.slider(key="greek_head_epochs").set_value(60).run()  # only the heads depend on it
    assert "embed" not in calls and "finetune_head" in calls


# --- what a new user trips over (issue 14, item 4) ----------------------------------------------
def test_enter_in_the_class_name_keeps_it_and_says_what_is_missing(digit_runs, greek_files):
    at = _open(digit_runs)
    _text(at, "add_images_class").input("alpha")
    _button(at, "Add to the set").click().run()  # what Enter in the field does: an empty submit
    _ok(at)
    assert _text(at, "add_images_class").value == "alpha"
    assert any("Choose one or more image files" in i.value for i in at.info)
    _text(at, "add_images_class").input("")
    _uploader(at, "Images of that class").set_value(_pngs(greek_files, "alpha", 2))
    _button(at, "Add to the set").click().run()
    assert any("Name the class" in w.value for w in at.warning)
    assert _count_line(at).startswith("**27 samples**")  # nothing added


def test_adding_to_the_synthetic_set_says_what_happens_to_it(digit_runs, greek_files):
    at = _open(digit_runs)
    box = next(c for c in at.checkbox if "synthetic samples with what I add" in c.label)
    box.uncheck()
    _text(at, "add_images_class").input("alpha")
    _uploader(at, "Images of that class").set_value(_pngs(greek_files, "alpha", 2))
    _button(at, "Add to the set").click().run()
    _ok(at)
    assert any("also holds the 27 synthetic samples" in s.value for s in at.success)
    assert _count_line(at).startswith("**29 samples** — alpha: 11")
    at2 = _open(digit_runs)  # another visitor, ticked (the default): the synthetic ones go
    _text(at2, "add_images_class").input("alpha")
    _uploader(at2, "Images of that class").set_value(_pngs(greek_files, "alpha", 2))
    _button(at2, "Add to the set").click().run()
    assert any("The 27 synthetic samples were removed" in s.value for s in at2.success)
    assert _count_line(at2).startswith("**2 samples** — alpha: 2")


def test_the_remove_panel_stays_open_while_choosing(digit_runs):
    at = _open(digit_runs)
    at.session_state["greek_remove_panel"] = True
    at.run()
    at.multiselect(key="greek_remove_pick").select(0).run()
    _ok(at)
    panel = next(e for e in at.expander if e.label == "Remove samples")
    assert panel.proto.expanded
    at.multiselect(key="greek_remove_pick").select(1).run()
    assert next(e for e in at.expander if e.label == "Remove samples").proto.expanded
    _button(at, "Remove selected").click().run()
    assert _count_line(at).startswith("**25 samples**")


def test_remove_all_samples_asks_first(digit_runs):
    at = _open(digit_runs)
    _button(at, "Remove all samples").click().run()
    assert any("Remove all 27 samples?" in w.value for w in at.warning)
    assert _count_line(at).startswith("**27 samples**")  # not yet
    _button(at, "Keep them").click().run()
    assert _count_line(at).startswith("**27 samples**")
    _button(at, "Remove all samples").click().run()
    _button(at, "Yes, remove all").click().run()
    _ok(at)
    assert any("at least two classes" in w.value for w in at.warning)
    assert not at.metric  # nothing to classify, and no crash


def test_all_queries_clear_at_once(digit_runs, greek_files):
    at = _open(digit_runs)
    _uploader(at, "Letters to recognise").set_value(_pngs(greek_files, "beta", 3))
    _button(at, "Add the letters").click().run()
    assert len(_query_table(at)) == 3
    _button(at, "Clear all queries").click().run()
    _ok(at)
    assert any("Removed all 3 queries" in s.value for s in at.success)
    assert not [d for d in at.dataframe if "class given" in d.value.columns]


def test_the_map_shows_one_picture_per_class(digit_runs):
    at = _open(digit_runs)
    fig = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
               if "Embedding space" in c.proto.spec)  # fmt: skip
    assert len(fig["layout"]["images"]) == 3  # alpha, beta, gamma: not 27 overlapping pictures


def test_letters_far_from_every_sample_can_be_answered_unknown(digit_runs, greek_files):
    at = _open(digit_runs)
    _uploader(at, "Letters to recognise").set_value(_pngs(greek_files, "beta", 2))
    _button(at, "Add the letters").click().run()
    at.toggle(key="greek_reject").set_value(True).run()
    field = next(n for n in at.number_input if n.key.startswith("greek_reject_at_"))
    assert field.value > 0  # a suggestion from the samples' own distances
    field.set_value(0.0).run()
    _ok(at)
    table = _query_table(at)
    assert set(table["nearest sample"]) == {"(unknown)"} == set(table["fine-tuned head"])
    assert all(" is (unknown) with the least ssd" in x for x in _seed_lines(at))


# --- the methods ranked by leave-one-out; queries of classes with no samples (issue 4/5) ------
def test_the_head_is_judged_by_leave_one_out_and_the_methods_are_ranked(digit_runs):
    at = _open(digit_runs)
    loo = {m.label: int(m.value.rstrip("%")) for m in at.metric}  # leave-one-out's three
    text = " ".join(m.value for m in at.markdown)
    assert "fits the samples" not in text  # the head's score on its own training samples
    head = next(m.value for m in at.markdown if m.value.startswith("The fine-tuned head"))
    assert f"({loo['Fine-tuned head']}%) on leave-one-out" in head, head
    assert "softmax(" in head and "× cosine)" in head
    rank = next(m.value for m in at.markdown if m.value.startswith("By leave-one-out"))
    best = max(loo.values())
    trusted = re.search(r"\*\*Trust (.+?)\*\*", rank).group(1)
    assert loo[trusted[0].upper() + trusted[1:]] == best, (rank, loo)


def test_queries_of_a_class_with_no_samples_are_left_out_and_can_be_cleared(
    digit_runs, greek_files
):
    at = _open(digit_runs)
    for letter in ("alpha", "beta"):
        _text(at, "add_queries_class").input(letter)
        _uploader(at, "Letters to recognise").set_value(_pngs(greek_files, letter, 2))
        _button(at, "Add the letters").click().run()
    assert any("Scored on the 4 queries" in m.value for m in at.markdown)
    next(m for m in at.multiselect if m.label == "Letters").set_value(["alpha", "delta"])
    _button(at, "Replace the set with these").click().run()  # beta has no samples now
    _ok(at)
    assert any("Scored on the 2 queries with a class that has samples" in m.value
               for m in at.markdown)  # fmt: skip
    warning = next(w.value for w in at.warning if "classes with no samples" in w.value)
    assert warning.startswith("2 of the queries") and "(beta: 2)" in warning
    table = _query_table(at)
    assert [v[-1] in "✓✗" for v in table["nearest sample"]] == [True, True, False, False]
    assert len(at.metric) == 6  # three scores on the queries, three on leave-one-out
    _button(at, "Clear these 2 queries").click().run()
    _ok(at)
    assert any("Removed the 2 queries of classes with no samples" in s.value for s in at.success)
    assert list(_query_table(at)["class given"]) == ["alpha", "alpha"]
    assert not any("classes with no samples" in w.value for w in at.warning)


def test_only_queries_of_classes_with_no_samples_are_not_scored(digit_runs, greek_files):
    at = _open(digit_runs)
    _text(at, "add_queries_class").input("omega")
    _uploader(at, "Letters to recognise").set_value(_pngs(greek_files, "beta", 2))
    _button(at, "Add the letters").click().run()
    _ok(at)
    assert not any("Scored on" in m.value for m in at.markdown)
    assert len(at.metric) == 3  # leave-one-out only
    assert any("(omega: 2)" in w.value for w in at.warning)
    at.toggle(key="greek_reject").set_value(True).run()
    next(n for n in at.number_input if n.key.startswith("greek_reject_at_")).set_value(0.0).run()
    assert any(c.value == "2 of these 2 were answered “unknown”." for c in at.caption)


# --- kept on the server, per visitor (issue 11, item 3) ----------------------------------------
def test_a_reload_keeps_the_samples_and_queries_and_other_visitors_do_not_see_them(
    digit_runs, greek_files
):
    token = secrets.token_urlsafe(12)
    at = _open(digit_runs, token)
    next(m for m in at.multiselect if m.label == "Letters").set_value(["delta", "omega"])
    next(s for s in at.slider if s.label == "Samples per letter").set_value(4)
    _button(at, "Replace the set with these").click().run()
    _text(at, "add_queries_class").input("delta")
    _uploader(at, "Letters to recognise").set_value(_pngs(greek_files, "alpha", 2))
    _button(at, "Add the letters").click().run()
    _ok(at)
    again = _open(digit_runs, token)  # a reload: a new session, the same visitor
    assert _count_line(again).startswith("**8 samples** — delta: 4, omega: 4")
    assert list(_query_table(again)["class given"]) == ["delta", "delta"]
    other = _open(digit_runs)
    assert _count_line(other).startswith("**27 samples** — alpha: 9")
    assert not [d for d in other.dataframe if "class given" in d.value.columns]
    _button(again, "Remove all samples").click().run()
    _button(again, "Yes, remove all").click().run()
    assert _count_line(_open(digit_runs, token)).startswith("**0 samples**")  # not the defaults


def test_a_storage_cap_in_hosted_mode_is_a_message(digit_runs, monkeypatch):
    monkeypatch.setenv("ENGINE_PUBLIC", "1")
    monkeypatch.setenv("ENGINE_MAX_SAMPLES", "20")
    at = _open(digit_runs)
    next(s for s in at.slider if s.label == "Samples per letter").set_value(10)
    _button(at, "Replace the set with these").click().run()
    _ok(at)
    assert any("one visitor may keep 20" in e.value for e in at.error)
    assert _count_line(at).startswith("**27 samples**")  # unchanged


def test_without_a_trained_model_the_page_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("ENGINE_RUNS_DIR", str(tmp_path / "empty"))
    at = _open(tmp_path / "empty")
    assert any("trained model" in i.value for i in at.info)
