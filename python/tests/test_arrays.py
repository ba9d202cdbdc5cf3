"""Array intake: zero-copy layouts, the one documented conversion, and every rejected input
(type, shape, value), after each of which the index still answers as before."""

from __future__ import annotations

import numpy as np
import pytest

import xmr
from conftest import normal

D = 8


@pytest.fixture
def index(rng):
    idx = xmr.DenseIndex(D, metric="ip")
    idx.add(normal(rng, (40, D)))
    return idx


@pytest.fixture
def queries(rng):
    return normal(rng, (5, D))


def snapshot(index, queries):
    return index.size, index.search(queries, 6)


def assert_unchanged(index, queries, snap):
    size, (s, i) = snap
    assert index.size == size
    s2, i2 = index.search(queries, 6)
    np.testing.assert_array_equal(s2, s)
    np.testing.assert_array_equal(i2, i)


def test_row_strided_views_equal_copies(index, rng):
    wide = normal(rng, (6, D + 5))
    view = wide[:, :D]
    assert not view.flags.c_contiguous
    s1, i1 = index.search(view, 4)
    s2, i2 = index.search(np.ascontiguousarray(view), 4)
    np.testing.assert_array_equal(s1, s2)
    np.testing.assert_array_equal(i1, i2)
    tall = normal(rng, (12, D))
    s1, i1 = index.search(tall[::2], 4)
    s2, i2 = index.search(tall[::2].copy(), 4)
    np.testing.assert_array_equal(s1, s2)
    np.testing.assert_array_equal(i1, i2)


def test_fortran_order_and_column_strided_are_converted(index, rng):
    q = normal(rng, (6, D))
    ref = index.search(q, 4)
    interleaved = np.zeros((6, 2 * D), np.float32)
    interleaved[:, ::2] = q
    for variant in (np.asfortranarray(q), interleaved[:, ::2]):  # column stride 2: copied once
        s, i = index.search(variant, 4)
        np.testing.assert_array_equal(s, ref[0])
        np.testing.assert_array_equal(i, ref[1])


def test_add_from_strided_view_equals_copy(rng):
    wide = normal(rng, (30, D + 3))
    a = xmr.DenseIndex(D)
    b = xmr.DenseIndex(D)
    a.add(wide[:, :D])
    b.add(wide[:, :D].copy())
    q = normal(rng, (3, D))
    for x, y in zip(a.search(q, 5), b.search(q, 5)):
        np.testing.assert_array_equal(x, y)


def test_float64_is_type_error_naming_argument(index, queries):
    snap = snapshot(index, queries)
    with pytest.raises(TypeError, match="queries.*float64"):
        index.search(queries.astype(np.float64), 3)
    with pytest.raises(TypeError, match="vectors"):
        index.add(np.ones((2, D)))
    assert_unchanged(index, queries, snap)


@pytest.mark.parametrize("shape", [(2, 3, D), (D,)])
def test_wrong_rank_is_value_error_naming_argument(index, queries, shape):
    snap = snapshot(index, queries)
    with pytest.raises(ValueError, match="queries"):
        index.search(np.ones(shape, np.float32), 3)
    with pytest.raises(ValueError, match="vectors"):
        index.add(np.ones(shape, np.float32))
    assert_unchanged(index, queries, snap)


def test_ids_forms(rng):
    idx = xmr.DenseIndex(D)
    idx.add(normal(rng, (3, D)), ids=[5, 9, 2])
    idx.add(normal(rng, (2, D)), ids=np.array([1, 3], dtype=np.int32))
    np.testing.assert_array_equal(idx.ids(), [1, 2, 3, 5, 9])
    with pytest.raises(TypeError, match="ids"):
        idx.add(normal(rng, (2, D)), ids=[1.5, 2.5])
    with pytest.raises(TypeError, match="ids"):
        idx.remove(np.array([True, False]))
    assert idx.size == 5


def test_nan_is_invalid_argument_and_index_unchanged(index, queries):
    snap = snapshot(index, queries)
    bad = np.ones((3, D), np.float32)
    bad[1, 2] = np.nan
    with pytest.raises(xmr.InvalidArgumentError, match="vectors") as e:
        index.add(bad)
    assert isinstance(e.value, ValueError) and isinstance(e.value, xmr.Error)
    assert e.value.code == "InvalidArgument" or e.value.code
    assert_unchanged(index, queries, snap)
    with pytest.raises(xmr.InvalidArgumentError, match="queries"):
        index.search(bad, 3)
    assert_unchanged(index, queries, snap)
    with pytest.raises(xmr.InvalidArgumentError, match="vectors"):
        index.add(np.full((1, D), np.inf, np.float32))
    assert_unchanged(index, queries, snap)


def test_zero_row_under_cosine(rng):
    idx = xmr.DenseIndex(D, metric="cosine")
    idx.add(normal(rng, (4, D)))
    with pytest.raises(xmr.InvalidArgumentError, match="vectors"):
        idx.add(np.zeros((1, D), np.float32))
    assert idx.size == 4


@pytest.mark.parametrize("k", [0, -3])
def test_bad_k(index, queries, k):
    snap = snapshot(index, queries)
    with pytest.raises(xmr.InvalidArgumentError, match="k"):
        index.search(queries, k)
    assert_unchanged(index, queries, snap)


def test_wrong_dim(index, queries, rng):
    snap = snapshot(index, queries)
    with pytest.raises(xmr.InvalidArgumentError, match="queries|dim"):
        index.search(normal(rng, (2, D + 1)), 3)
    with pytest.raises(xmr.InvalidArgumentError, match="vectors|dim"):
        index.add(normal(rng, (2, D - 1)))
    assert_unchanged(index, queries, snap)


def test_duplicate_and_missing_ids(index, queries, rng):
    snap = snapshot(index, queries)
    with pytest.raises(xmr.InvalidArgumentError, match="ids"):
        index.add(normal(rng, (2, D)), ids=[0, 100])  # 0 already stored
    with pytest.raises(xmr.InvalidArgumentError, match="ids"):
        index.add(normal(rng, (2, D)), ids=[100, 100])
    with pytest.raises(xmr.InvalidArgumentError, match="ids"):
        index.add(normal(rng, (2, D)), ids=[100])  # count mismatch
    with pytest.raises(xmr.InvalidArgumentError, match="ids"):
        index.remove([3, 999])
    assert_unchanged(index, queries, snap)


def test_lists_are_converted(index, queries):
    s, i = index.search(queries.tolist(), 3)
    s2, i2 = index.search(queries, 3)
    np.testing.assert_array_equal(s, s2)
    np.testing.assert_array_equal(i, i2)


class FakeCudaArray:
    """Claims to be a CUDA array; its pointer must never be read."""

    def __init__(self, shape, typestr="<f4"):
        self.__cuda_array_interface__ = {
            "shape": shape,
            "typestr": typestr,
            "data": (0xDEAD0000, False),
            "version": 3,
            "strides": None,
            "stream": None,
        }


def test_fake_cuda_array_without_gpu(index, queries):
    if xmr.gpu_count() > 0:
        pytest.skip("a GPU is present: a fake device pointer would be dereferenced there")
    snap = snapshot(index, queries)
    with pytest.raises((xmr.UnavailableError, xmr.InvalidArgumentError), match="queries"):
        index.search(FakeCudaArray((2, D)), 3)
    assert_unchanged(index, queries, snap)


def test_fake_cuda_array_binary_without_gpu(rng):
    if xmr.gpu_count() > 0:
        pytest.skip("a GPU is present: a fake device pointer would be dereferenced there")
    index = xmr.BinaryIndex(16)
    index.add(rng.integers(0, 256, size=(4, 2), dtype=np.uint8))
    with pytest.raises((xmr.UnavailableError, xmr.InvalidArgumentError), match="queries"):
        index.search(FakeCudaArray((2, 2), "|u1"), 3)
    assert index.size == 4


def test_fake_cuda_array_rejected_where_host_only(index):
    with pytest.raises(TypeError, match="queries"):
        index.rescore(FakeCudaArray((2, D)), np.zeros((2, 1), np.int64))


def test_fake_cuda_array_wrong_dtype(index):
    with pytest.raises(TypeError, match="queries"):
        index.search(FakeCudaArray((2, D), "<f8"), 3)


def test_fake_cuda_array_add_without_gpu(index, queries, rng):
    if xmr.gpu_count() > 0:
        pytest.skip("a GPU is present: a fake device pointer would be dereferenced there")
    snap = snapshot(index, queries)
    with pytest.raises(xmr.UnavailableError, match="vectors"):
        index.add(FakeCudaArray((2, D)))
    with pytest.raises(xmr.UnavailableError, match="vectors"):
        index.add(FakeCudaArray((2, D)), ids=[500, 501])
    assert_unchanged(index, queries, snap)
    binary = xmr.BinaryIndex(16)
    with pytest.raises(xmr.UnavailableError, match="codes"):
        binary.add(FakeCudaArray((2, 2), "|u1"))
    assert binary.size == 0


def test_fake_cuda_array_with_device_cpu(index, queries):
    snap = snapshot(index, queries)
    with pytest.raises(xmr.InvalidArgumentError, match="queries"):
        index.search(FakeCudaArray((2, D)), 3, device="cpu")
    assert_unchanged(index, queries, snap)


def test_fake_cuda_array_with_column_stride_is_value_error(index):
    """xmr does not re-layout device memory: rows must be contiguous (checked before any use)."""
    strided = FakeCudaArray((2, D))
    strided.__cuda_array_interface__["strides"] = (4, 8)  # column stride 2 elements
    with pytest.raises(ValueError, match="queries: the rows of a CUDA array must be contiguous"):
        index.search(strided, 3)


class FakeDlpackCpu:
    """A host object that only speaks DLPack's device query: numpy.asarray must handle it."""

    def __init__(self, array):
        self.array = array

    def __dlpack_device__(self):
        return (1, 0)  # kDLCPU

    def __array__(self, dtype=None):
        return self.array if dtype is None else self.array.astype(dtype)


def test_host_dlpack_object_goes_through_numpy(index, queries):
    expected = index.search(queries, 4)
    got = index.search(FakeDlpackCpu(queries), 4)
    for a, b in zip(expected, got):
        np.testing.assert_array_equal(a, b)
