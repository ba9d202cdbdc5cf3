"""Retrieval metrics against NumPy references and hand-checked values."""

from __future__ import annotations

import numpy as np
import pytest

import xmr
from conftest import dense_scores, hamming_matrix, normal


def ap_all(order_rel: np.ndarray) -> float:
    r = order_rel.sum()
    if r == 0:
        return 0.0
    hits = np.cumsum(order_rel)
    pos = np.flatnonzero(order_rel) + 1
    return float(np.mean(hits[pos - 1] / pos))


def map_reference(keys: np.ndarray, ql, dl) -> np.ndarray:
    """keys [Q x N]: ascending key = better; ties by ascending index."""
    rel = (ql.astype(np.int64) @ dl.T.astype(np.int64)) > 0
    out = []
    for q in range(len(keys)):
        order = np.lexsort((np.arange(keys.shape[1]), keys[q]))
        out.append(ap_all(rel[q, order]))
    return np.array(out)


def labels(rng, n, c, p=0.25):
    return (rng.random((n, c)) < p).astype(np.uint8)


def test_map_hamming(rng):
    qc = rng.integers(0, 256, size=(20, 2), dtype=np.uint8)
    dc = rng.integers(0, 256, size=(150, 2), dtype=np.uint8)
    ql, dl = labels(rng, 20, 6), labels(rng, 150, 6)
    ql[0] = 0  # a query with nothing relevant scores 0 and counts
    r = xmr.map_hamming(qc, dc, ql, dl)
    ref = map_reference(hamming_matrix(qc, dc), ql, dl)
    np.testing.assert_allclose(r["per_query_ap"], ref, rtol=0, atol=1e-12)
    assert r["per_query_ap"][0] == 0
    assert r["map"] == pytest.approx(ref.mean(), abs=1e-12)
    assert r["queries"] == 20 and r["variant"] == "map_all" and r["tie_policy"] == "ascending_index"
    assert r["k"] is None


def test_map_dense_inner_product_exact_ties(rng):
    q = rng.integers(-2, 3, size=(15, 5)).astype(np.float32)
    d = rng.integers(-2, 3, size=(120, 5)).astype(np.float32)
    ql, dl = labels(rng, 15, 4), labels(rng, 120, 4)
    r = xmr.map_dense(q, d, "ip", ql, dl)
    ref = map_reference(-dense_scores(q, d, "ip"), ql, dl)
    np.testing.assert_allclose(r["per_query_ap"], ref, rtol=0, atol=1e-12)


def test_map_dense_cosine(rng):
    q, d = normal(rng, (10, 12)), normal(rng, (90, 12))
    ql, dl = labels(rng, 10, 5), labels(rng, 90, 5)
    r = xmr.map_dense(q, d, "cosine", ql, dl)
    ref = map_reference(-dense_scores(q, d, "cosine"), ql, dl)
    np.testing.assert_allclose(r["per_query_ap"], ref, rtol=0, atol=1e-12)


def test_map_options_rejected(rng):
    c = rng.integers(0, 256, size=(3, 1), dtype=np.uint8)
    lab = np.ones((3, 2), np.uint8)
    with pytest.raises(xmr.InvalidArgumentError, match="variant"):
        xmr.map_hamming(c, c, lab, lab, variant="nope")
    with pytest.raises(xmr.InvalidArgumentError):
        xmr.map_hamming(c, c, lab * 2, lab)  # labels must be 0/1


def test_recall_at_k_synthetic(rng):
    data = xmr.synthetic_cross_modal(num_images=60, captions_per_image=3, num_labels=8, dim=32, seed=5)
    images, texts = data["images"], data["texts"]
    assert images.shape == (60, 32) and texts.shape == (180, 32)
    np.testing.assert_array_equal(data["text_image"], np.repeat(np.arange(60), 3))
    r = xmr.recall_at_k(images, texts, captions_per_image=3)
    s = dense_scores(images, texts, "cosine")  # [I x T]
    # rank of an item: candidates scoring strictly higher, or equal with a smaller index
    def rank(row, j):
        return int(np.sum(row > row[j]) + np.sum(row[:j] == row[j]))

    i2t = np.array([min(rank(s[i], t) for t in range(3 * i, 3 * i + 3)) for i in range(60)])
    t2i = np.array([rank(s[:, t], t // 3) for t in range(180)])
    for k in (1, 5, 10):
        assert r[f"i2t_r{k}"] == pytest.approx(np.mean(i2t < k) * _scale(r), abs=1e-9)
        assert r[f"t2i_r{k}"] == pytest.approx(np.mean(t2i < k) * _scale(r), abs=1e-9)
    assert r["r_mean"] == pytest.approx((r["i2t_mean"] + r["t2i_mean"]) / 2)


def _scale(r):
    """Recall is documented as a fraction in the C++ API and as percent in the Python docstring."""
    return 100.0 if r["i2t_r10"] > 1.0 else 1.0


def test_recall_is_a_documented_unit():
    data = xmr.synthetic_cross_modal(num_images=30, captions_per_image=2, num_labels=4, dim=16, seed=1)
    r = xmr.recall_at_k(data["images"], data["texts"], captions_per_image=2)
    # xmr/eval.h: fractions in [0, 1]
    assert 0.0 <= r["i2t_r10"] <= 1.0


DB_LABELS = np.array([[1, 0], [0, 1], [1, 1]], np.uint8)
Q_LABELS = np.array([[1, 0], [1, 1]], np.uint8)
RANKED = np.array([[0, 1, 2], [2, -1, -1]], np.int64)


def test_precision_at_k_hand_checked():
    r = xmr.precision_at_k(RANKED, Q_LABELS, DB_LABELS, 2)
    np.testing.assert_allclose(r["per_query"], [0.5, 0.5])
    assert r["mean"] == pytest.approx(0.5) and r["metric"] == "precision_at_k" and r["k"] == 2
    r = xmr.precision_at_k(RANKED[:1], Q_LABELS[:1], DB_LABELS, 3)
    np.testing.assert_allclose(r["per_query"], [2 / 3])


def test_ndcg_at_k_hand_checked():
    r = xmr.ndcg_at_k(RANKED, Q_LABELS, DB_LABELS, 2)
    idcg0 = 1 + 1 / np.log2(3)
    idcg1 = 3 + 1 / np.log2(3)
    np.testing.assert_allclose(r["per_query"], [1 / idcg0, 3 / idcg1], rtol=1e-12)
    assert r["no_relevant_queries"] == 0


def test_neighbor_recall_hand_checked():
    ranked = np.array([[0, 1, 2], [2, 0, 1], [1, 2, 0]], np.int64)
    gt = np.array([[2, 5, -1], [0, -1, -1], [-1, -1, -1]], np.int64)
    r = xmr.neighbor_recall_at_k(ranked, gt, 2)
    assert r["per_query"][0] == 0 and r["per_query"][1] == 1 and np.isnan(r["per_query"][2])
    assert r["skipped_queries"] == 1 and r["queries"] == 2 and r["mean"] == pytest.approx(0.5)
    r = xmr.neighbor_recall_at_k(ranked[:1], gt[:1], 3)
    assert r["per_query"][0] == pytest.approx(0.5)


def test_pr_curve_hand_checked():
    q = np.array([[0x00]], np.uint8)
    db = np.array([[0x00], [0x01], [0x03], [0xFF]], np.uint8)
    ql = np.array([[1]], np.uint8)
    dl = np.array([[1], [0], [1], [1]], np.uint8)
    r = xmr.pr_curve_hamming(q, db, ql, dl)
    assert r["bits"] == 8 and len(r["precision"]) == 9
    exp_p = [1, 0.5] + [2 / 3] * 6 + [0.75]
    exp_r = [1 / 3, 1 / 3] + [2 / 3] * 6 + [1]
    np.testing.assert_allclose(r["precision"], exp_p, rtol=1e-12)
    np.testing.assert_allclose(r["recall"], exp_r, rtol=1e-12)
    np.testing.assert_allclose(r["pooled_precision"], exp_p, rtol=1e-12)
    np.testing.assert_array_equal(r["queries_with_hit"], 1)
