"""CUDA arrays (PyTorch, CuPy) searched in place: the same results as the NumPy path, returned on
the device by the queries' own library. Skipped without the library or a GPU (with the reason)."""

from __future__ import annotations

import numpy as np
import pytest

import xmr
from conftest import normal


def need_gpu():
    if not xmr.built_with_cuda():
        pytest.skip("this xmr build has no CUDA backend (XMR_CUDA=OFF)")
    if xmr.gpu_count() == 0:
        pytest.skip("no usable CUDA device (xmr.gpu_count() == 0)")


def torch_cuda():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    need_gpu()
    if not torch.cuda.is_available():
        pytest.skip("PyTorch sees no CUDA device")
    return torch


def cupy_mod():
    cupy = pytest.importorskip("cupy", reason="CuPy is not installed")
    need_gpu()
    return cupy


@pytest.fixture
def dense(rng):
    idx = xmr.DenseIndex(32, metric="cosine")
    idx.add(normal(rng, (500, 32)))
    return idx


@pytest.fixture
def binary(rng):
    idx = xmr.BinaryIndex(64)
    idx.add(rng.integers(0, 256, size=(500, 8), dtype=np.uint8))
    return idx


def test_torch_dense_and_binary(rng, dense, binary):
    torch = torch_cuda()
    q = normal(rng, (9, 32))
    ref_s, ref_i = dense.search(q, 7)
    s, i = dense.search(torch.from_numpy(q).cuda(), 7)
    assert isinstance(s, torch.Tensor) and s.is_cuda and i.is_cuda
    assert s.dtype == torch.float32 and i.dtype == torch.int64
    np.testing.assert_array_equal(i.cpu().numpy(), ref_i)
    np.testing.assert_array_equal(s.cpu().numpy(), ref_s)
    qc = rng.integers(0, 256, size=(5, 8), dtype=np.uint8)
    ref_d, ref_i = binary.search(qc, 6)
    d, i = binary.search(torch.from_numpy(qc).cuda(), 6)
    assert d.is_cuda and d.dtype == torch.int32
    np.testing.assert_array_equal(d.cpu().numpy(), ref_d)
    np.testing.assert_array_equal(i.cpu().numpy(), ref_i)


def test_torch_row_strided_view(rng, dense):
    torch = torch_cuda()
    wide = torch.from_numpy(normal(rng, (6, 40))).cuda()
    view = wide[:, :32]
    s, i = dense.search(view, 5)
    ref_s, ref_i = dense.search(np.ascontiguousarray(wide.cpu().numpy()[:, :32]), 5)
    np.testing.assert_array_equal(i.cpu().numpy(), ref_i)
    np.testing.assert_array_equal(s.cpu().numpy(), ref_s)


def test_cupy_dense(rng, dense):
    cupy = cupy_mod()
    q = normal(rng, (4, 32))
    ref_s, ref_i = dense.search(q, 5)
    s, i = dense.search(cupy.asarray(q), 5)
    assert isinstance(s, cupy.ndarray) and isinstance(i, cupy.ndarray)
    np.testing.assert_array_equal(cupy.asnumpy(i), ref_i)
    np.testing.assert_array_equal(cupy.asnumpy(s), ref_s)


def test_gpu_device_option_matches_cpu(rng, dense):
    need_gpu()
    q = normal(rng, (8, 32))
    cpu = dense.search(q, 6, device="cpu")
    gpu = dense.search(q, 6, device="gpu")
    np.testing.assert_array_equal(gpu[1], cpu[1])
    np.testing.assert_allclose(gpu[0], cpu[0], atol=1e-5)


def test_gpu_unavailable_without_gpu(rng, dense):
    if xmr.gpu_count() > 0:
        pytest.skip("a GPU is present")
    with pytest.raises(xmr.UnavailableError):
        dense.search(normal(rng, (2, 32)), 3, device="gpu")
