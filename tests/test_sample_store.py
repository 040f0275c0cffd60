import time
import zipfile

import numpy as np
import pytest

from engine.fewshot import store
from engine.fewshot.samples import SampleError, SampleSet, from_folder, synthetic_greek
from engine.runs.hosting import HostingError, Visitor

ME, YOU = Visitor("visitor-aaaaaaaa"), Visitor("visitor-bbbbbbbb")


def test_a_saved_set_comes_back_for_its_owner_only(runs_dir, greek_dir):
    s = from_folder(greek_dir)
    store.save(ME, "samples", s)
    back = store.load(ME.id, "samples")
    assert back.labels == s.labels and np.array_equal(back.images, s.images)
    assert [x.name for x in back.samples] == [x.name for x in s.samples]
    assert store.load(YOU.id, "samples") is None
    assert store.load(ME.id, "queries") is None
    path = runs_dir / ".visitors" / ME.id / "greek" / "samples.zip"
    assert path.is_file() and zipfile.is_zipfile(path)  # the download format, never a pickle
    assert not list(path.parent.glob(".*.tmp"))  # written atomically


def test_an_emptied_set_stays_empty_and_queries_keep_their_missing_classes(greek_dir):
    store.save(ME, "samples", SampleSet())
    assert len(store.load(ME.id, "samples")) == 0
    q = from_folder(greek_dir)
    q = SampleSet([type(x)(x.image, "", x.name, x.raw) for x in q.samples[:3]])
    store.save(ME, "queries", q)
    assert store.load(ME.id, "queries").labels == ["", "", ""]


def test_usage_counts_samples_and_queries_and_their_bytes(runs_dir):
    assert store.usage(ME.id) == store.Usage(0, 0)
    store.save(ME, "samples", synthetic_greek(["alpha", "beta"], 3))
    store.save(ME, "queries", synthetic_greek(["gamma"], 2))
    use = store.usage(ME.id)
    greek = runs_dir / ".visitors" / ME.id / "greek"
    assert use.count == 8 and use.bytes == sum(p.stat().st_size for p in greek.glob("*.zip"))


def test_sets_expire_with_their_idle_visitor_and_locally_never(monkeypatch, runs_dir):
    """One expiry, one clock: a hosted visitor unseen for the idle time loses their folder,
    sample sets included (``jobs.clean_expired``); a local user's sets stay."""
    from engine.queue import jobs
    from engine.runs import hosting

    store.save(ME, "samples", synthetic_greek(["alpha", "beta"], 2))
    store.save(YOU, "samples", synthetic_greek(["alpha", "beta"], 2))
    jobs.clean_expired(runs_dir)
    assert store.load(ME.id, "samples") is not None  # locally nothing is ever idle
    monkeypatch.setenv("ENGINE_PUBLIC", "1")
    monkeypatch.setenv("ENGINE_VISITOR_IDLE_HOURS", "2")
    old = time.time() - 3 * 3600
    (hosting.visitor_dir(runs_dir, YOU.id) / "last_seen").write_text(str(old))
    jobs.clean_expired(runs_dir)
    assert store.load(YOU.id, "samples") is None  # unseen for 3 h: gone
    assert store.load(ME.id, "samples") is not None  # seen when it saved


def test_hosted_caps_refuse_and_keep_the_stored_set(monkeypatch):
    store.save(ME, "samples", synthetic_greek(["alpha", "beta"], 3))
    monkeypatch.setenv("ENGINE_PUBLIC", "1")
    monkeypatch.setenv("ENGINE_MAX_SAMPLES", "10")
    with pytest.raises(HostingError, match="one visitor may keep 10"):
        store.save(ME, "queries", synthetic_greek(["gamma"], 5))  # 6 + 5 > 10
    store.save(ME, "queries", synthetic_greek(["gamma"], 4))  # 6 + 4 = 10: fine
    monkeypatch.setenv("ENGINE_MAX_SAMPLE_MB", "0")
    with pytest.raises(HostingError, match="MB"):
        store.save(ME, "samples", synthetic_greek(["alpha"], 2))
    assert len(store.load(ME.id, "samples")) == 6  # the old set, whole
    store.save(Visitor("admin-cccccccc", is_admin=True), "samples", synthetic_greek(["mu"]))


def test_a_damaged_file_and_a_bad_token_are_clear_errors(runs_dir):
    store.save(ME, "samples", synthetic_greek(["alpha", "beta"], 2))
    (runs_dir / ".visitors" / ME.id / "greek" / "samples.zip").write_bytes(b"not a zip")
    with pytest.raises(SampleError, match="not a ZIP"):
        store.load(ME.id, "samples")
    with pytest.raises(HostingError, match="invalid visitor token"):
        store.load("../../etc", "samples")
