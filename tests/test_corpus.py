"""The real-file corpus: every file whose transfer syntax this build decodes.

* Rows with ``expected_md5``: ``turbodicom.decode`` must reproduce it exactly, and so must
  pydicom's ``pixel_array`` when turbodicom is its decoding plugin (encapsulated syntaxes).
* Rows without it: equal to pydicom's own result (dtype, shape, values) when pydicom can decode
  the file (within a tolerance for lossy syntaxes); otherwise turbodicom must fail with its own
  error or return an array of the size the manifest describes, never anything else.
* Multi-frame files: ``decode(index=i)`` and ``iter_frames`` equal ``decode()[i]``; the result
  does not depend on the number of threads.

Tests are parametrized by the file's path relative to the corpus, so a failure names the file.
"""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import pytest

import turbodicom

import dicom_factory as fac
from conftest import CORPUS_SKIP_REASON, corpus_available, corpus_params, corpus_rows

pytestmark = pytest.mark.skipif(not corpus_available(), reason=CORPUS_SKIP_REASON)

SUPPORTED = set(turbodicom.features()["decode"])
NATIVE = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2",
          "1.2.840.10008.1.2.1.99"}
#: Files without a transfer syntax: the manifest says how they parse; turbodicom infers it.
INFERRED = {"implicit-LE": "1.2.840.10008.1.2", "explicit-BE": "1.2.840.10008.1.2.2",
            "explicit-LE": "1.2.840.10008.1.2.1"}

#: Corpus files pydicom cannot decode whose pixels equal an uncompressed twin in the corpus.
TWINS = {
    "pydicom-data/data_store/data/liver_rle.dcm":
        "dicom-test-files/data/dcmqi/segmentations/liver.dcm",
    "pydicom-data/data_store/data/liver_nonbyte_aligned_rle.dcm":
        "pydicom-data/data_store/data/liver_nonbyte_aligned.dcm",
}


def _inferred_syntax(row) -> str | None:
    for hint, uid in INFERRED.items():
        if hint in row["transfer_syntax_name"]:
            return uid
    return None


def _syntax(row) -> str | None:
    """The transfer syntax turbodicom will see (explicit or inferred), or None."""
    return row["transfer_syntax_uid"] or _inferred_syntax(row)


def _supported(row) -> bool:
    return _syntax(row) in SUPPORTED


def _md5(arr: np.ndarray) -> str:
    return hashlib.md5(np.ascontiguousarray(arr).tobytes()).hexdigest()


def _int(value: str, default: int = 1) -> int:
    try:
        return int(value)
    except ValueError:
        return default


WITH_MD5 = corpus_rows(lambda r: _supported(r) and bool(r["expected_md5"]))
WITHOUT_MD5 = corpus_rows(lambda r: _supported(r) and not r["expected_md5"])
ENCAPSULATED_WITH_MD5 = [r for r in WITH_MD5 if r["transfer_syntax_uid"] not in NATIVE
                         and r["transfer_syntax_uid"]]
MULTIFRAME = corpus_rows(lambda r: _supported(r) and _int(r["frames"]) > 1)
TWIN_ROWS = corpus_rows(lambda r: r["path"] in TWINS)


def test_the_corpus_has_rows_this_build_supports():
    assert WITH_MD5, "no corpus row with expected_md5 uses a transfer syntax this build decodes"
    assert any(r["transfer_syntax_uid"] == "1.2.840.10008.1.2.5" for r in WITH_MD5)


@pytest.mark.parametrize("row", corpus_params(WITH_MD5))
def test_decode_reproduces_expected_md5(row):
    arr = turbodicom.decode(row["abspath"])
    assert _md5(arr) == row["expected_md5"], (
        f"{row['path']}: md5 differs ({arr.dtype} {arr.shape}); reference: {row['reference']}")


@pytest.mark.parametrize("row", corpus_params(ENCAPSULATED_WITH_MD5))
def test_pydicom_pixel_array_through_turbodicom_plugin(row, registered):
    """Forced ``decoding_plugin='turbodicom'``: pydicom's pixel_array reproduces the md5."""
    ds = fac.read_dataset(row["abspath"])  # force: some files lack the preamble
    ds.pixel_array_options(decoding_plugin="turbodicom")
    assert _md5(ds.pixel_array) == row["expected_md5"], row["path"]


@pytest.mark.parametrize("row", corpus_params(ENCAPSULATED_WITH_MD5))
def test_pydicom_default_options_use_turbodicom_first(row, registered):
    """With default options pydicom tries turbodicom first and it does the decoding."""
    from pydicom.pixels.decoders.base import get_decoder

    decoder = get_decoder(row["transfer_syntax_uid"])
    assert next(iter(decoder._available)) == "turbodicom"
    calls = []
    original = decoder._available["turbodicom"]

    def spy(src, runner):
        calls.append(len(src))
        return original(src, runner)

    decoder._available["turbodicom"] = spy
    try:
        ds = fac.read_dataset(row["abspath"])
        arr = ds.pixel_array
    finally:
        decoder._available["turbodicom"] = original
    assert len(calls) == _int(row["frames"]), "turbodicom did not decode every frame"
    assert _md5(arr) == row["expected_md5"], row["path"]


def _pydicom_or_exception(row):
    """pydicom's own pixel_array (turbodicom unregistered), or the exception it raised."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = fac.read_dataset(row["abspath"], transfer_syntax_if_missing=_syntax(row))
            return ds.pixel_array, None
    except Exception as exc:  # noqa: BLE001 - any pydicom failure means "no oracle"
        return None, exc


def _turbodicom_or_exception(path):
    try:
        return turbodicom.decode(path), None
    except Exception as exc:  # noqa: BLE001 - classified by the caller
        return None, exc


@pytest.mark.parametrize("row", corpus_params(WITHOUT_MD5))
def test_without_md5_agrees_with_pydicom(row, unregistered):
    expected, pydicom_error = _pydicom_or_exception(row)
    actual, error = _turbodicom_or_exception(row["abspath"])
    if expected is not None:
        assert error is None, (f"{row['path']}: pydicom decodes it ({expected.dtype} "
                               f"{expected.shape}) but turbodicom raised {error!r}")
        if row["lossy"] == "yes":
            assert actual.dtype == expected.dtype and actual.shape == expected.shape
            diff = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
            bits = _int(row["bits_stored"], 8)
            tolerance = max(2.0, 2.0 ** (bits - 7))
            assert diff.max() <= tolerance, (row["path"], float(diff.max()))
        else:
            fac.assert_same_array(actual, expected, row["path"])
        return
    # pydicom cannot decode the file: ours must fail cleanly or give the described size
    if error is not None:
        assert isinstance(error, turbodicom.TurboDicomError), (
            f"{row['path']}: pydicom failed ({pydicom_error!r}); turbodicom must raise a "
            f"TurboDicomError, not {error!r}")
        return
    rows, columns = _int(row["rows"], -1), _int(row["columns"], -1)
    spp, frames = _int(row["samples_per_pixel"]), _int(row["frames"])
    if rows < 0 or columns < 0:
        # pydicom could not even read the image module (e.g. a sequence without its delimiter
        # swallows the dataset): check the pixels against an independent codec on the frame
        # bytes turbodicom located, so both the walker and the decoder are tested.
        _assert_independent_decode(row, actual)
        return
    described = (frames, rows, columns, spp)
    got = (actual.shape[0] if frames > 1 else 1, actual.shape[-3 if spp > 1 else -2],
           actual.shape[-2 if spp > 1 else -1], actual.shape[-1] if spp > 1 else 1)
    assert got == described, (f"{row['path']}: pydicom failed ({pydicom_error!r}); turbodicom "
                              f"returned shape {actual.shape}, the manifest describes {described}")


@pytest.mark.parametrize("row", corpus_params(TWIN_ROWS))
def test_pydicom_undecodable_files_equal_their_twin(row, unregistered):
    import os

    from conftest import CORPUS

    twin = os.path.join(str(CORPUS), TWINS[row["path"]])
    fac.assert_same_array(turbodicom.decode(row["abspath"]), fac.pydicom_array(twin),
                          f"{row['path']} vs {TWINS[row['path']]}")


def _sample_indices(n: int, limit: int = 48) -> list[int]:
    if n <= limit:
        return list(range(n))
    return sorted(set(np.linspace(0, n - 1, limit).astype(int).tolist()))


@pytest.mark.parametrize("row", corpus_params(MULTIFRAME))
def test_multiframe_index_iter_frames_and_threads(row):
    whole, error = _turbodicom_or_exception(row["abspath"])
    if error is not None:
        assert isinstance(error, turbodicom.TurboDicomError), repr(error)
        with pytest.raises(type(error)):
            turbodicom.decode(row["abspath"], threads=1)
        return
    n = whole.shape[0]
    assert n == _int(row["frames"]), (whole.shape, row["frames"])
    for i in _sample_indices(n):
        fac.assert_same_array(turbodicom.decode(row["abspath"], index=i), whole[i],
                              f"{row['path']} index={i}")
    iterated = list(turbodicom.iter_frames(row["abspath"], threads=2))
    assert len(iterated) == n
    for i, frame in enumerate(iterated):
        fac.assert_same_array(frame, whole[i], f"{row['path']} iter_frames[{i}]")
    fac.assert_same_array(turbodicom.decode(row["abspath"], threads=1),
                          turbodicom.decode(row["abspath"], threads=2), "threads=1 vs 2")
    with pytest.raises(IndexError):
        turbodicom.decode(row["abspath"], index=n)


def _assert_independent_decode(row, actual):
    imagecodecs = pytest.importorskip("imagecodecs")
    from turbodicom.frames import open_pixels

    with open_pixels(row["abspath"]) as px:
        uid = px.module.transfer_syntax_uid
        frame = bytes(px.frame(0))
    decoders = {"1.2.840.10008.1.2.4.57": imagecodecs.ljpeg_decode,
                "1.2.840.10008.1.2.4.70": imagecodecs.ljpeg_decode}
    if uid not in decoders:
        pytest.fail(f"{row['path']}: pydicom cannot read it and no independent decoder for {uid}")
    expected = decoders[uid](frame)
    first = actual if actual.ndim == expected.ndim else actual[0]
    assert first.shape == expected.shape, (row["path"], first.shape, expected.shape)
    assert np.array_equal(first.astype(np.int64), expected.astype(np.int64)), row["path"]
