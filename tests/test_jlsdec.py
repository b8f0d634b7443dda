"""turbodicom's own JPEG-LS decoder (csrc/td_jlsdec.c, ``_jls.own_*``) against CharLS.

Every stream is decoded three ways and compared byte for byte: our kernel, imagecodecs'
``jpegls_decode`` (a release CharLS 2.4) and ``_jls.decode_into`` (td_jls over the system
CharLS).  Streams are encoded on the spot by pyjpegls (CharLS; every precision 2..16, every
interleave mode, NEAR 0..10) and by imagecodecs (8 and 16 bits, with a SPIFF header), from
noisy, smooth, flat (run mode) and mixed images of awkward sizes, plus every JPEG-LS frame of
the corpus.  Damaged streams (truncated, bit-flipped, the input that aborts Debian's CharLS)
must give a turbodicom error or an array, in-process.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

import turbodicom

from conftest import corpus_params, corpus_rows

_jls = pytest.importorskip("turbodicom._jls", reason="this build of turbodicom has no _jls")

DATA = Path(__file__).parent / "data"
ABORT_FRAME = DATA / "library-aborts" / "jls-charls-2.4.1-compute_error_value-assert.jls"
CRASHERS = DATA / "crashers" / "jlsdec"
JLS_SYNTAXES = ("1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81")


def _imagecodecs():
    ic = pytest.importorskip("imagecodecs", reason="imagecodecs is the CharLS oracle")
    if not ic.JPEGLS.available:
        pytest.skip("imagecodecs was built without CharLS")
    return ic


def _pyjpegls():
    return pytest.importorskip("jpeg_ls", reason="pyjpegls encodes P 2..16 and interleave modes")


def own(stream, **kw) -> np.ndarray:
    """Our decode as an image-shaped array (rows, columns[, components])."""
    hdr = _jls.own_read_header(stream)
    bps = kw.get("bytes_per_sample") or hdr["bytes_per_sample"]
    out = bytearray(hdr["rows"] * hdr["columns"] * hdr["components"] * bps)
    _jls.own_decode_into(stream, out, **kw)
    return _shaped(out, hdr, bps, kw.get("sign_extend", False))


def charls(stream, **kw) -> np.ndarray:
    """td_jls (system CharLS) decode, shaped like own()."""
    hdr = _jls.read_header(stream)
    bps = kw.get("bytes_per_sample") or hdr["bytes_per_sample"]
    out = bytearray(hdr["rows"] * hdr["columns"] * hdr["components"] * bps)
    _jls.decode_into(stream, out, **kw)
    return _shaped(out, hdr, bps, kw.get("sign_extend", False))


def _shaped(out, hdr, bps, signed) -> np.ndarray:
    dt = np.dtype(f"<{'i' if signed else 'u'}{bps}")
    shape = (hdr["rows"], hdr["columns"]) + ((hdr["components"],) if hdr["components"] > 1
                                             else ())
    return np.frombuffer(bytes(out), dt).reshape(shape)


def assert_exact(stream: bytes, what: str) -> np.ndarray:
    ic = _imagecodecs()
    ref = ic.jpegls_decode(stream)
    got = own(stream)
    assert got.shape == ref.shape, what
    np.testing.assert_array_equal(got, ref, err_msg=f"{what}: differs from imagecodecs")
    np.testing.assert_array_equal(got, charls(stream), err_msg=f"{what}: differs from td_jls")
    assert _jls.own_read_header(stream) == _jls.read_header(stream), what
    return got


def image(kind: str, shape: tuple[int, ...], bits: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    top = 1 << bits
    dt = np.uint8 if bits <= 8 else np.uint16
    if kind == "noise":
        return rng.integers(0, top, shape).astype(dt)
    if kind == "const":
        return np.full(shape, top // 2, dt)
    y, x = np.mgrid[0:shape[0], 0:shape[1]]
    ramp = x * 3 + y * 5
    if len(shape) == 3:
        ramp = ramp[..., None] * np.arange(1, shape[2] + 1)
    img = ((ramp + rng.integers(0, 4, shape)) % top).astype(dt)
    img.flat[0] = top - 1  # the encoders take P from the largest value
    if kind == "mixed":  # flat block (runs, interruptions) next to noise and the extremes
        img[: shape[0] // 2, : shape[1] // 3] = top // 3
        img[shape[0] // 2:, shape[1] // 2:] = rng.integers(0, top, img[shape[0] // 2:,
                                                                        shape[1] // 2:].shape)
        img.flat[0], img.flat[-1] = top - 1, 0
    return img


SHAPES = [(1, 1), (1, 7), (7, 1), (37, 51), (64, 64), (3, 97)]
KINDS = ("noise", "smooth", "mixed", "const")


def _pyjpegls_encode(img, near, ilv=None):
    jpeg_ls = _pyjpegls()
    try:
        return bytes(jpeg_ls.encode_array(img, lossy_error=near, interleave_mode=ilv))
    except RuntimeError as exc:  # CharLS 2.x sizes its buffer too tightly for tiny images
        if "too small" in str(exc):
            return None
        raise


# ------------------------------------------------------------------------------------------
# Generated streams
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bits", range(2, 17))
def test_grayscale_every_precision_and_near(bits):
    checked = 0
    for kind in KINDS:
        for shape in SHAPES:
            for near in (0, 1, 2, 3, 5, 10):
                if near > ((1 << bits) - 1) // 2:
                    continue
                img = image(kind, shape, bits, seed=bits * 100 + near)
                stream = _pyjpegls_encode(img, near)
                if stream is None:
                    continue
                got = assert_exact(stream, f"P {bits} {kind} {shape} NEAR {near}")
                if kind != "const" or bits > 2:
                    assert _jls.own_read_header(stream)["bits_per_sample"] == bits
                if near == 0:
                    np.testing.assert_array_equal(got, img)
                else:
                    assert int(np.abs(got.astype(np.int64) - img).max()) <= near
                checked += 1
    assert checked >= 20


@pytest.mark.parametrize("bits", (8, 16))
def test_imagecodecs_streams(bits):
    ic = _imagecodecs()
    for kind in KINDS:
        for shape in SHAPES + [(5, 3, 3), (33, 17, 3)]:
            for near in (0, 1, 4, 10):
                img = image(kind, shape, bits, seed=near)
                stream = bytes(ic.jpegls_encode(img, level=near or None))
                assert_exact(stream, f"imagecodecs P {bits} {kind} {shape} NEAR {near}")


@pytest.mark.parametrize("ilv", (0, 1, 2))
@pytest.mark.parametrize("bits", (2, 5, 8, 10, 12, 16))
def test_colour_interleave_modes(bits, ilv):
    for kind in KINDS:
        for shape in [(1, 1, 3), (7, 1, 3), (37, 51, 3), (3, 97, 3), (16, 16, 4)]:
            for near in (0, 3):
                if near > ((1 << bits) - 1) // 2:
                    continue
                img = image(kind, shape, bits, seed=ilv + bits)
                src = np.ascontiguousarray(np.moveaxis(img, -1, 0)) if ilv == 0 else img
                stream = _pyjpegls_encode(src, near, ilv)
                if stream is None:
                    continue
                assert _jls.own_read_header(stream)["interleave_mode"] == ilv
                got = assert_exact(stream, f"P {bits} {kind} {shape} ILV {ilv} NEAR {near}")
                # (pyjpegls scrambles 16-bit colour images with a dimension of 1 on encoding;
                # the three decoders agree on what it wrote)
                if near == 0 and min(shape[:2]) > 1:
                    np.testing.assert_array_equal(got, img)


@pytest.mark.parametrize("bits", (5, 8, 12, 16))
def test_containers_and_sign_extension(bits):
    img = image("mixed", (19, 23), bits, seed=3)
    stream = _pyjpegls_encode(img, 0)
    for bps in (0, 2, 4):
        if bps and bps < (1 if bits <= 8 else 2):
            continue
        for sign in (False, True):
            got = own(stream, bytes_per_sample=bps, sign_extend=sign)
            np.testing.assert_array_equal(got, charls(stream, bytes_per_sample=bps,
                                                      sign_extend=sign))
    if bits > 8:
        with pytest.raises(turbodicom.UnsupportedError):
            _jls.own_decode_into(stream, bytearray(19 * 23 * 4), bytes_per_sample=1)


def _insert_after_sof(stream: bytes, segment: bytes) -> bytes:
    i = stream.index(b"\xff\xf7")
    n = struct.unpack(">H", stream[i + 2:i + 4])[0]
    return stream[:i + 2 + n] + segment + stream[i + 2 + n:]


def test_preset_parameters_and_restart_interval_segments():
    """LSE id 1 with the default values written out, or zeros (= defaults), and a DRI whose
    interval covers the whole image decode exactly as without them; mapping tables are
    refused as unsupported."""
    img = image("mixed", (40, 30), 12, seed=9)
    stream = _pyjpegls_encode(img, 2)
    ref = own(stream)
    zeros = b"\xff\xf8" + struct.pack(">HBHHHHH", 13, 1, 0, 0, 0, 0, 0)
    np.testing.assert_array_equal(own(_insert_after_sof(stream, zeros)), ref)
    explicit_maxval = b"\xff\xf8" + struct.pack(">HBHHHHH", 13, 1, 4095, 0, 0, 0, 64)
    np.testing.assert_array_equal(own(_insert_after_sof(stream, explicit_maxval)), ref)
    dri = b"\xff\xdd" + struct.pack(">HH", 4, 40)
    np.testing.assert_array_equal(own(_insert_after_sof(stream, dri)), ref)
    comment = b"\xff\xfe" + struct.pack(">H", 7) + b"hello"
    np.testing.assert_array_equal(own(_insert_after_sof(stream, comment)), ref)
    mapping = b"\xff\xf8" + struct.pack(">HBBB", 6, 2, 1, 1) + b"\x00"
    with pytest.raises(turbodicom.UnsupportedError, match="mapping table"):
        own(_insert_after_sof(stream, mapping))
    bad = b"\xff\xf8" + struct.pack(">HBHHHHH", 13, 1, 0, 9, 3, 0, 0)  # T2 < T1
    with pytest.raises(turbodicom.DecodeError, match="coding parameters"):
        own(_insert_after_sof(stream, bad))


def _split(stream: bytes) -> tuple[bytes, bytes, bytes]:
    """(everything before SOS, the SOS segment, the scan data) of a one-scan stream."""
    i = stream.index(b"\xff\xda")
    n = struct.unpack(">H", stream[i + 2:i + 4])[0]
    assert stream.endswith(b"\xff\xd9")
    return stream[:i], stream[i:i + 2 + n], stream[i + 2 + n:-2]


def restart_stream(img: np.ndarray, interval: int, near: int) -> bytes:
    """One stream with restart interval `interval` (DRI, RSTm) made of strips encoded on their
    own: after a restart marker CharLS starts over (contexts, run index, a zero line above),
    so the strips' scan data are exactly the intervals' data."""
    ic = _imagecodecs()
    strips = [np.ascontiguousarray(img[y:y + interval])
              for y in range(0, img.shape[0], interval)]
    coded = [bytes(ic.jpegls_encode(s, level=near or None)) for s in strips]
    head, sos, _ = _split(coded[0])
    i = head.index(b"\xff\xf7")
    head = head[:i + 5] + struct.pack(">H", img.shape[0]) + head[i + 7:]
    out = head + b"\xff\xdd" + struct.pack(">HH", 4, interval) + sos
    for k, c in enumerate(coded):
        if k:
            out += bytes([0xFF, 0xD0 + ((k - 1) & 7)])
        out += _split(c)[2]
    return out + b"\xff\xd9"


@pytest.mark.parametrize("bits,near,interval,shape", [
    (8, 0, 4, (37, 20)), (16, 3, 5, (33, 17)), (16, 0, 1, (20, 9)), (8, 0, 3, (19, 11, 3)),
    (8, 2, 2, (25, 11, 3)), (8, 0, 2, (40, 8))])
def test_restart_intervals(bits, near, interval, shape):
    rng = np.random.default_rng(bits + near)
    img = rng.integers(0, 1 << bits, shape).astype(np.uint8 if bits == 8 else np.uint16)
    img[:, : shape[1] // 2] = 7
    stream = restart_stream(img, interval, near)
    assert b"\xff\xd0" in stream
    got = assert_exact(stream, f"restart interval {interval}")
    if near == 0:
        np.testing.assert_array_equal(got, img)
    # a wrong restart marker number is corrupt data
    bad = stream.replace(b"\xff\xd0", b"\xff\xd3", 1)
    with pytest.raises(turbodicom.DecodeError, match="RST"):
        own(bad)


def test_padding_after_eoi_and_zeros_before_eoi():
    img = image("smooth", (20, 20), 8, seed=1)
    stream = _pyjpegls_encode(img, 0)
    assert stream.endswith(b"\xff\xd9")
    np.testing.assert_array_equal(own(stream + b"\x00" * 5), img)
    np.testing.assert_array_equal(own(stream[:-2] + b"\x00\x00\xff\xd9"), img)


# ------------------------------------------------------------------------------------------
# The corpus: every JPEG-LS frame
# ------------------------------------------------------------------------------------------
JLS_ROWS = corpus_rows(lambda r: r["transfer_syntax_uid"] in JLS_SYNTAXES)


@pytest.mark.parametrize("row", corpus_params(JLS_ROWS) or [pytest.param(
    None, marks=pytest.mark.skip(reason="no corpus (set TURBODICOM_CORPUS)"))])
def test_corpus_frames(row):
    from turbodicom.frames import open_pixels

    with open_pixels(row["abspath"]) as px:
        for i in range(int(row["frames"] or 1)):
            assert_exact(bytes(px.frame(i)), f"{row['path']} frame {i}")


# ------------------------------------------------------------------------------------------
# Hostile input
# ------------------------------------------------------------------------------------------
def test_charls_abort_input_is_a_decode_error_in_process():
    data = ABORT_FRAME.read_bytes()
    hdr = _jls.own_read_header(data)
    out = bytearray(hdr["rows"] * hdr["columns"] * hdr["components"] * hdr["bytes_per_sample"])
    with pytest.raises(turbodicom.DecodeError, match="invalid code"):
        _jls.own_decode_into(data, out)


def _reference_streams() -> list[bytes]:
    streams = []
    for bits, shape, near, ilv in ((8, (23, 31), 0, None), (12, (17, 19), 2, None),
                                   (16, (9, 40), 0, None), (8, (11, 13, 3), 0, 2),
                                   (10, (11, 13, 3), 1, 1)):
        s = _pyjpegls_encode(image("mixed", shape, bits, seed=bits), near, ilv)
        if s is not None:
            streams.append(s)
    streams.append(ABORT_FRAME.read_bytes())
    return streams


def _decode_or_error(data: bytes) -> None:
    try:
        hdr = _jls.own_read_header(data)
    except turbodicom.TurboDicomError:
        return
    n = hdr["rows"] * hdr["columns"] * hdr["components"] * hdr["bytes_per_sample"]
    if n > 1 << 26:
        return
    try:
        _jls.own_decode_into(data, bytearray(n))
    except turbodicom.TurboDicomError:
        pass


def test_truncations_raise():
    """A stream cut anywhere before the end of its EOI marker is a DecodeError."""
    _pyjpegls()
    for s in _reference_streams():
        for cut in sorted(set(range(0, len(s), max(1, len(s) // 97))) | {len(s) - 1, len(s) - 2}):
            with pytest.raises(turbodicom.DecodeError):
                own(s[:cut])


def test_truncated_scan_says_truncated():
    img = image("noise", (30, 30), 8, seed=2)
    s = _pyjpegls_encode(img, 0)
    with pytest.raises(turbodicom.DecodeError, match="ends|EOI|truncated"):
        own(s[: len(s) // 2] + b"\xff\xd9")


def test_bit_flips_raise_or_decode():
    _pyjpegls()
    rng = np.random.default_rng(0)
    for s in _reference_streams():
        for _ in range(300):
            data = bytearray(s)
            for _ in range(int(rng.integers(1, 4))):
                pos = int(rng.integers(2, len(data)))
                data[pos] ^= 1 << int(rng.integers(0, 8))
            _decode_or_error(bytes(data))


def test_crashers_replay():
    """Fuzzer finds for this kernel (none so far), those for the CharLS adapter (crashers/jls/)
    and the JPEG-LS streams that abort or hang other engines (tests/data/library-aborts/): an
    array or a turbodicom error, in-process."""
    here = CRASHERS.parent.parent / "library-aborts"
    files = [f for d in (CRASHERS, CRASHERS.parent / "jls") if d.is_dir()
             for f in sorted(d.glob("*"))] + sorted(here.glob("*.jls"))
    assert files, "the CharLS abort input is committed under tests/data/library-aborts"
    for f in files:
        _decode_or_error(f.read_bytes())


# ------------------------------------------------------------------------------------------
# The boundary
# ------------------------------------------------------------------------------------------
def test_input_types_and_output_checks():
    img = image("smooth", (13, 17), 12, seed=4)
    s = _pyjpegls_encode(img, 0)
    for src in (s, bytearray(s), memoryview(s), np.frombuffer(s, np.uint8)):
        np.testing.assert_array_equal(own(src), img)
    with pytest.raises(turbodicom.DecodeError):
        _jls.own_decode_into(s, bytearray(13 * 17 * 2 - 1))
    out = np.zeros(13 * 17 * 2, np.uint8)
    _jls.own_decode_into(s, out)
    np.testing.assert_array_equal(out.view("<u2").reshape(13, 17), img)
    with pytest.raises((ValueError, BufferError, TypeError)):
        _jls.own_decode_into(s, bytes(13 * 17 * 2))  # read-only
    with pytest.raises(turbodicom.DecodeError, match="truncated|bytes"):
        _jls.own_read_header(b"")
    with pytest.raises(turbodicom.DecodeError, match="SOI"):
        _jls.own_read_header(b"\x00" * 16)


def test_decode_for_dataset_mismatch():
    img = image("smooth", (13, 17), 8, seed=4)
    s = _pyjpegls_encode(img, 0)
    out = bytearray(13 * 17)
    _jls.own_decode_for_dataset(s, out, bytes_per_sample=1, pixel_representation=False,
                                rows=13, columns=17, samples_per_pixel=1)
    assert bytes(out) == img.tobytes()
    with pytest.raises(turbodicom.DecodeError, match="Rows"):
        _jls.own_decode_for_dataset(s, out, bytes_per_sample=1, pixel_representation=False,
                                    rows=12, columns=17, samples_per_pixel=1)
