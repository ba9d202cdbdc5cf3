"""Cross-modal retrieval with xmr, end to end, notebook style (run it, or open it in an editor
that understands `# %%` cells).

No model is loaded: xmr.synthetic_cross_modal makes image and caption embeddings with the
structure of a real image-text data set (multi-label images, several captions each, a modality
gap). With a real model, put its embeddings where `data["images"]` / `data["texts"]` are used.

    python3 examples/python/cross_modal.py [--small]

Prints a short summary and exits non-zero when a sanity check fails.
"""

# %% Setup: data sizes and the synthetic data set
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import xmr

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--small", action="store_true", help="a small data set that runs in a few seconds (CTest)")
args = parser.parse_args()

NUM_IMAGES = 300 if args.small else 2000
CAPTIONS = 5
DIM = 64 if args.small else 256
BITS = 64
start = time.perf_counter()

data = xmr.synthetic_cross_modal(num_images=NUM_IMAGES, captions_per_image=CAPTIONS, num_labels=24, dim=DIM, seed=7)
images, texts = data["images"], data["texts"]  # [I x D], [I*5 x D] float32; captions of image i: rows 5i..5i+4
image_labels, text_labels = data["image_labels"], data["text_labels"]  # multi-hot uint8
text_image = data["text_image"]  # the image of each caption
failures: list[str] = []


def check(ok: bool, what: str) -> None:
    if not ok:
        failures.append(what)


# %% Binary codes that compare across modalities: cross-modal ITQ
# One model, two encoders: CCA of the paired rows (image i with each of its captions) to a shared
# BITS-dim space, then one rotation for both. Image codes and text codes are then comparable by
# Hamming distance, which makes a cheap first-stage shortlist.
cmitq = xmr.train_cross_modal_itq(images[text_image], texts, BITS, iterations=20, seed=0)
image_codes = cmitq.image.encode(images)  # [I x BITS/8] uint8
text_codes = cmitq.text.encode(texts)

# %% Two collections and the cross-modal index
# Each collection holds whatever its searches need: embeddings (exact re-score), codes (Hamming
# shortlist) and, for images, labels (filters, mAP). Ids default to row numbers.
image_coll = xmr.Collection("images", dim=DIM, code_bits=BITS, num_labels=image_labels.shape[1])
image_coll.add(embeddings=images, codes=image_codes, labels=image_labels)
text_coll = xmr.Collection("texts", dim=DIM, code_bits=BITS)
text_coll.add(embeddings=texts, codes=text_codes)
index = xmr.CrossModalIndex(image_coll, text_coll)  # takes both over; the handles stay usable

# %% Searches by ids (stored items as queries) in both directions
K = 10
i2t = index.search("i2t", np.arange(NUM_IMAGES), k=K, candidates=50)  # each image -> captions
t2i = index.search("t2i", np.arange(len(texts)), k=K, candidates=50)  # each caption -> images
# A caption is a hit for image i when it is one of i's captions.
i2t_hit = (i2t.ids // CAPTIONS) == np.arange(NUM_IMAGES)[:, None]
t2i_hit = t2i.ids == text_image[:, None]
recall = {
    f"{name}_r{k}": 100.0 * hits[:, :k].any(axis=1).mean()
    for name, hits in (("i2t", i2t_hit), ("t2i", t2i_hit))
    for k in (1, 5, 10)
}

# %% The same numbers from xmr's metric (the Flickr30K/COCO protocol, exact over everything)
ref = xmr.recall_at_k(images, texts, captions_per_image=CAPTIONS)  # fractions in [0, 1]
for key in ("i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10"):
    # the index searched a 50-candidate shortlist of the same scores: the same hits
    check(abs(recall[key] - 100.0 * ref[key]) < 1e-6, f"{key}: index {recall[key]:.2f} vs metric {100 * ref[key]:.2f}")

# %% New queries: vectors that are in no collection (e.g. a user's query, embedded just now)
# (here: three stored captions, rescaled — under cosine the same queries as by their ids)
new_captions = 3.0 * texts[:3]
found = index.search("t2i", embeddings=new_captions, k=5, candidates=50)
check(bool((found.ids[:, 0] == t2i.ids[:3, 0]).all()), "new vectors rank as the stored captions do")
new_images = index.search("i2t", embeddings=images[:2], k=5, candidates=50)
check(bool((new_images.ids[:, 0] == i2t.ids[:2, 0]).all()), "new image vectors rank as the stored images do")

# %% Two-stage: Hamming shortlist -> exact re-score -> a (toy) re-rank model, fused by sum
# Stage 1 takes 50 images per caption by code distance, stage 2 re-scores them with the
# embeddings, stage 3 calls a Python function on (caption, image) pairs in batches (here: a bonus
# for images sharing a label with the caption, standing in for an ITM head), and "sum" adds the
# re-rank score to the re-score (BLIP-2: ITM + ITC).
seen_pairs = 0


def toy_reranker(batch: xmr.PairBatch) -> np.ndarray:
    global seen_pairs
    seen_pairs += len(batch)
    q_labels = text_labels[batch.query_ids]  # query_ids: the caption ids (search by ids)
    c_labels = image_labels[batch.candidate_ids]
    shared = (q_labels & c_labels).sum(axis=1)
    return 0.05 * np.minimum(shared, 1).astype(np.float32)


queries = np.arange(0, len(texts), 7)
staged = index.search(
    "t2i", queries, k=K, candidates=50, shortlist="codes", rescore="embeddings",
    scorer=toy_reranker, fusion="sum",
)
check(seen_pairs == len(queries) * 50, f"the re-ranker saw every shortlisted pair ({seen_pairs})")
check(bool(np.allclose(staged.scores, staged.rescore_scores + staged.rerank_scores, atol=1e-6)), "sum fusion")
staged_r10 = 100.0 * (staged.ids == text_image[queries][:, None]).any(axis=1).mean()
hamming_only = index.search("t2i", queries, k=K, candidates=K, shortlist="codes")
hamming_r10 = 100.0 * (hamming_only.ids == text_image[queries][:, None]).any(axis=1).mean()

# %% mAP: label-based relevance over Hamming and dense rankings (text -> image)
map_codes = xmr.map_hamming(text_codes, image_codes, text_labels, image_labels)["map"]
map_dense = xmr.map_dense(texts, images, "cosine", text_labels, image_labels)["map"]

# %% Save and load an index: a BinaryIndex of the image codes with its labels and the binariser
with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "images.xmr"
    codes_index = xmr.BinaryIndex(BITS)
    codes_index.add(image_codes)
    codes_index.save(path, labels=image_labels, cross_modal_binarizer=cmitq)
    loaded, extras = xmr.BinaryIndex.load(path, mmap=True, return_extras=True)
    # Encode new captions with the stored text encoder and search the loaded index.
    q = extras.cross_modal_binarizer.text.encode(texts[:20])
    before = codes_index.search(q, K)
    after = loaded.search(q, K)
    check(all(np.array_equal(a, b) for a, b in zip(before, after)), "save/load gives identical results")
    check(bool(np.array_equal(extras.labels, image_labels)), "labels round trip")

# %% Summary and sanity checks
R10_FLOOR = 50.0  # the synthetic data set is far easier than this
check(recall["i2t_r10"] > R10_FLOOR and recall["t2i_r10"] > R10_FLOOR, f"R@10 above {R10_FLOOR}")
check(staged_r10 >= hamming_r10, f"re-scoring does not lose hits ({staged_r10:.1f} vs {hamming_r10:.1f})")
check(map_dense > map_codes * 0.9 and map_codes > 0.0, "mAP")

print(f"xmr {xmr.__version__}: {NUM_IMAGES} images, {len(texts)} captions, dim {DIM}, {BITS}-bit codes")
print("recall (%)  " + "  ".join(f"{k}={v:.1f}" for k, v in recall.items()))
print(f"t2i R@10: Hamming only {hamming_r10:.1f}, two-stage + re-rank {staged_r10:.1f}")
print(f"mAP t2i: Hamming {map_codes:.4f}, dense {map_dense:.4f}")
print(f"{time.perf_counter() - start:.2f} s; {'OK' if not failures else 'FAILED: ' + '; '.join(failures)}")
sys.exit(1 if failures else 0)
