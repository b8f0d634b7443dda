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
    "one_level": {"levels": 1},
    "seven_levels": {"levels": 7},  # LL 2 x 2 (imagecodecs 2026.11.11 writes at most 7 here)
    "tlm_tileparts": {"tile": (32, 32), "tlm": True, "tilepart": 1},  # a tile-part per level
}


def _htj2k_encode(imagecodecs, src: np.ndarray, *, levels: int | None = None, **kw) -> bytes:
    """``imagecodecs.htj2k_encode`` writing `levels` wavelet decomposition levels.

    Its ``resolutions`` argument changed meaning: imagecodecs 2026.3.6 (OpenJPH 0.26.3) writes
    that many decomposition levels, 2026.11.11 (OpenJPH 0.33.0) that many resolutions, one
    level fewer, and no more than log2 of the image's shorter side.  The level count is read
    back from the COD segment (SPcod's first byte, T.800 A.6.1), so the stream has `levels`
    levels with either version."""
    if levels is None:
        return imagecodecs.htj2k_encode(src, **kw)
    for resolutions in (levels, levels + 1):
        stream = imagecodecs.htj2k_encode(src, resolutions=resolutions, **kw)
        written = stream[stream.index(b"\xff\x52") + 9]
        if written == levels:
            return stream
    pytest.fail(f"imagecodecs.htj2k_encode wrote {written} decomposition levels, not {levels}")


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
    stream = _htj2k_encode(imagecodecs, src, reversible=reversible, **kw)
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
    stream = bytearray(_htj2k_encode(imagecodecs, src, reversible=True, levels=1))
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
    stream = _htj2k_encode(imagecodecs, src, reversible=True, levels=1, tile=(64, 64))
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
# The CxtVLC tables (T.814 Annex C)
# ------------------------------------------------------------------------------------------
J2K_SRC = Path(__file__).resolve().parent.parent / "csrc" / "j2k"


def test_vlc_tables_are_generated_from_the_codeword_data():
    """ht_tables.h is what ht_vlc_gen.py makes of ht_vlc.txt, and in each of the 8 contexts
    of both tables the codewords are prefix-free (the generator checks) and complete: every
    7-bit window of the VLC stream starts with exactly one codeword.  (The 802 rows of
    ht_vlc.txt were compared, row by row, with OpenJPH's table0.h / table1.h and OpenJPEG's
    t1_ht_generate_luts.c, and the lookup tables entry by entry with OpenJPEG's t1_ht_luts.h,
    which packs their low 16 bits the same way: no difference.)  Bit 16 is gamma (two or more
    samples significant), and the U-VLC table gives u_q + 1, 1 for a quad without u_off."""
    import importlib.util
    import io
    from contextlib import redirect_stdout

    if not (J2K_SRC / "ht_vlc_gen.py").exists():
        pytest.skip("no source tree")
    spec = importlib.util.spec_from_file_location("ht_vlc_gen", J2K_SRC / "ht_vlc_gen.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    out = io.StringIO()
    with redirect_stdout(out):
        gen.main()
    assert out.getvalue() == (J2K_SRC / "ht_tables.h").read_text()
    rows = [line.split() for line in (J2K_SRC / "ht_vlc.txt").read_text().splitlines()
            if line and not line.startswith("#")]
    assert [sum(r[0] == t for r in rows) for t in "01"] == [444, 358]
    for table in gen.build():
        assert all(entry & 7 for entry in table)  # a codeword length in every slot
        assert all((entry >> 16) & 1 == (bin((entry >> 20) & 15).count("1") >= 2)
                   for entry in table)
    uvlc = gen.build_uvlc()
    assert all(((e >> 16) & 15, (e >> 20) & 15, e & 63) == (1, 1, 0) for e in uvlc[:64])
    assert all((e >> 20) & 15 == 1 for e in uvlc[64:128])  # mode 1: only the first has u_off
    assert all((e >> 16) & 15 == 1 for e in uvlc[128:192])  # mode 2: only the second


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


class _HeaderBits:
    """Packet header bits (T.800 B.10.1), read or written: most significant bit first, a 0
    bit stuffed at the top of the byte after each 0xFF."""

    def __init__(self, data: bytes = b"", pos: int = 0):
        self.data, self.pos, self.ct, self.byte, self.last = data, pos, 0, 0, 0
        self.out = bytearray()

    def get(self, n: int = 1) -> int:
        v = 0
        for _ in range(n):
            if self.ct == 0:
                self.ct = 7 if self.last == 0xFF else 8
                self.byte = self.last = self.data[self.pos]
                self.pos += 1
            self.ct -= 1
            v = (v << 1) | ((self.byte >> self.ct) & 1)
        return v

    def align(self) -> int:
        if self.ct == 0 and self.last == 0xFF:
            self.pos += 1
        self.ct = self.last = 0
        return self.pos

    def put(self, v: int, n: int = 1) -> None:
        for k in range(n - 1, -1, -1):
            if self.ct == 0:
                self.ct = 7 if self.out and self.out[-1] == 0xFF else 8
                self.out.append(0)
            self.ct -= 1
            self.out[-1] |= ((v >> k) & 1) << self.ct

    def flush(self) -> bytes:
        if self.out and self.out[-1] == 0xFF:
            self.out.append(0)
        self.ct = 0
        return bytes(self.out)


class _TagTree:
    """A tag tree (T.800 B.10.2) over w x h leaves, for decoding or (values set) encoding."""

    def __init__(self, w: int, h: int):
        self.dims = [(w, h)]
        while w * h > 1:
            w, h = (w + 1) // 2, (h + 1) // 2
            self.dims.append((w, h))
        self.val: list[list] = [[None] * (w * h) for w, h in self.dims]
        self.low = [[0] * (w * h) for w, h in self.dims]
        self.known = [[False] * (w * h) for w, h in self.dims]

    def path(self, x: int, y: int) -> list[tuple[int, int]]:
        return [(lv, (y >> lv) * self.dims[lv][0] + (x >> lv))
                for lv in reversed(range(len(self.dims)))]

    def set_leaves(self, values: list[int]) -> None:
        self.val[0] = list(values)
        for lv in range(1, len(self.dims)):
            (cw, ch), (w, _) = self.dims[lv - 1], self.dims[lv]
            self.val[lv] = [min(self.val[lv - 1][cy * cw + cx]
                                for cy in (2 * (i // w), 2 * (i // w) + 1)
                                for cx in (2 * (i % w), 2 * (i % w) + 1) if cx < cw and cy < ch)
                            for i in range(len(self.val[lv]))]

    def decode(self, x: int, y: int, threshold: int, bits: _HeaderBits) -> bool:
        low = 0
        for lv, i in self.path(x, y):
            low = max(low, self.low[lv][i])
            while low < threshold and (self.val[lv][i] is None or low < self.val[lv][i]):
                if bits.get():
                    self.val[lv][i] = low
                else:
                    low += 1
            self.low[lv][i] = low
        return self.val[0][y * self.dims[0][0] + x] is not None and \
            self.val[0][y * self.dims[0][0] + x] < threshold

    def encode(self, x: int, y: int, threshold: int, bits: _HeaderBits) -> None:
        low = 0
        for lv, i in self.path(x, y):
            low = max(low, self.low[lv][i])
            while low < threshold:
                if low >= self.val[lv][i]:
                    if not self.known[lv][i]:
                        bits.put(1)
                        self.known[lv][i] = True
                    break
                bits.put(0)
                low += 1
            self.low[lv][i] = low


def _get_passes(bits: _HeaderBits) -> int:  # Table B.4
    if not bits.get():
        return 1
    if not bits.get():
        return 2
    n = bits.get(2)
    if n != 3:
        return 3 + n
    n = bits.get(5)
    return 6 + n if n != 31 else 37 + bits.get(7)


def _put_passes(bits: _HeaderBits, n: int) -> None:
    if n <= 2:
        bits.put((0, 2)[n - 1], n)
    elif n <= 5:
        bits.put(0b1100 | (n - 3), 4)
    elif n <= 36:
        bits.put((0b1111 << 5) | (n - 6), 9)
    else:
        bits.put((0b111111111 << 7) | (n - 37), 16)


def _segment_passes(style: int, seg: int) -> int:
    """The most passes in codeword segment `seg` (T.800 Table D.9 / D.4.1)."""
    if style & 4:  # TERMALL
        return 1
    if style & 1:  # BYPASS: 10 passes, then (SigProp, MagRef) and Cleanup alternately
        return 10 if seg == 0 else 2 if seg & 1 else 1
    return 1 << 30


def _read_blocks(cs: bytes) -> tuple[dict, list]:
    """The code-blocks of a one-layer codestream with one tile and one component, maximal
    precincts, origin 0, no SOP/EPH and one packet per resolution (glymur's LRCP, OpenJPH's
    RPCL): per resolution a list of sub-bands (code-blocks across, code-blocks), each
    code-block its zero bit-planes (None: not included) and codeword segments [passes,
    length, data] (Part 1: Table D.9; HT: the cleanup segment, then the refinement one)."""
    import struct

    m = {k: cs.index(v) for k, v in (("siz", b"\xff\x51"), ("cod", b"\xff\x52"),
                                     ("qcd", b"\xff\x5c"), ("sot", b"\xff\x90"),
                                     ("sod", b"\xff\x93"))}
    siz, cod = m["siz"], m["cod"]
    xsiz, ysiz, x0, y0 = struct.unpack(">IIII", cs[siz + 6:siz + 22])
    w, h = xsiz - x0, ysiz - y0
    levels, xcb, ycb, style = cs[cod + 9], cs[cod + 10] + 2, cs[cod + 11] + 2, cs[cod + 12]
    assert cs[cod + 6:cod + 8] == b"\x00\x01" and cs[cod + 4] & 7 == 0 and x0 == y0 == 0
    qcd = m["qcd"]
    assert cs[qcd + 4] & 0x1F == 0  # reversible: Mb = guard bits + exponent - 1 (E.1)
    m["mb"] = [(cs[qcd + 4] >> 5) + (e >> 3) - 1 for e in cs[qcd + 5:qcd + 5 + 3 * levels + 1]]
    resolutions = []
    pos = m["sod"] + 2
    for r in range(levels + 1):
        nb = levels if r == 0 else levels - r + 1
        bits = _HeaderBits(cs, pos)
        nonempty = bits.get()
        bands, order = [], []
        for o in ([0] if r == 0 else [1, 2, 3]):
            bw = -(-(w - (o & 1) * (1 << nb >> 1)) // (1 << nb))
            bh = -(-(h - (o >> 1) * (1 << nb >> 1)) // (1 << nb))
            cw, ch = -(-bw // (1 << xcb)), -(-bh // (1 << ycb))
            inc, zbp = _TagTree(cw, ch), _TagTree(cw, ch)
            blocks = [{"zbp": None, "segs": []} for _ in range(cw * ch)]
            for k, cb in enumerate(blocks):
                x, y = k % cw, k // cw
                if not nonempty or not inc.decode(x, y, 1, bits):
                    continue
                cb["zbp"] = 0
                while not zbp.decode(x, y, cb["zbp"] + 1, bits):
                    cb["zbp"] += 1
                n, lblock = _get_passes(bits), 3
                while bits.get():
                    lblock += 1
                if style & 0x40:  # HT, first contribution (T.814 B.2), no placeholder passes
                    href = (n - 1) % 3
                    takes = [n - href, href] if href else [n]
                else:
                    takes = []
                    while n:
                        takes.append(min(n, _segment_passes(style, len(takes))))
                        n -= takes[-1]
                for take in takes:
                    cb["segs"].append([take, bits.get(lblock + take.bit_length() - 1)])
                    order.append(cb["segs"][-1])
            bands.append((cw, blocks))
        pos = bits.align()
        for seg in order:
            seg.append(cs[pos:pos + seg[1]])
            pos += seg[1]
        resolutions.append(bands)
    assert cs[pos:pos + 2] == b"\xff\xd9"
    return m, resolutions


def _relayer(cs: bytes, lead: bool = False, ht: bytes | None = None) -> tuple[bytes, int, int]:
    """Re-packetize a one-layer LRCP codestream (see _read_blocks) into more layers; the
    code-block data stay as they are.  One layer carries each code-block's first codeword
    segments, as many as fit length fields of an Lblock that leaves the first field's top bit 1
    (or is 3), the next layer the rest.  With `lead`, a first layer before these carries the
    first coding pass of every code-block whose first segment has more, with no data (the
    segment goes on in the next layer).  With `ht`, an HT codestream of the same reversible
    image and code-blocks, every other code-block (a checkerboard) is its HT code-block, whole
    in the first layer with data (its cleanup length's top bit 0, Lblock > 3: MIXED mode).
    Returns the codestream, the number of Part 1 code-blocks whose first contribution with
    data has several codeword segments and the number with an empty lead."""
    import struct

    m, resolutions = _read_blocks(cs)
    cod, sot, sod = m["cod"], m["sot"], m["sod"]
    if ht is not None:
        mh, ht_resolutions = _read_blocks(ht)
        band = 0
        for r, (bands, ht_bands) in enumerate(zip(resolutions, ht_resolutions)):
            for (cw, blocks), (_, ht_blocks) in zip(bands, ht_bands):
                for k, (cb, hb) in enumerate(zip(blocks, ht_blocks)):
                    if (k % cw + k // cw + r) % 2 and hb["zbp"] is not None:
                        assert cb["zbp"] is not None
                        cb["ht"] = [tuple(seg) for seg in hb["segs"]]
                        cb["zbp"] = hb["zbp"] + m["mb"][band] - mh["mb"][band]
                        assert cb["zbp"] >= 0
                band += 1
    # split each code-block's segments into per-layer contributions of (passes, length, data)
    nlayers = 3 if lead else 2
    multi = leads = 0
    for cb in (cb for bands in resolutions for _, blocks in bands for cb in blocks):
        cb["layers"] = [[] for _ in range(nlayers)]
        if cb["zbp"] is None:
            continue
        if "ht" in cb:
            cup = cb["ht"][0]
            lb = max(4, cup[1].bit_length() - cup[0].bit_length() + 2,
                     *(ln.bit_length() - take.bit_length() + 1 for take, ln, _ in cb["ht"]))
            cb["layers"][-2], cb["lblock_first"] = cb["ht"], lb
            continue
        segs = [tuple(s) for s in cb["segs"]]
        if lead and segs[0][0] > 1:
            cb["layers"][0] = [(1, 0, b"")]
            segs[0] = (segs[0][0] - 1, segs[0][1], segs[0][2])
            leads += 1
        lb = max(3, segs[0][1].bit_length() - segs[0][0].bit_length() + 1)
        k = 1
        while k < len(segs) and segs[k][1].bit_length() <= lb + segs[k][0].bit_length() - 1:
            k += 1
        cb["layers"][-2], cb["layers"][-1] = segs[:k], segs[k:]
        cb["lblock_first"] = lb
        multi += k > 1
    # write: LRCP, tag trees of the first layer with data and the zero bit-planes
    for cw, blocks in (band for bands in resolutions for band in bands):
        first = [min([i for i, c in enumerate(cb["layers"]) if c] or [99]) for cb in blocks]
        trees = (_TagTree(cw, len(blocks) // cw), _TagTree(cw, len(blocks) // cw))
        trees[0].set_leaves(first)
        trees[1].set_leaves([cb["zbp"] or 0 for cb in blocks])
        for cb, f in zip(blocks, first):
            cb.update(trees=trees, first=f, lblock=3)
    packets = []
    for layer in range(nlayers):
        for bands in resolutions:
            bits, body = _HeaderBits(), bytearray()
            live = any(cb["layers"][layer] for _, blocks in bands for cb in blocks)
            bits.put(int(live))
            for cw, blocks in bands if live else ():
                for k, cb in enumerate(blocks):
                    x, y = k % cw, k // cw
                    segs = cb["layers"][layer]
                    if layer <= cb["first"]:
                        cb["trees"][0].encode(x, y, layer + 1, bits)
                        if layer < cb["first"]:
                            continue
                        cb["trees"][1].encode(x, y, 999, bits)
                    else:
                        bits.put(int(bool(segs)))
                        if not segs:
                            continue
                    if layer == nlayers - 2:
                        need = cb["lblock_first"]
                    else:
                        need = max(ln.bit_length() - take.bit_length() + 1 for take, ln, _ in segs)
                    _put_passes(bits, sum(take for take, _, _ in segs))
                    step = max(0, need - cb["lblock"])
                    bits.put((1 << (step + 1)) - 2, step + 1)
                    cb["lblock"] += step
                    for take, ln, data in segs:
                        bits.put(ln, cb["lblock"] + take.bit_length() - 1)
                        body += data
            packets.append(bits.flush() + bytes(body))
    out = bytearray(cs[:sod + 2]) + b"".join(packets) + b"\xff\xd9"
    out[cod + 6:cod + 8] = struct.pack(">H", nlayers)
    out[sot + 6:sot + 10] = struct.pack(">I", len(out) - 2 - sot)
    return bytes(out), multi, leads


#: OpenJPEG's mode switches (glymur ``modesw``): 1 BYPASS, 2 RESET, 4 TERMALL, 8 VSC (vertically
#: causal), 16 ERTERM, 32 SEGMARK
MODE_SWITCHES = [0, 1, 2, 4, 8, 16, 32, 1 | 4, 1 | 2 | 8 | 16 | 32, 2 | 4 | 8 | 16 | 32, 63]


def _wavy_u8(rows, cols, sx, sy, seed):
    """An 8-bit test image: smooth waves of periods sx, sy plus noise (seeded)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:cols]
    return ((np.sin(x / sx) + np.cos(y / sy) + 2) * 50 + rng.integers(0, 40, x.shape)).astype(np.uint8)


@pytest.mark.parametrize("modesw", MODE_SWITCHES)
def test_mixed_mode_ebcot_blocks(modesw, tmp_path):
    """OpenJPEG (glymur) encodes Part 1 with the mode switches; the same code-blocks inside a
    MIXED HT component must decode the same.

    A code-block's first contribution with data decides HT or Part 1 (T.814 B.2, as OpenHTJ2K
    reads it): a length field with Lblock > 3 and its top bit 0 is an HT cleanup length.  A
    Part 1 encoder that gives each contribution the smallest Lblock makes its one length field
    start with a 1, so a one-layer stream relabelled as MIXED stays unambiguous; with BYPASS
    or TERMALL a contribution has several codeword segments (Table D.9), and OpenJPEG's
    smallest Lblock often leaves the first length's top bit 0 (such a stream is not a valid
    MIXED stream: it must not crash us, nothing more).  Re-packetized, each
    code-block's first contribution holds the segments that fit an Lblock marking it
    Part 1 (_relayer); OpenJPEG is the oracle for the re-packetized Part 1 stream (all
    layers: the source; layer 0 alone: OpenJPEG's own decode)."""
    glymur = pytest.importorskip("glymur")
    src = _wavy_u8(96, 128, 7, 5, seed=1)
    path = tmp_path / "a.j2k"
    kw = {"modesw": modesw} if modesw else {}
    glymur.Jp2k(str(path), data=src, cbsize=(32, 32), numres=3, **kw)
    cs = path.read_bytes()
    assert np.array_equal(j2k.decode(cs, threads=1), src)
    if modesw & 5:
        _decode_or_error(_as_mixed_ht(cs))
    else:
        assert np.array_equal(j2k.decode(_as_mixed_ht(cs), threads=1), src)
    two, multi, _ = _relayer(cs)
    assert multi > 0 if modesw & 5 else multi == 0
    _check_relayered(glymur, two, src, tmp_path)


@pytest.mark.parametrize("modesw", [0, 1, 2 | 8 | 16 | 32, 1 | 2 | 8 | 16 | 32])
def test_mixed_mode_ebcot_after_empty_contribution(modesw, tmp_path):
    """A first contribution without data (one pass of a longer first segment) reads as HT
    placeholder passes; the next contribution's data shows the code-block is Part 1, and that
    pass becomes a Part 1 pass of its first segment.  Decoding layer 0 alone leaves MIXED
    code-blocks without data undecided (all zero), so that one is not compared."""
    glymur = pytest.importorskip("glymur")
    src = _wavy_u8(64, 80, 6, 4, seed=2)
    path = tmp_path / "a.j2k"
    kw = {"modesw": modesw} if modesw else {}
    glymur.Jp2k(str(path), data=src, cbsize=(16, 16), numres=2, **kw)
    stream, multi, leads = _relayer(path.read_bytes(), lead=True)
    assert leads > 0 and (multi > 0 if modesw & 1 else multi == 0)
    _check_relayered(glymur, stream, src, tmp_path, mixed_from_layers=2)



@pytest.mark.parametrize("modesw,lead", [(0, False), (1, False), (4, False), (1 | 4, False),
                                         (1 | 2 | 16 | 32, False), (0, True), (1, True)])
def test_mixed_mode_ht_and_ebcot_side_by_side(modesw, lead, tmp_path):
    """A checkerboard of HT code-blocks (OpenJPH's) and Part 1 code-blocks (OpenJPEG's, with
    the mode switches) of the same reversible image in one MIXED tile-component decodes to
    the source: both coders carry the same wavelet coefficients."""
    glymur = pytest.importorskip("glymur")
    imagecodecs = pytest.importorskip("imagecodecs")
    src = _image((256, 320), 8, False, seed=7)
    path = tmp_path / "a.j2k"
    kw = {"modesw": modesw} if modesw else {}
    glymur.Jp2k(str(path), data=src, cbsize=(64, 64), numres=4, **kw)
    ht = _htj2k_encode(imagecodecs, src, reversible=True, levels=3)  # 64 x 64 blocks
    assert np.array_equal(j2k.decode(ht, threads=1), src)
    stream, multi, leads = _relayer(path.read_bytes(), lead=lead, ht=ht)
    assert (multi > 0) == bool(modesw & 5) and (leads > 0) == lead
    mixed = _as_mixed_ht(stream)
    for threads in (1, 2):
        assert np.array_equal(j2k.decode(mixed, threads=threads), src)

def test_mixed_mode_damaged_streams_are_errors_or_arrays(tmp_path):
    """Truncations and bit flips of MIXED streams with Part 1 code-blocks of several segments
    and with empty first contributions (the rewind of tier2.c)."""
    glymur = pytest.importorskip("glymur")
    src = _image((48, 40), 8, False, seed=6)
    seeds = []
    for modesw, lead in ((1 | 4, False), (1 | 2, True), (4 | 8, False)):
        path = tmp_path / f"m{modesw}.j2k"
        glymur.Jp2k(str(path), data=src, cbsize=(16, 16), numres=2, modesw=modesw)
        seeds.append(_as_mixed_ht(_relayer(path.read_bytes(), lead=lead)[0]))
        assert np.array_equal(j2k.decode(seeds[-1], threads=1), src)
    for i, s in enumerate(seeds):
        for cut in truncations(s, 100):
            _decode_or_error(cut)
        for b in bit_flips(s, 300, 40 + i):
            _decode_or_error(b)


def _check_relayered(glymur, stream: bytes, src: np.ndarray, tmp_path: Path,
                     mixed_from_layers: int = 1) -> None:
    """`stream` (from _relayer), as Part 1 and relabelled MIXED, against OpenJPEG: the source
    with all layers, OpenJPEG's own decode with the first layers."""
    path = tmp_path / "relayered.j2k"
    path.write_bytes(stream)
    assert np.array_equal(glymur.Jp2k(str(path))[:], src)  # OpenJPEG reads it as we wrote it
    mixed = _as_mixed_ht(stream)
    assert np.array_equal(j2k.decode(stream, threads=1), src)
    assert np.array_equal(j2k.decode(mixed, threads=1), src)
    nlayers = int.from_bytes(stream[stream.index(b"\xff\x52") + 6:][:2], "big")
    for layers in range(1, nlayers):
        jp = glymur.Jp2k(str(path))
        jp.layer = layers  # OpenJPEG decodes this many layers
        ref = jp[:]
        assert np.array_equal(j2k.decode(stream, layers=layers, threads=1), ref), layers
        if layers >= mixed_from_layers:
            assert np.array_equal(j2k.decode(mixed, layers=layers, threads=1), ref), layers
