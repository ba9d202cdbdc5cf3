"""Index files: save/load (read and mmap), bytes, extras, corruption, and the CLI reading and
writing the same files."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

import xmr
from conftest import normal


def same_search(a, b, queries, k):
    for x, y in zip(a.search(queries, k), b.search(queries, k)):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)


@pytest.fixture
def dense(rng):
    idx = xmr.DenseIndex(10, metric="cosine", storage="float16")
    idx.add(normal(rng, (60, 10)), ids=np.arange(100, 160))
    idx.remove([105, 150])
    return idx


@pytest.mark.parametrize("mmap", [False, True])
def test_dense_save_load(tmp_path, rng, dense, mmap):
    path = tmp_path / "d.xmr"
    dense.save(path)
    loaded = xmr.DenseIndex.load(path, mmap=mmap)
    assert loaded.size == dense.size and loaded.dim == 10
    assert loaded.storage == xmr.DType.FLOAT16 and loaded.metric == xmr.Metric.COSINE
    np.testing.assert_array_equal(loaded.ids(), dense.ids())
    same_search(dense, loaded, normal(rng, (7, 10)), 9)
    same_search(dense, xmr.DenseIndex.from_bytes(dense.to_bytes()), normal(rng, (3, 10)), 5)
    assert path.read_bytes() == dense.to_bytes()


@pytest.mark.parametrize("mmap", [False, True])
def test_binary_save_load_with_extras(tmp_path, rng, mmap):
    bz = xmr.Binarizer.lsh(24, dim=12, seed=3)
    x = normal(rng, (40, 12))
    codes = bz.encode(x)
    labels = rng.integers(0, 2, size=(40, 5), dtype=np.uint8)
    idx = xmr.BinaryIndex(24)
    idx.add(codes)
    path = tmp_path / "b.xmr"
    idx.save(str(path), labels=labels, binarizer=bz)
    loaded, extras = xmr.BinaryIndex.load(path, mmap=mmap, return_extras=True)
    same_search(idx, loaded, codes[:6], 8)
    np.testing.assert_array_equal(extras.labels, labels)
    np.testing.assert_array_equal(extras.binarizer.encode(x), codes)
    assert extras.cross_modal_binarizer is None
    b2, e2 = xmr.BinaryIndex.from_bytes(idx.to_bytes(), return_extras=True)
    assert e2.labels is None and e2.binarizer is None
    same_search(idx, b2, codes[:3], 4)
    info = xmr.read_index_info(path)
    assert info["size"] == 40 and info["bits"] == 24 and info["num_classes"] == 5
    assert info["has_binarizer"] and info["file_bytes"] == path.stat().st_size
    assert len(info["sections"]) >= 1


def test_cross_modal_binarizer_extra(tmp_path, rng):
    x = normal(rng, (80, 16))
    y = x + 0.1 * normal(rng, (80, 16))
    cm = xmr.train_cross_modal_itq(x, y, 8, iterations=5)
    idx = xmr.DenseIndex(16)
    idx.add(x)
    idx.save(tmp_path / "c.xmr", cross_modal_binarizer=cm)
    _, extras = xmr.DenseIndex.load(tmp_path / "c.xmr", return_extras=True)
    np.testing.assert_array_equal(extras.cross_modal_binarizer.text.encode(y), cm.text.encode(y))
    np.testing.assert_array_equal(extras.cross_modal_binarizer.image.encode(x), cm.image.encode(x))


def test_corrupt_files(tmp_path, dense):
    good = bytearray(dense.to_bytes())
    for pos in (10, len(good) // 2, len(good) - 3):
        flipped = bytearray(good)
        flipped[pos] ^= 0x5A
        path = tmp_path / f"flip{pos}.xmr"
        path.write_bytes(bytes(flipped))
        with pytest.raises(xmr.CorruptDataError):
            xmr.DenseIndex.load(path)
        with pytest.raises(xmr.CorruptDataError):
            xmr.DenseIndex.from_bytes(bytes(flipped))
    for cut in (0, 8, len(good) // 2, len(good) - 1):
        path = tmp_path / f"cut{cut}.xmr"
        path.write_bytes(bytes(good[:cut]))
        with pytest.raises(xmr.CorruptDataError) as e:
            xmr.DenseIndex.load(path, mmap=True)
        assert isinstance(e.value, ValueError)


def test_wrong_kind_of_file(tmp_path, dense):
    dense.save(tmp_path / "d.xmr")
    with pytest.raises(xmr.Error):
        xmr.BinaryIndex.load(tmp_path / "d.xmr")


def test_missing_file(tmp_path):
    with pytest.raises(xmr.IoError) as e:
        xmr.DenseIndex.load(tmp_path / "nope.xmr")
    assert isinstance(e.value, OSError)
    assert "nope.xmr" in str(e.value)
    with pytest.raises(xmr.IoError):
        xmr.read_index_info(tmp_path / "nope.xmr")
    with pytest.raises(xmr.IoError):
        xmr.Binarizer.load(tmp_path / "nope.xmrb")


def test_save_to_missing_directory(tmp_path, dense):
    with pytest.raises(xmr.IoError):
        dense.save(tmp_path / "no" / "such" / "dir.xmr")


# ---- CLI interop ----------------------------------------------------------------------------


def run_cli(cli, *args):
    r = subprocess.run([cli, *map(str, args)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"xmr {' '.join(map(str, args))} failed ({r.returncode}): {r.stderr}"
    return r


@pytest.mark.parametrize("metric", ["cosine", "ip"])
def test_cli_built_index_loads_in_python(cli, tmp_path, rng, metric):
    base = normal(rng, (150, 24))
    queries = normal(rng, (11, 24))
    np.save(tmp_path / "B.npy", base)
    np.save(tmp_path / "Q.npy", queries)
    run_cli(cli, "build", "--base", tmp_path / "B.npy", "--metric", metric, "--out", tmp_path / "F.xmr")
    run_cli(cli, "search", "--index", tmp_path / "F.xmr", "--queries", tmp_path / "Q.npy", "-k", 7,
            "--out-ids", tmp_path / "I.npy", "--out-scores", tmp_path / "S.npy", "--device", "cpu")
    idx = xmr.DenseIndex.load(tmp_path / "F.xmr")
    assert idx.size == 150
    scores, ids = idx.search(queries, 7)
    cli_ids = np.load(tmp_path / "I.npy")
    cli_scores = np.load(tmp_path / "S.npy")
    np.testing.assert_array_equal(ids, cli_ids)
    assert cli_scores.dtype == scores.dtype
    assert cli_scores.tobytes() == scores.tobytes()


def test_python_saved_index_searched_by_cli(cli, tmp_path, rng):
    base = normal(rng, (90, 16))
    queries = normal(rng, (6, 16))
    idx = xmr.DenseIndex(16, metric="ip")
    idx.add(base, ids=np.arange(1000, 1090))
    idx.save(tmp_path / "P.xmr")
    np.save(tmp_path / "Q.npy", queries)
    run_cli(cli, "search", "--index", tmp_path / "P.xmr", "--queries", tmp_path / "Q.npy", "-k", 5,
            "--out-ids", tmp_path / "I.npy", "--out-scores", tmp_path / "S.npy", "--device", "cpu")
    scores, ids = idx.search(queries, 5)
    np.testing.assert_array_equal(np.load(tmp_path / "I.npy"), ids)
    assert np.load(tmp_path / "S.npy").tobytes() == scores.tobytes()


def test_python_binary_index_searched_by_cli(cli, tmp_path, rng):
    codes = rng.integers(0, 256, size=(80, 5), dtype=np.uint8)
    queries = rng.integers(0, 256, size=(4, 5), dtype=np.uint8)
    idx = xmr.BinaryIndex(40)
    idx.add(codes)
    idx.save(tmp_path / "H.xmr")
    np.save(tmp_path / "Q.npy", queries)
    run_cli(cli, "search", "--index", tmp_path / "H.xmr", "--queries", tmp_path / "Q.npy", "-k", 10,
            "--out-ids", tmp_path / "I.npy", "--out-scores", tmp_path / "S.npy")
    dist, ids = idx.search(queries, 10)
    np.testing.assert_array_equal(np.load(tmp_path / "I.npy"), ids)
    np.testing.assert_array_equal(np.load(tmp_path / "S.npy"), dist)
