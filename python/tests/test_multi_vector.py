"""MultiVectorIndex (MaxSim, sum-of-max) against a NumPy brute force, both input forms."""

from __future__ import annotations

import numpy as np
import pytest

import xmr
from conftest import assert_dense_matches, normal, topk_desc


def make_items(rng, n, d, lo=1, hi=5):
    return [normal(rng, (int(rng.integers(lo, hi + 1)), d)) for _ in range(n)]


def mv_scores(queries, items, metric, reduce):
    def prep(x):
        x = x.astype(np.float64)
        return x / np.linalg.norm(x, axis=1, keepdims=True) if metric == "cosine" else x

    out = np.empty((len(queries), len(items)))
    for qi, q in enumerate(queries):
        for ii, it in enumerate(items):
            s = prep(q) @ prep(it).T
            out[qi, ii] = s.max() if reduce == "maxsim" else s.max(axis=1).sum()
    return out


def to_flat(items):
    offsets = np.concatenate([[0], np.cumsum([len(x) for x in items])]).astype(np.int64)
    return np.concatenate(items), offsets


@pytest.mark.parametrize("metric", ["cosine", "ip"])
@pytest.mark.parametrize("reduce", ["maxsim", "sum_max_sim"])
@pytest.mark.parametrize("form", ["list", "flat"])
def test_search_matches_brute_force(rng, metric, reduce, form):
    d = 12
    items = make_items(rng, 40, d)
    queries = make_items(rng, 5, d, 1, 4)
    index = xmr.MultiVectorIndex(d, metric=metric)
    if form == "list":
        index.add(items)
        scores, ids = index.search(queries, 8, reduce=reduce)
    else:
        v, off = to_flat(items)
        index.add(v, off)
        qv, qoff = to_flat(queries)
        scores, ids = index.search(qv, 8, offsets=qoff, reduce=reduce)
    assert index.size == 40 and index.num_vectors == sum(len(x) for x in items)
    all_s = mv_scores(queries, items, metric, reduce)
    ref_s, ref_i = topk_desc(all_s, np.arange(40), 8)
    assert_dense_matches(scores, ids, ref_s, ref_i, 1e-4, all_s, np.arange(40))


def test_given_ids_padding_rescore_reconstruct(rng):
    d = 6
    items = make_items(rng, 3, d)
    index = xmr.MultiVectorIndex(d, metric="cosine")
    index.add(items, ids=[7, 3, 11])
    np.testing.assert_array_equal(index.ids(), [3, 7, 11])
    queries = make_items(rng, 2, d)
    scores, ids = index.search(queries, 5, reduce="sum_max_sim")
    np.testing.assert_array_equal(ids[:, 3:], -1)
    assert np.all(np.isneginf(scores[:, 3:]))
    all_s = mv_scores(queries, items, "cosine", "sum_max_sim")
    ref_s, ref_i = topk_desc(all_s, np.array([7, 3, 11]), 5)
    assert_dense_matches(scores, ids, ref_s, ref_i, 1e-4)
    resc = index.rescore(queries, ids, reduce="sum_max_sim")
    # accumulated in double (documented): the reference's value, search's up to float rounding
    col = {7: 0, 3: 1, 11: 2}
    own = np.array([[all_s[q, col[int(i)]] for i in ids[q, :3]] for q in range(2)])
    np.testing.assert_allclose(resc[:, :3], own, rtol=0, atol=1e-6)
    np.testing.assert_allclose(resc[:, :3], scores[:, :3], rtol=1e-6, atol=1e-6)
    assert np.all(np.isneginf(resc[:, 3:]))
    v, off = index.reconstruct([3])
    np.testing.assert_array_equal(off, [0, len(items[1])])
    ref = items[1] / np.linalg.norm(items[1], axis=1, keepdims=True)
    np.testing.assert_allclose(v, ref, atol=1e-6)
    index.remove([7])
    assert index.size == 2
    scores2, ids2 = index.search(queries, 2)
    assert 7 not in ids2


def test_offsets_with_list_is_type_error(rng):
    index = xmr.MultiVectorIndex(4)
    with pytest.raises(TypeError, match="offsets"):
        index.add([normal(rng, (2, 4))], np.array([0, 2]))
    assert index.size == 0
