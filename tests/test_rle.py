"""RLE Lossless: decode_frame's buffers and inputs, the segment order option, encode_rle."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import turbodicom

import dicom_factory as fac
import reference

RLE = "1.2.840.10008.1.2.5"
RLE_NAMES = [c.name for c in reference.RLE_CASES]
MULTIBYTE = [c.name for c in reference.RLE_CASES
             if not c.name.startswith(("RLE_8_", "RLE_1_"))]


def _frame_nbytes(kw) -> int:
    if kw["bits_allocated"] == 1:
        return -(-kw["rows"] * kw["columns"] // 8)
    return kw["rows"] * kw["columns"] * kw["samples_per_pixel"] * kw["bits_allocated"] // 8


# ------------------------------------------------------------------------------------------
# decode_frame: output buffers
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", RLE_NAMES)
def test_fresh_output(name, rle_streams):
    s = rle_streams[name]
    out = turbodicom.decode_frame(s.data, RLE, **s.kwargs)
    assert isinstance(out, bytearray)
    assert len(out) == _frame_nbytes(s.kwargs)
    assert bytes(out) == s.expected


@pytest.mark.parametrize("name", RLE_NAMES)
def test_caller_bytearray_out(name, rle_streams):
    s = rle_streams[name]
    out = bytearray(b"\xa5" * _frame_nbytes(s.kwargs))
    result = turbodicom.decode_frame(s.data, RLE, out=out, **s.kwargs)
    assert result is out
    assert bytes(out) == s.expected


def test_every_output_byte_is_written_whatever_the_buffer_held(rle_streams):
    """decode_frame without out= and the pydicom plugin hand the RLE decoder a buffer they
    have not cleared (Codec.fills_output): a frame that decodes without an error must have
    had every byte written.  Whole, cut and bit-flipped frames decoded into buffers of 0x00
    and of 0xFF come out the same."""
    from conftest import bit_flips, fills_every_byte, truncations

    from turbodicom import _rle

    checked = 0
    for i, name in enumerate(RLE_NAMES):
        s = rle_streams[name]
        for data in [s.data, *truncations(s.data, 30), *bit_flips(s.data, 30, 77 + i)]:
            for decode in (  # decode_frame's layout; the plugin's planes
                    lambda out: turbodicom.decode_frame(data, RLE, out=out, **s.kwargs),
                    lambda out: _rle.decode_into(data, out, planar=True, **s.kwargs)):
                same = fills_every_byte(decode, _frame_nbytes(s.kwargs))
                assert same is not False, f"{name}: bytes left unwritten"
                checked += same is True
    assert checked >= 8 * len(RLE_NAMES), f"only {checked} decodes compared"


@pytest.mark.parametrize("name", RLE_NAMES)
def test_caller_numpy_out(name, rle_streams):
    s = rle_streams[name]
    flat = np.full(_frame_nbytes(s.kwargs), 0x5A, dtype=np.uint8)
    assert turbodicom.decode_frame(s.data, RLE, out=flat, **s.kwargs) is flat
    assert flat.tobytes() == s.expected


@pytest.mark.parametrize("name", [n for n in RLE_NAMES if not n.startswith("RLE_1_")])
def test_caller_numpy_out_shaped_like_the_frame(name, rle_streams):
    """An out array with the frame's own shape and (native-order) dtype."""
    s = rle_streams[name]
    kw = s.kwargs
    shape = (kw["rows"], kw["columns"]) + ((kw["samples_per_pixel"],)
                                            if kw["samples_per_pixel"] > 1 else ())
    out = np.zeros(shape, dtype=f"=u{kw['bits_allocated'] // 8}")
    turbodicom.decode_frame(s.data, RLE, out=out, **kw)
    expected = np.frombuffer(s.expected, dtype=f"<u{kw['bits_allocated'] // 8}").reshape(shape)
    np.testing.assert_array_equal(out, expected)


def test_larger_out_is_filled_from_the_start_and_the_rest_untouched(rle_streams):
    s = rle_streams["RLE_16_3_1F"]
    n = _frame_nbytes(s.kwargs)
    out = bytearray(b"\xee" * (n + 100))
    turbodicom.decode_frame(s.data, RLE, out=out, **s.kwargs)
    assert bytes(out[:n]) == s.expected
    assert bytes(out[n:]) == b"\xee" * 100


@pytest.mark.parametrize("name", ["RLE_16_1_1F", "RLE_8_3_1F", "RLE_32_3_1F", "RLE_1_1_3F"])
@pytest.mark.parametrize("short_by", [1, 2, 1000])
def test_too_small_out_raises_value_error(name, short_by, rle_streams):
    s = rle_streams[name]
    n = _frame_nbytes(s.kwargs)
    out = bytearray(max(0, n - short_by))
    with pytest.raises(ValueError, match=rf"{len(out)} bytes.*needs {n}"):
        turbodicom.decode_frame(s.data, RLE, out=out, **s.kwargs)
    assert out == bytearray(len(out)), "a too-small out must not be written to"


@pytest.mark.parametrize("make", [
    pytest.param(lambda n: bytes(n), id="bytes"),
    pytest.param(lambda n: memoryview(bytes(n)), id="memoryview-of-bytes"),
    pytest.param(lambda n: np.frombuffer(bytes(n), dtype=np.uint8), id="readonly-ndarray"),
    pytest.param(lambda n: _readonly(np.zeros(n, np.uint8)), id="writeable-false-ndarray"),
])
def test_read_only_out_raises(make, rle_streams):
    s = rle_streams["RLE_16_1_1F"]
    out = make(_frame_nbytes(s.kwargs))
    with pytest.raises((ValueError, TypeError), match="writ"):
        turbodicom.decode_frame(s.data, RLE, out=out, **s.kwargs)


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def test_non_contiguous_out_raises(rle_streams):
    s = rle_streams["RLE_16_1_1F"]
    out = np.zeros(2 * _frame_nbytes(s.kwargs), dtype=np.uint8)[::2]
    with pytest.raises(ValueError, match="contiguous"):
        turbodicom.decode_frame(s.data, RLE, out=out, **s.kwargs)


# ------------------------------------------------------------------------------------------
# decode_frame: input kinds
# ------------------------------------------------------------------------------------------
def _ro_array(b: bytes) -> np.ndarray:
    a = np.frombuffer(b, dtype=np.uint8)
    assert not a.flags.writeable
    return a


INPUT_KINDS = {
    "bytes": bytes,
    "bytearray": bytearray,
    "memoryview": lambda b: memoryview(b),
    "memoryview-slice": lambda b: memoryview(b"\x00" * 7 + b + b"\x00" * 5)[7:7 + len(b)],
    "readonly-ndarray": _ro_array,
    "ndarray": lambda b: np.frombuffer(bytearray(b), dtype=np.uint8),
}


@pytest.mark.parametrize("kind", list(INPUT_KINDS))
@pytest.mark.parametrize("name", ["RLE_16_1_1F", "RLE_8_3_2F", "RLE_32_3_1F", "RLE_1_1_3F"])
def test_input_kinds(kind, name, rle_streams):
    s = rle_streams[name]
    src = INPUT_KINDS[kind](s.data)
    assert bytes(turbodicom.decode_frame(src, RLE, **s.kwargs)) == s.expected


def test_decode_frame_does_not_modify_its_input(rle_streams):
    s = rle_streams["RLE_16_3_1F"]
    src = bytearray(s.data)
    turbodicom.decode_frame(src, RLE, **s.kwargs)
    assert bytes(src) == s.data


def test_bits_allocated_1_output_is_bit_packed(rle_streams, reference_files):
    case = reference.BY_NAME["RLE_1_1_3F"]
    truth = case.truth()
    for i, (frame, ds) in enumerate(fac.iter_frame_bytes(reference_files[case.name])):
        out = turbodicom.decode_frame(frame, RLE, rows=ds.Rows, columns=ds.Columns,
                                      bits_allocated=1)
        unpacked = np.unpackbits(np.frombuffer(out, np.uint8), bitorder="little",
                                 count=ds.Rows * ds.Columns).reshape(ds.Rows, ds.Columns)
        np.testing.assert_array_equal(unpacked, truth[i])


# ------------------------------------------------------------------------------------------
# Segment order option '<' (non-conformant least-significant-byte-first)
# ------------------------------------------------------------------------------------------
def _lsb_first(data: bytes, samples_per_pixel: int, bytes_per_sample: int) -> bytes:
    """The same frame with each sample's segments listed LSB first in the header."""
    nseg = struct.unpack_from("<L", data)[0]
    offsets = list(struct.unpack_from(f"<{nseg}L", data, 4))
    swapped = []
    for s in range(samples_per_pixel):
        swapped += offsets[s * bytes_per_sample:(s + 1) * bytes_per_sample][::-1]
    # segments are located by offset and end at the next offset: keep them in file order by
    # rebuilding the body in the new order
    ends = offsets[1:] + [len(data)]
    segments = {o: data[o:e] for o, e in zip(offsets, ends, strict=True)}
    body = b""
    new_offsets = []
    for o in swapped:
        new_offsets.append(64 + len(body))
        body += segments[o]
    header = struct.pack(f"<{1 + nseg}L", nseg, *new_offsets).ljust(64, b"\x00")
    return header + body


@pytest.mark.parametrize("name", MULTIBYTE)
def test_segment_order_lsb_first(name, rle_streams):
    from pydicom.pixels.decoders.rle import _rle_decode_frame

    s = rle_streams[name]
    kw = s.kwargs
    bps = kw["bits_allocated"] // 8
    lsb = _lsb_first(s.data, kw["samples_per_pixel"], bps)
    ours = turbodicom.decode_frame(lsb, RLE, rle_segment_order="<", **kw)
    assert bytes(ours) == s.expected
    theirs = _rle_decode_frame(lsb, kw["rows"], kw["columns"], kw["samples_per_pixel"],
                               kw["bits_allocated"], "<")
    assert bytes(ours) == fac.planar_to_interleaved(theirs, kw["rows"], kw["columns"],
                                                    kw["samples_per_pixel"], bps)
    # read with the default (conformant) order, every sample comes out byte-swapped
    swapped = np.frombuffer(s.expected, dtype=f"<u{bps}").byteswap().tobytes()
    assert bytes(turbodicom.decode_frame(lsb, RLE, **kw)) == swapped


# ------------------------------------------------------------------------------------------
# Large frames: every container and sample count across the decoder's chunking
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bits_allocated,samples", [
    (8, 1), (8, 3), (16, 1), (16, 3), (32, 1), (32, 3), (64, 1)])
def test_large_frame_round_trips_through_pydicom_encoder(bits_allocated, samples):
    shape = (128, 131) + ((samples,) if samples > 1 else ())
    arr = reference.runs_and_noise(shape, f"u{bits_allocated // 8}", seed=bits_allocated + samples)
    encoded = fac.pydicom_rle_encode(arr, bits_allocated)
    out = turbodicom.decode_frame(encoded, RLE, rows=128, columns=131,
                                  samples_per_pixel=samples, bits_allocated=bits_allocated)
    assert bytes(out) == fac.le_container(arr, bits_allocated)


# ------------------------------------------------------------------------------------------
# encode_rle: byte-identical to pydicom's encoder (hypothesis), round trips
# ------------------------------------------------------------------------------------------
@st.composite
def frames(draw, max_columns: int = 300):
    bits_allocated = draw(st.sampled_from([8, 16, 32, 64]))
    samples = draw(st.sampled_from([1, 3])) if bits_allocated <= 32 else 1
    rows = draw(st.integers(1, 5))
    columns = draw(st.integers(1, max_columns))
    style = draw(st.sampled_from(["noise", "runs", "constant", "few-values", "mixed"]))
    seed = draw(st.integers(0, 2**32 - 1))
    shape = (rows, columns) + ((samples,) if samples > 1 else ())
    dtype = np.dtype(f"u{bits_allocated // 8}")
    rng = np.random.default_rng(seed)
    if style == "noise":
        arr = rng.integers(0, np.iinfo(dtype).max, size=shape, dtype=dtype, endpoint=True)
    elif style == "constant":
        arr = np.full(shape, rng.integers(0, 256), dtype=dtype)
    elif style == "few-values":  # byte planes full of short runs and pairs
        top = int(np.iinfo(dtype).max)
        values = np.array([v & top for v in (0, 1, 0x101, 0xFFFF, 0x8000, 0x80, top)],
                          dtype=dtype)
        arr = rng.choice(values, size=shape)
    elif style == "runs":
        arr = reference.runs_and_noise(shape, dtype.str, seed=seed)
    else:
        arr = reference.runs_and_noise(shape, dtype.str, seed=seed)
        arr.reshape(-1)[rng.integers(0, arr.size, size=max(1, arr.size // 7))] = 7
    return arr, bits_allocated, samples


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames())
def test_encode_rle_is_byte_identical_to_pydicom(frame):
    arr, bits_allocated, samples = frame
    rows, columns = arr.shape[:2]
    ours = turbodicom.encode_rle(arr, rows=rows, columns=columns, samples_per_pixel=samples,
                                 bits_allocated=bits_allocated)
    assert isinstance(ours, bytes)
    assert ours == fac.pydicom_rle_encode(arr, bits_allocated)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames(max_columns=600))
def test_encode_then_decode_round_trips(frame):
    arr, bits_allocated, samples = frame
    rows, columns = arr.shape[:2]
    encoded = turbodicom.encode_rle(fac.le_container(arr, bits_allocated), rows=rows,
                                    columns=columns, samples_per_pixel=samples,
                                    bits_allocated=bits_allocated)
    decoded = turbodicom.decode_frame(encoded, RLE, rows=rows, columns=columns,
                                      samples_per_pixel=samples, bits_allocated=bits_allocated)
    assert bytes(decoded) == fac.le_container(arr, bits_allocated)


def test_encode_rle_wide_rows_match_pydicom():
    """Rows wider than the encoder's on-stack row buffer (8192 columns)."""
    for bits_allocated in (8, 16):
        arr = reference.runs_and_noise((2, 9001), f"u{bits_allocated // 8}", seed=bits_allocated)
        ours = turbodicom.encode_rle(arr, rows=2, columns=9001, samples_per_pixel=1,
                                     bits_allocated=bits_allocated)
        assert ours == fac.pydicom_rle_encode(arr, bits_allocated)


@pytest.mark.parametrize("dtype", ["<u2", ">u2", "<i2", ">i2"])
def test_encode_rle_accepts_any_byte_order_and_signedness(dtype):
    base = reference.runs_and_noise((9, 11), "u2", seed=21)
    arr = base.view("<i2").astype(dtype) if "i" in dtype else base.astype(dtype)
    expected = fac.pydicom_rle_encode(base, 16)
    assert turbodicom.encode_rle(arr, rows=9, columns=11, samples_per_pixel=1,
                                 bits_allocated=16) == expected
    assert turbodicom.encode_rle(fac.le_container(base, 16), rows=9, columns=11,
                                 samples_per_pixel=1, bits_allocated=16) == expected


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview", "ndarray-u1"])
def test_encode_rle_buffer_inputs(kind):
    arr = reference.runs_and_noise((6, 10, 3), "u1", seed=22)
    raw = arr.tobytes()
    src = {"bytes": raw, "bytearray": bytearray(raw), "memoryview": memoryview(raw),
           "ndarray-u1": np.frombuffer(raw, np.uint8)}[kind]
    assert turbodicom.encode_rle(src, rows=6, columns=10, samples_per_pixel=3,
                                 bits_allocated=8) == fac.pydicom_rle_encode(arr, 8)


def test_encode_rle_rejects_impossible_requests():
    with pytest.raises(ValueError, match="Bits Allocated"):
        turbodicom.encode_rle(bytes(8), rows=2, columns=2, samples_per_pixel=1,
                              bits_allocated=12)
    with pytest.raises(ValueError, match="15 segments"):
        turbodicom.encode_rle(bytes(4 * 4 * 4), rows=2, columns=2, samples_per_pixel=4,
                              bits_allocated=32)
    with pytest.raises(ValueError, match="15 segments"):
        turbodicom.encode_rle(bytes(3 * 8 * 4), rows=2, columns=2, samples_per_pixel=3,
                              bits_allocated=64)
    with pytest.raises(ValueError, match="needs 8"):
        turbodicom.encode_rle(bytes(7), rows=2, columns=2, samples_per_pixel=1,
                              bits_allocated=16)


# ------------------------------------------------------------------------------------------
# decode_frame argument validation
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,fragment", [
    (dict(rows=0, columns=4, bits_allocated=8), "(0028,0010) 'Rows'"),
    (dict(rows=4, columns=0, bits_allocated=8), "(0028,0011) 'Columns'"),
    (dict(rows=4, columns=4, bits_allocated=12), "(0028,0100) 'Bits Allocated'"),
    (dict(rows=4, columns=4, bits_allocated=16, bits_stored=17), "(0028,0101) 'Bits Stored'"),
    (dict(rows=4, columns=4, bits_allocated=8, samples_per_pixel=0),
     "(0028,0002) 'Samples per Pixel'"),
])
def test_decode_frame_names_the_bad_element(kwargs, fragment, rle_streams):
    with pytest.raises(turbodicom.DecodeError) as info:
        turbodicom.decode_frame(rle_streams["RLE_8_1_1F_1X1"].data, RLE, **kwargs)
    assert fragment in str(info.value)


def test_decode_frame_checks_survive_its_plan_cache(rle_streams, monkeypatch):
    """decode_frame keeps the checked plan of each frame description for the next call: a
    description that differs in any argument is checked again, a bool reduce stays refused
    after reduce=0, a codec registered since is used, and the cache stays bounded."""
    import dataclasses
    import sys

    from turbodicom import codecs

    dec = sys.modules["turbodicom.decode"]
    s = rle_streams["RLE_8_1_1F_1X1"]
    want = bytes(turbodicom.decode_frame(s.data, RLE, **s.kwargs))
    assert bytes(turbodicom.decode_frame(s.data, RLE, **s.kwargs)) == want
    with pytest.raises(TypeError, match="reduce must be an int"):
        turbodicom.decode_frame(s.data, RLE, reduce=False, **s.kwargs)
    with pytest.raises(turbodicom.UnsupportedError, match="resolution"):
        turbodicom.decode_frame(s.data, RLE, reduce=1, **s.kwargs)
    with pytest.raises(turbodicom.DecodeError, match="'Bits Stored'"):
        turbodicom.decode_frame(s.data, RLE, **dict(s.kwargs, bits_stored=99))
    with pytest.raises(TypeError):
        turbodicom.decode_frame(s.data, RLE, **dict(s.kwargs, rows=[1]))
    seen = []
    codec = codecs.codec_for(RLE)

    def decode_into(src, out, spec):
        seen.append(spec.rows)
        codec.decode_into(src, out, spec)

    monkeypatch.setitem(codecs._BY_UID, RLE, dataclasses.replace(codec, decode_into=decode_into))
    assert bytes(turbodicom.decode_frame(s.data, RLE, **s.kwargs)) == want
    assert seen == [s.kwargs["rows"]]
    for n in range(300):  # as many descriptions: every one decoded (or refused) on its own
        with pytest.raises(turbodicom.DecodeError):
            turbodicom.decode_frame(s.data, RLE, **dict(s.kwargs, columns=2 + n))
    assert len(dec._FRAME_PLANS) <= dec._FRAME_PLANS_MAX


def test_decode_frame_unsupported_transfer_syntax(rle_streams):
    s = rle_streams["RLE_8_1_1F_1X1"]
    with pytest.raises(turbodicom.UnsupportedError, match="1.2.3.4.5.6.7"):
        turbodicom.decode_frame(s.data, "1.2.3.4.5.6.7", **s.kwargs)
    with pytest.raises(NotImplementedError):
        turbodicom.decode_frame(s.data, "1.2.3.4.5.6.7", **s.kwargs)
