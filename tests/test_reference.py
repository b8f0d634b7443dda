"""Every reference case, byte for byte against each of its independent oracles."""

from __future__ import annotations

import numpy as np
import pytest

import turbodicom

import dicom_factory as fac
import reference
from reference import cases_with

RLE = "1.2.840.10008.1.2.5"


def _params(cases):
    return [pytest.param(c, id=c.name) for c in cases]


def _pydicom_reference(case, path):
    return fac.pydicom_array(path, plugin="pydicom" if case.is_rle else "",
                             transfer_syntax_if_missing=case.transfer_syntax_if_missing)


def _native_order(arr: np.ndarray) -> np.ndarray:
    return arr.astype(arr.dtype.newbyteorder("="))


def test_table_is_well_formed():
    """Names follow the convention and every twin points at a case in the table."""
    for case in reference.CASES:
        assert case.name.split("_")[0] in {"RLE", "NATIVE", "YBR422", "YBR", "DEFLATED",
                                           "FLOAT", "DOUBLE"}, case.name
        assert (case.bundled is None) != (case.build is None), case.name
        assert case.oracles, case.name
        if "twin" in case.oracles:
            assert case.twin in reference.BY_NAME, case.name
        assert "truth" not in case.oracles or case.build is not None, case.name


@pytest.mark.parametrize("case", _params(cases_with("pydicom")))
def test_matches_pydicom(case, reference_files, unregistered):
    path = reference_files[case.name]
    expected = _pydicom_reference(case, path)
    fac.assert_same_array(turbodicom.decode(path), expected, case.name)


@pytest.mark.parametrize("case", _params(cases_with("pylibjpeg-rle")))
def test_matches_pylibjpeg_rle(case, reference_files, unregistered):
    pytest.importorskip("rle", reason="pylibjpeg-rle is not installed")
    path = reference_files[case.name]
    expected = fac.pydicom_array(path, plugin="pylibjpeg")
    fac.assert_same_array(turbodicom.decode(path), expected, case.name)


@pytest.mark.parametrize("case", _params(cases_with("pylibjpeg-rle")))
def test_frames_match_pylibjpeg_rle(case, reference_files):
    """decode_frame output is byte-identical to pylibjpeg-rle's, frame by frame."""
    rle_utils = pytest.importorskip("rle.utils", reason="pylibjpeg-rle is not installed")
    path = reference_files[case.name]
    nframes = 0
    for frame, ds in fac.iter_frame_bytes(path):
        kw = dict(rows=ds.Rows, columns=ds.Columns, bits_allocated=ds.BitsAllocated)
        theirs = rle_utils.decode_pixel_data(frame, version=2, **kw)
        theirs = fac.planar_to_interleaved(theirs, ds.Rows, ds.Columns, ds.SamplesPerPixel,
                                           ds.BitsAllocated // 8)
        ours = turbodicom.decode_frame(frame, RLE, samples_per_pixel=ds.SamplesPerPixel,
                                       bits_stored=ds.BitsStored, **kw)
        assert bytes(ours) == theirs, f"{case.name} frame {nframes}"
        nframes += 1
    assert nframes == int(ds.get("NumberOfFrames", 1) or 1)


@pytest.mark.parametrize("case", _params(cases_with("imagecodecs")))
def test_frames_match_imagecodecs(case, reference_files):
    """decode_frame output is byte-identical to imagecodecs' DICOM RLE decoder."""
    imagecodecs = pytest.importorskip("imagecodecs", reason="imagecodecs is not installed")
    path = reference_files[case.name]
    nframes = 0
    for frame, ds in fac.iter_frame_bytes(path):
        bps = ds.BitsAllocated // 8
        theirs = imagecodecs.dicomrle_decode(frame, f"<u{bps}")
        theirs = fac.planar_to_interleaved(theirs, ds.Rows, ds.Columns, ds.SamplesPerPixel, bps)
        ours = turbodicom.decode_frame(frame, RLE, rows=ds.Rows, columns=ds.Columns,
                                       samples_per_pixel=ds.SamplesPerPixel,
                                       bits_allocated=ds.BitsAllocated)
        assert bytes(ours) == theirs, f"{case.name} frame {nframes}"
        nframes += 1
    assert nframes == int(ds.get("NumberOfFrames", 1) or 1)


@pytest.mark.parametrize("case", _params([c for c in cases_with("pydicom") if c.is_rle]))
def test_frames_match_pydicom_rle(case, reference_files):
    """decode_frame output is byte-identical to pydicom's pure-Python RLE frame decoder."""
    from pydicom.pixels.decoders.rle import _rle_decode_frame

    path = reference_files[case.name]
    nframes = 0
    for frame, ds in fac.iter_frame_bytes(path):
        theirs = _rle_decode_frame(frame, ds.Rows, ds.Columns, ds.SamplesPerPixel,
                                   ds.BitsAllocated)
        theirs = fac.planar_to_interleaved(theirs, ds.Rows, ds.Columns, ds.SamplesPerPixel,
                                           ds.BitsAllocated // 8)
        ours = turbodicom.decode_frame(frame, RLE, rows=ds.Rows, columns=ds.Columns,
                                       samples_per_pixel=ds.SamplesPerPixel,
                                       bits_allocated=ds.BitsAllocated)
        assert bytes(ours) == theirs, f"{case.name} frame {nframes}"
        nframes += 1
    assert nframes == int(ds.get("NumberOfFrames", 1) or 1)


@pytest.mark.parametrize("case", _params(cases_with("twin")))
def test_matches_uncompressed_twin(case, reference_files, unregistered):
    twin = reference.BY_NAME[case.twin]
    expected = _pydicom_reference(twin, reference_files[twin.name])
    actual = turbodicom.decode(reference_files[case.name])
    fac.assert_same_array(_native_order(actual), _native_order(expected),
                          f"{case.name} vs twin {twin.name}")


@pytest.mark.parametrize("case", _params(cases_with("truth")))
def test_matches_generator_truth(case, reference_files):
    fac.assert_same_array(turbodicom.decode(reference_files[case.name]), case.truth(), case.name)


@pytest.mark.parametrize("case", _params(reference.CASES))
def test_index_and_iter_frames_agree_with_decode(case, reference_files):
    path = reference_files[case.name]
    whole = turbodicom.decode(path)
    ds = fac.read_dataset(path)
    nframes = int(ds.get("NumberOfFrames", 1) or 1)
    frames = [whole[i] for i in range(nframes)] if nframes > 1 else [whole]
    for i, expected in enumerate(frames):
        fac.assert_same_array(turbodicom.decode(path, index=i), expected, f"index={i}")
    iterated = list(turbodicom.iter_frames(path, threads=2))
    assert len(iterated) == nframes
    for i, (got, expected) in enumerate(zip(iterated, frames, strict=True)):
        fac.assert_same_array(got, expected, f"iter_frames[{i}]")


@pytest.mark.parametrize("case", _params(reference.CASES))
def test_every_source_kind_gives_the_same_array(case, reference_files):
    """Path, bytes, bytearray, memoryview, numpy buffer, file object, BytesIO, Dataset."""
    import io

    path = reference_files[case.name]
    expected = turbodicom.decode(path)
    data = open(path, "rb").read()
    with open(path, "rb") as f:
        from_file = turbodicom.decode(f)
    sources = {
        "bytes": data, "bytearray": bytearray(data), "memoryview": memoryview(data),
        "ndarray": np.frombuffer(data, dtype=np.uint8), "BytesIO": io.BytesIO(data),
        "Dataset": fac.read_dataset(path, transfer_syntax_if_missing=(
            case.transfer_syntax_if_missing)),
    }
    fac.assert_same_array(from_file, expected, "file object")
    for kind, src in sources.items():
        fac.assert_same_array(turbodicom.decode(src), expected, kind)
