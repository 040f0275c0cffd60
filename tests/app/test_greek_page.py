"""AppTest of the Greek letters page: default synthetic set, methods, a replaced set."""

from __future__ import annotations


def test_a_new_visitor_gets_synthetic_letters_and_every_method(open_page, digit_runs):
    at = open_page("app_pages/greek.py", digit_runs)
    assert any("**synthetic**" in i.value for i in at.info)
    assert any(m.value.startswith("**27 samples**") for m in at.markdown)
    assert [m.label for m in at.metric] == [
        "Nearest neighbour", "Nearest class mean", "Fine-tuned head",
    ]  # fmt: skip
    for m in at.metric:
        assert 60 <= int(m.value.rstrip("%")) <= 100, (m.label, m.value)  # well above 33% chance
    seed = [c.value for c in at.code if c.value.startswith("below are the distances")]
    assert seed and seed[0].splitlines()[1] == "0.0"  # a sample's distance to itself


def test_replacing_the_set_with_other_letters(open_page, digit_runs):
    at = open_page("app_pages/greek.py", digit_runs)
    at.multiselect[0].set_value(["delta", "omega"])
    at.slider[0].set_value(4)
    at.button[[b.label for b in at.button].index("Replace the set with these")].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(m.value.startswith("**8 samples** — delta: 4, omega: 4") for m in at.markdown)


def test_removing_all_samples_asks_for_two_classes(open_page, digit_runs):
    at = open_page("app_pages/greek.py", digit_runs)
    at.button[[b.label for b in at.button].index("Remove all samples")].click().run()
    assert any("at least two classes" in w.value for w in at.warning)
    assert not at.metric  # nothing to classify, and no crash


def test_without_a_trained_model_the_page_says_what_to_do(open_page, tmp_path):
    at = open_page("app_pages/greek.py", tmp_path / "empty")
    assert any("No trained model yet" in i.value for i in at.info)
