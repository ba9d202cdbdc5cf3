"""BinaryIndex against an exact NumPy popcount brute force; bit packing vs numpy.packbits."""

from __future__ import annotations

import numpy as np
import pytest

import xmr
from conftest import HAMMING_PAD, hamming_matrix, topk_asc


def random_codes(rng, n, bits):
    return rng.integers(0, 256, size=(n, bits // 8), dtype=np.uint8)


@pytest.mark.parametrize("bits", [8, 24, 40, 72])
@pytest.mark.parametrize("n,q,k", [(300, 9, 12), (1, 2, 1), (4, 3, 10)])
def test_search_exact(rng, bits, n, q, k):
    base = random_codes(rng, n, bits)
    queries = random_codes(rng, q, bits)
    index = xmr.BinaryIndex(bits)
    index.add(base)
    assert index.bits == bits and index.code_bytes == bits // 8 and index.size == n
    dist, ids = index.search(queries, k)
    assert dist.dtype == np.int32 and ids.dtype == np.int64
    ref_d, ref_i = topk_asc(hamming_matrix(queries, base), np.arange(n), k)
    np.testing.assert_array_equal(dist, ref_d)
    np.testing.assert_array_equal(ids, ref_i)


def test_ties_by_ascending_given_id(rng):
    # 8-bit codes over 500 items: many equal distances; ids given in shuffled order
    base = random_codes(rng, 500, 8)
    given = rng.permutation(1000)[:500].astype(np.int64)
    index = xmr.BinaryIndex(8)
    index.add(base, ids=given)
    queries = random_codes(rng, 5, 8)
    dist, ids = index.search(queries, 120)
    ref_d, ref_i = topk_asc(hamming_matrix(queries, base), given, 120)
    np.testing.assert_array_equal(dist, ref_d)
    np.testing.assert_array_equal(ids, ref_i)


def test_padding(rng):
    index = xmr.BinaryIndex(16)
    index.add(random_codes(rng, 2, 16))
    dist, ids = index.search(random_codes(rng, 1, 16), 4)
    np.testing.assert_array_equal(ids[0, 2:], [-1, -1])
    np.testing.assert_array_equal(dist[0, 2:], [HAMMING_PAD, HAMMING_PAD])


def test_remove_then_add(rng):
    base = random_codes(rng, 50, 24)
    index = xmr.BinaryIndex(24)
    index.add(base)
    index.remove(np.arange(0, 50, 2))
    more = random_codes(rng, 10, 24)
    index.add(more, ids=np.arange(100, 110))
    all_codes = np.concatenate([base[1::2], more])
    all_ids = np.concatenate([np.arange(1, 50, 2), np.arange(100, 110)])
    queries = random_codes(rng, 4, 24)
    dist, ids = index.search(queries, 15)
    ref_d, ref_i = topk_asc(hamming_matrix(queries, all_codes), all_ids, 15)
    np.testing.assert_array_equal(dist, ref_d)
    np.testing.assert_array_equal(ids, ref_i)


@pytest.mark.parametrize("bits", [8, 40])
def test_range_search(rng, bits):
    base = random_codes(rng, 200, bits)
    queries = random_codes(rng, 6, bits)
    index = xmr.BinaryIndex(bits)
    index.add(base)
    radius = bits // 2 - 2
    r = index.range_search(queries, radius, 1000)
    dm = hamming_matrix(queries, base)
    assert len(r) == 6 and r.radius == radius and r.max_results == 1000
    assert r.offsets[0] == 0 and len(r.offsets) == 7
    assert not r.any_truncated()
    for qi in range(6):
        lo, hi = r.offsets[qi], r.offsets[qi + 1]
        within = np.flatnonzero(dm[qi] <= radius)
        order = np.lexsort((within, dm[qi, within]))
        np.testing.assert_array_equal(r.ids[lo:hi], within[order])
        np.testing.assert_array_equal(r.distances[lo:hi], dm[qi, within[order]])
        assert r.num_within[qi] == len(within)


def test_range_search_truncates(rng):
    base = np.zeros((20, 1), np.uint8)
    index = xmr.BinaryIndex(8)
    index.add(base)
    r = index.range_search(np.zeros((1, 1), np.uint8), 0, 5)
    np.testing.assert_array_equal(r.ids, np.arange(5))
    assert r.num_within[0] == 20 and r.any_truncated()


@pytest.mark.parametrize("nbits", [8, 24, 72])
def test_pack_unpack_bits(rng, nbits):
    bits = rng.integers(0, 2, size=(7, nbits), dtype=np.uint8)
    packed = xmr.pack_bits(bits)
    np.testing.assert_array_equal(packed, np.packbits(bits, axis=1, bitorder="little"))
    np.testing.assert_array_equal(xmr.unpack_bits(packed), bits)
    np.testing.assert_array_equal(xmr.pack_bits(bits.astype(bool)), packed)


def test_pack_bits_rejects_partial_byte():
    with pytest.raises(xmr.InvalidArgumentError, match="bits"):
        xmr.pack_bits(np.zeros((2, 12), np.uint8))


def test_wrong_code_width(rng):
    index = xmr.BinaryIndex(16)
    index.add(random_codes(rng, 3, 16))
    with pytest.raises(xmr.InvalidArgumentError, match="queries|codes"):
        index.search(random_codes(rng, 2, 24), 1)
    with pytest.raises(xmr.InvalidArgumentError):
        index.add(random_codes(rng, 2, 24))
    assert index.size == 3
    with pytest.raises(TypeError, match="codes"):
        index.add(np.zeros((2, 2), np.float32))
