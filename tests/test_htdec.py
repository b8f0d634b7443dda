"""HTJ2K through turbodicom's own decoder: the HT block decoder (csrc/j2k/ht.c, T.814).

Oracles: the HTJ2K frames of the corpus with their expected md5 (WG04 originals) or, without
one, OpenJPEG (``_j2k``); images encoded here on the spot by OpenJPH (imagecodecs
``htj2k_encode``) and decoded by OpenJPH itself (``htj2k_decode``), reversible ones also equal
to the source.  The 34 HT conformance codestreams (T.803) run in test_j2k_conformance.py.
Damaged HT streams (truncations, bit flips, the frame that aborts OpenJPEG 2.5.0) must give a
turbodicom error or an array, never a crash; a damaged cleanup segment is a ``DecodeError``,
one cut by the end of the codestream leaves its code-block all zeros and the others decode.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

import turbodicom

from conftest import bit_flips, corpus_params, corpus_rows, truncations

_j2kdec = pytest.importorskip("turbodicom._j2kdec", reason="this build has no _j2kdec")
from turbodicom import j2k  # noqa: E402

HTJ2K_SYNTAXES = ("1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202",
                  "1.2.840.10008.1.2.4.203")
ABORTS_OPENJPEG = (Path(__file__).parent / "data" / "library-aborts" /
                   "htj2k-openjpeg-2.5.0-mel_init-assert.j2c")


def _md5(arr: np.ndarray) -> str:
    return hashlib.md5(np.ascontiguousarray(arr).tobytes()).hexdigest()


# ------------------------------------------------------------------------------------------
# The corpus: every HTJ2K file
# ------------------------------------------------------------------------------------------
HT_ROWS = corpus_rows(lambda r: r["transfer_syntax_uid"] in HTJ2K_SYNTAXES)
_NO_CORPUS = [pytest.param(None, marks=pytest.mark.skip(reason="no corpus (TURBODICOM_CORPUS)"))]


def test_htj2k_goes_through_our_decoder():
    features = turbodicom.features()
    for uid in HTJ2K_SYNTAXES:
        assert features["decode"][uid] == "htj2k"
    assert features["codecs"]["htj2k"].startswith("turbodicom")


@pytest.mark.parametrize("row", corpus_params(HT_ROWS) or _NO_CORPUS)
def test_corpus_decode(row):
    arr = turbodicom.decode(row["abspath"])
    if row["expected_md5"]:
        assert _md5(arr) == row["expected_md5"], row["path"]
        return
    _j2k = pytest.importorskip("turbodicom._j2k", reason="OpenJPEG is the oracle without md5")
    from turbodicom.frames import open_pixels

    with open_pixels(row["abspath"]) as px:
        frame = bytes(px.frame(0))
    hdr = _j2k.read_header(frame)
    ref = bytearray(hdr["rows"] * hdr["columns"] * hdr["components"] * hdr["bytes_per_sample"])
    _j2k.decode_into(frame, ref)
    size, _ = _j2kdec.decoded_size(frame)
    ours = bytearray(size)
    _j2kdec.decode_into(frame, ours)
    if row["lossy"] == "yes" and ours != ref:  # 9-7: within 1 of OpenJPEG
        dt = np.dtype(f"<{'i' if hdr['is_signed'] else 'u'}{hdr['bytes_per_sample']}")
        d = np.abs(np.frombuffer(ours, dt).astype(np.int64) - np.frombuffer(ref, dt))
        assert d.max() <= 1, row["path"]
    else:
        assert ours == ref, row["path"]


@pytest.mark.parametrize("row", corpus_params([r for r in HT_ROWS if r["expected_md5"]])
                         or _NO_CORPUS)
def test_corpus_plugin(row, registered):
    import pydicom

    ds = pydicom.dcmread(row["abspath"])
    ds.pixel_array_options(decoding_plugin="turbodicom")
    assert _md5(ds.pixel_array) == row["expected_md5"], row["path"]


# ------------------------------------------------------------------------------------------
# OpenJPH encodes, OpenJPH decodes: ours must agree
# ------------------------------------------------------------------------------------------
def _image(shape: tuple[int, ...], bits: int, signed: bool, seed: int) -> np.ndarray:
    """Smooth gradients, noise and a flat patch in `bits` bits (container from bits)."""
    rng = np.random.default_rng(seed)
    rows, cols = shape[:2]
    y, x = np.mgrid[0:rows, 0:cols]
    base = (np.sin(x / 7.0) + np.cos(y / 5.0) + 2) / 4
    if len(shape) == 3:
        base = np.stack([np.roll(base, 5 * k, axis=1) for k in range(shape[2])], axis=-1)
    v = ((base * 0.9 + rng.random(base.shape) * 0.1) * ((1 << bits) - 1)).astype(np.int64)
    v[rows // 3: rows // 2, cols // 4: cols // 2] = 1 << (bits - 1)
    if signed:
        v -= 1 << (bits - 1)
    return v.astype(np.dtype(f"{'i' if signed else 'u'}{1 if bits <= 8 else 2}"))


#: 9-7 streams: OpenJPH and turbodicom (like OpenJPEG) both invert the wavelet in float, with
#: different operation order and scaling, so samples may differ by a few units at 16 bits.
IRREVERSIBLE_TOLERANCE = 3

OPENJPH_CASES = {
    "plain": {},
    "tiles": {"tile": (64, 48)},
    "one_resolution": {"resolutions": 1},
    "eight_resolutions": {"resolutions": 8},
    "tlm_tileparts": {"tile": (32, 32), "tlm": True, "tilepart": 1},  # a tile-part per level
}


@pytest.mark.parametrize("case", sorted(OPENJPH_CASES))
@pytest.mark.parametrize("bits,signed", [(1, False), (5, False), (8, False), (8, True),
                                         (12, False), (12, True), (16, False), (16, True)])
@pytest.mark.parametrize("comps", [1, 3])
@pytest.mark.parametrize("reversible", [True, False])
def test_openjph_streams(case, bits, signed, comps, reversible):
    imagecodecs = pytest.importorskip("imagecodecs")
    shape = (131, 157) if comps == 1 else (131, 157, 3)
    src = _image(shape, bits, signed, seed=bits * 7 + comps)
    kw = dict(OPENJPH_CASES[case])
    if comps == 3 and not signed:
        kw["rgb"] = True  # the reversible / irreversible colour transform
    stream = imagecodecs.htj2k_encode(src, reversible=reversible, **kw)
    theirs = imagecodecs.htj2k_decode(stream)
    ours = j2k.decode(stream, threads=1)
    assert ours.shape == theirs.shape
    if reversible:
        assert np.array_equal(ours, src)
        assert np.array_equal(ours, theirs.astype(ours.dtype))
    else:
        d = np.abs(ours.astype(np.int64) - theirs.astype(np.int64))
        assert d.max() <= IRREVERSIBLE_TOLERANCE, (
            f"{case}: {int((d > 0).sum())} samples differ from OpenJPH, max {d.max()}")



@pytest.mark.parametrize("dtype", ["u2", "i2", "u1"])
def test_openjph_noise(dtype):
    """Full-range noise: U_q above 14 (quads outside the AVX2 fast path of the MagSgn pass) and
    0xFF bytes all through the MagSgn segments (destuffing), at odd sizes (partial quads)."""
    imagecodecs = pytest.importorskip("imagecodecs")
    info = np.iinfo(np.dtype(dtype))
    rng = np.random.default_rng(5)
    src = rng.integers(info.min, info.max, (67, 93), endpoint=True).astype(dtype)
    stream = imagecodecs.htj2k_encode(src, reversible=True)
    ours = j2k.decode(stream, threads=1)
    assert np.array_equal(ours, src)
    assert np.array_equal(ours, imagecodecs.htj2k_decode(stream).astype(ours.dtype))


def test_openjph_irreversible_saturated_rgb():
    """OpenJPH 0.26.3 wraps saturated irreversible RGB samples (255 comes back as 0; WG04 US1
    shows it too).  Ours stays within a few units of the source everywhere and within 1 of
    OpenJPH wherever OpenJPH is itself near the source."""
    imagecodecs = pytest.importorskip("imagecodecs")
    rng = np.random.default_rng(2)
    y, x = np.mgrid[0:96, 0:128]
    grey = (np.sin(x / 9) + np.cos(y / 7) + 2) / 4 * 400 - 60 + rng.integers(0, 20, x.shape)
    grey = np.clip(grey, 0, 255).astype(np.uint8)
    src = np.stack([grey, np.roll(grey, 7, 1), np.roll(grey, 13, 0)], axis=-1)
    stream = imagecodecs.htj2k_encode(src, reversible=False, rgb=True)
    theirs = imagecodecs.htj2k_decode(stream).astype(np.int64)
    ours = j2k.decode(stream, threads=1).astype(np.int64)
    assert np.abs(ours - src).max() <= 4
    sane = np.abs(theirs - src) <= 8
    assert np.abs(ours - theirs)[sane].max() <= 1


def test_openjph_threads_and_reduce():
    imagecodecs = pytest.importorskip("imagecodecs")
    src = _image((300, 260), 16, False, seed=3)
    stream = imagecodecs.htj2k_encode(src, reversible=True)
    one = j2k.decode(stream, threads=1)
    assert np.array_equal(one, src)
    assert np.array_equal(j2k.decode(stream, threads=2), one)
    _j2k = pytest.importorskip("turbodicom._j2k")
    for reduce in (1, 2, 3):
        rows, columns = _j2k.reduced_dims(stream, reduce)
        ref = bytearray(rows * columns * 2)
        try:
            _j2k.decode_into(stream, ref, reduce=reduce)
        except Exception:
            continue  # OpenJPEG 2.5.0 refuses some HT streams: no oracle for this one
        got = j2k.decode(stream, reduce=reduce, threads=1)
        assert got.tobytes() == bytes(ref), reduce


# ------------------------------------------------------------------------------------------
# Hostile input
# ------------------------------------------------------------------------------------------
def _decode_or_error(data: bytes) -> None:
    try:
        j2k.decode(data, threads=1)
    except turbodicom.TurboDicomError:
        pass


def test_the_frame_that_aborts_openjpeg_250():
    """Many of its code-blocks are damaged (Scup > Lcup, exponents past 31 bits): a
    ``DecodeError`` on any number of threads (OpenJPEG 2.5.0 aborts the process, OpenJPH 0.26.3
    returns an image with made-up samples)."""
    data = ABORTS_OPENJPEG.read_bytes()
    for threads in (1, 2):
        with pytest.raises(turbodicom.DecodeError, match="code-block"):
            j2k.decode(data, threads=threads)


def _hostile_seeds() -> list[bytes]:
    imagecodecs = pytest.importorskip("imagecodecs")
    return [imagecodecs.htj2k_encode(_image((67, 45), 12, False, seed=9), reversible=True),
            imagecodecs.htj2k_encode(_image((40, 52, 3), 8, False, seed=4), reversible=False,
                                     rgb=True),
            ABORTS_OPENJPEG.read_bytes()]


def test_truncations_are_errors_or_arrays():
    for s in _hostile_seeds():
        for cut in truncations(s, 200):
            _decode_or_error(cut)


def test_bit_flips_are_errors_or_arrays():
    for i, s in enumerate(_hostile_seeds()):
        for b in bit_flips(s, 400, 14 + i):
            _decode_or_error(b)


def test_damaged_cleanup_segment_is_a_decode_error():
    """A code-block whose Scup (last 12 bits of its cleanup segment) exceeds Lcup is corrupt."""
    imagecodecs = pytest.importorskip("imagecodecs")
    src = np.zeros((8, 8), np.uint8)
    src[2, 3] = 200
    stream = bytearray(imagecodecs.htj2k_encode(src, reversible=True, resolutions=1))
    assert np.array_equal(j2k.decode(bytes(stream)), src)
    eoc = bytes(stream).rindex(b"\xff\xd9")
    stream[eoc - 1] = 0xFF  # Scup's high byte (of the last block, HH): larger than the segment
    with pytest.raises(turbodicom.DecodeError, match="code-block"):
        j2k.decode(bytes(stream))


def _tiles_equal(a: np.ndarray, b: np.ndarray, size: int) -> list[bool]:
    return [np.array_equal(a[y:y + size, x:x + size], b[y:y + size, x:x + size])
            for y in range(0, a.shape[0], size) for x in range(0, a.shape[1], size)]


def test_cut_stream_decodes_the_other_blocks():
    """The stream cut inside the fourth of four tiles, its last byte (what would be the Scup
    byte of the block at the cut) damaged as well: the first three tiles are exact, no error
    (non-strict); strict mode reports the truncation.  The same damage in a complete tile is
    a ``DecodeError``."""
    imagecodecs = pytest.importorskip("imagecodecs")
    src = np.random.default_rng(5).integers(0, 1 << 12, (128, 128)).astype(np.uint16)
    stream = imagecodecs.htj2k_encode(src, reversible=True, resolutions=1, tile=(64, 64))
    assert np.array_equal(j2k.decode(stream, threads=1), src)
    sots = [i for i in range(len(stream) - 1) if stream[i:i + 2] == b"\xff\x90"]
    assert len(sots) == 4
    damaged = bytearray(stream)
    damaged[sots[3] - 1] = 0xFF  # the last byte of tile 2: the Scup byte of its last block
    with pytest.raises(turbodicom.DecodeError, match="tile 2"):
        j2k.decode(bytes(damaged), threads=1)
    cut = bytearray(stream[: sots[3] + (len(stream) - sots[3]) // 2])
    cut[-1] = 0xFF
    for threads in (1, 2):
        ours = j2k.decode(bytes(cut), threads=threads)
        assert _tiles_equal(ours, src, 64) == [True, True, True, False]
    with pytest.raises(turbodicom.DecodeError):
        j2k.decode(bytes(cut), threads=1, strict=True)


# ------------------------------------------------------------------------------------------
# MIXED mode (CAP Ccap15, T.814 B.2): EBCOT code-blocks inside an HT component
# ------------------------------------------------------------------------------------------
def _as_mixed_ht(cs: bytes) -> bytes:
    """A Part 1 codestream relabelled as HT MIXED: Rsiz says CAP, a CAP marker (Part 15,
    Ccap15 MIXED) after SIZ, the COD code-block style with HT | MIXED.  Every code-block stays
    EBCOT: a decoder must recognise each as such from its first contribution."""
    import struct

    out = bytearray(cs)
    assert out[2:4] == b"\xff\x51"
    lsiz = struct.unpack(">H", out[4:6])[0]
    out[6:8] = struct.pack(">H", struct.unpack(">H", out[6:8])[0] | 0x4000)
    out[4 + lsiz:4 + lsiz] = b"\xff\x50" + struct.pack(">HIH", 8, 0x00020000, 0xD800)
    cod = out.index(b"\xff\x52")
    out[cod + 12] |= 0xC0  # FF52 Lcod Scod SGcod(4) levels xcb ycb style
    return bytes(out)


@pytest.mark.parametrize("modesw", [
    0,
    pytest.param(1, marks=pytest.mark.xfail(strict=True, reason="tier2.c: BYPASS in MIXED mode")),
    pytest.param(4, marks=pytest.mark.xfail(strict=True, reason="tier2.c: TERMALL in MIXED mode")),
])
def test_mixed_mode_ebcot_blocks(modesw, tmp_path):
    """OpenJPEG (glymur) encodes Part 1 with the BYPASS (1) / TERMALL (4) mode switches; the
    same code-blocks inside a MIXED HT component must decode the same."""
    glymur = pytest.importorskip("glymur")
    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:96, 0:128]
    src = ((np.sin(x / 7) + np.cos(y / 5) + 2) * 50 + rng.integers(0, 40, x.shape)).astype(np.uint8)
    path = tmp_path / "a.j2k"
    kw = {"modesw": modesw} if modesw else {}
    glymur.Jp2k(str(path), data=src, cbsize=(32, 32), numres=3, **kw)
    cs = path.read_bytes()
    assert np.array_equal(j2k.decode(cs, threads=1), src)
    assert np.array_equal(j2k.decode(_as_mixed_ht(cs), threads=1), src)
