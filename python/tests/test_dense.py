"""DenseIndex against a float64 NumPy brute force: scores, ids, tie order, awkward sizes."""

from __future__ import annotations

import numpy as np
import pytest

import xmr
from conftest import assert_dense_matches, dense_scores, normal, topk_desc

METRICS = ["cosine", "ip"]
STORAGES = ["float32", "float16"]


def tol_for(storage, metric, d):
    if storage == "float16":
        return 2e-3 if metric == "cosine" else 2e-3 * np.sqrt(d) * 4
    return 1e-5 if metric == "cosine" else 1e-4 * max(1.0, np.sqrt(d))


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("storage", STORAGES)
@pytest.mark.parametrize("n,d,q,k", [(200, 32, 7, 10), (1, 8, 3, 1), (5, 13, 4, 9), (50, 1, 6, 5), (300, 13, 5, 300)])
def test_search_matches_brute_force(rng, metric, storage, n, d, q, k):
    base = normal(rng, (n, d))
    queries = normal(rng, (q, d))
    if d == 1:  # cosine of 1-D vectors is +-1: ties galore, still a valid ranking
        pass
    index = xmr.DenseIndex(d, metric=metric, storage=storage)
    index.add(base)
    assert index.size == n and len(index) == n and index.dim == d
    ref_base = base.astype(np.float16).astype(np.float64) if storage == "float16" and metric == "ip" else base
    all_s = dense_scores(queries, ref_base, metric)
    ids = np.arange(n, dtype=np.int64)
    ref_s, ref_i = topk_desc(all_s, ids, k)
    scores, got = index.search(queries, k)
    assert_dense_matches(scores, got, ref_s, ref_i, tol_for(storage, metric, d), all_s, ids)


@pytest.mark.parametrize("storage", STORAGES)
def test_exact_ties_inner_product_ascending_id(rng, storage):
    # Small integers: every product and sum is exact in float32 and float16, so scores tie exactly.
    base = rng.integers(-2, 3, size=(60, 6)).astype(np.float32)
    queries = rng.integers(-2, 3, size=(9, 6)).astype(np.float32)
    index = xmr.DenseIndex(6, metric="ip", storage=storage)
    index.add(base)
    all_s = dense_scores(queries, base, "ip")
    ref_s, ref_i = topk_desc(all_s, np.arange(60), 25)
    scores, ids = index.search(queries, 25)
    np.testing.assert_array_equal(ids, ref_i)
    np.testing.assert_array_equal(scores, ref_s.astype(np.float32))
    assert any(len(np.unique(row)) < len(row) for row in scores)  # ties were really there


@pytest.mark.parametrize("storage", STORAGES)
def test_exact_ties_cosine_duplicates(rng, storage):
    # Four components of +-1 scaled by a power of two per copy: every normalised component is
    # exactly +-0.5, so copies score exactly alike (random duplicates need not: BLAS may round a
    # dot product differently at another position of the matrix).
    rows = np.zeros((10, 8), np.float32)
    for r in rows:
        r[rng.permutation(8)[:4]] = rng.choice([-1.0, 1.0], size=4)
    base = np.concatenate([rows, rows[::-1] * 4.0, rows * 0.125])  # each direction three times
    given = rng.permutation(np.arange(100, 130)).astype(np.int64)
    index = xmr.DenseIndex(8, metric="cosine", storage=storage)
    index.add(base, ids=given)
    queries = np.zeros((6, 8), np.float32)  # the same form: every score a multiple of 1/4
    for r in queries:
        r[rng.permutation(8)[:4]] = rng.choice([-2.0, 2.0], size=4)
    all_s = dense_scores(queries, base, "cosine")
    for k in (1, 4, 30):  # k = 4 cuts through a group of ties
        ref_s, ref_i = topk_desc(all_s, given, k)
        scores, ids = index.search(queries, k)
        np.testing.assert_array_equal(ids, ref_i)
        np.testing.assert_array_equal(scores, ref_s.astype(np.float32))


@pytest.mark.parametrize("metric", METRICS)
def test_padding_when_k_exceeds_size(rng, metric):
    base = normal(rng, (3, 5))
    index = xmr.DenseIndex(5, metric=metric)
    index.add(base)
    scores, ids = index.search(normal(rng, (2, 5)), 7)
    assert scores.shape == (2, 7) and ids.shape == (2, 7)
    np.testing.assert_array_equal(ids[:, 3:], -1)
    assert np.all(np.isneginf(scores[:, 3:]))
    assert sorted(ids[0, :3]) == [0, 1, 2]


def test_zero_queries(rng):
    index = xmr.DenseIndex(4)
    index.add(normal(rng, (10, 4)))
    scores, ids = index.search(np.zeros((0, 4), np.float32), 3)
    assert scores.shape == (0, 3) and ids.shape == (0, 3)
    assert scores.dtype == np.float32 and ids.dtype == np.int64


def test_empty_index_search_is_invalid_argument(rng):
    # xmr/dense_index.h: search throws InvalidArgument on an empty index
    index = xmr.DenseIndex(4)
    with pytest.raises(xmr.InvalidArgumentError, match="empty"):
        index.search(normal(rng, (2, 4)), 3)
    index.add(normal(rng, (1, 4)))
    index.remove([0])
    with pytest.raises(xmr.InvalidArgumentError, match="empty"):
        index.search(normal(rng, (2, 4)), 3)
    assert index.size == 0


@pytest.mark.parametrize("storage", STORAGES)
def test_given_ids_remove_and_add_after_remove(rng, storage):
    d = 12
    base = normal(rng, (40, d))
    given = rng.choice(10_000, size=40, replace=False).astype(np.int64)
    index = xmr.DenseIndex(d, metric="ip", storage=storage)
    index.add(base, ids=given)
    np.testing.assert_array_equal(index.ids(), np.sort(given))
    gone = given[::3]
    index.remove(gone)
    keep = np.setdiff1d(np.arange(40), np.arange(0, 40, 3))
    extra = normal(rng, (5, d))
    extra_ids = np.array([20_000, 20_001, 20_002, 20_003, 20_004], dtype=np.int64)
    index.add(extra, ids=list(extra_ids))  # a list of ints is accepted
    all_base = np.concatenate([base[keep], extra])
    all_ids = np.concatenate([given[keep], extra_ids])
    assert index.size == len(all_ids)
    np.testing.assert_array_equal(index.ids(), np.sort(all_ids))
    queries = normal(rng, (6, d))
    ref_base = all_base.astype(np.float16) if storage == "float16" else all_base
    all_s = dense_scores(queries, ref_base, "ip")
    ref_s, ref_i = topk_desc(all_s, all_ids, 8)
    scores, ids = index.search(queries, 8)
    assert not np.isin(ids, gone).any()
    # fp16 storage rounds the queries to binary16 too (documented)
    assert_dense_matches(scores, ids, ref_s, ref_i, 1e-2 if storage == "float16" else 1e-4, all_s, all_ids)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("storage", STORAGES)
def test_rescore_equals_reference(rng, metric, storage):
    d = 16
    base = normal(rng, (30, d))
    index = xmr.DenseIndex(d, metric=metric, storage=storage)
    index.add(base)
    queries = normal(rng, (4, d))
    scores, ids = index.search(queries, 6)
    # rescore the search results, plus a padding slot
    cand = np.concatenate([ids, np.full((4, 1), -1, np.int64)], axis=1)
    rescored = index.rescore(queries, cand)
    assert rescored.shape == (4, 7) and rescored.dtype == np.float32
    # rescore accumulates in double (documented: may differ from search in the last bits)
    np.testing.assert_allclose(rescored[:, :6], scores, rtol=1e-6, atol=1e-6)
    assert np.all(np.isneginf(rescored[:, 6]))
    if storage == "float16":  # stored and queries rounded to binary16 (after normalising)
        prep = (lambda x: x / np.linalg.norm(x.astype(np.float64), axis=1, keepdims=True)) if metric == "cosine" else (lambda x: x)
        ref = prep(queries).astype(np.float16).astype(np.float64) @ prep(base).astype(np.float16).astype(np.float64).T
        tol = 1e-5 if metric == "cosine" else 1e-4
    else:
        ref = dense_scores(queries, base, metric)
        tol = 1e-6 if metric == "cosine" else 1e-5
    np.testing.assert_allclose(rescored[:, :6], np.take_along_axis(ref, ids, 1), atol=tol)


def test_float16_queries(rng):
    base = normal(rng, (50, 8))
    q32 = normal(rng, (3, 8))
    q16 = q32.astype(np.float16)
    index = xmr.DenseIndex(8, metric="ip")
    index.add(base)
    all_s = dense_scores(q16.astype(np.float32), base, "ip")
    ref_s, ref_i = topk_desc(all_s, np.arange(50), 5)
    scores, ids = index.search(q16, 5)
    assert_dense_matches(scores, ids, ref_s, ref_i, 1e-4, all_s, np.arange(50))


def test_properties_and_repr():
    index = xmr.DenseIndex(8, metric="ip", storage="float16")
    assert index.metric == xmr.Metric.INNER_PRODUCT
    assert index.storage == xmr.DType.FLOAT16
    assert "dim=8" in repr(index)
    with pytest.raises(xmr.InvalidArgumentError, match="metric"):
        xmr.DenseIndex(8, metric="l2")
