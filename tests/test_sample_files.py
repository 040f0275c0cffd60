import io
import zipfile

import numpy as np
import pytest

from engine.fewshot.files import from_csv_pair, from_zip, to_csv_pair, to_zip
from engine.fewshot.samples import (
    UNLABELLED,
    Sample,
    SampleError,
    SampleSet,
    from_folder,
    from_images,
)


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


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
    bad[3] = ",".join(bad[3].split(",")[:783])  # line 4 of the file (after the header)
    with pytest.raises(SampleError, match="data.csv line 4: 783 values; expected 784"):
        from_csv_pair("\n".join(bad).encode(), cat_csv)
    with pytest.raises(SampleError, match="rows"):
        from_csv_pair(data_csv, b"letter\nalpha\n")
    with pytest.raises(SampleError, match="UTF-8"):
        from_csv_pair(b"\xff\xfe\x00bad", cat_csv)


# --- the seed's CSV as pandas writes it, and its ink (issue 13, item 6) ---------------------------
def test_pandas_to_csv_with_its_index_column_is_accepted(greek_dir):
    import pandas as pd

    s = from_folder(greek_dir)
    data = pd.DataFrame(s.images.reshape(len(s), 784)).to_csv().encode()  # 785 values a row
    cats = pd.Series(s.labels).to_csv().encode()  # an index here too
    back = from_csv_pair(data, cats)
    assert back.labels == s.labels and np.array_equal(back.images, s.images)
    no_header = pd.DataFrame(s.images.reshape(len(s), 784)).to_csv(header=False).encode()
    assert np.array_equal(from_csv_pair(no_header, cats).images, s.images)
    plain = pd.DataFrame(s.images.reshape(len(s), 784)).to_csv(index=False).encode()  # "0,1,…"
    assert np.array_equal(from_csv_pair(plain, cats).images, s.images)


def test_black_ink_on_white_is_inverted(greek_dir):
    s = from_folder(greek_dir)
    d, c = to_csv_pair(SampleSet([Sample(255 - x.image, x.label, x.name) for x in s.samples]))
    back = from_csv_pair(d, c)
    assert np.array_equal(back.images, s.images)  # white on black again, like the digits


def _one_row(img: np.ndarray, label: str = "alpha") -> tuple[bytes, bytes]:
    return to_csv_pair(SampleSet([Sample(img.astype(np.uint8), label, "x")]))


@pytest.mark.parametrize(
    "img, why",
    [
        (np.full((28, 28), 128), "line 2: the image is blank"),
        (np.pad(np.full((20, 20), 255), 4, constant_values=120), "line 2: neither white ink"),
    ],
)
def test_other_images_are_refused_naming_the_line(img, why):
    d, c = _one_row(img)
    with pytest.raises(SampleError, match=why):
        from_csv_pair(d, c)


def test_a_785th_value_that_is_not_an_index_and_a_bad_value_name_their_line():
    d, c = _one_row(np.pad(np.full((20, 20), 255), 4))
    header, row = d.decode().splitlines()
    with pytest.raises(SampleError, match=r"data.csv line 2: 785 values, but the first \('x'\)"):
        from_csv_pair(f"{header}\nx,{row}\n".encode(), c)
    with pytest.raises(SampleError, match=r"data.csv line 2: value 2 \('abc'\) is not a number"):
        from_csv_pair(f"{header}\n{row.replace(',0,', ',abc,', 1)}\n".encode(), c)
    with pytest.raises(SampleError, match="letter_cat.csv line 2: class name"):
        from_csv_pair(d, b"letter\n../evil\n")


# --- ZIP of class folders: download, upload again ---------------------------------------------
def test_a_set_round_trips_through_its_zip_with_names_and_originals(greek_dir):
    s = from_folder(greek_dir)
    back = from_zip(to_zip(s))
    assert back.labels == s.labels and np.array_equal(back.images, s.images)
    assert [x.name for x in back.samples] == [x.name for x in s.samples]
    assert all(np.array_equal(a.raw, b.raw) for a, b in zip(back.samples, s.samples))
    names = zipfile.ZipFile(io.BytesIO(to_zip(s))).namelist()
    assert "alpha/0001.png" in names and "samples.json" in names  # class folders, as uploaded


def test_an_image_added_to_a_downloaded_zip_is_prepared_like_a_photo(greek_files):
    s = from_images([(p.name, p.read_bytes()) for p, lab in greek_files[:2]], "alpha")
    buf = io.BytesIO(to_zip(s))
    with zipfile.ZipFile(buf, "a") as z:
        z.writestr("beta/new photo.png", greek_files[-1][0].read_bytes())
    back = from_zip(buf.getvalue())
    assert back.counts() == {"alpha": 2, "beta": 1}
    assert back.samples[-1].name == "beta/new photo.png" and back.samples[-1].raw is not None


def test_queries_zip_keeps_unlabelled_letters_at_the_top(greek_files):
    q = from_images([(p.name, p.read_bytes()) for p, _ in greek_files[:2]], UNLABELLED)
    q = q.merged(from_images([(greek_files[-1][0].name, greek_files[-1][0].read_bytes())], "beta"))
    back = from_zip(to_zip(q), unlabelled=True)
    assert back.labels == ["", "", "beta"] and not back.labelled
    with pytest.raises(SampleError, match="no usable images"):
        from_zip(to_zip(SampleSet()))
    assert len(from_zip(to_zip(SampleSet()), allow_empty=True)) == 0
