"""Shared NumPy references and helpers of the xmr Python tests.

Every reference is computed in float64 (dense) or exactly (Hamming), with xmr's result contract:
descending score / ascending distance, ties by ascending id, padding id -1 (score -inf or
distance 2^31 - 1).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import xmr

HAMMING_PAD = np.int32(2**31 - 1)


def rng_for(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.fixture
def rng(request) -> np.random.Generator:
    """A generator seeded from the test's name (stable across runs, printed on failure)."""
    seed = sum(ord(c) * (i + 1) for i, c in enumerate(request.node.name)) % (2**31)
    request.node.user_properties.append(("seed", seed))
    return np.random.default_rng(seed)


def dense_scores(queries, base, metric: str) -> np.ndarray:
    """[Q x N] float64 scores."""
    q = np.asarray(queries, dtype=np.float64)
    b = np.asarray(base, dtype=np.float64)
    if metric == "cosine":
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
        b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return q @ b.T


def topk_desc(scores: np.ndarray, ids: np.ndarray, k: int):
    """Top-k of each row by descending score, ties by ascending id; pads with (-inf, -1)."""
    q, n = scores.shape
    out_s = np.full((q, k), -np.inf)
    out_i = np.full((q, k), -1, dtype=np.int64)
    for r in range(q):
        order = np.lexsort((ids, -scores[r]))[:k]
        out_s[r, : len(order)] = scores[r, order]
        out_i[r, : len(order)] = ids[order]
    return out_s, out_i


def hamming_matrix(queries: np.ndarray, base: np.ndarray) -> np.ndarray:
    """[Q x N] int64 Hamming distances of packed codes (any bit order: popcount of XOR)."""
    qb = np.unpackbits(np.asarray(queries, dtype=np.uint8), axis=1, bitorder="little").astype(np.int64)
    bb = np.unpackbits(np.asarray(base, dtype=np.uint8), axis=1, bitorder="little").astype(np.int64)
    return (qb[:, None, :] != bb[None, :, :]).sum(axis=2)


def topk_asc(dist: np.ndarray, ids: np.ndarray, k: int):
    q, n = dist.shape
    out_d = np.full((q, k), HAMMING_PAD, dtype=np.int32)
    out_i = np.full((q, k), -1, dtype=np.int64)
    for r in range(q):
        order = np.lexsort((ids, dist[r]))[:k]
        out_d[r, : len(order)] = dist[r, order]
        out_i[r, : len(order)] = ids[order]
    return out_d, out_i


def assert_dense_matches(scores, ids, ref_scores, ref_ids, tol: float, all_scores=None, all_ids=None):
    """Scores within `tol` of the reference; ids equal wherever the reference score is more than
    `tol` away from its neighbours in the list (and from the first score outside it); each
    returned id's own reference score (when `all_scores` is given) within tol of its score."""
    scores = np.asarray(scores)
    ids = np.asarray(ids)
    assert scores.shape == ref_scores.shape, (scores.shape, ref_scores.shape)
    assert ids.shape == ref_ids.shape
    assert scores.dtype == np.float32
    assert ids.dtype == np.int64
    pad = ref_ids < 0
    np.testing.assert_array_equal(ids[pad], -1)
    assert np.all(np.isneginf(scores[pad]))
    np.testing.assert_allclose(scores[~pad], ref_scores[~pad], rtol=0, atol=tol)
    q, k = ref_scores.shape
    for r in range(q):
        row = ref_scores[r]
        valid = ~pad[r]
        # descending order of what was returned
        s = scores[r][valid]
        assert np.all(np.diff(s) <= 0), f"row {r} not descending: {s}"
        # the next score beyond the list, if any
        beyond = None
        if all_scores is not None and valid.all() and all_scores.shape[1] > k:
            beyond = np.sort(all_scores[r])[::-1][k]
        for j in range(k):
            if not valid[j]:
                continue
            gaps = []
            if j > 0:
                gaps.append(abs(row[j - 1] - row[j]))
            if j + 1 < k and valid[j + 1]:
                gaps.append(abs(row[j] - row[j + 1]))
            elif j + 1 == k and beyond is not None:
                gaps.append(abs(row[j] - beyond))
            if all(g > 2 * tol for g in gaps):
                assert ids[r, j] == ref_ids[r, j], f"row {r} pos {j}: id {ids[r, j]} != {ref_ids[r, j]}"
        if all_scores is not None and all_ids is not None:
            pos = {int(i): n for n, i in enumerate(all_ids)}
            got = ids[r][valid]
            assert len(set(got.tolist())) == len(got), f"row {r}: repeated ids {got}"
            own = np.array([all_scores[r, pos[int(i)]] for i in got])
            np.testing.assert_allclose(s, own, rtol=0, atol=tol)


def cli_path():
    path = os.environ.get("XMR_CLI")
    if not path:
        pytest.skip("XMR_CLI is not set (path of the xmr command-line tool; CTest sets it)")
    if not os.path.exists(path):
        pytest.skip(f"XMR_CLI={path} does not exist")
    return path


@pytest.fixture
def cli():
    return cli_path()


def normal(rng, shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)
