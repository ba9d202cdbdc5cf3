"""Collections, retrieve (shortlist -> re-score -> Python scorer -> fusion, filters, group_by) and
CrossModalIndex, against NumPy references."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import xmr
from conftest import assert_dense_matches, dense_scores, hamming_matrix, normal, topk_asc, topk_desc

D = 16
BITS = 32
L = 4
MV = 8


def mv_maxsim(queries, items):
    def n(x):
        x = x.astype(np.float64)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    return np.array([[(n(q) @ n(it).T).max() for it in items] for q in queries])


@pytest.fixture
def data(rng):
    n = 120
    emb = normal(rng, (n, D))
    codes = rng.integers(0, 256, size=(n, BITS // 8), dtype=np.uint8)
    labels = (rng.random((n, L)) < 0.3).astype(np.uint8)
    groups = rng.integers(0, 30, size=n).astype(np.int64)
    items = [normal(rng, (int(rng.integers(1, 4)), MV)) for _ in range(n)]
    ids = np.arange(n, dtype=np.int64) * 3 + 1  # not row numbers
    coll = xmr.Collection("items", dim=D, code_bits=BITS, num_labels=L, groups=True, multi_vector_dim=MV)
    coll.add(ids=ids, embeddings=emb, codes=codes, labels=labels, groups=groups, vectors=items)
    return dict(coll=coll, emb=emb, codes=codes, labels=labels, groups=groups, items=items, ids=ids, n=n)


def test_collection_read_back(data):
    c = data["coll"]
    assert c.size == data["n"] and len(c) == data["n"] and c.name == "items"
    assert c.dim == D and c.code_bits == BITS and c.num_labels == L and c.has_groups and not c.paired
    np.testing.assert_array_equal(c.ids(), data["ids"])
    some = data["ids"][[5, 0, 7]]
    np.testing.assert_array_equal(c.codes_of(some), data["codes"][[5, 0, 7]])
    np.testing.assert_array_equal(c.labels_of(some), data["labels"][[5, 0, 7]])
    np.testing.assert_array_equal(c.groups_of(some), data["groups"][[5, 0, 7]])
    e = data["emb"][[5, 0, 7]]
    np.testing.assert_allclose(c.embeddings_of(some), e / np.linalg.norm(e, axis=1, keepdims=True), atol=1e-6)
    assert int(data["ids"][3]) in c and 0 not in c


def test_shortlist_by_embeddings(rng, data):
    q = normal(rng, (6, D))
    r = xmr.retrieve(data["coll"], embeddings=q, k=7, candidates=20)
    all_s = dense_scores(q, data["emb"], "cosine")
    ref_s, ref_i = topk_desc(all_s, data["ids"], 7)
    assert_dense_matches(r.scores, r.ids, ref_s, ref_i, 1e-5, all_s, data["ids"])
    np.testing.assert_array_equal(r.shortlist_scores, r.scores)
    assert r.rescore_scores is None and r.rerank_scores is None and r.groups is None
    assert r.stats["shortlisted"] == 6 * 20 and r.device == xmr.Device.CPU


def test_shortlist_by_codes_then_rescore(rng, data):
    qc = rng.integers(0, 256, size=(5, BITS // 8), dtype=np.uint8)
    qe = normal(rng, (5, D))
    # Hamming shortlist alone: score 1 - 2 d / B, order of the Hamming brute force
    r = xmr.retrieve(data["coll"], codes=qc, k=10, candidates=10, shortlist="codes")
    ref_d, ref_i = topk_asc(hamming_matrix(qc, data["codes"]), data["ids"], 10)
    np.testing.assert_array_equal(r.ids, ref_i)
    np.testing.assert_array_equal(r.scores, (1 - 2 * ref_d / BITS).astype(np.float32))
    # + exact re-score of those C candidates by the embeddings
    c = 25
    r = xmr.retrieve(data["coll"], codes=qc, embeddings=qe, k=6, candidates=c, shortlist="codes", rescore="embeddings")
    _, cand = topk_asc(hamming_matrix(qc, data["codes"]), data["ids"], c)
    full = dense_scores(qe, data["emb"], "cosine")
    row_of = {int(i): p for p, i in enumerate(data["ids"])}
    for qi in range(5):
        sub = np.array([full[qi, row_of[int(i)]] for i in cand[qi]])
        ref_s, ref_i = topk_desc(sub[None], cand[qi], 6)
        assert_dense_matches(r.scores[qi : qi + 1], r.ids[qi : qi + 1], ref_s, ref_i, 1e-5)
    np.testing.assert_array_equal(r.rescore_scores, r.scores)


def test_shortlist_by_multi_vector(rng, data):
    queries = [normal(rng, (2, MV)) for _ in range(4)]
    r = xmr.retrieve(data["coll"], vectors=queries, k=5, candidates=10, shortlist="multi_vector")
    all_s = mv_maxsim(queries, data["items"])
    ref_s, ref_i = topk_desc(all_s, data["ids"], 5)
    assert_dense_matches(r.scores, r.ids, ref_s, ref_i, 1e-5, all_s, data["ids"])


class Recorder:
    """A scorer that records the pairs it sees and scores a pair by a fixed function of its id."""

    def __init__(self, fn=lambda qrow, cid, sim: -(cid % 17) + 0.01 * qrow):
        self.fn = fn
        self.pairs = []
        self.lock = threading.Lock()

    def __call__(self, batch):
        assert isinstance(batch, xmr.PairBatch)
        assert batch.candidate_ids.dtype == np.int64 and batch.similarity.dtype == np.float32
        assert len(batch) == len(batch.candidate_ids) == len(batch.query_rows) == len(batch.query_ids)
        with self.lock:
            for row, qid, cid, sim in zip(batch.query_rows, batch.query_ids, batch.candidate_ids, batch.similarity):
                self.pairs.append((int(row), int(qid), int(cid), float(sim)))
        return np.array([self.fn(r, c, s) for r, c, s in zip(batch.query_rows, batch.candidate_ids, batch.similarity)],
                        dtype=np.float32)


@pytest.mark.parametrize("threads", [1, 2])
def test_scorer_sees_the_shortlist_and_orders_the_result(rng, data, threads):
    q = normal(rng, (4, D))
    c, k = 15, 6
    short = xmr.retrieve(data["coll"], embeddings=q, k=c, candidates=c)
    rec = Recorder()
    r = xmr.retrieve(data["coll"], embeddings=q, k=k, candidates=c, scorer=rec, scorer_batch=7,
                     scorer_threads=threads)
    got = sorted((p[0], p[2]) for p in rec.pairs)
    want = sorted((qi, int(i)) for qi in range(4) for i in short.ids[qi])
    assert got == want
    sim = {(p[0], p[2]): p[3] for p in rec.pairs}
    for qi in range(4):
        for j, i in enumerate(short.ids[qi]):
            assert sim[(qi, int(i))] == short.scores[qi, j]  # stage-1 score as the similarity
        assert all(p[1] == -1 for p in rec.pairs)  # no query ids given
    assert r.stats["reranked"] == 4 * c and r.stats["scorer_calls"] >= int(np.ceil(4 * c / 7))
    for qi in range(4):
        cand = short.ids[qi]
        s = np.array([rec.fn(qi, int(i), 0) for i in cand], dtype=np.float32).astype(np.float64)
        ref_s, ref_i = topk_desc(s[None], cand, k)
        np.testing.assert_array_equal(r.ids[qi], ref_i[0])  # replace: the scorer's order, ties by id
        np.testing.assert_array_equal(r.scores[qi], ref_s[0].astype(np.float32))
        np.testing.assert_array_equal(r.rerank_scores[qi], r.scores[qi])


def test_fusion_sum_and_weighted(rng, data):
    q = normal(rng, (3, D))
    c, k = 12, 5
    short = xmr.retrieve(data["coll"], embeddings=q, k=c, candidates=c)
    fn = lambda qrow, cid, sim: float((cid * 7) % 11) / 10.0  # noqa: E731
    for fusion, weights in (("sum", None), ("weighted", (0.5, 0.0, 2.0))):
        r = xmr.retrieve(data["coll"], embeddings=q, k=k, candidates=c, scorer=Recorder(fn), fusion=fusion,
                         weights=weights)
        for qi in range(3):
            cand, s1 = short.ids[qi], short.scores[qi].astype(np.float64)
            s3 = np.array([np.float32(fn(qi, int(i), 0)) for i in cand], dtype=np.float64)
            fused = s1 + s3 if fusion == "sum" else 0.5 * s1 + 2.0 * s3
            ref_s, ref_i = topk_desc(fused[None], cand, k)
            assert_dense_matches(r.scores[qi : qi + 1], r.ids[qi : qi + 1], ref_s, ref_i, 1e-5)
            np.testing.assert_allclose(r.rerank_scores[qi], [fn(qi, int(i), 0) for i in r.ids[qi]], atol=1e-6)
    with pytest.raises(xmr.InvalidArgumentError, match="weights"):
        xmr.retrieve(data["coll"], embeddings=q, k=2, candidates=4, fusion="weighted", weights=(1, 2))


def test_filters(rng, data):
    q = normal(rng, (5, D))
    all_s = dense_scores(q, data["emb"], "cosine")
    lab = data["labels"]
    cases = {
        "any": (dict(any_labels=[1, 3]), (lab[:, 1] | lab[:, 3]) > 0),
        "all": (dict(all_labels=[0, 2]), (lab[:, 0] & lab[:, 2]) > 0),
        "ids": (dict(allowed_ids=data["ids"][::4].tolist()), np.arange(data["n"]) % 4 == 0),
        "none": (dict(allowed_ids=[]), np.zeros(data["n"], bool)),
    }
    for name, (kw, mask) in cases.items():
        r = xmr.retrieve(data["coll"], embeddings=q, k=6, candidates=30, **kw)
        ref_s, ref_i = topk_desc(all_s[:, mask], data["ids"][mask], 6)
        assert_dense_matches(r.scores, r.ids, ref_s, ref_i, 1e-5, all_s[:, mask], data["ids"][mask])
        assert r.stats["filtered_items"] == int(mask.sum()), name


def test_group_by(rng, data):
    q = normal(rng, (3, D))
    k = 5
    r = xmr.retrieve(data["coll"], embeddings=q, k=k, candidates=data["n"], group_by=True)
    all_s = dense_scores(q, data["emb"], "cosine")
    for qi in range(3):
        order = np.lexsort((data["ids"], -all_s[qi]))
        seen, want_ids, want_groups = set(), [], []
        for p in order:
            g = int(data["groups"][p])
            if g not in seen:
                seen.add(g)
                want_ids.append(int(data["ids"][p]))
                want_groups.append(g)
            if len(want_ids) == k:
                break
        np.testing.assert_array_equal(r.ids[qi], want_ids)
        np.testing.assert_array_equal(r.groups[qi], want_groups)


def test_scorer_errors(rng, data):
    q = normal(rng, (2, D))

    class Boom(Exception):
        pass

    def raising(batch):
        raise Boom("scorer failed on purpose")

    with pytest.raises(xmr.CallbackError) as e:
        xmr.retrieve(data["coll"], embeddings=q, k=3, candidates=8, scorer=raising)
    assert isinstance(e.value.__cause__, Boom)
    with pytest.raises(xmr.CallbackError):
        xmr.retrieve(data["coll"], embeddings=q, k=3, candidates=8, scorer=lambda b: np.zeros(len(b) + 1))
    with pytest.raises(xmr.CallbackError):
        xmr.retrieve(data["coll"], embeddings=q, k=3, candidates=8, scorer=lambda b: np.full(len(b), np.nan))
    with pytest.raises(TypeError, match="scorer"):
        xmr.retrieve(data["coll"], embeddings=q, k=3, candidates=8, scorer=5)
    with pytest.raises(TypeError, match="nope"):
        xmr.retrieve(data["coll"], embeddings=q, nope=1)
    # the collection still answers
    r = xmr.retrieve(data["coll"], embeddings=q, k=3, candidates=8)
    assert r.ids.shape == (2, 3) and (r.ids >= 0).all()


def make_pair(rng, n_img=40, caps=2):
    img = normal(rng, (n_img, D))
    txt = np.repeat(img, caps, axis=0) + 0.3 * normal(rng, (n_img * caps, D))
    images = xmr.Collection("images", dim=D)
    texts = xmr.Collection("texts", dim=D)
    images.add(embeddings=img)
    texts.add(embeddings=txt)
    return images, texts, img, txt


def test_cross_modal_index_both_directions(rng):
    images, texts, img, txt = make_pair(rng)
    cm = xmr.CrossModalIndex(images, texts)
    assert images.paired and texts.paired and cm.images is images and cm.texts is texts
    qid = np.array([3, 0, 17])
    r = cm.search("i2t", qid, k=4, candidates=10)
    all_s = dense_scores(img[qid], txt, "cosine")
    ref_s, ref_i = topk_desc(all_s, np.arange(len(txt)), 4)
    assert_dense_matches(r.scores, r.ids, ref_s, ref_i, 1e-5, all_s, np.arange(len(txt)))
    r = cm.search(xmr.Direction.TEXT_TO_IMAGE, [5, 6], k=3, candidates=10)
    all_s = dense_scores(txt[[5, 6]], img, "cosine")
    ref_s, ref_i = topk_desc(all_s, np.arange(len(img)), 3)
    assert_dense_matches(r.scores, r.ids, ref_s, ref_i, 1e-5, all_s, np.arange(len(img)))
    newq = normal(rng, (2, D))
    r = cm.search("t2i", embeddings=newq, k=3, candidates=10)
    all_s = dense_scores(newq, img, "cosine")
    ref_s, ref_i = topk_desc(all_s, np.arange(len(img)), 3)
    assert_dense_matches(r.scores, r.ids, ref_s, ref_i, 1e-5, all_s, np.arange(len(img)))
    # query ids with new vectors only reach the scorer
    rec = Recorder()
    cm.search("i2t", [8, 9], embeddings=normal(rng, (2, D)), k=2, candidates=4, scorer=rec)
    assert sorted({p[1] for p in rec.pairs}) == [8, 9]
    with pytest.raises(TypeError):
        cm.search("i2t")
    with pytest.raises(xmr.InvalidArgumentError, match="direction"):
        cm.search("sideways", [0])


def test_collections_usable_after_pairing(rng):
    images, texts, img, txt = make_pair(rng)
    cm = xmr.CrossModalIndex(images, texts)
    extra = normal(rng, (1, D))
    texts.add(ids=[1000], embeddings=extra)
    assert texts.size == len(txt) + 1 and 1000 in cm.texts
    r = cm.search("i2t", embeddings=extra, k=1, candidates=4)
    assert r.ids[0, 0] == 1000
    images.remove([0])
    r = cm.search("t2i", [0, 1], k=len(img), candidates=len(img))
    assert 0 not in r.ids
    with pytest.raises(xmr.InvalidArgumentError):
        cm.search("i2t", [0])  # removed image id
    r = xmr.retrieve(images, embeddings=img[5:6], k=1, candidates=2)  # retrieve on a paired collection
    assert r.ids[0, 0] == 5


def test_pairing_twice_is_an_error_and_leaves_collections_whole(rng):
    images, texts, img, txt = make_pair(rng)
    other = xmr.Collection("other", dim=D)
    other.add(embeddings=txt[:5])
    with pytest.raises(xmr.InvalidArgumentError, match="same"):
        xmr.CrossModalIndex(images, images)
    assert images.size == len(img) and not images.paired
    cm = xmr.CrossModalIndex(images, texts)
    with pytest.raises(xmr.InvalidArgumentError, match="already paired"):
        xmr.CrossModalIndex(images, other)
    with pytest.raises(xmr.InvalidArgumentError, match="already paired"):
        xmr.CrossModalIndex(other, texts)
    assert other.size == 5 and not other.paired and images.size == len(img)
    r = xmr.retrieve(other, embeddings=txt[2:3], k=1, candidates=2)
    assert r.ids[0, 0] == 2
    r = cm.search("i2t", [1], k=2, candidates=4)
    assert r.ids.shape == (1, 2)


def test_collection_add_errors_leave_it_unchanged(rng, data):
    c = data["coll"]
    n = c.size
    with pytest.raises(xmr.InvalidArgumentError):
        c.add(embeddings=normal(rng, (2, D)))  # codes, labels, groups, vectors missing
    with pytest.raises(TypeError, match="bogus"):
        c.add(bogus=1)
    bad = normal(rng, (1, D))
    bad[0, 0] = np.nan
    with pytest.raises(xmr.InvalidArgumentError, match="embeddings"):
        c.add(embeddings=bad, codes=data["codes"][:1], labels=data["labels"][:1], groups=[0], vectors=data["items"][:1])
    assert c.size == n
    np.testing.assert_array_equal(c.ids(), data["ids"])


def test_unknown_keywords_are_type_errors():
    collection = xmr.Collection("texts", dim=D)
    with pytest.raises(TypeError, match="add\\(\\) got an unexpected keyword argument 'embedding'"):
        collection.add(embedding=np.ones((1, D), np.float32))
    assert collection.size == 0
    collection.add(embeddings=np.ones((1, D), np.float32))
    with pytest.raises(TypeError, match="retrieve\\(\\) got an unexpected keyword argument 'kk'"):
        xmr.retrieve(collection, embeddings=np.ones((1, D), np.float32), kk=3)
