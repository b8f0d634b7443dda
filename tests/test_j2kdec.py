"""turbodicom's own JPEG 2000 decoder (csrc/j2k, ``_j2kdec``, ``turbodicom.j2k``) against OpenJPEG.

The oracle is the system OpenJPEG through ``_j2k`` (csrc/td_j2k.c): every JPEG 2000 frame of
the corpus and every stream encoded here on the spot (``opj_compress`` from libopenjp2-tools
for the options the Python bindings lack: SOP/EPH, POC, tile-parts, PLT, precincts, every
code-block style, the five progression orders; imagecodecs for 1-16 bits signed and unsigned)
must decode to the very same bytes, for 5/3 and 9/7 alike.  Damaged streams (truncated at many
points, bit-flipped) must give a turbodicom error or an array, in-process.  The ITU-T T.803
conformance codestreams and the property sweep over reduce/layers live in
test_j2k_conformance.py and test_j2k_property.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import turbodicom

from conftest import bit_flips, corpus_params, corpus_rows, fills_every_byte, truncations
from j2k_conformance import CONFORMANCE

_j2kdec = pytest.importorskip("turbodicom._j2kdec", reason="this build has no _j2kdec")
_j2k = pytest.importorskip("turbodicom._j2k", reason="OpenJPEG (_j2k) is the oracle")

J2K_SYNTAXES = ("1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91")
OPJ_COMPRESS = shutil.which("opj_compress")
CRASHERS = Path(__file__).parent / "data" / "crashers" / "j2kdec"


def ours(stream: bytes, **kw) -> bytearray:
    """Our decode in OpenJPEG's adapter layout (interleaved, natural container)."""
    size, _ = _j2kdec.decoded_size(stream, reduce=kw.get("reduce", 0))
    out = bytearray(size)
    _j2kdec.decode_into(stream, out, **kw)
    return out


def openjpeg(stream: bytes, reduce: int = 0) -> bytearray:
    hdr = _j2k.read_header(stream)
    rows, columns = _j2k.reduced_dims(stream, reduce)
    out = bytearray(rows * columns * hdr["components"] * hdr["bytes_per_sample"])
    _j2k.decode_into(stream, out, reduce=reduce)
    return out


def assert_same(stream: bytes, what: str, reduce: int = 0) -> None:
    a, b = ours(stream, reduce=reduce), openjpeg(stream, reduce)
    assert len(a) == len(b), what
    if a != b:
        hdr = _j2k.read_header(stream)
        dt = np.dtype(f"<{'i' if hdr['is_signed'] else 'u'}{hdr['bytes_per_sample']}")
        d = np.abs(np.frombuffer(a, dt).astype(np.int64) - np.frombuffer(b, dt).astype(np.int64))
        pytest.fail(f"{what}: {int((d > 0).sum())} samples differ from OpenJPEG, max {d.max()}")


# ------------------------------------------------------------------------------------------
# The corpus: every JPEG 2000 frame, byte for byte equal to OpenJPEG
# ------------------------------------------------------------------------------------------
J2K_ROWS = corpus_rows(lambda r: r["transfer_syntax_uid"] in J2K_SYNTAXES)


@pytest.mark.parametrize("row", corpus_params(J2K_ROWS) or [pytest.param(
    None, marks=pytest.mark.skip(reason="no corpus (set TURBODICOM_CORPUS)"))])
def test_corpus_frames(row):
    from turbodicom.frames import open_pixels

    with open_pixels(row["abspath"]) as px:
        for i in range(int(row["frames"] or 1)):
            assert_same(bytes(px.frame(i)), f"{row['path']} frame {i}")


# ------------------------------------------------------------------------------------------
# Streams encoded here
# ------------------------------------------------------------------------------------------
def image(shape: tuple[int, ...], bits: int, signed: bool, seed: int) -> np.ndarray:
    """Smooth gradients plus noise and a flat patch (run mode), in `bits` bits."""
    rng = np.random.default_rng(seed)
    rows, cols = shape[:2]
    y, x = np.mgrid[0:rows, 0:cols]
    base = (np.sin(x / 7.0) + np.cos(y / 5.0) + 2) / 4
    if len(shape) == 3:
        base = np.stack([np.roll(base, 3 * k, axis=1) for k in range(shape[2])], axis=-1)
    noise = rng.random(base.shape) * 0.1
    v = ((base * 0.9 + noise) * ((1 << bits) - 1)).astype(np.int64)
    v[rows // 3: rows // 2, cols // 4: cols // 2] = 1 << (bits - 1)
    if signed:
        v -= 1 << (bits - 1)
    dt = np.dtype(f"{'i' if signed else 'u'}{1 if bits <= 8 else 2}")
    return v.astype(dt)


def opj(img: np.ndarray, bits: int, signed: bool, *args: str) -> bytes:
    """opj_compress on a raw little-endian image, returning the codestream."""
    if OPJ_COMPRESS is None:
        pytest.skip("opj_compress (Debian libopenjp2-tools) encodes SOP/EPH/POC/... streams")
    rows, cols = img.shape[:2]
    comps = 1 if img.ndim == 2 else img.shape[2]
    with tempfile.TemporaryDirectory() as d:
        src, dst = os.path.join(d, "in.rawl"), os.path.join(d, "out.j2k")
        planar = img if img.ndim == 2 else np.moveaxis(img, -1, 0)
        planar.astype(planar.dtype.newbyteorder("<")).tofile(src)
        cmd = [OPJ_COMPRESS, "-i", src, "-o", dst, "-F",
               f"{cols},{rows},{comps},{bits},{'s' if signed else 'u'}", *args]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0 or not os.path.exists(dst):
            pytest.fail(f"opj_compress {' '.join(args)} failed: {r.stdout} {r.stderr}")
        return Path(dst).read_bytes()


OPJ_CASES = {
    "lrcp_layers": ("-p", "LRCP", "-r", "40,10,1"),
    "rlcp": ("-p", "RLCP", "-r", "20,1"),
    "rpcl_precincts": ("-p", "RPCL", "-c", "[64,64],[32,32],[16,16]", "-n", "4"),
    "pcrl_precincts": ("-p", "PCRL", "-c", "[32,32],[16,16]", "-b", "16,16"),
    "cprl": ("-p", "CPRL", "-r", "30,5,1"),
    "sop_eph": ("-SOP", "-EPH", "-r", "10,1"),
    "tiles_tileparts": ("-t", "40,24", "-TP", "R", "-r", "20,1", "-n", "3"),
    "tileparts_c": ("-TP", "C", "-p", "CPRL"),
    "poc": ("-POC", "T0=0,0,2,3,1,CPRL/T0=0,0,2,6,3,LRCP", "-r", "10,1", "-n", "5"),
    "plt_tlm": ("-PLT", "-TLM", "-t", "32,32", "-n", "3"),
    "bypass": ("-M", "1", "-r", "5,1"),
    "reset": ("-M", "2"),
    "termall": ("-M", "4", "-r", "8,1"),
    "vcausal": ("-M", "8"),
    "pterm": ("-M", "16"),
    "segsym": ("-M", "32"),
    "all_styles": ("-M", "63", "-r", "12,4,1"),
    "cblk_4x64": ("-b", "4,64"),
    "cblk_64x4": ("-b", "64,4"),
    "levels_0": ("-n", "1"),
    "irreversible": ("-I", "-r", "20"),
    "irreversible_layers": ("-I", "-r", "60,20,5", "-M", "5"),
    "image_offset": ("-d", "3,5", "-T", "1,2", "-t", "27,19", "-n", "3"),
}


@pytest.mark.parametrize("opts", [pytest.param(v, id=k) for k, v in OPJ_CASES.items()])
@pytest.mark.parametrize("bits,signed,comps", [(8, False, 1), (12, True, 1), (16, False, 1),
                                                (8, False, 3)])
def test_opj_compress_streams(opts, bits, signed, comps):
    shape = (61, 83) if comps == 1 else (61, 83, comps)
    img = image(shape, bits, signed, seed=bits + comps)
    args = list(opts)
    if comps == 3 and "-mct" not in args:
        args += ["-mct", "1"]
    stream = opj(img, bits, signed, *args)
    assert_same(stream, f"opj_compress {' '.join(args)}")
    hdr = _j2kdec.read_header(stream)
    # the adapter's reduced size disagrees with OpenJPEG's own on an image offset (-d), so the
    # oracle cannot check reduce there; test_j2k_property.py compares reduce through glymur
    levels = 0 if "-d" in args else min(hdr["decomposition_levels"], 3)
    for reduce in range(1, levels + 1):
        assert_same(stream, f"opj_compress {' '.join(args)} reduce {reduce}", reduce)
    if "-I" not in args and "-r" not in args:   # one lossless layer: the source comes back
        from turbodicom import j2k

        assert np.array_equal(j2k.decode(stream), img)


@pytest.mark.parametrize("bits,signed", [(b, s) for b in (1, 2, 5, 8, 9, 12, 15, 16)
                                         for s in (False, True) if b > 1 or not s])
def test_imagecodecs_streams(bits, signed):
    ic = pytest.importorskip("imagecodecs", reason="imagecodecs encodes 1-16 bit streams")
    img = image((37, 45), bits, signed, seed=bits)
    stream = ic.jpeg2k_encode(img, level=0, codecformat="j2k", bitspersample=bits)
    assert_same(stream, f"imagecodecs {bits} bits signed={signed}")
    from turbodicom import j2k

    assert np.array_equal(j2k.decode(stream), img)


# Tiles one sample wide or tall, at even and odd origins: every inverse DWT level then has
# rows / columns of one sample (a lone low- or high-pass sample, F.3.7) and rows of two.
# (opj_compress asserts on a one-sample 9/7 line, so 9/7 has even origins only.)
THIN_CASES = {  # (rows, columns), opj_compress options
    "edge_tiles": ((33, 17), ("-t", "16,16", "-n", "3")),
    "edge_tiles_odd": ((34, 19), ("-d", "15,15", "-t", "16,16", "-n", "3")),
    "two_wide_odd": ((34, 19), ("-d", "14,13", "-t", "16,16", "-n", "4")),
    "edge_tiles_97": ((34, 18), ("-t", "16,16", "-n", "3", "-I", "-r", "3")),
    "single_sample": ((1, 1), ("-n", "1")),
}


@pytest.mark.parametrize("shape,opts", [pytest.param(*v, id=k) for k, v in THIN_CASES.items()])
@pytest.mark.parametrize("comps", [1, 3])
def test_thin_tiles(shape, opts, comps):
    shape = shape if comps == 1 else (*shape, comps)
    stream = opj(image(shape, 12, True, seed=comps), 12, True, *opts)
    levels = min(_j2kdec.read_header(stream)["decomposition_levels"], 2)
    for reduce in range(levels + 1):
        if reduce and "-d" in opts:
            break  # the adapter's reduced size disagrees with OpenJPEG on an image offset
        assert_same(stream, f"opj_compress {' '.join(opts)} reduce {reduce}", reduce)


# Every container the output can have: each sample of the natural decode, as a two's-complement
# integer of 1, 2 or 4 bytes, pixel-interleaved or planar (store(): one loop per case).
@pytest.mark.parametrize("bits,signed,comps,lossy", [
    (8, False, 1, False), (8, True, 1, False), (12, True, 1, False), (16, False, 1, False),
    (16, True, 1, False), (8, False, 3, False), (8, False, 3, True), (12, False, 3, False),
    (12, True, 1, True), (16, False, 1, True), (8, True, 3, True)])
def test_every_container(bits, signed, comps, lossy):
    ic = pytest.importorskip("imagecodecs", reason="imagecodecs encodes the streams")
    shape = (23, 37) if comps == 1 else (23, 37, comps)
    img = image(shape, bits, signed, seed=bits + comps)
    kw = dict(reversible=False, level=30) if lossy else dict(level=0)
    stream = ic.jpeg2k_encode(img, codecformat="j2k", bitspersample=bits, mct=comps == 3, **kw)
    natural = 1 if bits <= 8 else 2
    want = np.frombuffer(ours(stream), f"<{'i' if signed else 'u'}{natural}").astype(np.int64)
    want = want.reshape(23, 37, comps)
    for bps in (1, 2, 4):
        for planar in (False, True):
            if bps < natural:
                continue
            size, _ = _j2kdec.decoded_size(stream, bytes_per_sample=bps, planar=planar)
            out = bytearray(size)
            _j2kdec.decode_into(stream, out, bytes_per_sample=bps, planar=planar)
            got = np.frombuffer(out, f"<{'i' if signed else 'u'}{bps}").astype(np.int64)
            got = got.reshape(comps, 23, 37).transpose(1, 2, 0) if planar else got.reshape(23, 37, comps)
            assert np.array_equal(got, want), f"{bps} bytes, planar={planar}"


def _flat(rows: int, cols: int, comps: int) -> np.ndarray:
    """Solid rectangles with sharp edges and a row of small marks, as a secondary capture."""
    img = np.zeros((rows, cols, comps), np.uint8)
    img[:] = np.array([20, 40, 60][:comps], np.uint8)
    img[rows // 7: rows // 2, cols // 12: cols * 5 // 6] = np.array([200, 180, 10][:comps])
    img[rows * 3 // 5: rows * 5 // 6, cols // 4: cols // 2] = np.array([5, 250, 128][:comps])
    for k in range(0, cols, 16):
        img[rows - 20: rows - 14, k: k + 8] = 255
    return img[..., 0] if comps == 1 else img


@pytest.mark.parametrize("comps", [1, 3])
@pytest.mark.parametrize("lossy", [False, True])
def test_flat_images_equal_openjpeg(comps, lossy):
    """Flat synthetic content: nearly every zero-coding decision of its code-blocks is the
    likely symbol, so after their first passes the significance and cleanup passes take them
    with branches instead of branch-free (tier1.c, j2k_t1_decode; checked with a counting build
    to happen for these images, as for pydicom's SC_rgb_gdcm_KY.dcm); the bytes must stay
    OpenJPEG's, on one thread and two."""
    ic = pytest.importorskip("imagecodecs", reason="imagecodecs encodes the streams")
    img = _flat(200, 240, comps)
    kw = dict(level=40, reversible=False) if lossy else dict(level=0, reversible=True)
    stream = bytes(ic.jpeg2k_encode(img, codecformat="j2k", **kw))
    assert_same(stream, f"flat {comps} components {'9/7' if lossy else '5/3'}")
    if not lossy:
        got = np.frombuffer(ours(stream), np.uint8).reshape(img.shape)
        assert np.array_equal(got, img)
    assert ours(stream, threads=2) == ours(stream)


# Components 0-2 into pixel-interleaved samples of 1 or 2 bytes go through one fused pass per
# row (mct.c, j2k_out3: inverse RCT / ICT or none, shift, clipping, interleaving; blocks of 32
# or 16 samples and a scalar tail).  Its output must equal the per-component path's (4-byte
# containers, planar output) and, reversible, OpenJPEG's; widths around the block sizes, and
# hard edges that a lossy reconstruction overshoots past both ends of the range.
def _edgy(rows: int, cols: int, bits: int, signed: bool, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    top = (1 << bits) - 1
    v = rng.integers(0, top + 1, size=(rows, cols, 3))
    y, x = np.mgrid[0:rows, 0:cols]
    v[((x // 3 + y // 2) % 2 == 0)] = 0          # blocks at both ends of the range
    v[((x // 3 + y // 2) % 3 == 1)] = top
    v[:, ::5, 1] = top - v[:, ::5, 1]
    if signed:
        v -= 1 << (bits - 1)
    return v.astype(f"{'i' if signed else 'u'}{1 if bits <= 8 else 2}")


def _fused_vs_general(stream: bytes, rows: int, cols: int, bits: int, signed: bool) -> np.ndarray:
    natural = 1 if bits <= 8 else 2
    views = {}
    for bps in (natural, 2, 4):
        for planar in (False, True):
            size, _ = _j2kdec.decoded_size(stream, bytes_per_sample=bps, planar=planar)
            out = bytearray(size)
            _j2kdec.decode_into(stream, out, bytes_per_sample=bps, planar=planar)
            got = np.frombuffer(out, f"<{'i' if signed else 'u'}{bps}").astype(np.int64)
            views[bps, planar] = (got.reshape(3, rows, cols).transpose(1, 2, 0) if planar
                                  else got.reshape(rows, cols, 3))
    want = views[4, True]
    for k, got in views.items():
        assert np.array_equal(got, want), f"{k} bytes/planar differ from 4 bytes planar"
    return want


def _rgb_stream(ic, img: np.ndarray, bits: int, signed: bool, mct: bool, lossy: bool) -> bytes:
    """Three components by imagecodecs (lossy: 9/7 at level 30), with the colour transform
    when `mct`.  imagecodecs 2026.11.11 leaves signed samples untransformed whatever
    ``mct`` says (the COD segment's MCT byte is 0; 2026.3.6 set it); opj_compress then encodes
    the same image with the transform, as asked."""
    kw = dict(reversible=False, level=30) if lossy else dict(level=0)
    stream = ic.jpeg2k_encode(img, codecformat="j2k", bitspersample=bits, mct=mct, **kw)
    if mct and stream[stream.index(b"\xff\x52") + 8] == 0:  # SGcod's MCT byte (T.800 A.6.1)
        stream = opj(img, bits, signed, "-n", "1", "-mct", "1",
                     *(("-I", "-q", "30") if lossy else ()))
        assert stream[stream.index(b"\xff\x52") + 8] == 1
    return stream


@pytest.mark.parametrize("cols", [1, 2, 7, 15, 16, 17, 31, 32, 33, 47, 48, 63, 64, 65, 100])
@pytest.mark.parametrize("bits,signed", [(8, False), (8, True), (12, False), (12, True),
                                         (16, False), (6, False)])
def test_fused_rgb_widths(cols, bits, signed):
    ic = pytest.importorskip("imagecodecs", reason="imagecodecs encodes the streams")
    rows = 5
    img = _edgy(rows, cols, bits, signed, seed=cols + bits)
    top, lo = (1 << bits) - 1, 0
    if signed:
        top, lo = top - (1 << (bits - 1)), -(1 << (bits - 1))
    for mct in (True, False):
        lossless = _rgb_stream(ic, img, bits, signed, mct, lossy=False)
        got = _fused_vs_general(lossless, rows, cols, bits, signed)
        assert np.array_equal(got, img), f"lossless mct={mct}"
        assert_same(lossless, f"lossless {bits} bits signed={signed} mct={mct}")
        lossy = _rgb_stream(ic, img, bits, signed, mct, lossy=True)
        got = _fused_vs_general(lossy, rows, cols, bits, signed)
        if cols >= 16 and mct:   # the reconstruction overshoots and is clipped at both ends
            assert got.min() == lo and got.max() == top
        assert_same(lossy, f"lossy {bits} bits signed={signed} mct={mct}")


# One component into 1- or 2-byte samples: blocks of 32 / 16 samples with saturating packs,
# then the vectorised loop; against 4-byte containers and OpenJPEG.
@pytest.mark.parametrize("cols", [1, 15, 16, 17, 31, 32, 33, 63, 65, 100])
@pytest.mark.parametrize("bits,signed", [(8, False), (8, True), (12, False), (16, True), (16, False)])
def test_packed_gray_widths(cols, bits, signed):
    ic = pytest.importorskip("imagecodecs", reason="imagecodecs encodes the streams")
    rows = 5
    img = _edgy(rows, cols, bits, signed, seed=cols + bits)[..., 0]
    for kw in (dict(level=0), dict(reversible=False, level=30)):
        stream = ic.jpeg2k_encode(img, codecformat="j2k", bitspersample=bits, **kw)
        natural = 1 if bits <= 8 else 2
        got = {}
        for bps in (natural, 2, 4):
            size, _ = _j2kdec.decoded_size(stream, bytes_per_sample=bps)
            out = bytearray(size)
            _j2kdec.decode_into(stream, out, bytes_per_sample=bps)
            got[bps] = np.frombuffer(out, f"<{'i' if signed else 'u'}{bps}").astype(np.int64)
        assert np.array_equal(got[natural], got[4]) and np.array_equal(got[2], got[4]), kw
        if kw["level"] == 0:
            assert np.array_equal(got[natural].reshape(rows, cols), img)
        assert_same(stream, f"{bits} bits signed={signed} {kw}")


@pytest.mark.parametrize("opts", [("-t", "32,16", "-n", "3"), ("-d", "5,3", "-t", "37,20", "-n", "3"),
                                  ("-t", "48,24", "-n", "3", "-I", "-r", "30")])
def test_fused_rgb_clipped_tiles(opts):
    """Tiles whose right edge the image clips (tile widths that are not multiples of 16)."""
    img = _edgy(45, 83, 8, False, seed=7)
    stream = opj(img, 8, False, *opts, "-mct", "1")
    _fused_vs_general(stream, 45, 83, 8, False)
    assert_same(stream, f"opj_compress {' '.join(opts)}")
    if "-d" not in opts:   # the adapter's reduced size disagrees with OpenJPEG on an offset
        assert_same(stream, f"opj_compress {' '.join(opts)} reduce 1", 1)


def test_fused_rgb_htj2k():
    ic = pytest.importorskip("imagecodecs", reason="imagecodecs encodes HTJ2K")
    img = _edgy(19, 77, 8, False, seed=11)
    stream = ic.htj2k_encode(img, level=0)
    assert np.array_equal(_fused_vs_general(stream, 19, 77, 8, False), img)


# ------------------------------------------------------------------------------------------
# The Python API
# ------------------------------------------------------------------------------------------
def _stream() -> bytes:
    ic = pytest.importorskip("imagecodecs", reason="imagecodecs encodes the API test stream")
    return ic.jpeg2k_encode(image((64, 96, 3), 8, False, seed=1), level=0, codecformat="j2k")


def test_decode_shapes_and_inputs():
    from turbodicom import j2k

    s = _stream()
    a = j2k.decode(s)
    assert a.shape == (64, 96, 3) and a.dtype == np.uint8
    for src in (bytearray(s), memoryview(s), np.frombuffer(s, np.uint8)):
        assert np.array_equal(j2k.decode(src), a)
    half = j2k.decode(s, reduce=1)
    assert half.shape == (32, 48, 3)
    with pytest.raises(turbodicom.UnsupportedError):
        j2k.decode(s, reduce=40)
    assert np.array_equal(j2k.decode(s, threads=2), a)
    assert np.array_equal(j2k.decode(s, layers=1), a)  # one layer: all of it


def test_components_of_different_size_come_back_as_a_list():
    stream = opj(image((40, 48, 3), 8, False, seed=3), 8, False, "-mct", "0")
    # opj_compress cannot subsample raw input; the conformance codestream p0_06 has four
    # components of three sizes
    conf = CONFORMANCE
    if not (conf / "p0_06.j2k").is_file():
        pytest.skip("conformance codestream p0_06 (subsampled components) not present")
    from turbodicom import j2k

    parts = j2k.decode((conf / "p0_06.j2k").read_bytes())
    assert isinstance(parts, list)
    assert [p.shape for p in parts] == [(129, 513), (129, 257), (65, 513), (65, 257)]
    assert j2k.decode(stream).shape == (40, 48, 3)


def test_decode_refuses_an_image_over_the_output_limit(monkeypatch):
    """turbodicom.j2k.decode checks turbodicom.frames.MAX_OUTPUT_BYTES before it allocates
    the image (one read of the codestream: the header, the limit, then the decode)."""
    import turbodicom.frames
    from turbodicom import j2k

    s = _stream()  # 64 x 96 x 3, 8-bit: 18432 bytes
    monkeypatch.setattr(turbodicom.frames, "MAX_OUTPUT_BYTES", 18431)
    with pytest.raises(turbodicom.LimitError, match=r"64 x 96 x 3 image would decode to 18,432"):
        j2k.decode(s)
    assert j2k.decode(s, reduce=1).shape == (32, 48, 3)  # 4608 bytes: under the limit
    monkeypatch.setattr(turbodicom.frames, "MAX_OUTPUT_BYTES", 18432)
    assert j2k.decode(s).shape == (64, 96, 3)


def test_plugin_frame_over_the_output_limit(monkeypatch, registered):
    """The pydicom plugin's JPEG 2000 frame (the codestream read once, _j2kdec.decode_new)
    checks turbodicom.frames.MAX_OUTPUT_BYTES before it allocates."""
    import io

    import dicom_factory as fac
    import turbodicom.frames

    img = image((40, 48), 12, False, seed=21)
    data = fac.encapsulated_file([opj(img, 12, False)], transfer_syntax=J2K_SYNTAXES[0],
                                 rows=40, columns=48, bits_allocated=16, bits_stored=12)

    def pixels():
        ds = fac.read_dataset(io.BytesIO(data))
        ds.pixel_array_options(decoding_plugin="turbodicom")
        return ds.pixel_array

    assert np.array_equal(pixels(), img)
    monkeypatch.setattr(turbodicom.frames, "MAX_OUTPUT_BYTES", 40 * 48 * 2 - 1)
    with pytest.raises(Exception, match=r"40 x 48 x 1 image would decode to 3,840 bytes"):
        pixels()


def test_every_output_byte_is_written_whatever_the_buffer_held():
    """turbodicom.j2k.decode, the pydicom plugin (_j2kdec.decode_new) and decode_frame
    (Codec.fills_output) hand the decoder a buffer they have not cleared, so the decoder must
    write every byte of the output: its samples, zeros for a tile with no tile-part, whatever
    a cut stream still holds.  Decoded into buffers full of 0x00 and of 0xFF, every stream
    here must come out the same."""
    import j2k_streams as js

    streams = []
    for s in _hostile_seeds():
        streams += [(s, False)] + [(cut, False) for cut in truncations(s, 40)]
    tiled = opj(image((40, 48), 12, False, seed=11), 12, False, "-t", "16,16", "-n", "2")
    main, parts = js.split_codestream(tiled)
    assert len({p.isot for p in parts}) == 9
    for gone in (0, 4, 8):  # a tile without tile-parts: zeros
        streams.append((js._join(main, [p for p in parts if p.isot != gone]), False))
    if (CONFORMANCE / "p0_06.j2k").is_file():  # components of three sizes: planes
        streams.append(((CONFORMANCE / "p0_06.j2k").read_bytes(), True))
    checked = 0
    for s, planar in streams:
        # the codestream's layout (turbodicom.j2k.decode, the plugin), and the dataset's
        # containers of 2 and 4 bytes, monochrome or not (decode_frame)
        for bps, mono in ((0, None), (2, True), (4, False)):
            if planar and bps:
                continue
            try:
                size, _ = _j2kdec.decoded_size(s, bytes_per_sample=bps, planar=planar)
            except turbodicom.TurboDicomError:
                continue
            if bps:
                def decode(out, s=s, bps=bps, mono=mono):
                    _j2kdec.decode_for_dataset(s, out, bytes_per_sample=bps,
                                               pixel_representation=False, monochrome=mono)
            else:
                def decode(out, s=s, planar=planar):
                    _j2kdec.decode_into(s, out, planar=planar)
            same = fills_every_byte(decode, size)
            assert same is not False, f"bytes left unwritten ({bps}, {len(s)} bytes)"
            checked += same is True
    assert checked >= 180, f"only {checked} decodes compared"
    from turbodicom import j2k

    a = j2k.decode(js._join(main, [p for p in parts if p.isot != 4]))
    assert (a[16:32, 16:32] == 0).all() and a[:16].any()


def test_output_too_small_and_strict_truncation():
    s = _stream()
    size, _ = _j2kdec.decoded_size(s)
    with pytest.raises(turbodicom.DecodeError):
        _j2kdec.decode_into(s, bytearray(size - 1))
    cut = s[: len(s) * 2 // 3]
    _j2kdec.decode_into(cut, bytearray(size))  # what is there is decoded
    with pytest.raises(turbodicom.DecodeError):
        _j2kdec.decode_into(cut, bytearray(size), strict=True)


def test_gil_released_during_decode():
    """A ticker thread keeps running while a large frame decodes."""
    ic = pytest.importorskip("imagecodecs", reason="imagecodecs encodes the large frame")
    s = ic.jpeg2k_encode(image((1024, 1024), 16, False, seed=7), level=0, codecformat="j2k")
    size, _ = _j2kdec.decoded_size(s)
    ticks = []
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    t = threading.Thread(target=tick)
    t.start()
    start = time.perf_counter()
    _j2kdec.decode_into(s, bytearray(size))
    end = time.perf_counter()
    stop.set()
    t.join()
    assert sum(start < x < end for x in ticks) >= 3


def test_concurrent_decodes_equal_serial():
    from concurrent.futures import ThreadPoolExecutor

    streams = [opj(image((50, 70), 12, False, seed=k), 12, False, "-r", "10,1") for k in range(6)]
    serial = [ours(s) for s in streams]
    with ThreadPoolExecutor(4) as ex:
        assert list(ex.map(ours, streams)) == serial


# ------------------------------------------------------------------------------------------
# Tiles on threads: a codestream of several tiles goes tile by tile on the threads, each tile
# taken by one thread (its own work a nested job that idle threads help with), when the tiles
# are two or more per thread or too small to share (decode.c, tile_threads); two large tiles go
# one after another, each on all the threads.  The bytes must be those of one thread (and
# OpenJPEG's), and a damaged stream's error that of tile after tile: the first damaged
# tile's, named.
# ------------------------------------------------------------------------------------------
TILED = {  # image shape, bits, signed, opj_compress options
    "grey16_53": ((300, 200), 16, False, ("-t", "64,64", "-n", "3")),
    "grey12_97_origin": ((257, 190), 12, True,
                         ("-t", "48,40", "-d", "5,3", "-I", "-r", "8", "-n", "2")),
    "rgb8_mct_tileparts": ((200, 240, 3), 8, False, ("-t", "100,80", "-TP", "R", "-n", "4")),
    "rgb8_97_layers": ((160, 160, 3), 8, False, ("-t", "32,32", "-I", "-r", "20,5,1", "-n", "2")),
    "two_large_tiles": ((600, 600), 16, False, ("-t", "300,600", "-n", "5")),
}


@pytest.mark.parametrize("name", list(TILED))
def test_tiles_on_threads_equal_one_thread(name):
    shape, bits, signed, opts = TILED[name]
    stream = opj(image(shape, bits, signed, seed=len(name)), bits, signed, *opts)
    assert _j2kdec.read_header(stream)["tiles"] >= 2
    if "-d" not in opts:  # (the adapter's size disagrees with OpenJPEG on an image offset)
        assert_same(stream, name)
    layers = (0, 1) if "-r" in opts else (0,)
    for reduce in (0, 1):
        for layer in layers:
            one = ours(stream, reduce=reduce, layers=layer, threads=1)
            for threads in (2, 3, 4):
                got = ours(stream, reduce=reduce, layers=layer, threads=threads)
                assert got == one, f"{threads} threads, reduce {reduce}, layers {layer}"


def test_tiles_on_threads_report_the_first_damaged_tile():
    """Three damaged tiles of 16: tile 5 fails late (a COC makes component 2 9/7 under the
    reversible MCT: refused after its code-blocks are decoded), tiles 6 and 11 at once (a QCD
    with one step size for 7 bands).  On any number of threads the error is tile 5's, as tile
    after tile, although a thread that took tile 6 fails first."""
    import struct

    import j2k_streams as js

    stream = opj(image((256, 256, 3), 8, False, seed=5), 8, False, "-t", "64,64", "-n", "3")
    main, parts = js.split_codestream(stream)
    assert len({p.isot for p in parts}) == 16
    cod = dict(js._marker_segments(main[2:]))[0xFF52]
    spcoc = bytearray(cod[9:])  # SPcod: levels, code-block size and style, transform
    spcoc[4] = 0  # 9/7
    coc = struct.pack(">HHBB", 0xFF53, 4 + len(spcoc), 2, cod[4] & 1) + bytes(spcoc)
    bad_qcd = struct.pack(">HHBH", 0xFF5C, 5, 0x42, 0x4000)
    for p in parts:
        if p.tpsot == 0 and p.isot in (5, 6, 11):
            p.header = (coc if p.isot == 5 else bad_qcd) + p.header
    damaged = js._join(main, parts)
    with pytest.raises(turbodicom.DecodeError) as first:
        ours(damaged, threads=1)
    want = str(first.value)
    assert want == "tile 5: MCT over components of different size or filter", want
    for threads in (2, 3, 4):
        for _ in range(20):
            with pytest.raises(turbodicom.DecodeError) as got:
                ours(damaged, threads=threads)
            assert str(got.value) == want and type(got.value) is type(first.value)


# ------------------------------------------------------------------------------------------
# Hostile input
# ------------------------------------------------------------------------------------------
def _decode_or_error(data: bytes) -> None:
    try:
        size, _ = _j2kdec.decoded_size(data)
    except turbodicom.TurboDicomError:
        return
    if size > 1 << 26:
        return
    try:
        _j2kdec.decode_into(data, bytearray(size))
    except turbodicom.TurboDicomError:
        pass


def _hostile_seeds() -> list[bytes]:
    img = image((33, 47), 12, False, seed=5)
    return [opj(img, 12, False, *a) for a in (("-r", "20,1", "-SOP", "-EPH"),
                                               ("-M", "63", "-p", "RPCL", "-c", "[16,16]", "-n", "3"),
                                               ("-t", "16,16", "-TP", "R", "-PLT", "-n", "3"),
                                               ("-I", "-POC", "T0=0,0,1,6,1,LRCP"))]


def test_truncations_never_crash():
    for s in _hostile_seeds():
        for cut in truncations(s, 150):
            _decode_or_error(cut)


def test_bit_flips_never_crash():
    for i, s in enumerate(_hostile_seeds()):
        for b in bit_flips(s, 300, 1234 + i):
            _decode_or_error(b)


def test_crashers_replay():
    """Inputs the fuzzer once found (tests/data/crashers/j2kdec) stay harmless."""
    files = sorted(CRASHERS.glob("*")) if CRASHERS.is_dir() else []
    for f in files:
        _decode_or_error(f.read_bytes())
    seeds = _hostile_seeds()
    assert seeds, "no hostile seeds"


def test_huge_tile_behind_a_small_reduced_output_is_refused():
    """A header claiming a 60000 x 60000 tile, asked for at reduce 5 (a 1875² output), must
    not build the whole tile's partition: TD_E_LIMIT, not an unbounded allocation."""
    import struct

    from turbodicom import j2k

    s = bytearray(opj(image((40, 40), 8, False, seed=9), 8, False, "-n", "6"))
    assert s[2:4] == b"\xff\x51"
    struct.pack_into(">IIIIIIII", s, 8, 60000, 60000, 0, 0, 60000, 60000, 0, 0)
    with pytest.raises(turbodicom.LimitError):
        j2k.decode(bytes(s), reduce=5)


def _resplit(cs: bytes, cuts: list[float]) -> bytes:
    """The same codestream with each tile's packet data cut into more tile-parts at the given
    fractions of it (anywhere: inside packet headers, bodies, SOP and EPH markers), the tile-
    part headers kept in the tile's first part: a decoder that joins a tile's tile-parts reads
    it as before."""
    import j2k_streams as js

    main, parts = js.split_codestream(cs)
    tiles: dict[int, list] = {}
    for p in parts:
        tiles.setdefault(p.isot, []).append(p)
    out = bytearray(main)
    for isot, tps in tiles.items():
        data = b"".join(p.body for p in tps)
        header = b"".join(p.header for p in tps)
        at = sorted({min(len(data), max(0, round(f * len(data)))) for f in cuts})
        pieces = [data[a:b] for a, b in zip([0] + at, at + [len(data)])]
        for k, piece in enumerate(pieces):
            part = js.TilePart(isot, k, len(pieces), b"", piece)
            out += js._sot(part, header if k == 0 else b"", piece)
    return bytes(out + b"\xff\xd9")


@pytest.mark.skipif(OPJ_COMPRESS is None, reason="opj_compress not found")
@pytest.mark.parametrize("args", ["-n 3 -r 8,4,1 -SOP -EPH", "-n 4 -b 16,16 -c [32,32],[16,16]",
                                  "-t 32,32 -n 2 -r 4,1 -TP R -SOP -EPH", "-I -n 3 -r 20,10,5"])
def test_tile_parts_cut_anywhere_decode_as_joined(args):
    """Tile-parts are read where they lie, one after another (no copy of a tile's data), and a
    packet that runs on from one into the next (not allowed, but OpenJPEG joins a tile's tile-
    parts) still decodes: every cut gives the uncut stream's bytes, as OpenJPEG gives them."""
    import j2k_streams as js

    rng = np.random.default_rng(63)
    img = (np.add.outer(np.arange(64) * 9, np.arange(64) * 5) % 4096
           + rng.integers(0, 32, size=(64, 64))).astype(np.uint16)
    cs = js.opj_compress([img], 12, False, args.split())
    want = ours(cs)
    assert want == openjpeg(cs)
    fractions = [i / 97 for i in range(98)]
    for a in fractions[::3]:
        for cuts in ([a], [a, a + 0.013], [a, a, a + 0.2]):
            cut = _resplit(cs, cuts)
            assert ours(cut) == want, (args, cuts)
    if "-EPH" in args:  # and with the headers in PPT (to_ppt reads them by SOP/EPH)
        for cuts in ([0.5], [0.1, 0.7]):
            cut = _resplit(js.to_ppt(cs), cuts)
            assert ours(cut) == want == openjpeg(cut), (args, cuts)
