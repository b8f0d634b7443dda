"""turbodicom as a pylibjpeg plugin, tested through pylibjpeg's own API.

pylibjpeg finds plugins only through the entry points of *installed* distributions, so these
tests check the metadata of the distribution that holds the imported turbodicom (a
``pip install``, or ``build/site`` from the README's development recipe, which carries the
``.dist-info`` with ``entry_points.txt``).  Every output is compared with the official plugin
for the syntax (pylibjpeg-rle, pylibjpeg-libjpeg, pylibjpeg-openjpeg) called the same way.
Runs under pydicom 3 (the main environment) and pydicom 2.4 (CI's ``.venv-pydicom2``).
"""

from __future__ import annotations

import importlib.metadata
import warnings
from pathlib import Path

import numpy as np
import pytest

import turbodicom
from turbodicom import pylibjpeg_plugin as tp
from turbodicom.codecs import supported_syntaxes

from conftest import block_openjpeg, corpus_params, corpus_rows, pydicom_file, requires_corpus

pylibjpeg = pytest.importorskip("pylibjpeg")
pydicom = pytest.importorskip("pydicom")
from pylibjpeg.utils import get_decoders, get_pixel_data_decoders  # noqa: E402

PYDICOM_MAJOR = int(pydicom.__version__.split(".")[0])
PLUGIN = "turbodicom.pylibjpeg_plugin"  # pylibjpeg's name for it: the module of the function
RLE = "1.2.840.10008.1.2.5"
DCT = ("1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51")
J2K = ("1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.201",
       "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.203")


def _official(uid: str) -> str:
    return "rle" if uid == RLE else "openjpeg" if uid in J2K else "libjpeg"


# ------------------------------------------------------------------------------------------
# discovery
# ------------------------------------------------------------------------------------------
def test_entry_points_belong_to_the_imported_turbodicom():
    """The distribution metadata pylibjpeg reads is the one installed with this turbodicom
    (not a stale copy elsewhere on sys.path)."""
    dist = importlib.metadata.distribution("turbodicom")
    located = Path(str(dist.locate_file("turbodicom/__init__.py"))).resolve()
    assert located == Path(turbodicom.__file__).resolve()
    groups: dict[str, dict[str, str]] = {}
    for ep in dist.entry_points:
        groups.setdefault(ep.group, {})[ep.name] = ep.value
    for group in ("pylibjpeg.jpeg_decoders", "pylibjpeg.jpeg_ls_decoders",
                  "pylibjpeg.jpeg_2000_decoders"):
        assert groups[group] == {"turbodicom": f"{PLUGIN}:decode"}
    assert groups["pylibjpeg.pixel_data_decoders"] == {
        uid: f"{PLUGIN}:{func}" for uid, func in tp.PIXEL_DATA_DECODERS.items()}


def test_every_syntax_but_lossy_dct_jpeg_is_a_pixel_data_decoder():
    """All syntaxes turbodicom decodes, except JPEG Baseline/Extended (see the module's
    docstring: libjpeg-turbo's IDCT differs from pylibjpeg-libjpeg's and pylibjpeg's
    version-1 registry would pick between the two at random)."""
    assert set(tp.PIXEL_DATA_DECODERS) == set(supported_syntaxes()) - set(DCT)


def test_pylibjpeg_finds_turbodicom():
    v2 = get_pixel_data_decoders(version=2)
    for uid, func in tp.PIXEL_DATA_DECODERS.items():
        assert v2[uid][PLUGIN] is getattr(tp, func), uid
    for uid in DCT:
        assert PLUGIN not in v2.get(uid, {})
    for kind in ("JPEG", "JPEG-LS", "JPEG 2000"):
        assert get_decoders(kind)["turbodicom"] is tp.decode
    assert get_decoders()["turbodicom"] is tp.decode


# ------------------------------------------------------------------------------------------
# pixel data decoders: the official plugins' output, version 1 and 2
# ------------------------------------------------------------------------------------------
BUNDLED = ["693_J2KI.dcm", "GDCMJ2K_TextGBR.dcm", "J2K_pixelrep_mismatch.dcm", "JPEG2000.dcm",
           "MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm",
           "SC_rgb_gdcm_KY.dcm", "SC_rgb_jpeg_gdcm.dcm", "SC_rgb_rle.dcm",
           "SC_rgb_rle_16bit_2frame.dcm", "SC_rgb_rle_32bit_2frame.dcm", "rtdose_rle.dcm"]


def _frames(path: str, limit: int = 3):
    """(dataset, [encoded frames]) - at most `limit` frames."""
    ds = pydicom.dcmread(path, force=True)
    nframes = int(ds.get("NumberOfFrames", 1) or 1)
    if PYDICOM_MAJOR >= 3:
        from pydicom.encaps import generate_frames

        frame_iter = generate_frames(ds.PixelData, number_of_frames=nframes)
    else:
        from pydicom.encaps import generate_pixel_data_frame

        frame_iter = generate_pixel_data_frame(ds.PixelData, nframes)
    frames = []
    for frame in frame_iter:
        frames.append(frame)
        if len(frames) == min(limit, nframes):
            break
    return ds, frames


def _kwargs(ds) -> dict:
    """What pydicom 3's pylibjpeg plugin passes (a subset of the runner's options)."""
    return dict(rows=ds.Rows, columns=ds.Columns, samples_per_pixel=ds.SamplesPerPixel,
                bits_allocated=ds.BitsAllocated, bits_stored=ds.BitsStored,
                pixel_representation=ds.PixelRepresentation,
                photometric_interpretation=str(ds.PhotometricInterpretation),
                number_of_frames=int(ds.get("NumberOfFrames", 1) or 1))


def _check_frames(ds, frames) -> None:
    uid = str(ds.file_meta.TransferSyntaxUID)
    funcs = get_pixel_data_decoders(version=2)[uid]
    ours, theirs = funcs[PLUGIN], funcs[_official(uid)]
    # pylibjpeg-libjpeg's version 1 applies libjpeg's YCbCr -> RGB colour transform to every
    # frame of a dataset saying RGB, also JPEG Lossless and JPEG-LS frames coded as RGB (the
    # colours come out wrong, and GDCM and pydicom 3 disagree with it); turbodicom returns the
    # samples as coded there, so the oracle is the official plugin's untransformed version 2
    libjpeg_rgb = (_official(uid) == "libjpeg" and ds.PhotometricInterpretation == "RGB"
                   and ds.SamplesPerPixel == 3)
    for frame in frames:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openjpeg's JP2-in-DICOM warning
            # version 1 as pydicom 2's pylibjpeg handler calls it: the group 0028 dataset
            if libjpeg_rgb:
                expect = np.frombuffer(theirs(frame, version=2), np.uint8)
            else:
                expect = theirs(frame, ds.group_dataset(0x0028))
        got = ours(frame, ds.group_dataset(0x0028))
        assert isinstance(got, np.ndarray) and got.dtype == expect.dtype == np.uint8
        assert got.shape == expect.shape
        np.testing.assert_array_equal(got, expect)
        # version 2 as pydicom 3's pylibjpeg plugin calls it: keyword options
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expect2 = theirs(frame, version=2, **_kwargs(ds))
        got2 = ours(frame, version=2, **_kwargs(ds))
        assert type(got2) is bytearray and type(expect2) is bytearray
        assert got2 == expect2


@pytest.mark.parametrize("name", BUNDLED)
def test_pixel_data_decoders_equal_the_official_plugins(name):
    _check_frames(*_frames(pydicom_file(name)))


def test_rle_options_equal_pylibjpeg_rle():
    """byteorder '>' and Bits Allocated 1 with and without pack_bits."""
    funcs = get_pixel_data_decoders(version=2)[RLE]
    ours, theirs = funcs[PLUGIN], funcs["rle"]
    ds, frames = _frames(pydicom_file("SC_rgb_rle_16bit_2frame.dcm"))
    kw = dict(rows=ds.Rows, columns=ds.Columns, bits_allocated=16, byteorder=">")
    assert ours(frames[0], version=2, **kw) == theirs(frames[0], version=2, **kw)
    from rle.utils import encode_pixel_data

    bits = (np.arange(7 * 9) % 3 == 0).astype(np.uint8)
    encoded = encode_pixel_data(np.packbits(bits, bitorder="little").tobytes(), rows=7,
                                columns=9, samples_per_pixel=1, bits_allocated=1,
                                byteorder="<")
    for pack in (False, True):
        kw = dict(rows=7, columns=9, bits_allocated=1, pack_bits=pack)
        got = ours(encoded, version=2, **kw)
        assert got == theirs(encoded, version=2, **kw)
        assert len(got) == (8 if pack else 63)
    np.testing.assert_array_equal(ours(encoded, rows=7, columns=9, bits_allocated=1), bits)
    with pytest.raises(ValueError, match="rows, columns and bits_allocated"):
        ours(encoded, version=1)


def _corpus_cases() -> list:
    rows = corpus_rows(
        lambda r: r["transfer_syntax_uid"] in tp.PIXEL_DATA_DECODERS and r["n_fragments"]
        and r["photometric"] and "undecodable-by-pydicom+pylibjpeg" not in r["odd_flags"])
    if not rows:
        return [pytest.param(None, id="corpus", marks=requires_corpus)]
    return corpus_params(rows)


@pytest.mark.parametrize("row", _corpus_cases())
def test_corpus_pixel_data_decoders_equal_the_official_plugins(row):
    ds, frames = _frames(row["abspath"], limit=2)
    uid = str(ds.file_meta.TransferSyntaxUID)
    theirs = get_pixel_data_decoders(version=2)[uid][_official(uid)]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs(frames[0], version=2, **_kwargs(ds))
    except Exception:  # noqa: BLE001
        pytest.skip("the official plugin refuses this file: no oracle")  # counted in -ra
    _check_frames(ds, frames)


# ------------------------------------------------------------------------------------------
# pylibjpeg.decode
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [n for n in BUNDLED if "rle" not in n.lower()])
def test_pylibjpeg_decode_equals_the_official_plugins(name, monkeypatch):
    ds, frames = _frames(pydicom_file(name), limit=1)
    uid = str(ds.file_meta.TransferSyntaxUID)
    calls = []
    real = tp.decode
    monkeypatch.setattr(tp, "decode", lambda *a, **k: calls.append(1) or real(*a, **k))
    got = pylibjpeg.decode(bytes(frames[0]), decoder="turbodicom")
    assert calls, "pylibjpeg called turbodicom"
    expect = pylibjpeg.decode(bytes(frames[0]), decoder=_official(uid))
    assert got.shape == expect.shape and got.dtype == expect.dtype
    np.testing.assert_array_equal(got, expect)
    flat = pylibjpeg.decode(bytes(frames[0]), decoder="turbodicom", reshape=False)
    assert flat.dtype == np.uint8 and flat.tobytes() == got.tobytes()


@pytest.mark.parametrize("name", ["JPEG2000.dcm", "MR_small_jp2klossless.dcm", "693_J2KI.dcm",
                                  "GDCMJ2K_TextGBR.dcm"])
def test_j2k_without_openjpeg(name, monkeypatch):
    """The plugin's JPEG 2000 paths (the decoders of both versions, pylibjpeg.decode) read the
    codestream with turbodicom's decoder alone: with the OpenJPEG binding unimportable they
    give what they give with it (before, the header came from OpenJPEG)."""
    ds, frames = _frames(pydicom_file(name), limit=1)
    frame = bytes(frames[0])
    with_opj = (tp.decode_j2k(frame, ds.group_dataset(0x0028)),
                tp.decode_j2k(frame, version=2, **_kwargs(ds)), tp.decode(frame))
    block_openjpeg(monkeypatch)
    with pytest.raises(ImportError):
        from turbodicom import _j2k  # noqa: F401
    without = (tp.decode_j2k(frame, ds.group_dataset(0x0028)),
               tp.decode_j2k(frame, version=2, **_kwargs(ds)), tp.decode(frame))
    for a, b in zip(with_opj, without):
        assert type(a) is type(b)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(a, b)
        else:
            assert a == b


@pytest.mark.parametrize("name", ["SC_rgb_dcmtk_+eb+cy+np.dcm", "SC_rgb_small_odd_jpeg.dcm",
                                  "SC_jpeg_no_color_transform.dcm", "JPGExtended.dcm"])
def test_pylibjpeg_decode_dct_jpeg(name):
    """JPEG Baseline/Extended: as coded, like pylibjpeg-libjpeg's default; equal to Pillow
    (libjpeg-turbo, the same IDCT) for 8-bit, within the IDCT difference of libjpeg 9."""
    ds, frames = _frames(pydicom_file(name), limit=1)
    got = pylibjpeg.decode(bytes(frames[0]), decoder="turbodicom")
    lj = pylibjpeg.decode(bytes(frames[0]), decoder="libjpeg")
    assert got.shape == lj.shape and got.dtype == lj.dtype
    # libjpeg 9's inverse DCT rounds differently: at most 1 on these files (up to 7 seen on
    # other 4:2:2 files, where its chroma upsampling differs too)
    assert np.abs(got.astype(int) - lj.astype(int)).max() <= 1
    if ds.BitsAllocated == 8:
        import io

        from PIL import Image

        im = Image.open(io.BytesIO(bytes(frames[0])))
        if im.mode == "RGB" and "adobe_transform" not in im.info:
            im.draft("YCbCr", im.size)  # samples as coded
        np.testing.assert_array_equal(got, np.asarray(im))


def test_pylibjpeg_decode_refuses_what_it_cannot_decode():
    with pytest.raises(turbodicom.DecodeError):
        tp.decode(b"\x00" * 64)
    with pytest.raises(turbodicom.TurboDicomError):
        tp.decode(b"\xff\xd8\xff\xd9")


# ------------------------------------------------------------------------------------------
# pydicom's pylibjpeg routes, pointed at turbodicom
# ------------------------------------------------------------------------------------------
ROUTE_FILES = ["MR_small_RLE.dcm", "SC_rgb_rle_16bit_2frame.dcm", "MR_small_jp2klossless.dcm",
               "JPEG2000.dcm", "J2K_pixelrep_mismatch.dcm", "MR_small_jpeg_ls_lossless.dcm",
               "SC_rgb_jpeg_gdcm.dcm", "SC_rgb_gdcm_KY.dcm"]


def _only(plugin_name: str) -> dict:
    v2 = get_pixel_data_decoders(version=2)
    return {uid: {n: f for n, f in funcs.items() if n == plugin_name
                  or (plugin_name != PLUGIN and n != PLUGIN)}
            for uid, funcs in v2.items()}


@pytest.mark.skipif(PYDICOM_MAJOR < 3, reason="pydicom 3's pylibjpeg decoder plugin")
@pytest.mark.parametrize("name", ROUTE_FILES)
def test_pydicom3_pylibjpeg_route_through_turbodicom(name, monkeypatch):
    """pydicom 3 sorts a syntax's pylibjpeg plugins by name and uses the first: the official
    one ("libjpeg" < "openjpeg" < "rle" < "turbodicom...").  Pointed at turbodicom alone, its
    pylibjpeg bridge gives the same arrays."""
    from pydicom.pixels.decoders import pylibjpeg as bridge

    path = pydicom_file(name)
    ds = pydicom.dcmread(path)
    uid = str(ds.file_meta.TransferSyntaxUID)
    assert sorted(bridge._DECODERS[uid])[0] == _official(uid), "the official plugin wins"
    theirs = pydicom.dcmread(path)
    theirs.pixel_array_options(decoding_plugin="pylibjpeg")
    expect = theirs.pixel_array
    monkeypatch.setattr(bridge, "_DECODERS", _only(PLUGIN))
    ours = pydicom.dcmread(path)
    ours.pixel_array_options(decoding_plugin="pylibjpeg")
    got = ours.pixel_array
    assert got.dtype == expect.dtype and got.shape == expect.shape
    np.testing.assert_array_equal(got, expect)


@pytest.mark.skipif(PYDICOM_MAJOR != 2, reason="pydicom 2's pylibjpeg pixel data handler")
@pytest.mark.parametrize("name", ROUTE_FILES)
def test_pydicom2_pylibjpeg_handler_through_turbodicom(name, monkeypatch):
    """pydicom 2's pylibjpeg handler takes pylibjpeg's version-1 registry ({UID: one
    function}); with turbodicom's functions in it the arrays are those of the official
    plugins'."""
    from pydicom.pixel_data_handlers import pylibjpeg_handler as handler

    path = pydicom_file(name)
    uid = str(pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID)
    v2 = get_pixel_data_decoders(version=2)

    def decode_with(plugin_name: str) -> np.ndarray:
        monkeypatch.setattr(handler, "_DECODERS", {uid: v2[uid][plugin_name]})
        ds = pydicom.dcmread(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds.convert_pixel_data("pylibjpeg")
        return ds._pixel_array

    expect = decode_with(_official(uid))
    got = decode_with(PLUGIN)
    assert got.dtype == expect.dtype and got.shape == expect.shape
    np.testing.assert_array_equal(got, expect)
