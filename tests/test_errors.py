"""Hostile input: truncated, bit-flipped, contradictory and garbage data.

decode_frame must raise ``turbodicom.DecodeError`` (a ``ValueError``) or return a frame of the
right size; decode() must raise a ``TurboDicomError`` (``IndexError`` only for a bad index) or
return the right array.  Nothing else, and never a crash.  Errors name what is wrong.
"""

from __future__ import annotations

import io
import random
import struct
from pathlib import Path

import numpy as np
import pytest

import turbodicom

import dicom_factory as fac
import reference
from conftest import CRASHERS, pydicom_file

RLE = "1.2.840.10008.1.2.5"
RLE_NAMES = [c.name for c in reference.RLE_CASES]


def _cut_points(n: int, limit: int = 400) -> list[int]:
    """Lengths to cut an n-byte input to: all of 1..n-1, or the first 80 and `limit` spread."""
    if n <= limit:
        return list(range(1, n))
    step = n / limit
    return sorted(set(list(range(1, 80)) + [max(1, int(i * step)) for i in range(limit)]
                      + [n - 1]))


def _decode_or_error(data, **kwargs):
    try:
        return turbodicom.decode_frame(data, RLE, **kwargs), None
    except Exception as exc:  # noqa: BLE001 - classified by the caller
        return None, exc


def _assert_decode_error(exc: BaseException | None, what: str) -> None:
    assert exc is not None
    assert isinstance(exc, turbodicom.DecodeError), f"{what}: {type(exc).__name__}: {exc}"
    assert isinstance(exc, ValueError)
    assert str(exc), f"{what}: empty error message"


# ------------------------------------------------------------------------------------------
# RLE streams: truncation and bit flips
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", RLE_NAMES)
def test_truncated_rle_streams(name, rle_streams):
    s = rle_streams[name]
    size = len(s.expected)
    for cut in _cut_points(len(s.data)):
        out, exc = _decode_or_error(s.data[:cut], **s.kwargs)
        if exc is not None:
            _assert_decode_error(exc, f"{name} cut at {cut}")
        else:
            assert len(out) == size, f"{name} cut at {cut}: {len(out)} bytes"


@pytest.mark.parametrize("name", RLE_NAMES)
def test_bit_flipped_rle_streams(name, rle_streams):
    s = rle_streams[name]
    rng = random.Random(f"flip-{name}")
    size = len(s.expected)
    for trial in range(300):
        data = bytearray(s.data)
        # bias towards the header, where a flip changes the structure
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(64) if rng.random() < 0.4 else rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
        out, exc = _decode_or_error(bytes(data), **s.kwargs)
        if exc is not None:
            _assert_decode_error(exc, f"{name} trial {trial}")
        else:
            assert len(out) == size, f"{name} trial {trial}"


@pytest.mark.parametrize("name", ["RLE_16_1_1F", "RLE_8_3_2F", "RLE_32_3_1F", "RLE_64_1_2F"])
def test_random_garbage_after_a_valid_header(name, rle_streams):
    s = rle_streams[name]
    rng = np.random.default_rng(7)
    for trial in range(100):
        body = rng.integers(0, 256, size=int(rng.integers(0, 3 * len(s.data))), dtype=np.uint8)
        out, exc = _decode_or_error(s.data[:64] + body.tobytes(), **s.kwargs)
        if exc is not None:
            _assert_decode_error(exc, f"{name} trial {trial}")
        else:
            assert len(out) == len(s.expected)


def test_empty_input_is_a_decode_error(rle_streams):
    """Zero bytes is the shortest truncation of all (bytes, bytearray and numpy alike)."""
    s = rle_streams["RLE_16_1_1F"]
    for empty in (b"", bytearray(), np.zeros(0, np.uint8)):
        _, exc = _decode_or_error(empty, **s.kwargs)
        _assert_decode_error(exc, f"empty {type(empty).__name__} input")
        assert "64-byte header" in str(exc), str(exc)


# ------------------------------------------------------------------------------------------
# RLE header: specific faults, specific messages
# ------------------------------------------------------------------------------------------
def _header(data: bytes) -> tuple[int, list[int]]:
    n = struct.unpack_from("<L", data)[0]
    return n, list(struct.unpack_from("<15L", data, 4))


def _with_header(data: bytes, nseg: int, offsets: list[int]) -> bytes:
    return struct.pack("<16L", nseg, *offsets) + data[64:]


@pytest.fixture
def rgb16(rle_streams):
    """A 6-segment stream (16-bit RGB)."""
    return rle_streams["RLE_16_3_1F"]


def _error_of(data, kwargs) -> str:
    _, exc = _decode_or_error(data, **kwargs)
    _assert_decode_error(exc, "crafted header")
    return str(exc)


def test_header_shorter_than_64_bytes(rgb16):
    for cut in (1, 4, 63):
        msg = _error_of(rgb16.data[:cut], rgb16.kwargs)
        assert "64-byte header" in msg and str(cut) in msg, msg


@pytest.mark.parametrize("nseg", [0, 1, 5, 7, 15, 16, 0xFFFFFFFF])
def test_wrong_segment_count(nseg, rgb16):
    _, offsets = _header(rgb16.data)
    msg = _error_of(_with_header(rgb16.data, nseg, offsets), rgb16.kwargs)
    assert f"{nseg} segments" in msg, msg
    if 1 <= nseg <= 15:
        assert "need 6" in msg, msg
    else:
        assert "1 to 15" in msg, msg


def test_segment_offset_inside_the_header(rgb16):
    nseg, offsets = _header(rgb16.data)
    offsets[2] = 12
    msg = _error_of(_with_header(rgb16.data, nseg, offsets), rgb16.kwargs)
    assert "segment 3" in msg and "12" in msg and "header" in msg, msg


def test_segment_offsets_out_of_order(rgb16):
    nseg, offsets = _header(rgb16.data)
    offsets[1], offsets[2] = offsets[2], offsets[1]
    msg = _error_of(_with_header(rgb16.data, nseg, offsets), rgb16.kwargs)
    assert "segment 2" in msg and str(offsets[1]) in msg, msg


@pytest.mark.parametrize("which", [0, 3, 5])
def test_segment_offset_beyond_the_frame(which, rgb16):
    nseg, offsets = _header(rgb16.data)
    offsets[which] = len(rgb16.data) + 1000
    msg = _error_of(_with_header(rgb16.data, nseg, offsets), rgb16.kwargs)
    assert f"segment {which + 1}" in msg and str(len(rgb16.data)) in msg, msg
    assert "beyond" in msg, msg


def test_offset_at_the_very_end_is_an_empty_segment(rgb16):
    nseg, offsets = _header(rgb16.data)
    offsets[5] = len(rgb16.data)  # last segment has no bytes at all
    msg = _error_of(_with_header(rgb16.data, nseg, offsets), rgb16.kwargs)
    assert "segment 6" in msg and "decodes to 0 bytes" in msg, msg


def test_segment_that_decodes_short(rle_streams):
    s = rle_streams["RLE_8_1_3F_ODD"]
    rows, cols = s.kwargs["rows"], s.kwargs["columns"]
    short = struct.pack("<2L", 1, 64).ljust(64, b"\x00") + bytes([0x81, 7]) * 2  # 256 bytes
    msg = _error_of(short, s.kwargs)
    assert "segment 1" in msg and "256" in msg and str(rows * cols) in msg, msg


def test_excess_segment_data_is_ignored(rle_streams):
    """A segment decoding to more bytes than a plane holds is non-conformant padding."""
    s = rle_streams["RLE_8_1_3F_ODD"]
    padded = s.data + bytes([0x81, 0x33]) * 20
    assert bytes(turbodicom.decode_frame(padded, RLE, **s.kwargs)) == s.expected


# ------------------------------------------------------------------------------------------
# Files: truncation, flips, garbage
# ------------------------------------------------------------------------------------------
FILE_CASES = ["RLE_16_1_1F", "RLE_8_3_2F", "RLE_32_1_15F", "RLE_16_3_3F_NOBOT",
              "RLE_32_1_4F_EOT", "RLE_16_1_3F_FRAGS", "RLE_1_1_3F", "NATIVE_BE_16_1_1F",
              "NATIVE_IMPLICIT_32_1_15F", "NATIVE_BA1_3F_UNALIGNED", "YBR422_8_3_1F",
              "DEFLATED_8_1_1F", "FLOAT_32_1_3F", "NATIVE_NOMETA_BE_16_1_2F",
              "NATIVE_BE_8_3_1F_ODD_OW"]


def _decode_file_or_error(data, index=None):
    try:
        return turbodicom.decode(data, index=index), None
    except Exception as exc:  # noqa: BLE001 - classified by the caller
        return None, exc


@pytest.mark.parametrize("name", FILE_CASES)
def test_truncated_files(name, reference_files):
    data = Path(reference_files[name]).read_bytes()
    full = turbodicom.decode(data)
    first = turbodicom.decode(data, index=0)
    for cut in _cut_points(len(data), limit=250):
        for index, expected in ((None, full), (0, first)):
            arr, exc = _decode_file_or_error(data[:cut], index)
            if exc is not None:
                assert isinstance(exc, turbodicom.TurboDicomError), (
                    f"{name} cut at {cut}/{len(data)} index={index}: {exc!r}")
            else:
                # only bytes nobody needs (trailing padding, a missing delimiter) were lost
                fac.assert_same_array(arr, expected, f"{name} cut at {cut} index={index}")


@pytest.mark.parametrize("name", FILE_CASES)
def test_bit_flipped_files(name, reference_files):
    data = Path(reference_files[name]).read_bytes()
    rng = random.Random(f"file-{name}")
    for trial in range(250):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 6)):
            i = rng.randrange(len(mutated))
            mutated[i] ^= 1 << rng.randrange(8)
        for index in (None, 0):
            arr, exc = _decode_file_or_error(bytes(mutated), index)
            if exc is not None:
                assert isinstance(exc, (turbodicom.TurboDicomError, IndexError)), (
                    f"{name} trial {trial} index={index}: {exc!r}")
            else:
                assert isinstance(arr, np.ndarray)


@pytest.mark.parametrize("seed", range(8))
def test_garbage_bytes(seed):
    rng = np.random.default_rng(seed)
    size = int(rng.integers(1, 5000))
    garbage = rng.integers(0, 256, size=size, dtype=np.uint8).tobytes()
    candidates = [garbage, b"\x00" * 128 + b"DICM" + garbage, b"\xff" * size,
                  b"\x00" * size, (b"\x08\x00\x05\x00CS\x0a\x00" + garbage)]
    for data in candidates:
        arr, exc = _decode_file_or_error(data)
        assert exc is not None, f"garbage of {len(data)} bytes decoded to {arr.shape}"
        assert isinstance(exc, turbodicom.TurboDicomError), repr(exc)


def test_empty_inputs(tmp_path):
    empty = tmp_path / "empty.dcm"
    empty.write_bytes(b"")
    for src in (str(empty), empty, b"", bytearray(), memoryview(b""), io.BytesIO(b"")):
        with pytest.raises(turbodicom.DecodeError, match="empty"):
            turbodicom.decode(src)
    with open(empty, "rb") as f, pytest.raises(turbodicom.DecodeError, match="empty"):
        turbodicom.decode(f)


@pytest.mark.parametrize("name", ["ExplVR_BigEndNoMeta.dcm", "ExplVR_LitEndNoMeta.dcm",
                                  "rtplan.dcm", "rtstruct.dcm", "test-SR.dcm"])
def test_no_pixel_data(name):
    with pytest.raises(turbodicom.DecodeError, match=r"\(7FE0,0010\) 'Pixel Data'"):
        turbodicom.decode(pydicom_file(name))


def test_no_pixel_data_dataset():
    ds = fac.read_dataset(pydicom_file("rtplan.dcm"))
    with pytest.raises(turbodicom.DecodeError, match="Pixel Data"):
        turbodicom.decode(ds)


def test_truncated_native_pixel_data_is_named():
    with pytest.raises(turbodicom.DecodeError, match=r"Rows.*Columns.*Number of Frames"):
        turbodicom.decode(pydicom_file("MR_truncated.dcm"))


def test_missing_path_is_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        turbodicom.decode(tmp_path / "missing.dcm")


def test_unsupported_source_type():
    with pytest.raises(TypeError, match="int"):
        turbodicom.decode(12345)


# ------------------------------------------------------------------------------------------
# Contradictory descriptions
# ------------------------------------------------------------------------------------------
def _rle_arr():
    return reference.runs_and_noise((3, 6, 7), "u2", seed=31)


@pytest.mark.parametrize("layout", ["bot", "nobot", "eot"])
def test_number_of_frames_larger_than_the_fragments(layout):
    arr = _rle_arr()
    data = fac.rle_file(arr, bits_allocated=16, layout=layout, frames=5)
    with pytest.raises(turbodicom.DecodeError, match=r"'Number of Frames' is 5") as info:
        turbodicom.decode(data)
    assert "3" in str(info.value)
    with pytest.raises(turbodicom.DecodeError, match="Number of Frames"):
        list(turbodicom.iter_frames(data))
    with pytest.raises(turbodicom.DecodeError, match="Number of Frames"):
        turbodicom.decode(data, index=4)  # within Number of Frames, beyond the data
    with pytest.raises(IndexError):
        turbodicom.decode(data, index=5)


def test_huge_image_claimed_by_a_small_file():
    """A 250 KB file whose header claims 2000 frames of 65535 x 65535 RGB (51 PB) must fail
    with turbodicom's own error (the first frame cannot be that size), not a MemoryError from
    allocating the claimed output up front."""
    frame = fac.encode_frames(_rle_arr()[:1], bits_allocated=16)[0]
    ds = fac.make_dataset(transfer_syntax=fac.RLELossless, rows=65535, columns=65535,
                          samples_per_pixel=3, bits_allocated=16,
                          pixel_data=fac.encapsulate([frame] * 2000), frames=2000)
    data = fac.to_bytes(ds)
    assert len(data) < 400_000
    with pytest.raises(turbodicom.TurboDicomError):
        turbodicom.decode(data)
    with pytest.raises(turbodicom.TurboDicomError):
        turbodicom.decode(data, index=0)  # 24 GiB for this one frame


@pytest.mark.parametrize("name", ["RLE_32_1_15F", "NATIVE_IMPLICIT_32_1_15F"])
def test_output_limit_counts_what_is_decoded(name, reference_files, monkeypatch):
    """turbodicom.frames.MAX_OUTPUT_BYTES bounds what one call allocates: the whole array for
    decode(), one frame for decode(index=i), a batch for iter_frames - so one frame of a file too
    big to decode whole can still be read (the point of index= and iter_frames)."""
    from turbodicom import frames

    path = reference_files[name]
    whole = turbodicom.decode(path)
    monkeypatch.setattr(frames, "MAX_OUTPUT_BYTES", 2 * whole[0].nbytes)
    with pytest.raises(turbodicom.LimitError, match="MAX_OUTPUT_BYTES"):
        turbodicom.decode(path)
    fac.assert_same_array(turbodicom.decode(path, index=3), whole[3], "index=3")
    got = list(turbodicom.iter_frames(path, threads=1))
    assert len(got) == len(whole)
    for i, frame in enumerate(got):
        fac.assert_same_array(frame, whole[i], f"iter_frames[{i}]")


@pytest.mark.parametrize("uid", sorted(set(turbodicom.features()["decode"]) - {
    "1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2",
    "1.2.840.10008.1.2.1.99"}))
def test_decode_frame_description_beyond_the_limit(uid, monkeypatch):
    """decode_frame takes its frame description from the caller: a 65535 x 65535 x 4 x 64-bit
    description (137 GB) is a LimitError before anything is allocated, for every codec, and
    the limit is the same configurable turbodicom.frames.MAX_OUTPUT_BYTES."""
    from turbodicom import frames

    with pytest.raises(turbodicom.LimitError, match="MAX_OUTPUT_BYTES"):
        turbodicom.decode_frame(b"\0" * 64, uid, rows=65535, columns=65535,
                                samples_per_pixel=4, bits_allocated=64)
    monkeypatch.setattr(frames, "MAX_OUTPUT_BYTES", 1000)
    with pytest.raises(turbodicom.LimitError, match="1,000"):
        turbodicom.decode_frame(b"\0" * 64, uid, rows=32, columns=32, bits_allocated=8)


def test_plugin_frame_description_beyond_the_limit(monkeypatch, registered):
    """The pydicom plugin checks the same limit before allocating a frame."""
    from turbodicom import frames

    arr = _rle_arr()
    data = fac.rle_file(arr, bits_allocated=16, layout="bot", frames=3)
    ds = fac.read_dataset(io.BytesIO(data))
    monkeypatch.setattr(frames, "MAX_OUTPUT_BYTES", arr[0].nbytes - 1)
    with pytest.raises(Exception, match="MAX_OUTPUT_BYTES"):
        ds.pixel_array_options(decoding_plugin="turbodicom")
        _ = ds.pixel_array


def test_native_number_of_frames_larger_than_the_data():
    arr = _rle_arr()
    data = fac.native_file(arr, bits_allocated=16, frames=5)
    with pytest.raises(turbodicom.DecodeError, match=r"252 bytes.*need 420"):
        turbodicom.decode(data)
    fac.assert_same_array(turbodicom.decode(data, index=2), arr[2])
    with pytest.raises(turbodicom.DecodeError, match="frame 3"):
        turbodicom.decode(data, index=3)


@pytest.mark.parametrize("attr,value,fragment", [
    ("BitsAllocated", 12, "(0028,0100) 'Bits Allocated'"),
    ("BitsAllocated", 128, "(0028,0100) 'Bits Allocated'"),
    ("BitsStored", 17, "(0028,0101) 'Bits Stored'"),
    ("BitsStored", 0, "(0028,0101) 'Bits Stored'"),
    ("PixelRepresentation", 2, "(0028,0103) 'Pixel Representation'"),
    ("Rows", 0, "(0028,0010) 'Rows'"),
    ("Columns", 0, "(0028,0011) 'Columns'"),
    ("SamplesPerPixel", 0, "(0028,0002) 'Samples per Pixel'"),
])
@pytest.mark.parametrize("syntax", ["native", "rle"])
def test_impossible_pixel_module_names_the_element(attr, value, fragment, syntax):
    arr = _rle_arr()
    if syntax == "native":
        ds = fac.make_dataset(transfer_syntax=fac.ExplicitVRLittleEndian, rows=6, columns=7,
                              pixel_data=fac.le_container(arr, 16), bits_allocated=16,
                              frames=3)
    else:
        frames = fac.encode_frames(arr, bits_allocated=16)
        ds = fac.make_dataset(transfer_syntax=fac.RLELossless, rows=6, columns=7,
                              pixel_data=fac.encapsulate(frames), bits_allocated=16, frames=3)
    setattr(ds, attr, value)
    with pytest.raises(turbodicom.DecodeError) as info:
        turbodicom.decode(fac.to_bytes(ds))
    assert fragment in str(info.value)


@pytest.mark.parametrize("keyword,bits_allocated", [
    ("FloatPixelData", 8), ("FloatPixelData", 16), ("FloatPixelData", 64),
    ("DoubleFloatPixelData", 32)])
def test_float_pixel_data_with_the_wrong_bits_allocated(keyword, bits_allocated):
    """Float Pixel Data is always 32-bit and Double Float Pixel Data 64-bit (PS3.3 C.7.6.3)."""
    dtype = "f4" if keyword == "FloatPixelData" else "f8"
    arr = np.random.default_rng(1).standard_normal((3, 5, 7)).astype(dtype)
    ds = fac.make_dataset(transfer_syntax=fac.ExplicitVRLittleEndian, rows=5, columns=7,
                          pixel_data=arr.tobytes(), bits_allocated=bits_allocated, frames=3,
                          pixel_keyword=keyword, pixel_representation=None)
    data = fac.to_bytes(ds)
    for index in (None, 0):
        with pytest.raises(turbodicom.DecodeError, match="Bits Allocated"):
            turbodicom.decode(data, index=index)


@pytest.mark.parametrize("samples,pr", [(1, 0), (2, 0), (3, 1)])
def test_ybr_full_422_with_an_impossible_pixel_module(samples, pr):
    """YBR_FULL_422 needs 3 unsigned samples (PS3.3 C.7.6.3.1.2); pydicom cannot decode these
    either, but turbodicom must say so with its own error, not a numpy/Cython one."""
    raw = bytes(range(256)) * 79
    ds = fac.make_dataset(transfer_syntax=fac.ExplicitVRLittleEndian, rows=100, columns=100,
                          pixel_data=raw[:20000], bits_allocated=8, samples_per_pixel=samples,
                          pixel_representation=pr, photometric="YBR_FULL_422")
    data = fac.to_bytes(ds)
    for index in (None, 0):
        with pytest.raises(turbodicom.TurboDicomError):
            turbodicom.decode(data, index=index)


PIXEL_MODULE_TAGS = [(0x0028, 0x0002), (0x0028, 0x0006), (0x0028, 0x0010), (0x0028, 0x0011),
                     (0x0028, 0x0100), (0x0028, 0x0101), (0x0028, 0x0103)]
US_VALUES = [0, 1, 2, 3, 4, 5, 7, 8, 12, 15, 16, 17, 24, 31, 32, 33, 63, 64, 65, 128, 255, 256,
             4096, 32767, 32768, 65535]


@pytest.mark.parametrize("name", [c.name for c in reference.CASES
                                  if not c.name.startswith("DEFLATED")])  # not visible
def test_mutated_pixel_module_values(name, reference_files):
    """Random values in (0028,xxxx) US elements: turbodicom's own errors, or an array."""
    data = Path(reference_files[name]).read_bytes()
    info = turbodicom._parse.parse_image(data)
    order = ">" if info["encoding"] == turbodicom._parse.ENC_EXPLICIT_BE else "<"
    rng = random.Random(f"mutate-{name}")
    for _ in range(40):
        mutated = bytearray(data)
        changed = []
        for _ in range(rng.randint(1, 3)):
            group, elem = rng.choice(PIXEL_MODULE_TAGS)
            pos = mutated.find(struct.pack(f"{order}HH", group, elem), info["dataset_offset"])
            if pos < 0:
                continue
            value = rng.choice(US_VALUES)
            mutated[pos + 8:pos + 10] = struct.pack(f"{order}H", value)
            changed.append(f"({group:04X},{elem:04X})={value}")
        for index in (None, 0):
            arr, exc = _decode_file_or_error(bytes(mutated), index)
            if exc is not None:
                assert isinstance(exc, (turbodicom.TurboDicomError, IndexError)), (
                    f"{name} {' '.join(changed)} index={index}: {exc!r}")
            else:
                assert isinstance(arr, np.ndarray)


@pytest.mark.parametrize("missing", ["Rows", "Columns", "BitsAllocated", "BitsStored"])
def test_missing_required_element(missing):
    arr = _rle_arr()
    ds = fac.make_dataset(transfer_syntax=fac.ExplicitVRLittleEndian, rows=6, columns=7,
                          pixel_data=fac.le_container(arr, 16), bits_allocated=16, frames=3)
    delattr(ds, missing)
    with pytest.raises(turbodicom.DecodeError, match="missing required element"):
        turbodicom.decode(fac.to_bytes(ds))


def test_unknown_transfer_syntax_is_unsupported():
    frames = fac.encode_frames(_rle_arr(), bits_allocated=16)
    ds = fac.make_dataset(transfer_syntax="1.2.3.4.5.6.7", rows=6, columns=7,
                          pixel_data=fac.encapsulate(frames), bits_allocated=16, frames=3)
    ds["PixelData"].is_undefined_length = True
    buf = io.BytesIO()
    ds.save_as(buf, implicit_vr=False, little_endian=True, enforce_file_format=True)
    with pytest.raises(turbodicom.UnsupportedError, match=r"1\.2\.3\.4\.5\.6\.7") as info:
        turbodicom.decode(buf.getvalue())
    assert isinstance(info.value, NotImplementedError)


def _swap_syntax(data: bytes, old: str, new: str) -> bytes:
    """Rewrite the file meta Transfer Syntax UID (same padded length)."""
    o, n = old.encode(), new.encode()
    o += b"\x00" * (len(o) % 2)
    n += b"\x00" * (len(n) % 2)
    assert len(o) == len(n) and data.count(o) == 1
    return data.replace(o, n)


def test_defined_length_pixel_data_in_an_encapsulated_syntax():
    arr = _rle_arr()
    native = fac.native_file(arr, bits_allocated=16)
    data = _swap_syntax(native, fac.ExplicitVRLittleEndian, fac.RLELossless)
    with pytest.raises(turbodicom.DecodeError, match="encapsulated"):
        turbodicom.decode(data)


def test_encapsulated_pixel_data_in_a_native_syntax():
    frames = fac.encode_frames(_rle_arr(), bits_allocated=16)
    rle = fac.rle_file(_rle_arr(), bits_allocated=16, encoded=frames)
    data = _swap_syntax(rle, fac.RLELossless, fac.ExplicitVRLittleEndian)
    with pytest.raises(turbodicom.DecodeError, match="undefined length"):
        turbodicom.decode(data)


def test_deflated_stream_that_cannot_be_inflated():
    data = Path(pydicom_file("image_dfl.dcm")).read_bytes()
    start = turbodicom._parse.parse_image(data)["dataset_offset"]
    broken = data[:start] + b"\xff" * 64 + data[start + 64:]
    with pytest.raises(turbodicom.DecodeError, match="inflate"):
        turbodicom.decode(broken)


def test_deflate_bomb_guard(monkeypatch):
    """Inflating past the limit is a LimitError (a DecodeError) naming the limit."""
    from turbodicom import frames

    data = Path(pydicom_file("image_dfl.dcm")).read_bytes()
    monkeypatch.setattr(frames, "MAX_INFLATED_BYTES", 1000)
    with pytest.raises(turbodicom.LimitError, match="1000 bytes") as info:
        turbodicom.decode(data)
    assert isinstance(info.value, turbodicom.DecodeError)


def test_dataset_without_transfer_syntax():
    ds = fac.read_dataset(pydicom_file("MR_small.dcm"))
    del ds.file_meta.TransferSyntaxUID
    with pytest.raises(turbodicom.DecodeError, match=r"\(0002,0010\) 'Transfer Syntax UID'"):
        turbodicom.decode(ds)


def test_iter_frames_yields_the_good_frames_before_a_bad_one():
    arr = reference.runs_and_noise((4, 6, 7), "u2", seed=33)
    frames = fac.encode_frames(arr, bits_allocated=16)
    frames[2] = b"\x07" + frames[2][1:]  # 7 segments where 2 are needed
    data = fac.rle_file(arr, bits_allocated=16, encoded=frames)
    it = turbodicom.iter_frames(data, threads=1)
    fac.assert_same_array(next(it), arr[0])
    fac.assert_same_array(next(it), arr[1])
    with pytest.raises(turbodicom.DecodeError, match="7 segments"):
        next(it)


def test_bad_thread_count():
    with pytest.raises(ValueError, match="threads"):
        turbodicom.decode(pydicom_file("MR_small_RLE.dcm"), threads=0)


# ------------------------------------------------------------------------------------------
# Inputs found by fuzzing, replayed (tests/data/crashers/)
# ------------------------------------------------------------------------------------------
CRASHER_FILES = sorted(p for p in CRASHERS.glob("*") if p.is_file() and p.suffix != ".md"
                       and not p.name.startswith(".")) if CRASHERS.is_dir() else []
CRASHER_PARAMS = [pytest.param(p, id=p.name) for p in CRASHER_FILES] or [
    pytest.param(None, id="none", marks=pytest.mark.skip(
        reason=f"no fuzzer-found inputs committed under {CRASHERS} yet"))]


@pytest.mark.parametrize("path", CRASHER_PARAMS)
def test_crashers_replay(path):
    """Each committed input: decode() and decode(index=0) fail cleanly or succeed, and the tag
    scanner returns a row (values or a per-file error) without raising."""
    data = path.read_bytes()
    for index in (None, 0):
        arr, exc = _decode_file_or_error(data, index)
        if exc is not None:
            assert isinstance(exc, (turbodicom.TurboDicomError, IndexError)), repr(exc)
        else:
            assert isinstance(arr, np.ndarray)
    tags = ["TransferSyntaxUID", "SOPInstanceUID", "Modality", "PatientName", "PatientID",
            "InstanceNumber", "ImagePositionPatient", "Rows", "Columns", 0x00291010]
    rows = list(turbodicom.scan([str(path)], tags, threads=1))
    assert len(rows) == 1 and rows[0]["path"] == str(path)


# ------------------------------------------------------------------------------------------
# Issue 12: errors a user meets first (damaged deflate from a path, non-DICOM files, named
# transfer syntaxes)
# ------------------------------------------------------------------------------------------
def _mapped(path: Path) -> bool:
    """Whether `path` is memory-mapped in this process (Linux /proc/self/maps)."""
    with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
        return str(path) in f.read()


def _broken_deflate() -> bytes:
    data = Path(pydicom_file("image_dfl.dcm")).read_bytes()
    start = turbodicom._parse.parse_image(data)["dataset_offset"]
    return data[:start] + b"\xff" * 64 + data[start + 64:]


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux /proc/self/maps")
def test_damaged_deflated_file_from_a_path(tmp_path):
    """The DecodeError the bytes give from memory, not a BufferError from closing the map;
    and the map is closed even while the traceback (which holds the frames) is alive."""
    broken = _broken_deflate()
    with pytest.raises(turbodicom.DecodeError) as from_memory:
        turbodicom.decode(broken)
    path = tmp_path / "broken_dfl.dcm"
    path.write_bytes(broken)
    for src in (str(path), path):
        with pytest.raises(turbodicom.DecodeError) as info:
            turbodicom.decode(src)
        assert str(info.value) == str(from_memory.value)
        assert "inflate" in str(info.value)
        assert not _mapped(path), "the memory map is still open after the error"
    with open(path, "rb") as f, pytest.raises(turbodicom.DecodeError, match="inflate"):
        turbodicom.decode(f)
    assert not _mapped(path)
    # the good file still decodes from a path and its map is released afterwards
    good = tmp_path / "good_dfl.dcm"
    good.write_bytes(Path(pydicom_file("image_dfl.dcm")).read_bytes())
    assert turbodicom.decode(good).shape == turbodicom.decode(good.read_bytes()).shape
    assert not _mapped(good)


def test_decode_names_a_non_dicom_file_as_scan_does(tmp_path):
    """A PNG (and a text file) is 'not a DICOM file', the same message as scan()'s row error."""
    png = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + bytes(range(120))
    text = b"# notes\nnot a DICOM file at all\n" * 4
    for name, data in (("image.png", png), ("notes.txt", text)):
        path = tmp_path / name
        path.write_bytes(data)
        [row] = turbodicom.scan(path, ["Rows"])
        assert row["error"].startswith("not a DICOM file: no 'DICM' preamble"), row["error"]
        for src in (str(path), data):
            with pytest.raises(turbodicom.DecodeError) as info:
                turbodicom.decode(src)
            assert str(info.value) == row["error"]


@pytest.mark.parametrize("uid", ["1.2.840.10008.1.2.4.55", "1.2.840.10008.1.2.4.52",
                                 "1.2.840.10008.1.2.4.100", "1.2.840.10008.1.2.4.106",
                                 "1.2.840.10008.1.2.1.98", "1.2.840.10008.1.2.4.92"])
def test_unsupported_standard_syntax_is_named(uid):
    from pydicom.uid import UID

    from turbodicom.codecs import SYNTAX_NAMES

    frames = fac.encode_frames(_rle_arr(), bits_allocated=16)
    ds = fac.make_dataset(transfer_syntax=uid, rows=6, columns=7,
                          pixel_data=fac.encapsulate(frames), bits_allocated=16, frames=3)
    ds["PixelData"].is_undefined_length = True
    buf = io.BytesIO()
    ds.save_as(buf, implicit_vr=False, little_endian=True, enforce_file_format=True)
    with pytest.raises(turbodicom.UnsupportedError) as info:
        turbodicom.decode(buf.getvalue())
    msg = str(info.value)
    assert f"{uid} ({UID(uid).name})" in msg  # pydicom's name for it
    assert "unknown" not in msg
    for supported in turbodicom.features()["decode"]:
        assert SYNTAX_NAMES[supported] in msg
    assert "1.2.840.10008.1.2.5" not in msg  # the supported ones by name, not bare UIDs


def test_unsupported_syntax_with_native_pixel_data_is_named():
    """A syntax this build does not decode is named as unsupported even when the pixel data
    has a defined length (pydicom will not write such a file: the meta is rewritten here)."""
    native = fac.native_file(_rle_arr(), bits_allocated=16)
    old = b"\x02\x00\x10\x00UI\x14\x001.2.840.10008.1.2.1\x00"
    new = b"\x02\x00\x10\x00UI\x16\x001.2.840.10008.1.2.4.55"
    assert native.count(old) == 1 and native[132:140] == b"\x02\x00\x00\x00UL\x04\x00"
    group_length = struct.unpack("<I", native[140:144])[0] + 2
    data = native[:140] + struct.pack("<I", group_length) + native[144:].replace(old, new)
    with pytest.raises(turbodicom.UnsupportedError, match="JPEG Full Progression"):
        turbodicom.decode(data)


def test_standard_syntax_names_match_pydicom():
    """Our table (used without pydicom) agrees with pydicom's UID dictionary and misses none."""
    from pydicom.uid import UID

    from turbodicom.codecs import STANDARD_SYNTAX_NAMES

    compared = 0
    for uid, name in STANDARD_SYNTAX_NAMES.items():
        if UID(uid).type == "Transfer Syntax":
            assert UID(uid).name == name, uid
            compared += 1
    from pydicom._uid_dict import UID_dictionary

    pydicoms = {u for u, v in UID_dictionary.items() if v[1] == "Transfer Syntax"}
    assert pydicoms <= set(STANDARD_SYNTAX_NAMES)
    assert compared == len(pydicoms) > 50


def test_syntax_name_without_pydicom(monkeypatch):
    import sys

    from turbodicom.codecs import STANDARD_SYNTAX_NAMES, syntax_name

    monkeypatch.setitem(sys.modules, "pydicom.uid", None)  # import fails as if not installed
    with pytest.raises(ImportError):
        import pydicom.uid  # noqa: F401
    assert syntax_name("1.2.840.10008.1.2.4.55") == STANDARD_SYNTAX_NAMES[
        "1.2.840.10008.1.2.4.55"]
    assert syntax_name("1.2.3.4") == "not a DICOM standard transfer syntax"
    with pytest.raises(turbodicom.UnsupportedError, match="MPEG2 Main Profile / Main Level"):
        turbodicom.codecs.codec_for("1.2.840.10008.1.2.4.100")
