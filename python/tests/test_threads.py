"""Concurrent searches from Python threads, and the GIL released while xmr works."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import xmr
from conftest import normal


def test_eight_threads_match_serial(rng):
    dense = xmr.DenseIndex(32, metric="cosine")
    dense.add(normal(rng, (3000, 32)))
    binary = xmr.BinaryIndex(64)
    binary.add(rng.integers(0, 256, size=(3000, 8), dtype=np.uint8))
    dq = [normal(rng, (20, 32)) for _ in range(16)]
    bq = [rng.integers(0, 256, size=(20, 8), dtype=np.uint8) for _ in range(16)]
    serial = [(dense.search(a, 10), binary.search(b, 10)) for a, b in zip(dq, bq)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(lambda a, b: (dense.search(a, 10), binary.search(b, 10)), a, b) for a, b in zip(dq, bq)]
        parallel = [f.result() for f in futures]
    for (sd, sb), (pd, pb) in zip(serial, parallel):
        for x, y in zip(sd + sb, pd + pb):
            np.testing.assert_array_equal(x, y)


def test_search_releases_the_gil(rng):
    """While one thread is inside a long search, another Python thread keeps running: the
    longest pause of its loop during the search is a small part of the search's duration (with
    the GIL held it would be the whole search)."""
    index = xmr.BinaryIndex(64)
    index.add(rng.integers(0, 256, size=(1_000_000, 8), dtype=np.uint8))
    queries = rng.integers(0, 256, size=(8, 8), dtype=np.uint8)
    # Grow the batch until one search takes long enough to observe (>= 0.15 s).
    while True:
        t0 = time.perf_counter()
        index.search(queries, 5)
        if time.perf_counter() - t0 >= 0.15 or len(queries) >= 4096:
            break
        queries = np.concatenate([queries, queries])

    results = []
    for _attempt in range(3):
        ticks: list[float] = []
        stop = threading.Event()

        def count():
            while not stop.is_set():
                ticks.append(time.perf_counter())

        counter = threading.Thread(target=count)
        counter.start()
        while not ticks:  # the counter is running
            time.sleep(0.001)
        box = {}

        def searcher():
            box["t0"] = time.perf_counter()
            index.search(queries, 5)
            box["t1"] = time.perf_counter()

        s = threading.Thread(target=searcher)
        s.start()
        s.join()
        stop.set()
        counter.join()
        t0, t1 = box["t0"], box["t1"]
        inside = [t for t in ticks if t0 < t < t1]
        points = [t0, *inside, t1]
        max_gap = max(b - a for a, b in zip(points, points[1:]))
        results.append((max_gap, t1 - t0, len(inside)))
        if max_gap < 0.5 * (t1 - t0):
            return
    raise AssertionError(f"the counting thread stalled during every search: (max gap, search s, ticks) = {results}")


def test_pipeline_from_threads(rng):
    coll = xmr.Collection("c", dim=16)
    coll.add(embeddings=normal(rng, (500, 16)))
    qs = [normal(rng, (5, 16)) for _ in range(8)]
    serial = [xmr.retrieve(coll, embeddings=q, k=5, candidates=20).ids for q in qs]
    with ThreadPoolExecutor(max_workers=8) as pool:
        par = list(pool.map(lambda q: xmr.retrieve(coll, embeddings=q, k=5, candidates=20).ids, qs))
    for a, b in zip(serial, par):
        np.testing.assert_array_equal(a, b)
