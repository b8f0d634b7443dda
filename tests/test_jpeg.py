"""JPEG baseline / extended, 8-bit frames (csrc/td_jpeg.c over the system libjpeg-turbo).

Oracles:

* pydicom's ``pixel_array`` with its pillow plugin (Pillow bundles libjpeg-turbo 3): turbodicom
  reproduces what pydicom does with Pillow's samples - the colour space conforming (JFIF,
  component IDs), the raw YCbCr request unless an Adobe APP14 marker is present, and pydicom's
  float32 YBR_FULL -> RGB - so the arrays must be equal byte for byte.
* imagecodecs' libjpeg-turbo 3 (``jpeg8_decode``) for the kernel's raw and RGB modes.
* Streams are encoded on the spot by imagecodecs (libjpeg-turbo 3): grey and colour, every
  common chroma subsampling, odd sizes, several qualities, RGB-coded streams with an Adobe
  marker.
"""

from __future__ import annotations

import numpy as np
import pytest

import turbodicom

import dicom_factory as fac
from conftest import corpus_params, corpus_rows

pytestmark = pytest.mark.skipif("jpeg" not in turbodicom.features()["codecs"],
                                reason="this build of turbodicom has no JPEG codec")

BASELINE = "1.2.840.10008.1.2.4.50"
EXTENDED = "1.2.840.10008.1.2.4.51"


def _imagecodecs():
    ic = pytest.importorskip("imagecodecs", reason="imagecodecs encodes the test streams")
    if not ic.JPEG8.available:
        pytest.skip("imagecodecs was built without libjpeg-turbo")
    return ic


def _libjpeg():
    from turbodicom import _jpeg

    if not _jpeg.has_libjpeg():
        pytest.skip("this build decodes 8-bit JPEG with its own kernel, not libjpeg-turbo")
    return _jpeg


def _image(rows: int, columns: int, spp: int, seed: int) -> np.ndarray:
    """Smooth gradients plus noise: chroma that varies, so upsampling and conversion matter."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:columns]
    planes = [((x * (3 + c) + y * (5 - c)) % 256 + rng.integers(-20, 20, (rows, columns)))
              for c in range(spp)]
    arr = np.clip(np.stack(planes, axis=-1), 0, 255).astype(np.uint8)
    return arr[..., 0] if spp == 1 else arr


def _encode(arr: np.ndarray, *, level: int = 90, subsampling: str | None = None,
            rgb_coded: bool = False) -> bytes:
    ic = _imagecodecs()
    kwargs = {}
    if arr.ndim == 3:
        kwargs["subsampling"] = subsampling or "444"
        if rgb_coded:  # no YCbCr transform: libjpeg writes an Adobe APP14 marker (transform 0)
            kwargs["outcolorspace"] = "RGB"
    return bytes(ic.jpeg8_encode(arr, level=level, **kwargs))


def _file(frames: list[bytes], *, rows: int, columns: int, spp: int, photometric: str,
          transfer_syntax: str = BASELINE, layout: str = "bot") -> bytes:
    return fac.encapsulated_file(frames, transfer_syntax=transfer_syntax, rows=rows,
                                 columns=columns, bits_allocated=8, samples_per_pixel=spp,
                                 photometric=photometric, layout=layout)


def _pillow(data: bytes, **options) -> np.ndarray:
    pytest.importorskip("PIL", reason="pydicom's pillow plugin is the oracle")
    ds = fac.read_dataset(data)
    ds.pixel_array_options(decoding_plugin="pillow", **options)
    return ds.pixel_array


SHAPES = [(1, 1), (3, 3), (8, 8), (17, 33), (64, 48), (121, 250)]
SUBSAMPLING = ["444", "422", "420", "440", "411"]


# ------------------------------------------------------------------------------------------
# decode() equals pydicom + pillow
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("level", [50, 95])
def test_grey_equals_pydicom_pillow(shape, level):
    arr = _image(*shape, 1, seed=shape[0] + level)
    data = _file([_encode(arr, level=level)], rows=shape[0], columns=shape[1], spp=1,
                 photometric="MONOCHROME2")
    fac.assert_same_array(turbodicom.decode(data), _pillow(data), "grey")


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("subsampling", SUBSAMPLING)
@pytest.mark.parametrize("photometric", ["YBR_FULL_422", "YBR_FULL"])
def test_ycbcr_equals_pydicom_pillow(shape, subsampling, photometric):
    """YCbCr-coded colour: raw samples from libjpeg, then pydicom's YBR_FULL -> RGB."""
    arr = _image(*shape, 3, seed=shape[1])
    data = _file([_encode(arr, subsampling=subsampling)], rows=shape[0], columns=shape[1],
                 spp=3, photometric=photometric)
    expected = _pillow(data)
    fac.assert_same_array(turbodicom.decode(data), expected, f"{photometric} {subsampling}")
    # and the RGB result is close to the source image (the conversion really happened)
    if shape[0] * shape[1] >= 64 and subsampling == "444":
        assert np.abs(expected.astype(int) - arr.astype(int)).mean() < 12


@pytest.mark.parametrize("photometric", ["RGB", "YBR_FULL"])
def test_adobe_rgb_coded_equals_pydicom_pillow(photometric):
    """An RGB-coded stream (Adobe APP14, transform 0): Pillow lets libjpeg interpret it, and
    pydicom still converts when the dataset says YBR_FULL - turbodicom does the same."""
    arr = _image(40, 56, 3, seed=7)
    frame = _encode(arr, rgb_coded=True)
    assert b"Adobe" in frame[:200]
    data = _file([frame], rows=40, columns=56, spp=3, photometric=photometric)
    fac.assert_same_array(turbodicom.decode(data), _pillow(data), photometric)


def test_jfif_marker_makes_rgb_dataset_ybr(recwarn):
    """pydicom's conforming: a JFIF stream in a dataset that says RGB is YBR (converted)."""
    arr = _image(32, 32, 3, seed=8)
    frame = _encode(arr)
    assert frame[6:10] == b"JFIF"
    data = _file([frame], rows=32, columns=32, spp=3, photometric="RGB")
    fac.assert_same_array(turbodicom.decode(data), _pillow(data), "JFIF in an RGB dataset")


def test_extended_syntax_8bit_equals_pillow():
    arr = _image(30, 40, 3, seed=9)
    data = _file([_encode(arr, subsampling="420")], rows=30, columns=40, spp=3,
                 photometric="YBR_FULL", transfer_syntax=EXTENDED)
    fac.assert_same_array(turbodicom.decode(data), _pillow(data), "1.2.840.10008.1.2.4.51")


@pytest.mark.parametrize("layout", ["bot", "nobot", "eot"])
def test_multiframe_every_entry_point(layout):
    rows, columns, n = 48, 64, 5
    frames_src = [_image(rows, columns, 3, seed=20 + i) for i in range(n)]
    encoded = [_encode(a, subsampling="422", level=70 + i) for i, a in enumerate(frames_src)]
    data = _file(encoded, rows=rows, columns=columns, spp=3, photometric="YBR_FULL_422",
                 layout=layout)
    expected = _pillow(data)
    assert expected.shape == (n, rows, columns, 3)
    for threads in (1, 2, 3):
        fac.assert_same_array(turbodicom.decode(data, threads=threads), expected,
                              f"threads={threads}")
    for i in range(n):
        fac.assert_same_array(turbodicom.decode(data, index=i), expected[i], f"index={i}")
    got = list(turbodicom.iter_frames(data, threads=2))
    assert len(got) == n
    for i, frame in enumerate(got):
        fac.assert_same_array(frame, expected[i], f"iter_frames {i}")


# ------------------------------------------------------------------------------------------
# The pydicom plugin
# ------------------------------------------------------------------------------------------
@pytest.fixture
def plugin():
    pytest.importorskip("pydicom")
    turbodicom.register()
    yield
    turbodicom.unregister()


@pytest.mark.parametrize("as_rgb", [True, False])
@pytest.mark.parametrize("subsampling", ["444", "422", "420"])
def test_plugin_equals_pillow(plugin, as_rgb, subsampling):
    arr = _image(37, 51, 3, seed=11)
    data = _file([_encode(arr, subsampling=subsampling)], rows=37, columns=51, spp=3,
                 photometric="YBR_FULL_422")
    ds = fac.read_dataset(data)
    ds.pixel_array_options(decoding_plugin="turbodicom", as_rgb=as_rgb)
    fac.assert_same_array(ds.pixel_array, _pillow(data, as_rgb=as_rgb), f"as_rgb={as_rgb}")


@pytest.mark.parametrize("photometric", ["RGB", "YBR_FULL"])
def test_plugin_adobe_equals_pillow(plugin, photometric):
    arr = _image(20, 24, 3, seed=12)
    data = _file([_encode(arr, rgb_coded=True)], rows=20, columns=24, spp=3,
                 photometric=photometric)
    ds = fac.read_dataset(data)
    ds.pixel_array_options(decoding_plugin="turbodicom")
    fac.assert_same_array(ds.pixel_array, _pillow(data), photometric)


def test_plugin_grey_multiframe(plugin):
    encoded = [_encode(_image(16, 16, 1, seed=30 + i)) for i in range(3)]
    data = _file(encoded, rows=16, columns=16, spp=1, photometric="MONOCHROME2")
    ds = fac.read_dataset(data)
    ds.pixel_array_options(decoding_plugin="turbodicom")
    fac.assert_same_array(ds.pixel_array, _pillow(data), "grey multi-frame")


@pytest.mark.parametrize("as_rgb", [True, False])
def test_plugin_multiframe_colour_equals_pillow(plugin, as_rgb):
    """pydicom 3.0 keeps one Photometric Interpretation for all frames: a multi-frame YBR
    dataset must come out right whether or not the plugin converts the frames itself."""
    encoded = [_encode(_image(24, 40, 3, seed=40 + i), subsampling="422") for i in range(4)]
    data = _file(encoded, rows=24, columns=40, spp=3, photometric="YBR_FULL_422")
    from pydicom.pixels import iter_pixels, pixel_array

    expected = _pillow(data, as_rgb=as_rgb)
    ds = fac.read_dataset(data)
    ds.pixel_array_options(decoding_plugin="turbodicom", as_rgb=as_rgb)
    fac.assert_same_array(ds.pixel_array, expected, "pixel_array")
    for i in (0, 3):
        fac.assert_same_array(pixel_array(fac.read_dataset(data), index=i, as_rgb=as_rgb,
                                          decoding_plugin="turbodicom"), expected[i],
                              f"index={i}")
    frames = list(iter_pixels(fac.read_dataset(data), as_rgb=as_rgb,
                              decoding_plugin="turbodicom"))
    for i, frame in enumerate(frames):
        fac.assert_same_array(frame, expected[i], f"iter_pixels {i}")


@pytest.mark.parametrize("frames", [1, 3])
def test_plugin_reports_rgb_only_where_pydicom_can_take_it(frames, monkeypatch):
    """A frame comes back converted (and reported RGB) only inside pydicom's as_array /
    iter_array with raw=False (found on the stack; simulated here, the real lookup is tested in
    test_pydicom_api) and as_rgb set: per frame on a 3.1 runner, on a 3.0 runner only for a
    single-frame dataset (else the frame stays YCbCr and pydicom converts the whole array)."""
    from turbodicom import pydicom_plugin

    from test_plugin import Runner30, Runner31

    frame = _encode(_image(16, 16, 3, seed=45), subsampling="420")
    data = _file([frame] * frames, rows=16, columns=16, spp=3, photometric="YBR_FULL_422")
    ds = fac.read_dataset(data)
    raw = _pillow(data, as_rgb=False).reshape(frames, -1)[0].tobytes()
    rgb = _pillow(data).reshape(frames, -1)[0].tobytes()
    for in_as_array in (False, True):
        call = ("as_array", {"raw": False, "index": None}, None) if in_as_array else None
        monkeypatch.setattr(pydicom_plugin, "_pydicom_array_call", lambda runner: call)
        for runner_class in (Runner30, Runner31):
            for as_rgb in (True, False):
                runner = runner_class(ds, index=0, as_rgb=as_rgb)
                runner.transfer_syntax = BASELINE
                out = bytes(pydicom_plugin._decode_frame(frame, runner))
                converted = any(c[-2:] == ("photometric_interpretation", "RGB")
                                for c in runner.calls)
                expected = in_as_array and as_rgb and (runner_class is Runner31 or frames == 1)
                assert converted == expected, (in_as_array, runner.calls)
                assert out == (rgb if converted else raw)


# ------------------------------------------------------------------------------------------
# The kernel against libjpeg-turbo 3 (imagecodecs)
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("subsampling", SUBSAMPLING)
def test_kernel_modes_equal_libjpeg_turbo(subsampling):
    _jpeg = _libjpeg()
    ic = _imagecodecs()
    arr = _image(45, 70, 3, seed=13)
    frame = _encode(arr, subsampling=subsampling)
    out = bytearray(45 * 70 * 3)
    _jpeg.decode_into(frame, out, rows=45, columns=70, components=3)
    raw = ic.jpeg8_decode(frame, colorspace="YCbCr", outcolorspace="YCbCr")
    fac.assert_same_array(np.frombuffer(out, np.uint8).reshape(45, 70, 3), raw, "raw YCbCr")
    _jpeg.decode_into(frame, out, rows=45, columns=70, components=3, flags=_jpeg.RGB)
    fac.assert_same_array(np.frombuffer(out, np.uint8).reshape(45, 70, 3),
                          ic.jpeg8_decode(frame), "libjpeg RGB")


def test_fused_conversion_equals_separate():
    _jpeg = _libjpeg()
    from turbodicom import _parse

    arr = _image(100, 90, 3, seed=14)
    frame = _encode(arr, subsampling="420")
    raw = bytearray(100 * 90 * 3)
    fused = bytearray(len(raw))
    _jpeg.decode_into(frame, raw, rows=100, columns=90, components=3)
    _parse.ybr_full_to_rgb(raw)
    _jpeg.decode_into(frame, fused, rows=100, columns=90, components=3,
                      flags=_jpeg.YBR_TO_RGB)
    assert raw == fused


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview", "ndarray"])
def test_input_types_and_out(kind):
    _jpeg = _libjpeg()
    frame = _encode(_image(10, 12, 1, seed=15))
    src = {"bytes": frame, "bytearray": bytearray(frame), "memoryview": memoryview(frame),
           "ndarray": np.frombuffer(frame, np.uint8)}[kind]
    out = bytearray(120)
    _jpeg.decode_into(src, out, rows=10, columns=12, components=1)
    ref = bytearray(120)
    _jpeg.decode_into(frame, ref, rows=10, columns=12, components=1)
    assert out == ref and any(ref)
    with pytest.raises(turbodicom.DecodeError, match="cannot hold"):
        _jpeg.decode_into(src, bytearray(119), rows=10, columns=12, components=1)


def test_decode_frame_api():
    arr = _image(24, 20, 3, seed=16)
    frame = _encode(arr, subsampling="422")
    buf = turbodicom.decode_frame(frame, BASELINE, rows=24, columns=20, samples_per_pixel=3,
                                  bits_allocated=8, photometric_interpretation="YBR_FULL_422")
    data = _file([frame], rows=24, columns=20, spp=3, photometric="YBR_FULL_422")
    raw = _pillow(data, as_rgb=False)
    assert bytes(buf) == raw.tobytes()  # decode_frame: pydicom's plugin layout, no conversion


# ------------------------------------------------------------------------------------------
# Hostile input
# ------------------------------------------------------------------------------------------
def test_dimensions_must_match_the_dataset():
    frame = _encode(_image(16, 16, 1, seed=17))
    data = _file([frame], rows=16, columns=17, spp=1, photometric="MONOCHROME2")
    with pytest.raises(turbodicom.DecodeError, match=r"\(0028,0011\) 'Columns'"):
        turbodicom.decode(data)
    data = _file([frame], rows=16, columns=16, spp=3, photometric="RGB")
    with pytest.raises(turbodicom.DecodeError, match="Samples per Pixel"):
        turbodicom.decode(data)


def test_not_a_jpeg_stream():
    data = _file([b"\x00" * 64], rows=4, columns=4, spp=1, photometric="MONOCHROME2")
    with pytest.raises(turbodicom.DecodeError, match="JPEG"):
        turbodicom.decode(data)


def test_truncations_raise_decode_error():
    arr = _image(64, 64, 3, seed=18)
    frame = _encode(arr, subsampling="420")
    for cut in list(range(2, 700, 7)) + list(range(700, len(frame) - 2, 97)):
        data = _file([frame[:cut]], rows=64, columns=64, spp=3, photometric="YBR_FULL_422")
        with pytest.raises(turbodicom.DecodeError):
            turbodicom.decode(data)


def test_bit_flips_give_an_array_or_decode_error():
    arr = _image(48, 48, 3, seed=19)
    frame = bytearray(_encode(arr, subsampling="422"))
    rng = np.random.default_rng(19)
    outcomes = {"array": 0, "error": 0}
    for _ in range(300):
        bad = bytearray(frame)
        for pos in rng.integers(0, len(bad), 3):
            bad[pos] ^= 1 << int(rng.integers(0, 8))
        data = _file([bytes(bad)], rows=48, columns=48, spp=3, photometric="YBR_FULL_422")
        try:
            out = turbodicom.decode(data)
        except turbodicom.TurboDicomError:
            outcomes["error"] += 1
        else:
            assert out.shape == (48, 48, 3)
            outcomes["array"] += 1
    assert outcomes["error"] > 0 and outcomes["array"] > 0, outcomes


def test_lost_pixels_are_an_error_not_zeros():
    """A stream cut inside its entropy-coded data: libjpeg would fill grey; we raise."""
    frame = _encode(_image(64, 64, 1, seed=21))
    sos = frame.index(b"\xff\xda")
    cut = frame[:sos + (len(frame) - sos) // 2]
    data = _file([cut], rows=64, columns=64, spp=1, photometric="MONOCHROME2")
    with pytest.raises(turbodicom.DecodeError, match="[Pp]remature end"):
        turbodicom.decode(data)


def _progressive(arr: np.ndarray) -> bytes:
    import io

    image = pytest.importorskip("PIL.Image")
    buf = io.BytesIO()
    image.fromarray(arr).save(buf, "JPEG", progressive=True, quality=90)
    return buf.getvalue()


def test_progressive_stream_decodes_like_pillow():
    """Not a DICOM process, but Pillow (and so pydicom) decodes it: so does turbodicom."""
    arr = _image(40, 40, 1, seed=22)
    frame = _progressive(arr)
    assert _libjpeg().read_header(frame)["progressive"]
    data = _file([frame], rows=40, columns=40, spp=1, photometric="MONOCHROME2")
    fac.assert_same_array(turbodicom.decode(data), _pillow(data), "progressive")


def test_progressive_scan_bomb_is_refused():
    """A small stream that repeats a scan hundreds of times (each scan revisits the whole
    image) is refused after TD_JPEG_MAX_SCANS scans instead of keeping a core busy."""
    frame = _progressive(_image(32, 32, 1, seed=23))
    first_sos = frame.index(b"\xff\xda")
    end = first_sos + 2
    while not (frame[end] == 0xFF and frame[end + 1] not in (0, *range(0xD0, 0xD8))):
        end += 1
    dc_scan = frame[first_sos:end]  # the DC scan: repeating it is bogus but harmless
    bomb = frame[:end] + dc_scan * 600 + frame[end:]
    data = _file([bomb], rows=32, columns=32, spp=1, photometric="MONOCHROME2")
    with pytest.raises(turbodicom.LimitError, match="more than 500 scans"):
        turbodicom.decode(data)


def test_read_header_reports_markers():
    _jpeg = _libjpeg()
    hdr = _jpeg.read_header(_encode(_image(9, 11, 3, seed=24), subsampling="420"))
    assert (hdr["rows"], hdr["columns"], hdr["components"], hdr["precision"]) == (9, 11, 3, 8)
    assert hdr["jfif"] and not hdr["adobe"] and not hdr["progressive"]
    hdr = _jpeg.read_header(_encode(_image(9, 11, 3, seed=24), rgb_coded=True))
    assert hdr["adobe"] and hdr["adobe_transform"] == 0
    with pytest.raises(turbodicom.DecodeError):
        _jpeg.read_header(b"\xff\xd8\xff\xc0\x00")


# ------------------------------------------------------------------------------------------
# Real files
# ------------------------------------------------------------------------------------------
CORPUS_8BIT = corpus_rows(lambda r: r["transfer_syntax_uid"] in (BASELINE, EXTENDED)
                          and r["bits_allocated"] == "8")


#: 8-bit JPEG corpus files pydicom cannot read, with their uncompressed twin (MANIFEST.tsv)
TWINS_8BIT = {"pydicom-testfiles/SC_rgb_jpeg.dcm": "pydicom-testfiles/SC_rgb_jpeg_dcmd.dcm"}


def _corpus_path(rel: str) -> str:
    import os

    from conftest import CORPUS

    return os.path.join(str(CORPUS), rel)


@pytest.mark.parametrize("row", corpus_params(CORPUS_8BIT))
def test_corpus_8bit_equals_pydicom_pillow_and_gdcm(row):
    """Every 8-bit JPEG corpus file that pydicom's pillow plugin decodes: the same array, byte
    for byte (no tolerance); and the same as pydicom's gdcm plugin where GDCM decodes it."""
    import warnings

    from pydicom.pixels import pixel_array

    oracles = {}
    for plugin in ("pillow", "gdcm"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                oracles[plugin] = pixel_array(row["abspath"], decoding_plugin=plugin)
        except Exception:  # noqa: BLE001 - that plugin cannot decode the file
            continue
    if not oracles:  # pydicom cannot decode it: a clean error, or the described image
        try:
            actual = turbodicom.decode(row["abspath"])
        except turbodicom.TurboDicomError:
            return
        frames = int(row["frames"] or 1)
        shape = (int(row["rows"]), int(row["columns"]), int(row["samples_per_pixel"]))
        assert actual.shape == ((frames,) if frames > 1 else ()) + shape[:2] + (
            shape[2:] if shape[2] > 1 else ()), actual.shape
        twin = TWINS_8BIT.get(row["path"])
        if twin:  # pixels the manifest says equal an uncompressed twin (dcmtk's decode)
            fac.assert_same_array(actual, fac.pydicom_array(_corpus_path(twin)), twin)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        actual = turbodicom.decode(row["abspath"])
    for plugin, expected in oracles.items():
        fac.assert_same_array(actual, expected, f"{row['path']} vs pydicom+{plugin}")


CORPUS_12BIT = corpus_rows(lambda r: r["transfer_syntax_uid"] == EXTENDED
                           and r["bits_allocated"] == "16")


@pytest.mark.parametrize("row", corpus_params(CORPUS_12BIT))
def test_corpus_12bit_equals_libjpeg_turbo_3(row):
    """12-bit frames (turbodicom's own kernel): decode() equals libjpeg-turbo 3's decode of
    every frame with pydicom's unused-bit masking applied (Bits Stored 10 in RG3_JPLY)."""
    ic = _imagecodecs()
    from turbodicom.frames import open_pixels

    actual = turbodicom.decode(row["abspath"])
    with open_pixels(row["abspath"]) as px:
        n = px.nr_encoded_frames
        expected = np.stack([ic.jpeg8_decode(bytes(px.frame(i))) for i in range(n)])
    bits = int(row["bits_stored"])
    expected = (expected & ((1 << bits) - 1)).astype(np.uint16)
    fac.assert_same_array(actual, expected if n > 1 else expected[0], row["path"])


@pytest.mark.skipif(not CORPUS_12BIT, reason="the corpus (TURBODICOM_CORPUS) is not present")
def test_corpus_12bit_close_to_pydicom_pylibjpeg():
    """Where pydicom decodes a 12-bit file at all (its pylibjpeg plugin: another JPEG library
    with its own IDCT; it refuses the WG04 files' SOS Se=0), the arrays differ by IDCT
    rounding only: at most 1 on the corpus."""
    import warnings

    pytest.importorskip("libjpeg", reason="pylibjpeg-libjpeg is pydicom's 12-bit JPEG plugin")
    from pydicom.pixels import pixel_array

    compared = []
    for row in CORPUS_12BIT:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                expected = pixel_array(row["abspath"], decoding_plugin="pylibjpeg")
        except Exception:  # noqa: BLE001 - no oracle for this file
            continue
        actual = turbodicom.decode(row["abspath"])
        assert actual.shape == expected.shape and actual.dtype == expected.dtype, row["path"]
        diff = np.abs(actual.astype(np.int64) - expected.astype(np.int64)).max()
        assert diff <= 1, (row["path"], int(diff))
        compared.append(row["path"])
    assert len(compared) >= 2, compared


# ------------------------------------------------------------------------------------------
# Threads
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bits", [8, 12])
def test_gil_released_while_decoding(bits):
    """A ticker thread advances while one large frame decodes (libjpeg-turbo for 8 bits,
    td_jpegdct for 12): the kernels run without the GIL."""
    import sys

    from test_threads import _ticks_during

    ic = _imagecodecs()
    rows, columns = 1536, 1536
    rng = np.random.default_rng(bits)
    if bits == 8:
        arr = rng.integers(0, 256, (rows, columns, 3), dtype=np.uint8)
        frame = bytes(ic.jpeg8_encode(arr, level=95, subsampling="444"))
        decode = lambda: turbodicom.decode_frame(  # noqa: E731
            frame, BASELINE, rows=rows, columns=columns, samples_per_pixel=3, bits_allocated=8,
            photometric_interpretation="YBR_FULL")
    else:
        arr = rng.integers(0, 4096, (rows, columns), dtype=np.uint16)
        frame = bytes(ic.jpeg8_encode(arr, level=95, bitspersample=12))
        decode = lambda: turbodicom.decode_frame(  # noqa: E731
            frame, EXTENDED, rows=rows, columns=columns, bits_allocated=16, bits_stored=12)
    old = sys.getswitchinterval()
    sys.setswitchinterval(30.0)  # only voluntary GIL releases let the ticker run
    try:
        ticks, out = _ticks_during(decode, want=3, max_calls=20)
    finally:
        sys.setswitchinterval(old)
    assert ticks >= 3
    assert len(out) == rows * columns * (3 if bits == 8 else 2)
