"""Native (uncompressed) pixel data, every encoding, each equal to pydicom's pixel_array."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

import turbodicom

import dicom_factory as fac
import reference
from conftest import pydicom_file

SYNTAXES = {"explicit-le": ExplicitVRLittleEndian, "implicit-le": ImplicitVRLittleEndian,
            "explicit-be": ExplicitVRBigEndian}


def _check_against_pydicom(data: bytes, *, nframes: int, ts_if_missing: str | None = None):
    expected = fac.pydicom_array(data, transfer_syntax_if_missing=ts_if_missing)
    fac.assert_same_array(turbodicom.decode(data), expected, "decode()")
    frames = [expected[i] for i in range(nframes)] if nframes > 1 else [expected]
    for i, frame in enumerate(frames):
        fac.assert_same_array(turbodicom.decode(data, index=i), frame, f"index={i}")
    for i, frame in enumerate(turbodicom.iter_frames(data, threads=2)):
        fac.assert_same_array(frame, frames[i], f"iter_frames[{i}]")
    with pytest.raises(IndexError):
        turbodicom.decode(data, index=nframes)
    return expected


# ------------------------------------------------------------------------------------------
# Integer pixel data: containers, signedness, unused bits, samples, planar configuration
# ------------------------------------------------------------------------------------------
INTEGER_CASES = [
    # bits allocated, bits stored, pixel representation, samples, planar configuration
    (8, 8, 0, 1, 0), (8, 5, 1, 1, 0), (8, 8, 0, 3, 0), (8, 8, 0, 3, 1),
    (16, 16, 0, 1, 0), (16, 12, 0, 1, 0), (16, 12, 1, 1, 0), (16, 1, 1, 1, 0),
    (16, 16, 1, 3, 1), (32, 32, 0, 1, 0), (32, 17, 1, 1, 0), (32, 31, 0, 3, 0),
    (64, 64, 1, 1, 0), (64, 33, 1, 1, 0),
]


@pytest.mark.parametrize("syntax", list(SYNTAXES))
@pytest.mark.parametrize("ba,bs,pr,spp,pc", INTEGER_CASES,
                         ids=[f"BA{c[0]}-BS{c[1]}-PR{c[2]}-S{c[3]}-PC{c[4]}"
                              for c in INTEGER_CASES])
@pytest.mark.parametrize("nframes", [1, 3])
def test_integer_pixel_data(syntax, ba, bs, pr, spp, pc, nframes):
    """Random bytes, unused high bits included: masking and sign extension as pydicom."""
    rng = np.random.default_rng(ba * 1000 + bs * 10 + spp + pc + nframes)
    shape = (nframes, 5, 7) + ((spp,) if spp > 1 else ())
    raw = rng.integers(0, 256, size=int(np.prod(shape)) * ba // 8, dtype=np.uint8).tobytes()
    raw += b"\x00" * (len(raw) % 2)
    data = fac.native_file(np.zeros(shape, dtype=f"u{ba // 8}"), raw=raw,
                           transfer_syntax=SYNTAXES[syntax], bits_allocated=ba,
                           bits_stored=bs, pixel_representation=pr, samples_per_pixel=spp,
                           planar_configuration=pc)
    expected = _check_against_pydicom(data, nframes=nframes)
    assert expected.dtype.kind == "ui"[pr]


@pytest.mark.parametrize("syntax", list(SYNTAXES))
def test_values_survive_a_round_trip(syntax):
    """Independent of pydicom: values written are values read, in the syntax's byte order."""
    arr = np.random.default_rng(3).integers(-2**15, 2**15, size=(4, 9, 11)).astype("i2")
    data = fac.native_file(arr, transfer_syntax=SYNTAXES[syntax], bits_allocated=16,
                           pixel_representation=1)
    out = turbodicom.decode(data)
    assert out.dtype == np.dtype(">i2" if syntax == "explicit-be" else "<i2")
    np.testing.assert_array_equal(out, arr)


# ------------------------------------------------------------------------------------------
# Bits Allocated 1: frames that do not start on a byte boundary
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("syntax", list(SYNTAXES))
@pytest.mark.parametrize("rows,columns,nframes", [(5, 13, 4), (3, 3, 7), (8, 8, 3), (1, 1, 9),
                                                  (7, 9, 2), (510, 510, 3)])
def test_bits_allocated_1_multiframe(syntax, rows, columns, nframes):
    bits = np.random.default_rng(rows * columns + nframes).integers(
        0, 2, size=(nframes, rows, columns), dtype=np.uint8)
    data = fac.native_file(bits, bits_allocated=1, transfer_syntax=SYNTAXES[syntax])
    expected = _check_against_pydicom(data, nframes=nframes)
    np.testing.assert_array_equal(expected, bits)  # the oracle agrees with the truth


def test_bits_allocated_1_pydicom_bundled():
    for name in ("liver_1frame.dcm", "liver_expb_1frame.dcm"):
        _check_against_pydicom(open(pydicom_file(name), "rb").read(), nframes=1)


# ------------------------------------------------------------------------------------------
# Colour: YBR_FULL_422 (subsampled storage), YBR_FULL (converted to RGB)
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("syntax", list(SYNTAXES))
@pytest.mark.parametrize("rows,columns,nframes", [(4, 6, 3), (2, 2, 1), (6, 10, 2), (1, 2, 5)])
def test_ybr_full_422(syntax, rows, columns, nframes):
    rng = np.random.default_rng(rows + columns + nframes)
    raw = rng.integers(0, 256, size=nframes * rows * columns * 2, dtype=np.uint8).tobytes()
    data = fac.native_file(np.zeros((nframes, rows, columns, 3), np.uint8), raw=raw,
                           transfer_syntax=SYNTAXES[syntax], bits_allocated=8,
                           samples_per_pixel=3, photometric="YBR_FULL_422", frames=nframes)
    _check_against_pydicom(data, nframes=nframes)


def test_ybr_full_422_bundled():
    _check_against_pydicom(open(pydicom_file("SC_ybr_full_422_uncompressed.dcm"), "rb").read(),
                           nframes=1)


@pytest.mark.parametrize("syntax", list(SYNTAXES))
@pytest.mark.parametrize("pc", [0, 1])
def test_ybr_full_is_converted_to_rgb(syntax, pc):
    arr = np.random.default_rng(pc).integers(0, 256, size=(3, 4, 5, 3), dtype=np.uint8)
    data = fac.native_file(arr, transfer_syntax=SYNTAXES[syntax], bits_allocated=8,
                           samples_per_pixel=3, photometric="YBR_FULL", planar_configuration=pc)
    expected = _check_against_pydicom(data, nframes=3)
    assert not np.array_equal(expected, arr)  # a conversion did happen


@pytest.mark.parametrize("syntax", list(SYNTAXES))
@pytest.mark.parametrize("spp,pc", [(2, 0), (4, 0), (4, 1)])
def test_two_and_four_samples_per_pixel(syntax, spp, pc):
    """pydicom's pixel_array refuses these (retired ARGB/CMYK): the source is the oracle."""
    arr = np.random.default_rng(spp + pc).integers(0, 65536, size=(3, 5, 6, spp)).astype("u2")
    data = fac.native_file(arr, transfer_syntax=SYNTAXES[syntax], bits_allocated=16,
                           samples_per_pixel=spp, planar_configuration=pc,
                           photometric="ARGB" if spp == 4 else "MONOCHROME2")
    expected = arr.astype(">u2") if syntax == "explicit-be" else arr
    fac.assert_same_array(turbodicom.decode(data), expected)
    for i in range(3):
        fac.assert_same_array(turbodicom.decode(data, index=i), expected[i], f"index={i}")


# ------------------------------------------------------------------------------------------
# Elements that must not be mistaken for the image's own
# ------------------------------------------------------------------------------------------
def _icon_item(encapsulated: bool):
    from pydicom.dataset import Dataset

    item = Dataset()
    item.Rows, item.Columns, item.SamplesPerPixel = 2, 3, 1
    item.BitsAllocated, item.BitsStored, item.HighBit = 8, 8, 7
    item.PixelRepresentation, item.PhotometricInterpretation = 0, "MONOCHROME2"
    if encapsulated:
        item.PixelData = fac.encapsulate([fac.pydicom_rle_encode(np.zeros((2, 3), np.uint8), 8)])
        item["PixelData"].is_undefined_length = True
    else:
        item.PixelData = bytes(6)
    item["PixelData"].VR = "OB"
    return item


ICON_CASES = [(syntax, undefined, icon_rle)
              for syntax in list(SYNTAXES) + ["rle"] for undefined in (False, True)
              for icon_rle in (False, True)
              # pydicom cannot write encapsulated data into an explicit big endian file
              if not (syntax == "explicit-be" and icon_rle)]


@pytest.mark.parametrize("syntax,undefined_length,icon_encapsulated", ICON_CASES,
                         ids=[f"{s}-{'undefined' if u else 'defined'}-"
                              f"{'rle' if r else 'native'}-icon" for s, u, r in ICON_CASES])
def test_icon_image_sequence_is_not_the_image(syntax, undefined_length, icon_encapsulated):
    """(0088,0200) Icon Image Sequence has its own Rows, Columns and Pixel Data, inside an
    item: only the top-level ones describe the image."""
    from pydicom.sequence import Sequence

    arr = reference.runs_and_noise((2, 6, 7), "u2", seed=70)
    if syntax == "rle":
        ds = fac.make_dataset(transfer_syntax=fac.RLELossless, rows=6, columns=7, frames=2,
                              pixel_data=fac.encapsulate(fac.encode_frames(arr, bits_allocated=16)),
                              bits_allocated=16)
    else:
        ts = SYNTAXES[syntax]
        ds = fac.make_dataset(transfer_syntax=ts, rows=6, columns=7, frames=2, bits_allocated=16,
                              pixel_data=fac.native_pixel_bytes(arr, transfer_syntax=ts,
                                                                bits_allocated=16))
    ds.IconImageSequence = Sequence([_icon_item(icon_encapsulated)])
    ds["IconImageSequence"].is_undefined_length = undefined_length
    data = fac.to_bytes(ds)
    out = turbodicom.decode(data)
    np.testing.assert_array_equal(out, arr)
    fac.assert_same_array(out, fac.pydicom_array(data, plugin="pydicom" if syntax == "rle" else ""))


# ------------------------------------------------------------------------------------------
# Big endian details
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("spp", [1, 3])
@pytest.mark.parametrize("nframes", [1, 3])
def test_big_endian_8_bit_as_ow_with_odd_length(spp, nframes):
    """8-bit data stored as OW in big endian is byte-swapped in pairs, padding included."""
    arr = np.random.default_rng(spp + nframes).integers(0, 256, size=(nframes, 3, 3, spp)
                                                        if spp > 1 else (nframes, 3, 3),
                                                        dtype=np.uint8)
    raw = arr.tobytes()
    raw += b"\x00" * (len(raw) % 2)
    swapped = np.frombuffer(raw, dtype="<u2").byteswap().tobytes()
    data = fac.native_file(arr, raw=swapped, transfer_syntax=ExplicitVRBigEndian,
                           bits_allocated=8, samples_per_pixel=spp, pixel_vr="OW")
    expected = _check_against_pydicom(data, nframes=nframes)
    np.testing.assert_array_equal(expected, arr if nframes > 1 else arr[0])


# ------------------------------------------------------------------------------------------
# Float and double float pixel data
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("syntax", list(SYNTAXES))
@pytest.mark.parametrize("keyword,dtype", [("FloatPixelData", "f4"),
                                           ("DoubleFloatPixelData", "f8")])
@pytest.mark.parametrize("nframes", [1, 3])
def test_float_pixel_data(syntax, keyword, dtype, nframes):
    arr = np.random.default_rng(nframes).standard_normal((nframes, 5, 7)).astype(dtype)
    arr[0, 0, :3] = [np.inf, -0.0, np.finfo(dtype).tiny]
    data = fac.native_file(arr if nframes > 1 else arr[0], bits_allocated=8 * arr.itemsize,
                           pixel_keyword=keyword, transfer_syntax=SYNTAXES[syntax])
    expected = _check_against_pydicom(data, nframes=nframes)
    np.testing.assert_array_equal(expected, arr if nframes > 1 else arr[0])


# ------------------------------------------------------------------------------------------
# Files without preamble, without file meta, deflated
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("syntax", list(SYNTAXES))
@pytest.mark.parametrize("file_meta", [True, False], ids=["no-preamble", "no-file-meta"])
def test_headerless_files(syntax, file_meta):
    arr = np.random.default_rng(5).integers(0, 4096, size=(2, 6, 8)).astype("u2")
    data = fac.native_file(arr, transfer_syntax=SYNTAXES[syntax], bits_allocated=16,
                           bits_stored=12, preamble=False, file_meta=file_meta)
    assert data[128:132] != b"DICM"
    assert (data[:2] == b"\x02\x00") is file_meta
    _check_against_pydicom(data, nframes=2, ts_if_missing=SYNTAXES[syntax])


def test_deflated_bundled():
    _check_against_pydicom(open(pydicom_file("image_dfl.dcm"), "rb").read(), nframes=1)


@pytest.mark.parametrize("ba,spp,nframes", [(8, 1, 1), (16, 1, 4), (8, 3, 2), (1, 1, 3)])
def test_deflated_generated(ba, spp, nframes):
    rng = np.random.default_rng(ba + spp + nframes)
    shape = (nframes, 16, 20) + ((spp,) if spp > 1 else ())
    arr = rng.integers(0, 2 if ba == 1 else 200, size=shape).astype("u1" if ba <= 8 else "u2")
    raw = fac.native_pixel_bytes(arr, transfer_syntax=ExplicitVRLittleEndian, bits_allocated=ba,
                                 samples_per_pixel=spp)
    ds = fac.make_dataset(transfer_syntax=DeflatedExplicitVRLittleEndian, rows=16, columns=20,
                          pixel_data=raw, samples_per_pixel=spp, bits_allocated=ba,
                          frames=nframes)
    data = fac.to_bytes(ds)
    assert raw not in data  # really deflated
    expected = _check_against_pydicom(data, nframes=nframes)
    np.testing.assert_array_equal(expected, arr if nframes > 1 else arr[0])


def test_padded_pixel_data_bundled():
    """Pixel data longer than the frames need: the excess is padding."""
    _check_against_pydicom(open(pydicom_file("MR_small_padded.dcm"), "rb").read(), nframes=1)


def test_native_result_is_writeable_and_detached():
    data = bytearray(open(pydicom_file("MR_small.dcm"), "rb").read())
    arr = turbodicom.decode(data)
    assert arr.flags.writeable and arr.flags.c_contiguous
    before = arr.copy()
    data[-200:] = b"\xff" * 200
    np.testing.assert_array_equal(arr, before)
