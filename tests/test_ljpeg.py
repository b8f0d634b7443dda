"""JPEG Lossless (process 14, and SV1): only when this build has the codec.

Streams are made by libjpeg-turbo's lossless encoder (through imagecodecs), independent of
turbodicom.  Oracles: the source array where the encoder is exact, and the agreement of three
independent decoders (libjpeg-turbo, liblj92 and imagecodecs' jpegsof3) everywhere; whole files
also against pydicom's own pixel_array (pylibjpeg-libjpeg or GDCM behind it).
"""

from __future__ import annotations

import random
import struct

import numpy as np
import pytest

import turbodicom

import dicom_factory as fac

JPEG_LOSSLESS = "1.2.840.10008.1.2.4.57"
JPEG_LOSSLESS_SV1 = "1.2.840.10008.1.2.4.70"

imagecodecs = pytest.importorskip("imagecodecs", reason="imagecodecs makes the test streams")
pytestmark = pytest.mark.skipif(
    JPEG_LOSSLESS_SV1 not in turbodicom.features()["decode"],
    reason="this build of turbodicom has no JPEG Lossless decoder (features()['decode'])")


def strip_app_segments(stream: bytes) -> bytes:
    """Drop APPn segments (JFIF etc.): they would make pydicom second-guess the colour space."""
    out = bytearray(stream[:2])
    pos = 2
    while pos + 4 <= len(stream):
        marker = stream[pos + 1]
        length = struct.unpack(">H", stream[pos + 2:pos + 4])[0]
        if marker == 0xDA:  # SOS: the rest is the scan
            break
        if not 0xE0 <= marker <= 0xEF:
            out += stream[pos:pos + 2 + length]
        pos += 2 + length
    return bytes(out + stream[pos:])


def encode(arr: np.ndarray, predictor: int, precision: int) -> bytes:
    stream = imagecodecs.jpeg8_encode(arr, lossless=True, predictor=predictor,
                                      bitspersample=precision)
    return strip_app_segments(stream)


def independent_decodes(stream: bytes) -> list[np.ndarray]:
    outs = [imagecodecs.jpeg8_decode(stream), imagecodecs.ljpeg_decode(stream)]
    try:
        outs.append(imagecodecs.jpegsof3_decode(stream))
    except Exception:  # noqa: BLE001 - jpegsof3 has narrower support; two oracles remain
        pass
    return outs


def source(shape, precision: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    dtype = np.uint8 if precision <= 8 else np.uint16
    arr = rng.integers(0, 1 << precision, size=shape).astype(dtype)
    flat = arr.reshape(-1)
    flat[: flat.size // 3] = flat[0]  # a flat region: long runs of zero differences
    if precision == 16:
        flat[flat.size // 3: flat.size // 3 + 20: 2] = 0xFFFF  # jumps that wrap modulo 2^16
    return arr


def _uid(predictor: int) -> str:
    return JPEG_LOSSLESS_SV1 if predictor == 1 else JPEG_LOSSLESS


CASES = [(p, sv, spp) for p in (2, 8, 12, 16) for sv in range(1, 8) for spp in (1, 3)
         if not (spp == 3 and p not in (8, 16))]


@pytest.mark.parametrize("precision,predictor,spp", CASES,
                         ids=[f"P{p}-SV{sv}-S{s}" for p, sv, s in CASES])
def test_decode_frame_matches_independent_decoders(precision, predictor, spp):
    shape = (13, 17) + ((spp,) if spp > 1 else ())
    arr = source(shape, precision, seed=precision * 10 + predictor + spp)
    stream = encode(arr, predictor, precision)
    oracles = independent_decodes(stream)
    for other in oracles[1:]:
        np.testing.assert_array_equal(other, oracles[0], "the oracles disagree")
    expected = oracles[0]
    if precision < 16 or predictor <= 4:
        # libjpeg-turbo's encoder is exact here; at 16 bits, predictors 5-7 it is not
        np.testing.assert_array_equal(expected, arr, "the encoder is not exact here")
    bits_allocated = 8 if precision <= 8 else 16
    out = turbodicom.decode_frame(stream, _uid(predictor), rows=13, columns=17,
                                  samples_per_pixel=spp, bits_allocated=bits_allocated,
                                  bits_stored=precision)
    assert bytes(out) == fac.le_container(expected, bits_allocated)


@pytest.mark.parametrize("precision,spp", [(8, 1), (12, 1), (16, 1), (8, 3)])
def test_files_match_pydicom(precision, spp, unregistered):
    shape = (3, 11, 19) + ((spp,) if spp > 1 else ())
    arr = source(shape, precision, seed=precision + spp)
    frames = [encode(arr[i], 1, precision) for i in range(3)]
    data = fac.encapsulated_file(frames, transfer_syntax=JPEG_LOSSLESS_SV1, rows=11,
                                 columns=19, samples_per_pixel=spp,
                                 bits_allocated=8 if precision <= 8 else 16,
                                 bits_stored=precision)
    expected = fac.pydicom_array(data)
    fac.assert_same_array(expected, arr, "pydicom vs source")  # the oracle is right
    fac.assert_same_array(turbodicom.decode(data), expected)
    for i in range(3):
        fac.assert_same_array(turbodicom.decode(data, index=i), expected[i], f"index={i}")


def test_signed_file_matches_pydicom(unregistered):
    arr = np.random.default_rng(5).integers(-2048, 2048, size=(2, 9, 14)).astype(np.int16)
    raw = (arr.astype(np.uint16) & 0x0FFF)  # 12-bit two's complement patterns
    frames = [encode(raw[i], 1, 12) for i in range(2)]
    data = fac.encapsulated_file(frames, transfer_syntax=JPEG_LOSSLESS_SV1, rows=9,
                                 columns=14, bits_allocated=16, bits_stored=12,
                                 pixel_representation=1)
    expected = fac.pydicom_array(data)
    fac.assert_same_array(expected, arr, "pydicom vs source")
    fac.assert_same_array(turbodicom.decode(data), expected)


def test_plugin_matches_pydicom(registered):
    arr = source((2, 10, 12), 12, seed=9)
    frames = [encode(arr[i], 1, 12) for i in range(2)]
    data = fac.encapsulated_file(frames, transfer_syntax=JPEG_LOSSLESS_SV1, rows=10,
                                 columns=12, bits_allocated=16, bits_stored=12)
    fac.assert_same_array(fac.pydicom_array(data, plugin="turbodicom"), arr)


@pytest.fixture(scope="module")
def stream12():
    arr = source((21, 23), 12, seed=11)
    return encode(arr, 1, 12), arr


def test_output_buffers_and_input_kinds(stream12):
    stream, arr = stream12
    kw = dict(rows=21, columns=23, bits_allocated=16, bits_stored=12)
    expected = fac.le_container(arr, 16)
    for src in (stream, bytearray(stream), memoryview(stream), np.frombuffer(stream, np.uint8)):
        assert bytes(turbodicom.decode_frame(src, JPEG_LOSSLESS_SV1, **kw)) == expected
    out = np.zeros(len(expected), np.uint8)
    assert turbodicom.decode_frame(stream, JPEG_LOSSLESS_SV1, out=out, **kw) is out
    assert out.tobytes() == expected
    with pytest.raises(ValueError):
        turbodicom.decode_frame(stream, JPEG_LOSSLESS_SV1, out=bytearray(len(expected) - 1),
                                **kw)


def test_truncated_and_flipped_streams(stream12):
    stream, arr = stream12
    kw = dict(rows=21, columns=23, bits_allocated=16, bits_stored=12)
    size = len(fac.le_container(arr, 16))
    for cut in range(0, len(stream), 3):
        try:
            out = turbodicom.decode_frame(stream[:cut], JPEG_LOSSLESS_SV1, **kw)
        except turbodicom.TurboDicomError as exc:
            assert isinstance(exc, (turbodicom.DecodeError, turbodicom.UnsupportedError))
        else:
            assert len(out) == size, cut
    rng = random.Random(12)
    for trial in range(400):
        data = bytearray(stream)
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
        try:
            out = turbodicom.decode_frame(bytes(data), JPEG_LOSSLESS_SV1, **kw)
        except turbodicom.TurboDicomError:
            pass
        else:
            assert len(out) == size, trial


def test_not_a_jpeg_lossless_stream():
    baseline = imagecodecs.jpeg8_encode(np.zeros((8, 8), np.uint8), level=90)
    with pytest.raises(turbodicom.UnsupportedError, match="SOF0"):
        turbodicom.decode_frame(baseline, JPEG_LOSSLESS, rows=8, columns=8, bits_allocated=8)
