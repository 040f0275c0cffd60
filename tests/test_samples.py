import io
import zipfile

import numpy as np
import pytest

from engine.samples import (
    SampleError,
    SampleSet,
    from_csv_pair,
    from_folder,
    from_images,
    from_zip,
    synthetic_greek,
    to_csv_pair,
)


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_real_greek_folder_loads_27_samples(greek_dir):
    s = from_folder(greek_dir)
    assert s.counts() == {"alpha": 9, "beta": 9, "gamma": 9} and not s.skipped
    assert s.images.shape == (27, 28, 28) and s.samples[0].raw is not None


def test_zip_with_class_folders_loads_and_lists_what_it_skipped(greek_files):
    entries = {f"letters/{lab}/{p.name}": p.read_bytes() for p, lab in greek_files[::4]}
    entries["letters/alpha/readme.txt"] = b"hello"
    entries["letters/beta/broken.png"] = b"\x89PNG not really"
    s = from_zip(_zip(entries))
    assert len(s) == len(greek_files[::4])
    assert any("readme.txt" in x for x in s.skipped) and any("broken.png" in x for x in s.skipped)


@pytest.mark.parametrize("evil", ["../alpha/x.png", "/etc/alpha.png", "a/../../x.png", "C:/x.png"])
def test_zip_path_tricks_are_refused_whole(evil, greek_files):
    data = _zip({"alpha/ok.png": greek_files[0][0].read_bytes(), evil: b"x"})
    with pytest.raises(SampleError, match="unsafe path"):
        from_zip(data)


def test_not_a_zip_and_empty_zip_are_clear_errors():
    with pytest.raises(SampleError, match="not a ZIP"):
        from_zip(b"PK nope")
    with pytest.raises(SampleError, match="no usable images"):
        from_zip(_zip({"alpha/notes.txt": b"x"}))


def test_csv_pair_round_trips_and_names_bad_lines(greek_dir):
    s = from_folder(greek_dir)
    data_csv, cat_csv = to_csv_pair(s)
    back = from_csv_pair(data_csv, cat_csv)
    assert back.labels == s.labels and np.array_equal(back.images, s.images)
    bad = data_csv.decode().splitlines()
    bad[3] = ",".join(bad[3].split(",")[:783])  # line 3 of the data (after the header)
    with pytest.raises(SampleError, match="line 3: 783 values; expected 784"):
        from_csv_pair("\n".join(bad).encode(), cat_csv)
    with pytest.raises(SampleError, match="rows"):
        from_csv_pair(data_csv, b"letter\nalpha\n")
    with pytest.raises(SampleError, match="UTF-8"):
        from_csv_pair(b"\xff\xfe\x00bad", cat_csv)


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
