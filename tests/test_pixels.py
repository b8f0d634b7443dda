"""Pixel post-processing in C: YBR_FULL -> RGB and unused-bit correction, against pydicom/numpy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from turbodicom import _parse


@pytest.fixture(scope="module")
def all_ybr_triples() -> np.ndarray:
    """Every (Y, Cb, Cr) byte triple: 2^24 pixels, shape (2^24, 3)."""
    v = np.arange(1 << 24, dtype=np.uint32)
    out = np.empty((1 << 24, 3), dtype=np.uint8)
    out[:, 0] = v >> 16
    out[:, 1] = (v >> 8) & 0xFF
    out[:, 2] = v & 0xFF
    return out


def test_ybr_full_to_rgb_exhaustive(all_ybr_triples):
    """All 2^24 YCbCr triples convert exactly as pydicom's convert_color_space does."""
    from pydicom.pixels.processing import convert_color_space

    buf = bytearray(all_ybr_triples.tobytes())
    _parse.ybr_full_to_rgb(buf)
    ours = np.frombuffer(buf, dtype=np.uint8).reshape(-1, 3)
    chunk = 1 << 21
    mismatches = 0
    first = None
    for start in range(0, 1 << 24, chunk):
        theirs = convert_color_space(all_ybr_triples[start:start + chunk], "YBR_FULL", "RGB")
        bad = np.flatnonzero((theirs != ours[start:start + chunk]).any(axis=1))
        if len(bad) and first is None:
            i = int(bad[0])
            first = (tuple(all_ybr_triples[start + i]), tuple(ours[start + i]), tuple(theirs[i]))
        mismatches += len(bad)
    assert mismatches == 0, f"{mismatches} triples differ; first (YCbCr, ours, pydicom): {first}"


def test_ybr_full_to_rgb_is_in_place_on_any_writable_buffer():
    from pydicom.pixels.processing import convert_color_space

    rng = np.random.default_rng(1)
    arr = rng.integers(0, 256, size=(7, 11, 3), dtype=np.uint8)
    expected = convert_color_space(arr, "YBR_FULL", "RGB")
    as_numpy = arr.copy()
    _parse.ybr_full_to_rgb(as_numpy.reshape(-1))
    np.testing.assert_array_equal(as_numpy, expected)
    as_view = bytearray(arr.tobytes())
    _parse.ybr_full_to_rgb(memoryview(as_view))
    assert bytes(as_view) == expected.tobytes()
    _parse.ybr_full_to_rgb(bytearray())  # empty is a no-op


def test_ybr_full_to_rgb_ignores_a_trailing_partial_pixel():
    buf = bytearray([128, 128, 128, 200, 77])
    _parse.ybr_full_to_rgb(buf)
    assert bytes(buf[3:]) == bytes([200, 77])


def test_ybr_full_to_rgb_refuses_read_only():
    with pytest.raises((ValueError, TypeError, BufferError)):
        _parse.ybr_full_to_rgb(bytes(9))


# ------------------------------------------------------------------------------------------
# Unused high bits (PS3.5 8.1.1): mask unsigned, sign-extend signed, like pydicom's shifts
# ------------------------------------------------------------------------------------------
def _numpy_fix(raw: np.ndarray, bits_stored: int, signed: bool) -> np.ndarray:
    """pydicom's _correct_unused_bits: a left then right shift in the sample's own dtype."""
    itemsize = raw.dtype.itemsize
    arr = raw.view(f"<{'i' if signed else 'u'}{itemsize}").copy()
    shift = 8 * itemsize - bits_stored
    np.left_shift(arr, shift, out=arr)
    np.right_shift(arr, shift, out=arr)
    return arr


@settings(max_examples=300, deadline=None)
@given(itemsize=st.sampled_from([1, 2, 4, 8]), signed=st.booleans(),
       data=st.data(), seed=st.integers(0, 2**32 - 1), count=st.integers(0, 300))
def test_fix_unused_bits_matches_numpy_shifts(itemsize, signed, data, seed, count):
    bits_stored = data.draw(st.integers(1, 8 * itemsize), label="bits_stored")
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 256, size=count * itemsize, dtype=np.uint8)
    buf = bytearray(raw.tobytes())
    _parse.fix_unused_bits(buf, itemsize, bits_stored, signed)
    expected = _numpy_fix(raw.view(f"<u{itemsize}"), bits_stored, signed)
    assert bytes(buf) == expected.tobytes()


@pytest.mark.parametrize("itemsize", [1, 2, 4, 8])
@pytest.mark.parametrize("signed", [False, True])
def test_fix_unused_bits_every_bits_stored(itemsize, signed):
    """Deterministic sweep: every Bits Stored, all-ones and alternating patterns included."""
    rng = np.random.default_rng(itemsize)
    patterns = np.concatenate([
        np.full(8 * itemsize, 0xFF, np.uint8), np.full(8 * itemsize, 0x55, np.uint8),
        np.full(8 * itemsize, 0x80, np.uint8), np.zeros(8 * itemsize, np.uint8),
        rng.integers(0, 256, size=64 * itemsize, dtype=np.uint8)])
    for bits_stored in range(1, 8 * itemsize + 1):
        buf = bytearray(patterns.tobytes())
        _parse.fix_unused_bits(buf, itemsize, bits_stored, signed)
        expected = _numpy_fix(patterns.view(f"<u{itemsize}"), bits_stored, signed)
        assert bytes(buf) == expected.tobytes(), f"bits_stored={bits_stored}"


def test_fix_unused_bits_leaves_values_alone_when_nothing_is_unused():
    raw = np.random.default_rng(3).integers(0, 256, size=64, dtype=np.uint8).tobytes()
    for itemsize in (1, 2, 4, 8):
        for bits_stored in (0, 8 * itemsize):
            buf = bytearray(raw)
            _parse.fix_unused_bits(buf, itemsize, bits_stored, True)
            assert bytes(buf) == raw


def test_fix_unused_bits_on_numpy_arrays_in_place():
    arr = np.array([0xFFFF, 0x0800, 0x07FF, 0xF000], dtype="<u2")
    _parse.fix_unused_bits(arr.view(np.uint8), 2, 12, True)
    np.testing.assert_array_equal(arr.view("<i2"), [-1, -2048, 2047, 0])
    arr = np.array([0xFFFF, 0x0800, 0x07FF, 0xF000], dtype="<u2")
    _parse.fix_unused_bits(arr.view(np.uint8), 2, 12, False)
    np.testing.assert_array_equal(arr, [0x0FFF, 0x0800, 0x07FF, 0x0000])
