"""Encapsulated frame location: BOT, no BOT, EOT, multi-fragment frames, single-frame access."""

from __future__ import annotations

import struct
import warnings

import pytest

import turbodicom

import dicom_factory as fac
import reference

NFRAMES = 5

LAYOUTS = {
    "bot": dict(layout="bot"),
    "nobot": dict(layout="nobot"),
    "eot": dict(layout="eot"),
    "bot-2-fragments": dict(layout="fragments", fragments_per_frame=2),
    "bot-3-fragments": dict(layout="fragments", fragments_per_frame=3),
}
#: Layouts with an offset table, through which one frame is reached directly.
WITH_TABLE = ["bot", "eot", "bot-2-fragments", "bot-3-fragments"]


@pytest.fixture(scope="module")
def source():
    """5 frames of 16-bit RGB, each frame different, and their pydicom-encoded RLE frames."""
    arr = reference.runs_and_noise((NFRAMES, 12, 17, 3), "u2", seed=40)
    for i in range(NFRAMES):
        arr[i, 0, 0] = i  # no two frames alike
    return arr, fac.encode_frames(arr, bits_allocated=16, samples_per_pixel=3)


@pytest.fixture(scope="module")
def files(source):
    arr, encoded = source
    return {name: fac.rle_file(arr, bits_allocated=16, samples_per_pixel=3, encoded=encoded,
                               **kw) for name, kw in LAYOUTS.items()}


def _rle_file(arr, encoded, name):
    return fac.rle_file(arr, bits_allocated=16, samples_per_pixel=3, encoded=encoded,
                        **LAYOUTS[name])


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_whole_decode(layout, files, source):
    arr, _ = source
    fac.assert_same_array(turbodicom.decode(files[layout]), arr, layout)


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_pydicom_agrees_on_the_layout(layout, files, source, unregistered):
    """The generated files are what we think they are: pydicom decodes them to the source."""
    fac.assert_same_array(fac.pydicom_array(files[layout], plugin="pydicom"), source[0])


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_each_frame_by_index(layout, files, source):
    arr, _ = source
    for i in range(NFRAMES):
        fac.assert_same_array(turbodicom.decode(files[layout], index=i), arr[i], f"index={i}")


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_iter_frames(layout, threads, files, source):
    arr, _ = source
    got = list(turbodicom.iter_frames(files[layout], threads=threads))
    assert len(got) == NFRAMES
    for i, frame in enumerate(got):
        fac.assert_same_array(frame, arr[i], f"frame {i}")


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("index", [NFRAMES, NFRAMES + 100, -1, -NFRAMES])
def test_out_of_range_index(layout, index, files):
    with pytest.raises(IndexError, match=str(index)):
        turbodicom.decode(files[layout], index=index)


def _corrupt_frame_content(data: bytes, encoded_frame: bytes) -> bytes:
    """Make one frame undecodable (its RLE segment count becomes 0xFFFFFFFF)."""
    head = encoded_frame[:16]
    pos = data.find(head)
    assert pos > 0 and data.find(head, pos + 1) < 0, "frame bytes not uniquely found"
    out = bytearray(data)
    out[pos:pos + 4] = b"\xff\xff\xff\xff"
    return bytes(out)


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("bad", range(NFRAMES))
def test_index_does_not_decode_other_frames(layout, bad, source):
    """Frame `bad` is corrupt: every other frame still decodes alone; the whole does not."""
    arr, encoded = source
    data = _corrupt_frame_content(_rle_file(arr, encoded, layout), encoded[bad])
    for i in range(NFRAMES):
        if i == bad:
            with pytest.raises(turbodicom.DecodeError, match="segments"):
                turbodicom.decode(data, index=i)
        else:
            fac.assert_same_array(turbodicom.decode(data, index=i), arr[i], f"index={i}")
    with pytest.raises(turbodicom.DecodeError):
        turbodicom.decode(data)


@pytest.mark.parametrize("layout", WITH_TABLE)
@pytest.mark.parametrize("bad", range(NFRAMES))
def test_offset_table_jumps_over_broken_items(layout, bad, source):
    """Frame `bad`'s item header is broken: the offset table still reaches every other frame,
    so decode(index=i) reads only frame i's items."""
    arr, encoded = source
    data = bytearray(_rle_file(arr, encoded, layout))
    pos = data.find(encoded[bad][:16])
    assert data[pos - 8:pos - 4] == b"\xfe\xff\x00\xe0"  # the fragment's item tag
    data[pos - 8:pos - 4] = b"\x12\x34\x56\x78"
    data = bytes(data)
    for i in range(NFRAMES):
        if i != bad:
            fac.assert_same_array(turbodicom.decode(data, index=i), arr[i], f"index={i}")
    with pytest.raises(turbodicom.DecodeError, match="item"):
        turbodicom.decode(data)


def test_without_offset_table_one_frame_is_still_found(source):
    """No BOT: decode(index=i) walks item headers only, so a corrupt frame elsewhere is fine."""
    arr, encoded = source
    data = _corrupt_frame_content(_rle_file(arr, encoded, "nobot"), encoded[0])
    fac.assert_same_array(turbodicom.decode(data, index=NFRAMES - 1), arr[NFRAMES - 1])


def test_single_frame_of_many_fragments_without_bot():
    """One frame in several fragments and no BOT: all fragments are the frame."""
    arr = reference.runs_and_noise((20, 30), "i2", seed=41)
    data = fac.rle_file(arr, bits_allocated=16, pixel_representation=1,
                        layout="fragments_nobot", fragments_per_frame=4)
    fac.assert_same_array(turbodicom.decode(data), arr)
    fac.assert_same_array(turbodicom.decode(data, index=0), arr)
    fac.assert_same_array(fac.pydicom_array(data, plugin="pydicom"), arr)


def test_many_small_frames_without_bot():
    arr = reference.runs_and_noise((300, 3, 5), "u1", seed=42)
    data = fac.rle_file(arr, bits_allocated=8, layout="nobot")
    fac.assert_same_array(turbodicom.decode(data), arr)
    for i in (0, 1, 150, 298, 299):
        fac.assert_same_array(turbodicom.decode(data, index=i), arr[i], f"index={i}")


def _replace_bot(data: bytes, encoded: list[bytes], new_offsets: list[int]) -> bytes:
    """Rewrite the Basic Offset Table values in place (same number of entries)."""
    start = data.find(b"\xfe\xff\x00\xe0" + struct.pack("<L", 4 * len(encoded)))
    assert start > 0
    body = start + 8
    out = bytearray(data)
    out[body:body + 4 * len(encoded)] = struct.pack(f"<{len(encoded)}L", *new_offsets)
    return bytes(out)


def test_bot_not_on_item_boundaries_is_ignored(source):
    """A BOT whose offsets do not land on item headers is treated as absent (PS3.5 A.4)."""
    arr, encoded = source
    data = _rle_file(arr, encoded, "bot")
    offsets, pos = [], 0
    for frame in encoded:
        offsets.append(pos)
        pos += 8 + len(frame)
    bad = _replace_bot(data, encoded, [0] + [o + 2 for o in offsets[1:]])
    fac.assert_same_array(turbodicom.decode(bad), arr)
    for i in range(NFRAMES):
        fac.assert_same_array(turbodicom.decode(bad, index=i), arr[i], f"index={i}")


def test_inconsistent_eot_falls_back_to_the_bot(source):
    arr, encoded = source
    data, eot, eotl = fac.encapsulate_extended(encoded)
    # a BOT as well, so there is something to fall back to
    with_bot = fac.encapsulate(encoded, has_bot=True)
    wrong_eot = struct.pack(f"<{NFRAMES}Q", *[o + 3 for o in struct.unpack(f"<{NFRAMES}Q", eot)])
    ds = fac.make_dataset(transfer_syntax=fac.RLELossless, rows=12, columns=17,
                          pixel_data=with_bot, samples_per_pixel=3, bits_allocated=16,
                          frames=NFRAMES, extended_offsets=(wrong_eot, eotl))
    file_bytes = fac.to_bytes(ds)
    fac.assert_same_array(turbodicom.decode(file_bytes), arr)
    for i in range(NFRAMES):
        fac.assert_same_array(turbodicom.decode(file_bytes, index=i), arr[i], f"index={i}")


def test_dataset_source_with_extended_offset_table(files, source):
    arr, _ = source
    ds = fac.read_dataset(files["eot"])
    assert "ExtendedOffsetTable" in ds
    fac.assert_same_array(turbodicom.decode(ds), arr)
    fac.assert_same_array(turbodicom.decode(ds, index=3), arr[3])


@pytest.mark.parametrize("kind", ["native", "bot", "eot"])
def test_more_frames_than_number_of_frames_like_pydicom(kind, unregistered):
    """pydicom 3 (allow_excess_frames=True by default) returns every whole frame present when
    there are more than (0028,0008) says; turbodicom promises pydicom's pixel_array."""
    arr = reference.runs_and_noise((3, 6, 7), "u2", seed=31)
    if kind == "native":
        data = fac.native_file(arr, bits_allocated=16, frames=2)
    else:
        data = fac.rle_file(arr, bits_allocated=16, layout=kind, frames=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = fac.pydicom_array(data, plugin="" if kind == "native" else "pydicom")
    assert expected.shape == (3, 6, 7)  # the oracle's behaviour this test relies on
    fac.assert_same_array(turbodicom.decode(data), expected)


# ------------------------------------------------------------------------------------------
# open_pixels: the public frame-access API
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_open_pixels_gives_pydicoms_frames(layout, files):
    data = files[layout]
    pydicom_frames = [bytes(f) for f, _ in fac.iter_frame_bytes(data)]
    ds = fac.read_dataset(data)
    with turbodicom.open_pixels(data) as px:
        m = px.module
        assert isinstance(m, turbodicom.PixelModule)
        assert (m.rows, m.columns, m.samples_per_pixel) == (ds.Rows, ds.Columns, 3)
        assert (m.bits_allocated, m.bits_stored, m.number_of_frames) == (16, 16, NFRAMES)
        assert m.transfer_syntax_uid == fac.RLELossless and m.encapsulated
        assert m.photometric_interpretation == "RGB"
        assert px.nr_encoded_frames == NFRAMES
        for i, expected in enumerate(pydicom_frames):
            assert bytes(px.frame(i)) == expected, f"frame {i}"
        with pytest.raises(IndexError):
            px.frame(NFRAMES)


def test_open_pixels_native_module(reference_files):
    path = reference_files["NATIVE_BE_32_1_15F"]
    ds = fac.read_dataset(path)
    with turbodicom.open_pixels(path) as px:
        m = px.module
        assert not m.encapsulated and m.big_endian
        assert (m.rows, m.columns, m.number_of_frames) == (ds.Rows, ds.Columns, 15)
        assert (m.bits_allocated, m.bits_stored, m.pixel_representation) == (
            ds.BitsAllocated, ds.BitsStored, ds.PixelRepresentation)
        assert bytes(px.native_bytes()) == bytes(ds.PixelData)


@pytest.mark.parametrize("nframes", [3, 60])
def test_paths_read_whole_or_mapped_give_the_same_frames(tmp_path, nframes):
    """A file of up to 512 KiB is read whole, a larger one memory-mapped: the same frames
    either way, whole and by index, from a path and from a file object part-way through a
    file (read from where it stands)."""
    import numpy as np

    from turbodicom import frames

    arr = reference.runs_and_noise((nframes, 64, 64, 3), "u2", seed=41)
    data = fac.rle_file(arr, bits_allocated=16, samples_per_pixel=3, encoder="turbodicom")
    assert (len(data) > frames._READ_WHOLE_MAX) == (nframes == 60), len(data)
    path = tmp_path / "f.dcm"
    path.write_bytes(data)
    want = turbodicom.decode(data)
    fac.assert_same_array(want, arr, "from bytes")
    fac.assert_same_array(turbodicom.decode(path), want, "path")
    fac.assert_same_array(turbodicom.decode(str(path), index=nframes - 1), want[-1], "index")
    prefixed = tmp_path / "g.bin"
    prefixed.write_bytes(b"x" * 100 + data)
    with open(prefixed, "rb") as f:
        f.seek(100)
        fac.assert_same_array(turbodicom.decode(f), want, "file object")
    assert np.array_equal(turbodicom.decode(path, threads=2), want)
