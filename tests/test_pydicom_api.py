"""turbodicom through pydicom 3's whole pixel API equals pydicom's own plugins.

Every call a pydicom user makes (``Decoder.as_array`` / ``as_buffer`` / ``iter_array`` /
``iter_buffer``, ``pydicom.pixels.pixel_array`` / ``iter_pixels``, ``Dataset.pixel_array``,
``Dataset.decompress()`` and ``Dataset.compress()``), with the options users set (``as_rgb``,
``raw``, ``index`` / ``indices``, ``view_only``, ``apply_j2k_sign_correction``,
``rle_segment_order``, ``force_rgb``, ``allow_excess_frames``), is run once with
``decoding_plugin="turbodicom"`` and once with each of pydicom's own plugins that decodes the
file (pillow, gdcm, pylibjpeg, pyjpegls, pydicom's RLE decoder).  The two must agree on:
arrays (values, dtype, shape, writeable and C-contiguous flags), buffers (bytes), the returned
metadata dicts, the warnings pydicom emits and the type of any exception.

Files: every encapsulated file bundled with pydicom whose transfer syntax turbodicom decodes,
plus, when the real-file corpus is present, HTJ2K and JPEG Lossless files (pydicom bundles
none), and files built here from bundled frames (more frames than Number of Frames says).

The installed pydicom (3.0.x) drives the tests; the pydicom 3.1 per-frame runner is the
simulated one of test_plugin.py, checked against what pydicom 3.0's plugins give per frame.

Deliberate differences, asserted as such:

* pylibjpeg (Thomas Richter's libjpeg) rounds the lossy JPEG IDCT differently from
  libjpeg-turbo, which pillow, gdcm's bundled IJG code and turbodicom agree on: samples differ
  by at most 1, and by at most 3 after pydicom's YCbCr -> RGB conversion amplifies them.
* turbodicom decodes 12-bit JPEG Extended that pillow and gdcm refuse; JPEG-lossy.dcm is
  refused by all of pydicom's plugins and decoded by turbodicom (checked against libjpeg-turbo).
* The buffer type of ``as_buffer(index=i)``: pydicom documents ``bytearray``; turbodicom,
  pylibjpeg and pydicom's RLE decoder return one, pillow and gdcm return ``bytes``.
"""

from __future__ import annotations

import copy
import functools
import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pytest
from pydicom.encaps import encapsulate, generate_frames
from pydicom.pixels import iter_pixels, pixel_array
from pydicom.pixels.decoders.base import get_decoder
from pydicom.uid import (JPEG2000TransferSyntaxes, JPEGBaseline8Bit, JPEGExtended12Bit,
                         RLELossless)

import turbodicom
from turbodicom import pydicom_plugin

import dicom_factory as fac
from conftest import corpus_available, corpus_rows, pydicom_file
from test_plugin import Runner31

LOSSY_JPEG = (JPEGBaseline8Bit, JPEGExtended12Bit)

#: Every encapsulated file bundled with pydicom 3.0 in a transfer syntax turbodicom decodes
#: (JPEG2000-embedded-sequence-delimiter.dcm, which nobody decodes, is the error-path test).
BUNDLED = [
    # RLE Lossless
    "MR_small_RLE.dcm", "SC_rgb_rle.dcm", "SC_rgb_rle_16bit.dcm", "SC_rgb_rle_16bit_2frame.dcm",
    "SC_rgb_rle_2frame.dcm", "SC_rgb_rle_32bit.dcm", "SC_rgb_rle_32bit_2frame.dcm",
    "rtdose_rle.dcm", "rtdose_rle_1frame.dcm",
    # JPEG Baseline: YCbCr, RGB, Adobe APP14, 4:2:2 and 4:4:4, one multi-frame
    "SC_rgb_dcmtk_+eb+cy+np.dcm", "SC_rgb_small_odd_jpeg.dcm", "SC_rgb_jpeg_lossy_gdcm.dcm",
    "SC_rgb_dcmtk_+eb+cy+s2.dcm", "SC_rgb_dcmtk_+eb+cy+s4.dcm", "SC_rgb_dcmtk_+eb+cy+n1.dcm",
    "SC_rgb_dcmtk_+eb+cy+n2.dcm", "SC_rgb_dcmtk_+eb+cr.dcm", "SC_rgb_jpeg_dcmtk.dcm",
    "SC_rgb_jpeg.dcm", "SC_rgb_jpeg_app14_dcmd.dcm", "SC_jpeg_no_color_transform.dcm",
    "SC_jpeg_no_color_transform_2.dcm", "examples_ybr_color.dcm",
    # JPEG Extended (12-bit)
    "JPGExtended.dcm",
    # JPEG Lossless SV1
    "SC_rgb_jpeg_gdcm.dcm",
    # JPEG-LS
    "MR_small_jpeg_ls_lossless.dcm", "JPEGLSNearLossless_08.dcm", "JPEGLSNearLossless_16.dcm",
    "SC_rgb_jls_lossy_line.dcm", "SC_rgb_jls_lossy_sample.dcm",
    # JPEG 2000: signed, pixel representation mismatch, YBR_RCT, YBR_ICT-free RGB
    "693_J2KI.dcm", "J2K_pixelrep_mismatch.dcm", "JPEG2000.dcm", "MR_small_jp2klossless.dcm",
    "GDCMJ2K_TextGBR.dcm", "SC_rgb_gdcm_KY.dcm", "examples_jpeg2k.dcm",
]

#: Corpus files for the syntaxes pydicom bundles nothing in (HTJ2K, JPEG Lossless Process 14)
#: or little (JPEG Lossless SV1).
CORPUS = [
    "pydicom-data/data_store/data/HTJ2KLossless_08_RGB.dcm",
    "pydicom-data/data_store/data/HTJ2K_08_RGB.dcm",
    "DICOMHTJ2K/test/fixtures/htj2k/US1_JPH",
    "DICOMHTJ2K/test/fixtures/htj2k/CT1_JPH",
    "cornerstone3D/packages/dicomImageLoader/examplesOld/test-images/"
    "CTImage.dcm_JPEGProcess14TransferSyntax_1.2.840.10008.1.2.4.57.dcm",
    "orthanc-tests/Database/Issue140.dcm",
    "fo-dicom/Tests/FO-DICOM.Tests/Test Data/GH184.dcm",
    "pylibjpeg-data/ljdata/ds/JPEGLosslessSV1/SC_rgb_jpeg_gdcm.dcm",
]


def _corpus_paths() -> list[str]:
    rows = {r["path"]: r["abspath"] for r in corpus_rows(lambda r: r["path"] in CORPUS)}
    return [rows[p] for p in CORPUS if p in rows]


def _file_params() -> list:
    params = [pytest.param(("bundled", name), id=name) for name in BUNDLED]
    if corpus_available():
        params += [pytest.param(("corpus", path), id=os.path.basename(path))
                   for path in _corpus_paths()]
    return params


FILES = _file_params()


def _path(spec: tuple[str, str]) -> str:
    kind, name = spec
    return pydicom_file(name) if kind == "bundled" else name


@functools.lru_cache(maxsize=None)
def _dataset(path: str):
    return fac.read_dataset(path)


def _ds(path: str):
    """A fresh copy of the dataset (pydicom caches arrays and decompress() rewrites it)."""
    return copy.deepcopy(_dataset(path))


def _syntax(path: str) -> str:
    return str(_dataset(path).file_meta.TransferSyntaxUID)


def _frames(path: str) -> int:
    return int(_dataset(path).get("NumberOfFrames", 1) or 1)


def _is_ybr_jpeg(path: str) -> bool:
    ds = _dataset(path)
    return _syntax(path) in LOSSY_JPEG and ds.PhotometricInterpretation.startswith("YBR_FULL")


# ------------------------------------------------------------------------------------------
# Running one call and comparing outcomes
# ------------------------------------------------------------------------------------------
@dataclass
class Outcome:
    """What a user observes from one call: its value or exception type, and the warnings."""

    value: Any = None
    error: type | None = None
    message: str = ""
    warnings: list[str] = field(default_factory=list)


def _run(call: Callable[[], Any]) -> Outcome:
    out = Outcome()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = call()
            # iterators are drained inside the warning capture (their warnings come late)
            out.value = list(value) if hasattr(value, "__next__") else value
        except Exception as exc:  # noqa: BLE001 - the exception type is the observable
            out.error, out.message = type(exc), str(exc)
    out.warnings = [f"{w.category.__name__}: {w.message}" for w in caught]
    return out


@functools.lru_cache(maxsize=None)
def _oracles(path: str) -> tuple[str, ...]:
    """pydicom's own plugins that decode `path` (as pydicom's default options ask)."""
    decoder = get_decoder(_syntax(path))
    names = []
    for name in decoder._available:
        if name == "turbodicom":
            continue
        try:
            decoder.as_array(_ds(path), decoding_plugin=name)
        except Exception:  # noqa: BLE001 - a plugin that cannot decode the file is no oracle
            continue
        names.append(name)
    return tuple(names)


#: oracles=PRIMARY: compare with one oracle only (see _compare)
PRIMARY: tuple[str, ...] = ("pydicom's first exact plugin",)


def _exact_first(path: str) -> list[str]:
    """The oracles in pydicom's order, those decoding the file exactly first."""
    return sorted(_oracles(path), key=lambda p: _tolerance(path, p, True))


def _tolerance(path: str, plugin: str, converted: bool) -> int:
    """Largest sample difference allowed against `plugin` (0: byte for byte).

    pylibjpeg's libjpeg rounds the lossy JPEG IDCT differently from libjpeg-turbo (pillow,
    gdcm and turbodicom agree exactly): 1 per sample, up to 3 once pydicom's YCbCr -> RGB
    matrix has mixed three such samples."""
    if plugin == "pylibjpeg" and _syntax(path) in LOSSY_JPEG:
        return 3 if converted else 1
    return 0


def _assert_array(ours: np.ndarray, theirs: np.ndarray, tol: int, what: str) -> None:
    assert isinstance(ours, np.ndarray), what
    assert ours.dtype == theirs.dtype, f"{what}: dtype {ours.dtype} != {theirs.dtype}"
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} != {theirs.shape}"
    assert ours.flags.writeable == theirs.flags.writeable, f"{what}: writeable flag"
    assert ours.flags.c_contiguous == theirs.flags.c_contiguous, f"{what}: C-contiguous flag"
    if tol == 0:
        fac.assert_same_array(ours, theirs, what)
    else:
        diff = np.abs(ours.astype(np.int64) - theirs.astype(np.int64))
        assert int(diff.max(initial=0)) <= tol, f"{what}: differs by {diff.max()} > {tol}"


def _assert_buffer(ours: Any, theirs: Any, dtype: str, tol: int, what: str) -> None:
    assert isinstance(ours, (bytes, bytearray)), f"{what}: {type(ours)}"
    assert len(ours) == len(theirs), f"{what}: {len(ours)} bytes != {len(theirs)}"
    if tol == 0:
        assert bytes(ours) == bytes(theirs), what
    else:
        a = np.frombuffer(ours, dtype).astype(np.int64)
        b = np.frombuffer(theirs, dtype).astype(np.int64)
        assert int(np.abs(a - b).max(initial=0)) <= tol, what


def _buffer_dtype(meta: dict) -> str:
    if "bits_allocated" not in meta:  # pydicom 3.1: {frame index: metadata}
        meta = next(iter(meta.values()))
    return f"<u{max(1, int(meta['bits_allocated']) // 8)}"


def _assert_value(ours: Any, theirs: Any, tol: int, what: str) -> None:
    """Arrays, buffers, metadata dicts and (nested) tuples / lists of them."""
    if isinstance(theirs, np.ndarray):
        _assert_array(ours, theirs, tol, what)
    elif isinstance(theirs, tuple) and len(theirs) == 2 and isinstance(theirs[1], dict):
        assert ours[1] == theirs[1], f"{what}: metadata {ours[1]} != {theirs[1]}"
        if isinstance(theirs[0], np.ndarray):
            _assert_array(ours[0], theirs[0], tol, what)
        else:
            _assert_buffer(ours[0], theirs[0], _buffer_dtype(theirs[1]), tol, what)
    elif isinstance(theirs, (list, tuple)):
        assert len(ours) == len(theirs), f"{what}: {len(ours)} items != {len(theirs)}"
        for i, (a, b) in enumerate(zip(ours, theirs)):
            _assert_value(a, b, tol, f"{what}[{i}]")
    else:
        assert ours == theirs, f"{what}: {ours!r} != {theirs!r}"


#: Failures of pydicom 3.0 with one of its own plugins where another of its plugins succeeds
#: (those are the oracles then).  pydicom's iter_array applies the JPEG 2000 sign correction
#: in place to ``np.frombuffer`` of the plugin's frame: read-only for the ``bytes`` gdcm and
#: pillow return, writable for the ``bytearray`` pylibjpeg and turbodicom return.
ORACLE_BUGS = {"output array is read-only"}


def _compare(path: str, call: Callable[[str], Any], what: str, converted: bool = False,
             oracles: tuple[str, ...] | None = None) -> Outcome:
    """Run ``call(plugin)`` with turbodicom and with each oracle; assert identical outcomes."""
    ours = _run(lambda: call("turbodicom"))
    if oracles is PRIMARY:
        # calls not repeated against every plugin (test_as_array / test_as_buffer do that):
        # pydicom's first plugin that decodes exactly and has no known bug on the call
        outcomes = {}
        for plugin in _exact_first(path):
            outcomes = {plugin: _run(lambda: call(plugin))}
            if outcomes[plugin].message not in ORACLE_BUGS:
                break
    else:
        oracles = _oracles(path) if oracles is None else oracles
        outcomes = {plugin: _run(lambda: call(plugin)) for plugin in oracles}
    assert outcomes, f"{what}: no oracle decodes {path}"
    working = [p for p, o in outcomes.items() if o.error is None]
    for plugin, theirs in outcomes.items():
        label = f"{what} vs {plugin}"
        if theirs.message in ORACLE_BUGS and working:
            continue
        assert ours.error is theirs.error, f"{label}: {ours.error} ({ours.message}) != " \
                                           f"{theirs.error} ({theirs.message})"
        assert ours.warnings == theirs.warnings, label
        if theirs.error is None:
            _assert_value(ours.value, theirs.value, _tolerance(path, plugin, converted), label)
    return ours


@pytest.fixture(autouse=True)
def _registered(registered):
    """turbodicom is registered (first) for every test here."""


# ------------------------------------------------------------------------------------------
# Decoder.as_array / as_buffer / iter_array / iter_buffer
# ------------------------------------------------------------------------------------------
def _indices(path: str) -> list[int | None]:
    n = _frames(path)
    return [None, 0] + ([n - 1] if n > 1 else [])


@pytest.mark.parametrize("spec", FILES)
def test_as_array(spec):
    path = _path(spec)
    decoder = get_decoder(_syntax(path))
    for index in _indices(path):
        # raw=True with as_rgb=False adds nothing to raw=True with as_rgb=True
        for raw, as_rgb in ((False, True), (True, True), (False, False)):
            def call(plugin):
                return decoder.as_array(_ds(path), index=index, raw=raw, as_rgb=as_rgb,
                                        decoding_plugin=plugin)
            _compare(path, call, f"as_array(index={index}, raw={raw}, as_rgb={as_rgb})",
                     converted=as_rgb and not raw)


@pytest.mark.parametrize("spec", FILES)
def test_as_buffer(spec):
    """The plugin's own bytes and metadata: YCbCr stays YCbCr, RLE colour is planar, J2K and
    JPEG-LS containers follow the codestream's precision - as pydicom's plugins give them."""
    path = _path(spec)
    decoder = get_decoder(_syntax(path))
    for index in _indices(path):
        ours = _compare(path, lambda p: decoder.as_buffer(_ds(path), index=index,
                                                          decoding_plugin=p),
                        f"as_buffer(index={index})")
        assert isinstance(ours.value[0], (bytes if index is None else bytearray))


@pytest.mark.parametrize("spec", FILES)
def test_iter_array_and_iter_buffer(spec):
    path = _path(spec)
    decoder = get_decoder(_syntax(path))
    n = _frames(path)
    for indices in ((None, [0]) if n == 1 else (None, [n - 1], [0, n - 1])):
        for raw in (False, True):
            _compare(path, lambda p: decoder.iter_array(_ds(path), indices=indices, raw=raw,
                                                        decoding_plugin=p),
                     f"iter_array(indices={indices}, raw={raw})", converted=not raw,
                     oracles=PRIMARY)
        ours = _compare(path, lambda p: decoder.iter_buffer(_ds(path), indices=indices,
                                                            decoding_plugin=p),
                        f"iter_buffer(indices={indices})", oracles=PRIMARY)
        assert all(isinstance(buf, bytearray) for buf, _ in ours.value)


# ------------------------------------------------------------------------------------------
# pydicom.pixels.pixel_array / iter_pixels, Dataset.pixel_array, decompress(), compress()
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", FILES)
def test_pixel_array_and_iter_pixels(spec):
    """From a path (pydicom then decodes from a file object) and from a dataset; against the
    default oracle only (test_as_array compares the same decoder call with every plugin)."""
    path = _path(spec)
    oracle = PRIMARY
    for index in _indices(path):
        for raw in (False, True):
            _compare(path, lambda p: pixel_array(path, index=index, raw=raw, decoding_plugin=p),
                     f"pixel_array(path, index={index}, raw={raw})", converted=not raw,
                     oracles=oracle)
    _compare(path, lambda p: pixel_array(_ds(path), decoding_plugin=p),
             "pixel_array(dataset)", converted=True, oracles=oracle)
    for raw in (False, True):
        _compare(path, lambda p: iter_pixels(path, raw=raw, decoding_plugin=p),
                 f"iter_pixels(path, raw={raw})", converted=not raw, oracles=oracle)
    _compare(path, lambda p: iter_pixels(_ds(path), decoding_plugin=p),
             "iter_pixels(dataset)", converted=True, oracles=oracle)


@pytest.mark.parametrize("spec", FILES)
def test_dataset_pixel_array(spec):
    path = _path(spec)
    for options in ({}, {"as_rgb": False}, {"raw": True}):
        def call(plugin):
            ds = _ds(path)
            ds.pixel_array_options(decoding_plugin=plugin, **options)
            return ds.pixel_array
        _compare(path, call, f"Dataset.pixel_array {options}", converted=not options,
                 oracles=PRIMARY)


def _decompressed(ds) -> tuple:
    """What Dataset.decompress() leaves a user with."""
    keys = ("PhotometricInterpretation", "PlanarConfiguration", "BitsAllocated", "BitsStored",
            "PixelRepresentation", "NumberOfFrames", "SamplesPerPixel", "LossyImageCompression")
    meta = {k: str(ds.get(k)) for k in keys}
    meta["TransferSyntaxUID"] = str(ds.file_meta.TransferSyntaxUID)
    meta["VR"] = ds["PixelData"].VR
    meta["is_undefined_length"] = ds["PixelData"].is_undefined_length
    arr = np.frombuffer(ds.PixelData, f"<u{max(1, ds.BitsAllocated // 8)}").copy()
    return arr, meta


@pytest.mark.parametrize("spec", FILES)
def test_decompress(spec):
    path = _path(spec)
    for as_rgb in (True, False):
        def call(plugin):
            ds = _ds(path)
            ds.decompress(decoding_plugin=plugin, as_rgb=as_rgb)
            return _decompressed(ds)
        _compare(path, call, f"decompress(as_rgb={as_rgb})", converted=as_rgb,
                 oracles=PRIMARY)


@pytest.mark.parametrize("name", ["MR_small_RLE.dcm", "SC_rgb_rle_16bit_2frame.dcm",
                                  "SC_rgb_small_odd_jpeg.dcm", "SC_rgb_jpeg_gdcm.dcm",
                                  "JPEGLSNearLossless_16.dcm", "MR_small_jp2klossless.dcm"])
def test_decompress_then_compress_rle(name):
    """decompress() through turbodicom, then compress(RLELossless) with turbodicom's encoder,
    gives the PixelData pydicom's own decoder and encoder give."""
    path = pydicom_file(name)
    oracle = _oracles(path)[0]
    encoded = {}
    for decoding, encoding in (("turbodicom", "turbodicom"), (oracle, "pydicom")):
        ds = _ds(path)
        ds.decompress(decoding_plugin=decoding)
        ds.compress(RLELossless, encoding_plugin=encoding)
        encoded[encoding] = (ds.PixelData, ds.PhotometricInterpretation,
                             ds.file_meta.TransferSyntaxUID)
    assert encoded["turbodicom"] == encoded["pydicom"]


# ------------------------------------------------------------------------------------------
# Options
# ------------------------------------------------------------------------------------------
J2K_FILES = [f for f in BUNDLED if _syntax(pydicom_file(f)) in JPEG2000TransferSyntaxes]
RLE_FILES = [f for f in BUNDLED if _syntax(pydicom_file(f)) == RLELossless]
YBR_JPEG_FILES = [f for f in BUNDLED if _is_ybr_jpeg(pydicom_file(f))
                  and _frames(pydicom_file(f)) == 1]


@pytest.mark.parametrize("name", J2K_FILES)
@pytest.mark.parametrize("correct", [True, False])
def test_apply_j2k_sign_correction(name, correct):
    """gdcm and pylibjpeg hand pydicom OpenJPEG's samples and leave the correction to pydicom,
    as turbodicom does.  pillow's plugin shifts signed samples itself, so with the correction
    off it gives other values for a file whose codestream signedness differs from (0028,0103)
    (J2K_pixelrep_mismatch.dcm): not an oracle for that case."""
    path = pydicom_file(name)
    decoder = get_decoder(_syntax(path))
    oracles = tuple(p for p in _oracles(path) if correct or p != "pillow")
    for raw in (False, True):
        _compare(path, lambda p: decoder.as_array(_ds(path), raw=raw, decoding_plugin=p,
                                                  apply_j2k_sign_correction=correct),
                 f"as_array(apply_j2k_sign_correction={correct}, raw={raw})", oracles=oracles)


@pytest.mark.parametrize("name", RLE_FILES)
def test_rle_segment_order(name):
    """'<' reads each sample's segments least significant first: wrong for these files, but
    wrong the same way as pydicom's own RLE decoder.  pylibjpeg-rle ignores the option, so it
    is the oracle for '>' only (equal there: the option's default)."""
    path = pydicom_file(name)
    decoder = get_decoder(RLELossless)
    for order, oracles in ((">", ("pydicom", "pylibjpeg")), ("<", ("pydicom",))):
        _compare(path, lambda p: decoder.as_array(_ds(path), rle_segment_order=order,
                                                  decoding_plugin=p),
                 f"as_array(rle_segment_order={order!r})", oracles=oracles)
        _compare(path, lambda p: decoder.as_buffer(_ds(path), rle_segment_order=order,
                                                   decoding_plugin=p),
                 f"as_buffer(rle_segment_order={order!r})", oracles=oracles)


@pytest.mark.parametrize("name", ["SC_rgb_rle_2frame.dcm", "SC_rgb_small_odd_jpeg.dcm",
                                  "MR_small_jp2klossless.dcm"])
def test_view_only_has_no_effect_on_encapsulated_data(name):
    path = pydicom_file(name)
    decoder = get_decoder(_syntax(path))
    _compare(path, lambda p: decoder.as_array(_ds(path), view_only=True, decoding_plugin=p),
             "as_array(view_only=True)", converted=True)
    _compare(path, lambda p: pixel_array(_ds(path), view_only=True, decoding_plugin=p),
             "pixel_array(view_only=True)", converted=True)


@pytest.mark.parametrize("name", YBR_JPEG_FILES)
def test_force_rgb_and_force_ybr(name):
    """pydicom converts whatever the plugin reported when forced: turbodicom must hand over the
    samples as coded then (converting them too would convert twice)."""
    path = pydicom_file(name)
    decoder = get_decoder(_syntax(path))
    for options in ({"force_rgb": True}, {"force_ybr": True}, {"force_rgb": True,
                                                                "as_rgb": False},
                    {"force_rgb": True, "force_ybr": True}):
        _compare(path, lambda p: decoder.as_array(_ds(path), decoding_plugin=p, **options),
                 f"as_array({options})", converted=True)


# ------------------------------------------------------------------------------------------
# Excess frames: the encapsulation holds more frames than (0028,0008) says
# ------------------------------------------------------------------------------------------
def _with_extra_frame(name: str, other: str, tmp_path) -> str:
    """`name`'s frame followed by `other`'s, with a two-entry Basic Offset Table, while Number
    of Frames still says 1 (pydicom then finds an excess frame)."""
    ds = fac.read_dataset(pydicom_file(name))
    extra = next(generate_frames(fac.read_dataset(pydicom_file(other)).PixelData,
                                 number_of_frames=1))
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    ds.PixelData = encapsulate([frame, extra], has_bot=True)
    ds.NumberOfFrames = 1
    out = tmp_path / f"excess_{name}"
    ds.save_as(out, enforce_file_format=True)
    return str(out)


EXCESS = [("SC_rgb_dcmtk_+eb+cy+np.dcm", "SC_rgb_dcmtk_+eb+cy+s2.dcm"),
          ("SC_rgb_small_odd_jpeg.dcm", "SC_rgb_small_odd_jpeg.dcm"),
          ("SC_rgb_rle.dcm", "SC_rgb_rle.dcm"),
          ("JPEGLSNearLossless_08.dcm", "JPEGLSNearLossless_08.dcm")]


@pytest.mark.parametrize("name,other", EXCESS, ids=[e[0] for e in EXCESS])
def test_excess_frames(name, other, tmp_path):
    """A YBR frame converted by the plugin would leave pydicom 3.0 believing every later frame
    is RGB: turbodicom converts only when it is sure the runner decodes one frame."""
    path = _with_extra_frame(name, other, tmp_path)
    decoder = get_decoder(_syntax(path))
    oracles = _oracles(pydicom_file(name))
    for allow in (True, False):
        for raw in (False, True):
            _compare(path, lambda p: decoder.as_array(_ds(path), raw=raw, decoding_plugin=p,
                                                      allow_excess_frames=allow),
                     f"as_array(allow_excess_frames={allow}, raw={raw})", converted=not raw,
                     oracles=oracles)
            _compare(path, lambda p: pixel_array(path, raw=raw, decoding_plugin=p,
                                                 allow_excess_frames=allow),
                     f"pixel_array(path, allow_excess_frames={allow}, raw={raw})",
                     converted=not raw, oracles=oracles)
        _compare(path, lambda p: decoder.as_buffer(_ds(path), decoding_plugin=p,
                                                   allow_excess_frames=allow),
                 f"as_buffer(allow_excess_frames={allow})", oracles=oracles)
    for indices in (None, [0], [1], [0, 1]):
        _compare(path, lambda p: decoder.iter_array(_ds(path), indices=indices,
                                                    decoding_plugin=p),
                 f"iter_array(indices={indices})", converted=True, oracles=oracles)
        _compare(path, lambda p: iter_pixels(path, indices=indices, decoding_plugin=p),
                 f"iter_pixels(path, indices={indices})", converted=True, oracles=oracles)
    def decompress(plugin):
        ds = _ds(path)
        ds.decompress(decoding_plugin=plugin)
        return _decompressed(ds)
    _compare(path, decompress, "decompress()", converted=True, oracles=oracles)


# ------------------------------------------------------------------------------------------
# Where the fast colour conversion may run (pydicom 3.0)
# ------------------------------------------------------------------------------------------
def _converted_by_turbodicom(call: Callable[[], Any]) -> list[bool]:
    """Run `call` and record, for each frame turbodicom decoded, whether it converted it."""
    seen: list[bool] = []
    original = pydicom_plugin._may_convert_colour

    def spy(runner):
        answer = original(runner)
        seen.append(answer)
        return answer

    pydicom_plugin._may_convert_colour = spy
    try:
        value = call()
        if hasattr(value, "__next__"):
            list(value)
    finally:
        pydicom_plugin._may_convert_colour = original
    return seen


def test_fast_conversion_runs_where_pydicom_converts_next(tmp_path):
    """The cases above prove the results equal; this proves the fast path is not simply off:
    single-frame YBR JPEG through the default ``ds.pixel_array`` / ``pixel_array(path)`` and
    one frame of a multi-frame file are converted in C, raw and buffer calls never are."""
    single = pydicom_file("SC_rgb_dcmtk_+eb+cy+np.dcm")
    multi = pydicom_file("examples_ybr_color.dcm")
    decoder = get_decoder(JPEGBaseline8Bit)
    ds = _ds(single)
    assert _converted_by_turbodicom(lambda: ds.pixel_array) == [True]
    assert _converted_by_turbodicom(lambda: pixel_array(single)) == [True]
    assert _converted_by_turbodicom(lambda: pixel_array(single, raw=True)) == [False]
    assert _converted_by_turbodicom(lambda: decoder.as_buffer(_ds(single))) == [False]
    assert _converted_by_turbodicom(lambda: decoder.iter_buffer(_ds(single))) == [False]
    assert _converted_by_turbodicom(lambda: decoder.iter_array(_ds(single))) == [True]
    assert _converted_by_turbodicom(lambda: pixel_array(multi, index=7)) == [True]
    assert _converted_by_turbodicom(lambda: iter_pixels(multi, indices=[3])) == [True]
    # several frames on one 3.0 runner: pydicom converts them all afterwards, in numpy
    assert _converted_by_turbodicom(lambda: iter_pixels(multi, indices=[3, 4])) == [False] * 2
    assert not any(_converted_by_turbodicom(lambda: _ds(multi).pixel_array))
    # a Basic Offset Table of two frames where Number of Frames says one: not sure, not fast
    excess = _with_extra_frame(*EXCESS[0], tmp_path)
    assert not any(_converted_by_turbodicom(lambda: pixel_array(excess)))
    assert _converted_by_turbodicom(
        lambda: pixel_array(excess, allow_excess_frames=False)) == [True]


# ------------------------------------------------------------------------------------------
# Errors, refusals, and files only turbodicom decodes
# ------------------------------------------------------------------------------------------
def test_undecodable_file_raises_what_pydicom_raises():
    path = pydicom_file("JPEG2000-embedded-sequence-delimiter.dcm")
    decoder = get_decoder(_syntax(path))
    for plugin in ("turbodicom", "gdcm", "pylibjpeg", "pillow"):
        out = _run(lambda: decoder.as_array(_ds(path), decoding_plugin=plugin))
        assert out.error is RuntimeError, (plugin, out.error)
        assert out.message.startswith("Unable to decode as exceptions were raised by all")
    out = _run(lambda: _ds(path).pixel_array)  # every plugin in turn, turbodicom first
    assert out.error is RuntimeError and "turbodicom: " in out.message


def test_invalid_options_raise_what_pydicom_raises():
    path = pydicom_file("SC_rgb_small_odd_jpeg.dcm")
    decoder = get_decoder(JPEGBaseline8Bit)
    _compare(path, lambda p: decoder.as_array(_ds(path), index=-1, decoding_plugin=p),
             "as_array(index=-1)")
    _compare(path, lambda p: decoder.as_array(_ds(path), index=3, decoding_plugin=p),
             "as_array(index=3)")
    _compare(path, lambda p: decoder.as_array(_ds(path), force_rgb=True, force_ybr=True,
                                              decoding_plugin=p), "force_rgb and force_ybr")
    _compare(path, lambda p: decoder.as_array(_ds(path), rows=0, decoding_plugin=p),
             "as_array(rows=0)")


def test_twelve_bit_jpeg_only_turbodicom_decodes():
    """JPEG-lossy.dcm (12-bit JPEG Extended) is refused by all of pydicom's plugins (pillow and
    gdcm have no 12-bit JPEG, pylibjpeg rejects this stream); turbodicom decodes it, equal to
    libjpeg-turbo 3's 12-bit decoder (imagecodecs)."""
    imagecodecs = pytest.importorskip("imagecodecs")
    path = pydicom_file("JPEG-lossy.dcm")
    decoder = get_decoder(JPEGExtended12Bit)
    for plugin in _oracles_all(path):
        out = _run(lambda: decoder.as_array(_ds(path), decoding_plugin=plugin))
        assert out.error is RuntimeError, plugin
    arr, meta = decoder.as_array(_ds(path), decoding_plugin="turbodicom")
    frame = next(generate_frames(_dataset(path).PixelData, number_of_frames=1))
    expected = imagecodecs.jpeg8_decode(frame)
    fac.assert_same_array(arr, expected.astype(arr.dtype))
    assert meta["bits_allocated"] == 16 and meta["photometric_interpretation"] == "MONOCHROME2"


def _oracles_all(path: str) -> list[str]:
    return [n for n in get_decoder(_syntax(path))._available if n != "turbodicom"]


@pytest.mark.parametrize("spec", FILES)
def test_default_plugin_order_gives_what_pydicom_gave_before(spec):
    """What a user sees after register() without naming a plugin equals what the same call
    gave before register() (pydicom's first working plugin)."""
    path = _path(spec)
    before = []
    turbodicom.unregister()
    try:
        first = _oracles(path)[0]
        before = [_run(lambda: _ds(path).pixel_array), _run(lambda: pixel_array(path, raw=True))]
    finally:
        turbodicom.register()
    after = [_run(lambda: _ds(path).pixel_array), _run(lambda: pixel_array(path, raw=True))]
    for i, (ours, theirs) in enumerate(zip(after, before)):
        # pixel_array(path) fails alike for SC_rgb_jpeg.dcm (its file meta says explicit VR)
        assert ours.error is theirs.error, (ours.message, theirs.message)
        assert ours.warnings == theirs.warnings
        if theirs.error is None:
            _assert_value(ours.value, theirs.value, _tolerance(path, first, i == 0),
                          f"default plugin, call {i}")


# ------------------------------------------------------------------------------------------
# The pydicom 3.1 per-frame runner (simulated: test_plugin.Runner31)
# ------------------------------------------------------------------------------------------
FRAME_KEYS = ("bits_allocated", "photometric_interpretation", "planar_configuration")


@pytest.mark.parametrize("spec", FILES)
def test_pydicom31_runner(spec, monkeypatch):
    """Frame by frame, what a 3.1 runner records equals what pydicom 3.0 reports for the same
    frame through its own plugins: the buffer and its metadata as coded (as_rgb=False, which
    is what 3.1 makes of raw=True, and every call outside as_array / iter_array), and RGB
    converted exactly as pydicom converts it for a YBR JPEG frame inside an as_array call with
    as_rgb set (the call is simulated here; test_fast_conversion_... finds the real one).
    Every change is recorded for that frame only, whatever the number of frames."""
    path = _path(spec)
    ds = _dataset(path)
    decoder = get_decoder(_syntax(path))
    # an exact oracle where there is one (JPGExtended.dcm has only pylibjpeg)
    oracle = _exact_first(path)[0]
    tol = _tolerance(path, oracle, False)
    frames = [f for f, _ in fac.iter_frame_bytes(path)]
    for index in sorted({0, len(frames) - 1}):
        buffer, meta = decoder.as_buffer(_ds(path), index=index, decoding_plugin=oracle)
        for as_rgb, in_as_array in ((False, True), (True, False), (True, True)):
            call = ("as_array", {"raw": False, "index": index}, None) if in_as_array else None
            monkeypatch.setattr(pydicom_plugin, "_pydicom_array_call", lambda runner: call)
            runner = Runner31(ds, index=index, as_rgb=as_rgb)
            # pydicom 3.1 settles the frame's Photometric Interpretation from the codestream
            # (JPEG component IDs, JFIF) before calling the plugin, as 3.0 does for the dataset
            runner.frame_options[index] = {
                "photometric_interpretation": meta["photometric_interpretation"]}
            out = pydicom_plugin._decode_frame(frames[index], runner)
            assert all(c[0] == "set_frame_option" and c[1] == index for c in runner.calls)
            state = {k: runner.get_frame_option(index, k, getattr(runner, k))
                     for k in FRAME_KEYS}
            expected = {k: meta[k] for k in FRAME_KEYS if k in meta}
            if as_rgb and in_as_array and _is_ybr_jpeg(path):
                rgb, rgb_meta = decoder.as_array(_ds(path), index=index, decoding_plugin=oracle)
                _assert_buffer(out, rgb.tobytes(), "u1", _tolerance(path, oracle, True),
                               "converted frame")
                expected["photometric_interpretation"] = rgb_meta["photometric_interpretation"]
            else:
                _assert_buffer(out, buffer, _buffer_dtype(meta), tol, "frame as coded")
            if ds.SamplesPerPixel == 1:
                state.pop("planar_configuration")
            assert state == expected, (as_rgb, in_as_array, runner.calls)
