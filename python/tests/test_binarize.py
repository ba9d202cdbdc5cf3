"""Binarisers: codes equal packbits([(x - mean) @ W > threshold]) recomputed in NumPy from each
binariser's own parameters; save / load / bytes round trips give identical codes."""

from __future__ import annotations

import numpy as np
import pytest

import xmr
from conftest import normal


def numpy_codes(bz, x):
    """(codes, near): near marks bits whose projection is within rounding of its threshold."""
    mean = np.asarray(bz.mean, dtype=np.float64)
    w = np.asarray(bz.projection, dtype=np.float64)
    thr = np.asarray(bz.thresholds, dtype=np.float64)
    assert w.shape == (bz.dim, bz.bits) and mean.shape == (bz.dim,) and thr.shape == (bz.bits,)
    proj = (x.astype(np.float64) - mean) @ w
    bits = (proj > thr).astype(np.uint8)
    near = np.abs(proj - thr) < 1e-9 * (1 + np.abs(proj))
    return np.packbits(bits, axis=1, bitorder="little"), bits, near


def assert_codes(bz, x):
    codes = bz.encode(x)
    assert codes.shape == (len(x), bz.bits // 8) and codes.dtype == np.uint8
    ref, ref_bits, near = numpy_codes(bz, x)
    got_bits = np.unpackbits(codes, axis=1, bitorder="little")
    mismatch = (got_bits != ref_bits) & ~near
    assert not mismatch.any(), f"{mismatch.sum()} bits differ from the NumPy recomputation"
    if not near.any():
        np.testing.assert_array_equal(codes, ref)
    return codes


def round_trips(bz, x, tmp_path):
    codes = bz.encode(x)
    path = tmp_path / f"{bz.kind}.xmrb"
    bz.save(path)
    for other in (xmr.Binarizer.load(path), xmr.Binarizer.from_bytes(bz.to_bytes())):
        assert (other.kind, other.dim, other.bits) == (bz.kind, bz.dim, bz.bits)
        np.testing.assert_array_equal(other.encode(x), codes)
    assert path.read_bytes() == bz.to_bytes()


def test_sign(rng, tmp_path):
    x = normal(rng, (50, 24))
    x[0, :3] = 0.0  # bit = [x > 0]: zero is 0
    bz = xmr.Binarizer.sign(24)
    assert bz.kind == "sign" and bz.bits == 24
    codes = assert_codes(bz, x)
    np.testing.assert_array_equal(codes, np.packbits(x > 0, axis=1, bitorder="little"))
    np.testing.assert_array_equal(bz.projection, np.eye(24, dtype=np.float32))
    round_trips(bz, x, tmp_path)


@pytest.mark.parametrize("n", [41, 40])
def test_sign_median(rng, tmp_path, n):
    train = normal(rng, (n, 16))
    bz = xmr.Binarizer.sign_median(train)
    med = np.median(train.astype(np.float64), axis=0).astype(np.float32)
    np.testing.assert_array_equal(bz.thresholds, med)
    x = normal(rng, (30, 16))
    assert_codes(bz, x)
    np.testing.assert_array_equal(bz.encode(x), np.packbits(x > med, axis=1, bitorder="little"))
    round_trips(bz, x, tmp_path)


def test_lsh_with_dim(rng, tmp_path):
    bz = xmr.Binarizer.lsh(40, dim=10, seed=7)
    assert bz.kind == "lsh" and bz.bits == 40 and bz.dim == 10  # B > D is allowed
    np.testing.assert_array_equal(bz.mean, 0)
    np.testing.assert_array_equal(bz.thresholds, 0)
    assert bz.projection.std() > 0.5
    np.testing.assert_array_equal(xmr.Binarizer.lsh(40, dim=10, seed=7).projection, bz.projection)
    assert not np.array_equal(xmr.Binarizer.lsh(40, dim=10, seed=8).projection, bz.projection)
    x = normal(rng, (25, 10))
    assert_codes(bz, x)
    round_trips(bz, x, tmp_path)


@pytest.mark.parametrize("center", [True, False])
def test_lsh_with_train(rng, tmp_path, center):
    train = normal(rng, (60, 12)) + 3.0
    bz = xmr.Binarizer.lsh(16, train=train, seed=1, center=center)
    expected_mean = train.astype(np.float64).mean(axis=0) if center else np.zeros(12)
    np.testing.assert_allclose(bz.mean, expected_mean, atol=1e-5)
    np.testing.assert_array_equal(bz.projection, xmr.Binarizer.lsh(16, dim=12, seed=1).projection)
    assert_codes(bz, normal(rng, (20, 12)) + 3.0)
    round_trips(bz, train, tmp_path)


def test_lsh_needs_exactly_one_of_dim_and_train(rng):
    with pytest.raises(xmr.InvalidArgumentError):
        xmr.Binarizer.lsh(16)
    with pytest.raises(xmr.InvalidArgumentError):
        xmr.Binarizer.lsh(16, dim=4, train=normal(rng, (5, 4)))


def test_itq(rng, tmp_path):
    train = normal(rng, (200, 32)) @ normal(rng, (32, 32))
    bz = xmr.Binarizer.itq(train, 16, iterations=10, seed=2)
    assert bz.kind == "itq" and bz.bits == 16
    np.testing.assert_allclose(bz.mean, train.astype(np.float64).mean(axis=0), rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(bz.thresholds, 0)
    w = bz.projection.astype(np.float64)
    np.testing.assert_allclose(w.T @ w, np.eye(16), atol=1e-4)  # orthonormal columns
    r = bz.rotation.astype(np.float64).reshape(16, 16)
    np.testing.assert_allclose(r @ r.T, np.eye(16), atol=1e-4)
    loss = bz.training_loss
    assert len(loss) == 11 and np.all(np.diff(loss) <= 1e-3 * loss[0])
    assert_codes(bz, normal(rng, (40, 32)) @ normal(rng, (32, 32)))
    round_trips(bz, train, tmp_path)


def test_cross_modal_itq(rng, tmp_path):
    z = normal(rng, (300, 8))
    x = z @ normal(rng, (8, 24)) + 0.05 * normal(rng, (300, 24))
    y = z @ normal(rng, (8, 20)) + 0.05 * normal(rng, (300, 20))
    cm = xmr.train_cross_modal_itq(x, y, 8, iterations=20, seed=1)
    assert cm.image.dim == 24 and cm.text.dim == 20 and cm.image.bits == cm.text.bits == 8
    assert cm.image.kind == "cross_modal_itq"
    ci = assert_codes(cm.image, x)
    ct = assert_codes(cm.text, y)
    # paired rows land close in Hamming space: far closer than random pairs
    paired = np.unpackbits(ci ^ ct, axis=1).sum(axis=1).mean()
    shuffled = np.unpackbits(ci ^ ct[rng.permutation(300)], axis=1).sum(axis=1).mean()
    assert paired < 0.5 * shuffled, (paired, shuffled)
    path = tmp_path / "cm.xmrb"
    cm.save(path)
    for other in (xmr.CrossModalBinarizer.load(path), xmr.CrossModalBinarizer.from_bytes(cm.to_bytes())):
        np.testing.assert_array_equal(other.image.encode(x), ci)
        np.testing.assert_array_equal(other.text.encode(y), ct)


def test_encode_rejects(rng):
    bz = xmr.Binarizer.sign(8)
    with pytest.raises(xmr.InvalidArgumentError, match="x|dim"):
        bz.encode(normal(rng, (2, 16)))
    bad = normal(rng, (2, 8))
    bad[1, 1] = np.nan
    with pytest.raises(xmr.InvalidArgumentError):
        bz.encode(bad)
    with pytest.raises(TypeError, match="x"):
        bz.encode(np.zeros((2, 8)))
    with pytest.raises(xmr.InvalidArgumentError, match="dim"):
        xmr.Binarizer.sign(12)


def test_corrupt_binarizer_bytes(rng):
    data = bytearray(xmr.Binarizer.lsh(16, dim=8, seed=0).to_bytes())
    data[30] ^= 0xFF
    with pytest.raises(xmr.CorruptDataError):
        xmr.Binarizer.from_bytes(bytes(data))
    with pytest.raises(xmr.CorruptDataError):
        xmr.Binarizer.from_bytes(bytes(data[:20]))
