"""The C ABI, the C++ API and the Python module give identical results on the same inputs.

python/tools/api_dump.c (C ABI) and api_dump.cpp (C++ API) run the same searches as this file
does through Python, on raw files written here; the results must be equal byte for byte (all on
the CPU, so the comparison holds on any machine).
"""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest

import xmr

TOOLS = [os.environ.get("XMR_CAPI_DUMP"), os.environ.get("XMR_CPPAPI_DUMP")]
pytestmark = pytest.mark.skipif(
    not all(TOOLS), reason="XMR_CAPI_DUMP / XMR_CPPAPI_DUMP not set (CTest's test_python sets them)"
)


def run_tools(tmp_path, args_for):
    """Runs both tools; args_for(prefix) gives each tool's arguments writing outputs at prefix."""
    outputs = []
    for i, tool in enumerate(TOOLS):
        args = args_for(str(tmp_path / f"out{i}"))
        done = subprocess.run([tool, *args], capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"{tool}: {done.stderr}"
        outputs.append(str(tmp_path / f"out{i}"))
    return outputs


@pytest.mark.parametrize(
    "metric,storage,n,q,d,k",
    [
        ("ip", "f32", 1, 3, 1, 4),
        ("cosine", "f32", 257, 17, 13, 10),
        ("ip", "f32", 100, 9, 64, 100),
        ("cosine", "f16", 300, 5, 40, 7),
        ("ip", "f16", 33, 4, 9, 50),
    ],
)
def test_dense_identical(tmp_path, metric, storage, n, q, d, k):
    rng = np.random.default_rng(n * 31 + d)
    dtype = np.float16 if storage == "f16" else np.float32
    # Small integers make exact ties, so the tie order is compared too.
    base = rng.integers(-3, 4, size=(n, d)).astype(dtype)
    queries = rng.integers(-3, 4, size=(q, d)).astype(dtype)
    if metric == "cosine":
        base[np.all(base == 0, axis=1), 0] = 1
        queries[np.all(queries == 0, axis=1), 0] = 1
    base.tofile(tmp_path / "base.bin")
    queries.tofile(tmp_path / "queries.bin")

    index = xmr.DenseIndex(d, metric=metric, storage="float16" if storage == "f16" else "float32", device="cpu")
    index.add(base)
    scores, ids = index.search(queries, k, device="cpu")

    for prefix in run_tools(
        tmp_path,
        lambda p: ["dense", metric, storage, str(n), str(q), str(d), str(k), str(tmp_path / "base.bin"),
                   str(tmp_path / "queries.bin"), p + ".ids", p + ".scores"],
    ):
        np.testing.assert_array_equal(np.fromfile(prefix + ".ids", dtype=np.int64).reshape(q, k), ids)
        other = np.fromfile(prefix + ".scores", dtype=np.float32).reshape(q, k)
        assert other.tobytes() == scores.tobytes()


@pytest.mark.parametrize("n,q,nbytes,k", [(1, 2, 1, 3), (500, 20, 3, 10), (200, 7, 9, 200), (64, 64, 64, 5)])
def test_binary_identical(tmp_path, n, q, nbytes, k):
    rng = np.random.default_rng(n + nbytes)
    base = rng.integers(0, 256, size=(n, nbytes), dtype=np.uint8)
    queries = rng.integers(0, 256, size=(q, nbytes), dtype=np.uint8)
    base.tofile(tmp_path / "base.bin")
    queries.tofile(tmp_path / "queries.bin")
    index = xmr.BinaryIndex(nbytes * 8, device="cpu")
    index.add(base)
    dist, ids = index.search(queries, k, device="cpu")
    for prefix in run_tools(
        tmp_path,
        lambda p: ["binary", str(n), str(q), str(nbytes), str(k), str(tmp_path / "base.bin"),
                   str(tmp_path / "queries.bin"), p + ".ids", p + ".dist"],
    ):
        np.testing.assert_array_equal(np.fromfile(prefix + ".ids", dtype=np.int64).reshape(q, k), ids)
        np.testing.assert_array_equal(np.fromfile(prefix + ".dist", dtype=np.int32).reshape(q, k), dist)


def test_map_identical(tmp_path):
    rng = np.random.default_rng(7)
    n, q, nbytes, c = 400, 30, 4, 6
    qc = rng.integers(0, 256, size=(q, nbytes), dtype=np.uint8)
    dc = rng.integers(0, 256, size=(n, nbytes), dtype=np.uint8)
    ql = (rng.random((q, c)) < 0.3).astype(np.uint8)
    dl = (rng.random((n, c)) < 0.3).astype(np.uint8)
    for name, a in [("qc", qc), ("dc", dc), ("ql", ql), ("dl", dl)]:
        a.tofile(tmp_path / f"{name}.bin")
    result = xmr.map_hamming(qc, dc, ql, dl, device="cpu")
    for prefix in run_tools(
        tmp_path,
        lambda p: ["map", str(n), str(q), str(nbytes), str(c)]
        + [str(tmp_path / f"{name}.bin") for name in ("qc", "dc", "ql", "dl")]
        + [p + ".ap"],
    ):
        other = np.fromfile(prefix + ".ap", dtype=np.float64)
        assert other.tobytes() == result["per_query_ap"].tobytes()
