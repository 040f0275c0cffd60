import numpy as np
import pytest

from engine.fewshot.samples import (
    Sample,
    SampleError,
    SampleSet,
    from_folder,
    from_images,
    synthetic_greek,
)


def test_real_greek_folder_loads_27_samples(greek_dir):
    s = from_folder(greek_dir)
    assert s.counts() == {"alpha": 9, "beta": 9, "gamma": 9} and not s.skipped
    assert s.images.shape == (27, 28, 28) and s.samples[0].raw is not None


def test_uploads_of_one_class_keep_good_files_and_report_bad_ones(greek_files):
    files = [(p.name, p.read_bytes()) for p, lab in greek_files if lab == "beta"][:3]
    s = from_images([*files, ("empty.png", b"")], "beta")
    assert len(s) == 3 and s.skipped == ["empty.png: the file is empty (0 bytes)"]
    with pytest.raises(SampleError, match="class name"):
        from_images(files, "../evil")


def test_synthetic_greek_is_deterministic_and_covers_any_letter():
    a = synthetic_greek(["alpha", "omega"], per_class=3, seed=5)
    b = synthetic_greek(["alpha", "omega"], per_class=3, seed=5)
    assert np.array_equal(a.images, b.images) and a.counts() == {"alpha": 3, "omega": 3}
    c = synthetic_greek(["alpha", "omega"], per_class=3, seed=6)
    assert not np.array_equal(a.images, c.images)
    with pytest.raises(SampleError, match="unknown Greek"):
        synthetic_greek(["aleph"])


def test_merging_leaves_the_original_set_untouched(greek_dir):
    base = SampleSet()
    merged = base.merged(from_folder(greek_dir))
    assert len(base) == 0 and len(merged) == 27


def test_digest_follows_images_and_labels(greek_dir):
    s = from_folder(greek_dir)
    assert s.digest() == from_folder(greek_dir).digest()
    relabelled = SampleSet([Sample(x.image, "z", x.name) for x in s.samples])
    assert relabelled.digest() != s.digest()
