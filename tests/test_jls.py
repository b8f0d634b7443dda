"""JPEG-LS Lossless and Near-Lossless (csrc/td_jls.c over the system CharLS).

Oracles, each independent of turbodicom:

* imagecodecs' ``jpegls_decode`` (its own bundled CharLS build) and pyjpegls' ``decode_buffer``
  (another bundled CharLS) decode the same stream;
* pydicom's ``pixel_array`` with each of its own JPEG-LS plugins (pyjpegls, pylibjpeg-libjpeg,
  gdcm: whichever are installed), which applies pydicom's JPEG-LS sign correction itself;
* images encoded on the spot (pyjpegls for any precision 2..16 and every interleave mode,
  imagecodecs for 8/16 bits with a SPIFF header): a lossless decode must give back the source.

Tests needing an optional oracle or encoder are skipped, naming it, when it is missing.
"""

from __future__ import annotations

import dataclasses
import sys
import threading

import numpy as np
import pytest

import turbodicom

import dicom_factory as fac
from conftest import CRASHERS, corpus_params, corpus_rows

pytestmark = pytest.mark.skipif("jls" not in turbodicom.features()["codecs"],
                                reason="this build of turbodicom has no CharLS")

JLS_LOSSLESS = "1.2.840.10008.1.2.4.80"
JLS_NEAR = "1.2.840.10008.1.2.4.81"
JLS_SYNTAXES = (JLS_LOSSLESS, JLS_NEAR)
PYDICOM_PLUGINS = ("pyjpegls", "pylibjpeg", "gdcm")


# ------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------
def _imagecodecs():
    ic = pytest.importorskip("imagecodecs", reason="imagecodecs is an oracle and an encoder")
    if not ic.JPEGLS.available:
        pytest.skip("imagecodecs was built without CharLS")
    return ic


def _pyjpegls():
    return pytest.importorskip("jpeg_ls", reason="pyjpegls (pip install pyjpegls) encodes "
                                                  "precisions other than 8 and 16")


def _have_pyjpegls() -> bool:
    try:
        import jpeg_ls  # noqa: F401
    except ImportError:
        return False
    return True


def _image(shape: tuple[int, ...], bits: int, seed: int) -> np.ndarray:
    """Unsigned coded values < 2**bits: a gradient with noise (runs and regular mode both
    exercised), with 0 and the maximum present so P is exactly `bits`."""
    rng = np.random.default_rng(seed)
    rows, cols = shape[:2]
    y, x = np.mgrid[0:rows, 0:cols]
    ramp = (x * 5 + y * 3).astype(np.int64)
    if len(shape) == 3:
        ramp = np.stack([ramp * (k + 1) + 17 * k for k in range(shape[2])], axis=-1)
    span = 1 << bits
    img = (ramp * (span // 61 + 1) + rng.integers(0, max(2, span // 16), size=shape)) % span
    img[: rows // 4, : cols // 3] = span // 3  # a flat area: run mode
    img.flat[0], img.flat[-1] = 0, span - 1
    return img.astype(np.uint16 if bits > 8 else np.uint8)


def sign_corrected(values: np.ndarray, precision: int, bits_allocated: int,
                   pixel_representation: int) -> np.ndarray:
    """Decoded (unsigned) JPEG-LS samples as pydicom's pixel_array reports them: widened to
    Bits Allocated and, for Pixel Representation 1, sign-extended from the precision."""
    kind = "i" if pixel_representation else "u"
    itemsize = max(1, bits_allocated // 8)
    arr = values.astype(f"u{itemsize}").view(f"{kind}{itemsize}").copy()
    shift = 8 * itemsize - precision
    if pixel_representation and shift:
        np.left_shift(arr, shift, out=arr)
        np.right_shift(arr, shift, out=arr)
    return arr


def pyjpegls_values(stream: bytes) -> np.ndarray:
    """pyjpegls' decode of one stream as an image-shaped array (rows, columns[, samples])."""
    jpeg_ls = _pyjpegls()
    buf, info = jpeg_ls.decode_buffer(bytes(stream))
    dt = np.uint8 if info["bits_per_sample"] <= 8 else np.dtype("<u2")
    arr = np.frombuffer(bytes(buf), dt)
    rows, cols, spp = info["height"], info["width"], info["components"]
    if spp == 1:
        return arr.reshape(rows, cols)
    if info["interleave_mode"] == 0:  # CharLS writes colour planes for interleave mode none
        return np.ascontiguousarray(arr.reshape(spp, rows, cols).transpose(1, 2, 0))
    return arr.reshape(rows, cols, spp)


@dataclasses.dataclass(frozen=True)
class Case:
    """One image encoded on the spot."""

    name: str
    bits: int                       # JPEG-LS precision P
    signed: bool = False
    spp: int = 1
    ilv: int = 2                    # interleave mode for spp 3 (pyjpegls)
    near: int = 0
    shape: tuple[int, int] = (37, 51)
    frames: int = 1
    encoder: str = "pyjpegls"       # or "imagecodecs" (P 8 or 16 only, SPIFF header)
    bits_allocated: int | None = None  # default: 8 for P <= 8, else 16
    bits_stored: int | None = None     # default: P

    @property
    def ba(self) -> int:
        return self.bits_allocated or (8 if self.bits <= 8 else 16)

    @property
    def bs(self) -> int:
        return self.bits_stored or self.bits

    @property
    def syntax(self) -> str:
        return JLS_NEAR if self.near else JLS_LOSSLESS

    @property
    def photometric(self) -> str:
        return "RGB" if self.spp == 3 else "MONOCHROME2"

    def coded(self) -> np.ndarray:
        """The unsigned coded values, (frames, rows, cols[, spp]) or one frame."""
        shape = self.shape + ((self.spp,) if self.spp > 1 else ())
        frames = [_image(shape, self.bits, seed=self.bits * 7 + k) for k in range(self.frames)]
        return frames[0] if self.frames == 1 else np.stack(frames)

    def encode(self, frame: np.ndarray) -> bytes:
        if self.encoder == "imagecodecs":
            ic = _imagecodecs()
            assert self.bits in (8, 16)
            return bytes(ic.jpegls_encode(frame, level=self.near or None))
        jpeg_ls = _pyjpegls()
        if self.spp > 1 and self.ilv == 0:
            frame = np.ascontiguousarray(frame.transpose(2, 0, 1))
        ilv = self.ilv if self.spp > 1 else None
        return bytes(jpeg_ls.encode_array(frame, lossy_error=self.near, interleave_mode=ilv))

    def file(self) -> tuple[bytes, list[bytes], np.ndarray]:
        """(Part 10 file, encoded frames, coded values)."""
        coded = self.coded()
        frames = [self.encode(f) for f in fac.split_frames(coded, self.spp)]
        data = fac.encapsulated_file(
            frames, transfer_syntax=self.syntax, rows=self.shape[0], columns=self.shape[1],
            samples_per_pixel=self.spp, bits_allocated=self.ba, bits_stored=self.bs,
            pixel_representation=int(self.signed), photometric=self.photometric)
        return data, frames, coded

    def expected(self, values: np.ndarray) -> np.ndarray:
        return sign_corrected(values, self.bits, self.ba, int(self.signed))


CASES = (
    [Case(f"JLS_{b}u", b) for b in range(2, 17)]
    + [Case(f"JLS_{b}s", b, signed=True) for b in (2, 5, 8, 9, 12, 15, 16)]
    + [Case(f"JLS_{b}u_RGB_ILV{m}", b, spp=3, ilv=m) for b in (8, 12) for m in (0, 1, 2)]
    + [Case("JLS_5u_RGB_ILV0", 5, spp=3, ilv=0), Case("JLS_16u_RGB_ILV2", 16, spp=3),
       Case("JLS_10s_RGB_ILV1", 10, signed=True, spp=3, ilv=1)]
    + [Case(f"JLS_{b}u_NEAR{n}", b, near=n) for b, n in ((8, 1), (8, 3), (12, 2), (16, 5))]
    + [Case("JLS_12s_NEAR2", 12, signed=True, near=2),
       Case("JLS_8u_RGB_ILV0_NEAR2", 8, spp=3, ilv=0, near=2),
       Case("JLS_8u_RGB_ILV1_NEAR4", 8, spp=3, ilv=1, near=4)]
    + [Case("JLS_8u_1x1", 8, shape=(1, 1), encoder="imagecodecs"),
       Case("JLS_16u_1x7", 16, shape=(1, 7), encoder="imagecodecs"),
       Case("JLS_12u_odd", 12, shape=(129, 45)), Case("JLS_7u_RGB_odd", 7, spp=3, shape=(3, 97)),
       Case("JLS_12s_3F", 12, signed=True, frames=3),
       Case("JLS_8u_RGB_2F", 8, spp=3, frames=2, ilv=0)]
    + [Case("JLS_8u_in_16", 8, bits_allocated=16), Case("JLS_6s_in_16", 6, signed=True,
                                                        bits_allocated=16),
       Case("JLS_12s_BS16", 12, signed=True, bits_stored=16)]
    + [Case("JLS_8u_imagecodecs", 8, encoder="imagecodecs"),
       Case("JLS_16u_imagecodecs", 16, encoder="imagecodecs"),
       Case("JLS_16s_imagecodecs", 16, signed=True, encoder="imagecodecs"),
       Case("JLS_8u_RGB_imagecodecs", 8, spp=3, encoder="imagecodecs"),
       Case("JLS_16u_NEAR3_imagecodecs", 16, near=3, encoder="imagecodecs")]
)
CASE_IDS = [c.name for c in CASES]


@pytest.fixture(scope="module")
def encoded_cases():
    """{case name: (file bytes, frames, coded values)}, built on first use."""
    cache: dict[str, tuple[bytes, list[bytes], np.ndarray]] = {}

    def get(case: Case) -> tuple[bytes, list[bytes], np.ndarray]:
        if case.name not in cache:
            cache[case.name] = case.file()
        return cache[case.name]
    return get


def _frame_values(case: Case, coded: np.ndarray) -> list[np.ndarray]:
    return fac.split_frames(coded, case.spp)


# ------------------------------------------------------------------------------------------
# (a) generated images: CharLS oracles, lossless round trip, every entry point
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_generated_equals_oracles(case, encoded_cases):
    data, frames, coded = encoded_cases(case)
    ic = _imagecodecs()
    arr = turbodicom.decode(data)
    got = [arr] if case.frames == 1 else list(arr)
    for i, (frame, src) in enumerate(zip(frames, _frame_values(case, coded), strict=True)):
        hdr = turbodicom._jls.read_header(frame)
        assert (hdr["bits_per_sample"], hdr["near"]) == (case.bits, case.near), hdr
        if case.spp > 1 and case.encoder == "pyjpegls":
            assert hdr["interleave_mode"] == case.ilv
        values = ic.jpegls_decode(frame)
        if case.near == 0:
            np.testing.assert_array_equal(values, src, err_msg="the encoder is not lossless")
        else:
            assert np.abs(values.astype(np.int64) - src).max() <= case.near
        if _have_pyjpegls():
            np.testing.assert_array_equal(pyjpegls_values(frame), values)
        fac.assert_same_array(got[i], case.expected(values), f"{case.name} frame {i}")
        fac.assert_same_array(turbodicom.decode(data, index=i), got[i], f"index={i}")
        raw = turbodicom.decode_frame(
            frame, case.syntax, rows=case.shape[0], columns=case.shape[1],
            samples_per_pixel=case.spp, bits_allocated=case.ba, bits_stored=case.bs,
            pixel_representation=int(case.signed), photometric_interpretation=case.photometric)
        assert bytes(raw) == fac.le_container(got[i], case.ba)
    for i, it in enumerate(turbodicom.iter_frames(data, threads=2)):
        fac.assert_same_array(it, got[i], f"iter_frames[{i}]")


def _pydicom_plugins(uid: str) -> list[str]:
    from pydicom.pixels.decoders.base import get_decoder

    return [p for p in PYDICOM_PLUGINS if p in get_decoder(uid)._available]


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_generated_equals_pydicom(case, encoded_cases, unregistered):
    data, _, _ = encoded_cases(case)
    plugins = _pydicom_plugins(case.syntax)
    if not plugins:
        pytest.skip("pydicom has no JPEG-LS plugin installed (pyjpegls, pylibjpeg, gdcm)")
    arr = turbodicom.decode(data)
    compared = 0
    for plugin in plugins:
        try:
            expected = fac.pydicom_array(data, plugin=plugin)
        except Exception as exc:  # noqa: BLE001 - a plugin's documented limits (gdcm: P < 8)
            if plugin == "gdcm" and (case.bits < 8 or case.bits in (6, 7)):
                continue
            raise AssertionError(f"pydicom + {plugin} failed: {exc!r}") from exc
        fac.assert_same_array(arr, expected, f"pydicom + {plugin}")
        compared += 1
    assert compared
    turbodicom.register()
    fac.assert_same_array(fac.pydicom_array(data, plugin="turbodicom"), arr,
                          "pydicom + turbodicom plugin")


# ------------------------------------------------------------------------------------------
# (b) the corpus, frame by frame, against imagecodecs' CharLS
# ------------------------------------------------------------------------------------------
CORPUS_JLS = corpus_rows(lambda r: r["transfer_syntax_uid"] in JLS_SYNTAXES)


@pytest.mark.parametrize("row", corpus_params(CORPUS_JLS))
def test_corpus_frames_equal_imagecodecs(row):
    ic = _imagecodecs()
    path = row["abspath"]
    ds = fac.read_dataset(path)
    arr = turbodicom.decode(path)
    frames = list(fac.iter_frame_bytes(path))
    got = [arr] if len(frames) == 1 else list(arr)
    for i, (frame, _) in enumerate(frames):
        values = ic.jpegls_decode(frame)  # CharLS 2.4.3 accepts MR1_JLSL's zero before EOI
        hdr = turbodicom._jls.read_header(frame)
        expected = sign_corrected(values, hdr["bits_per_sample"], ds.BitsAllocated,
                                  ds.PixelRepresentation)
        if ds.PhotometricInterpretation in ("YBR_FULL", "YBR_FULL_422"):
            pytest.skip("YBR -> RGB is checked through pydicom in test_corpus.py")
        fac.assert_same_array(got[i], expected, f"{row['path']} frame {i}")


def test_corpus_has_the_padded_mr1_file():
    """WG04 MR1_JLSL has a zero byte between its scan data and EOI: Debian's CharLS 2.4.1
    rejects it; turbodicom skips the byte and reproduces the uncompressed original."""
    rows = [r for r in CORPUS_JLS if r["path"].endswith("WG04/JLSL/MR1_JLSL")]
    if not rows:
        pytest.skip("WG04 MR1_JLSL is not in this corpus")
    frame = next(iter(fac.iter_frame_bytes(rows[0]["abspath"])))[0]
    assert frame.rstrip(b"\x00")[-3:] == b"\x00\xff\xd9"
    import hashlib

    arr = turbodicom.decode(rows[0]["abspath"])
    assert hashlib.md5(arr.tobytes()).hexdigest() == rows[0]["expected_md5"]


@pytest.mark.parametrize("name", ["JLS_16s", "JLS_8u_RGB_ILV0", "JLS_12u_RGB_ILV1",
                                  "JLS_16u_imagecodecs"])
def test_zero_bytes_before_eoi_and_bytes_after_it(name, encoded_cases):
    """Zero bytes between the scan data and EOI (as in WG04 MR1_JLSL) are skipped; bytes after
    EOI (00 or FF padding, junk) are ignored; a stream without EOI is refused."""
    case = _case(name)
    _, frames, _ = encoded_cases(case)
    frame = frames[0]
    assert frame.endswith(b"\xff\xd9")
    expected = turbodicom.decode_frame(frame, case.syntax, **_kwargs(case))
    body = frame[:-2]
    for variant in (body + b"\x00\xff\xd9", body + b"\x00\x00\x00\xff\xd9",
                    frame + b"\x00", frame + b"\xff", frame + b"\x12\x34\x56",
                    body + b"\x00\xff\xd9\x00"):
        assert turbodicom.decode_frame(variant, case.syntax, **_kwargs(case)) == expected
    with pytest.raises(turbodicom.DecodeError, match="EOI"):
        turbodicom.decode_frame(body, case.syntax, **_kwargs(case))


# ------------------------------------------------------------------------------------------
# (c) the boundary: output buffers, input types, header/dataset mismatches
# ------------------------------------------------------------------------------------------
def _case(name: str) -> Case:
    return next(c for c in CASES if c.name == name)


def _kwargs(case: Case) -> dict:
    return dict(rows=case.shape[0], columns=case.shape[1], samples_per_pixel=case.spp,
                bits_allocated=case.ba, bits_stored=case.bs,
                pixel_representation=int(case.signed),
                photometric_interpretation=case.photometric)


@pytest.mark.parametrize("name", ["JLS_12s", "JLS_8u_RGB_ILV0", "JLS_8u_in_16"])
def test_decode_frame_out_and_input_types(name, encoded_cases):
    case = _case(name)
    _, frames, _ = encoded_cases(case)
    frame = frames[0]
    fresh = turbodicom.decode_frame(frame, case.syntax, **_kwargs(case))
    assert isinstance(fresh, bytearray)
    n = len(fresh)
    assert n == case.shape[0] * case.shape[1] * case.spp * case.ba // 8
    for src in (frame, bytearray(frame), memoryview(frame), np.frombuffer(frame, np.uint8)):
        assert turbodicom.decode_frame(src, case.syntax, **_kwargs(case)) == fresh
    out = bytearray(n + 5)
    assert turbodicom.decode_frame(frame, case.syntax, out=out, **_kwargs(case)) is out
    assert out[:n] == fresh
    arr_out = np.zeros(n, np.uint8)
    turbodicom.decode_frame(frame, case.syntax, out=arr_out, **_kwargs(case))
    assert arr_out.tobytes() == bytes(fresh)
    with pytest.raises(ValueError, match="bytes"):
        turbodicom.decode_frame(frame, case.syntax, out=bytearray(n - 1), **_kwargs(case))
    with pytest.raises(ValueError, match="writable"):
        turbodicom.decode_frame(frame, case.syntax, out=bytes(n), **_kwargs(case))


def test_boundary_functions(encoded_cases):
    from turbodicom import _jls

    case = _case("JLS_12u")
    _, frames, coded = encoded_cases(case)
    hdr = _jls.read_header(frames[0])
    assert hdr == {"rows": 37, "columns": 51, "components": 1, "bits_per_sample": 12,
                   "near": 0, "interleave_mode": 0, "color_transformation": 0,
                   "bytes_per_sample": 2}
    out = bytearray(37 * 51 * 2)
    _jls.decode_into(frames[0], out)
    np.testing.assert_array_equal(np.frombuffer(out, "<u2").reshape(37, 51), coded)
    wide = bytearray(37 * 51 * 4)
    _jls.decode_into(frames[0], wide, bytes_per_sample=4)
    np.testing.assert_array_equal(np.frombuffer(wide, "<u4").reshape(37, 51), coded)
    with pytest.raises(turbodicom.DecodeError, match="output bytes"):
        _jls.decode_into(frames[0], bytearray(len(out) - 1))
    with pytest.raises(turbodicom.UnsupportedError, match="precision 12"):
        _jls.decode_into(frames[0], bytearray(len(out)), bytes_per_sample=1)
    with pytest.raises(ValueError, match="bytes_per_sample"):  # a caller bug
        _jls.decode_into(frames[0], out, bytes_per_sample=3)
    assert turbodicom.features()["codecs"]["jls"] == (
        f"turbodicom (tested against CharLS {_jls.backend_version()})")
    assert {JLS_LOSSLESS, JLS_NEAR} <= set(turbodicom.features()["decode"])


def _with_lse_reset(stream: bytes, reset: int) -> bytes:
    """`stream` with an LSE preset-parameters segment (T.87 C.2.4.1.1: MAXVAL, T1-T3 left
    at 0, the defaults) setting RESET, inserted before its SOS."""
    sos = stream.index(b"\xff\xda")
    lse = b"\xff\xf8" + (13).to_bytes(2, "big") + b"\x01" + bytes(8) + reset.to_bytes(2, "big")
    return stream[:sos] + lse + stream[sos:]


def test_charls_is_not_given_sample_interleaved_scans_with_a_non_default_reset():
    """CharLS 2.x decodes a sample-interleaved scan with a RESET other than 64 by its
    single-component codec and reads past its line buffer (fuzz_jls found it through td_jls:
    tests/data/crashers/jls/); td_jls refuses the stream before CharLS sees it.  The default
    RESET written out explicitly, and line interleave with any RESET, still decode."""
    from turbodicom import _jls

    jpeg_ls = _pyjpegls()
    img = _image((13, 17, 3), 8, seed=5)
    for ilv in (2, 1):
        stream = bytes(jpeg_ls.encode_array(img, interleave_mode=ilv))
        out = bytearray(img.size)
        _jls.decode_into(_with_lse_reset(stream, 64), out)
        np.testing.assert_array_equal(np.frombuffer(out, np.uint8).reshape(img.shape), img)
        _jls.decode_into(_with_lse_reset(stream, 0), out)  # 0: the default
        np.testing.assert_array_equal(np.frombuffer(out, np.uint8).reshape(img.shape), img)
        odd = _with_lse_reset(stream, 72)
        if ilv == 1:  # line interleave: CharLS takes any RESET, and agrees with our decoder
            assert _outcome(_jls.decode_into, odd) == _outcome(_jls.own_decode_into, odd)
            continue
        with pytest.raises(turbodicom.UnsupportedError, match="RESET 72"):
            _jls.read_header(odd)
        with pytest.raises(turbodicom.UnsupportedError, match="RESET 72"):
            _jls.decode_into(odd, out)
        hdr = _jls.own_read_header(odd)  # turbodicom's own decoder takes it
        assert (hdr["rows"], hdr["columns"], hdr["components"]) == (13, 17, 3)
    found = _jls_crasher("jls-charls-sample-interleave-reset-overread.jls")
    with pytest.raises(turbodicom.UnsupportedError, match="RESET"):
        _jls.decode_into(found, bytearray(13 * 17 * 3 * 2))


def test_charls_is_not_given_a_later_scan_interleaved_unlike_the_first():
    """A frame of one scan per component whose third scan is all three components in line or
    sample interleave: CharLS 2.x lays its output out as three planes, then decodes that scan
    as a whole interleaved image into the last plane, writing past the end of the buffer
    (read in CharLS's decode loop after fuzz_jls died in CI on a corrupted heap; confirmed under
    ASan).  td_jls refuses the stream; turbodicom's own decoder reads it as the standard says:
    an array or a DecodeError, in-process."""
    from turbodicom import _jls

    jpeg_ls = _pyjpegls()
    img = _image((13, 17, 3), 8, seed=5)
    planar = bytes(jpeg_ls.encode_array(np.ascontiguousarray(img.transpose(2, 0, 1)),
                                        interleave_mode=0))
    out = bytearray(img.size)
    _jls.decode_into(planar, out)  # as encoded: decoded by CharLS
    np.testing.assert_array_equal(np.frombuffer(out, np.uint8).reshape(img.shape), img)
    third = [i for i in range(len(planar) - 1) if planar[i:i + 2] == b"\xff\xda"][2]
    for ilv in (1, 2):
        interleaved = bytes(jpeg_ls.encode_array(img, interleave_mode=ilv))
        mixed = planar[:third] + interleaved[interleaved.index(b"\xff\xda"):]
        with pytest.raises(turbodicom.UnsupportedError, match=f"scan at byte {third} "):
            _jls.decode_into(mixed, out)
        assert _outcome(_jls.own_decode_into, mixed) is not None
    found = _jls_crasher("jls-charls-later-scan-interleaved-heap-overflow.jls")
    with pytest.raises(turbodicom.UnsupportedError, match="not one component"):
        _jls.decode_into(found, bytearray(13 * 17 * 3))


def _outcome(decode_into, stream: bytes) -> bytes | str:
    """The 8-bit image decode_into makes of `stream`, or "DecodeError" if it raises one."""
    out = bytearray(13 * 17 * 3)
    try:
        decode_into(stream, out)
    except turbodicom.DecodeError:
        return "DecodeError"
    return bytes(out)


def _jls_crasher(name: str) -> bytes:
    return (CRASHERS / "jls" / name).read_bytes()


def test_frame_larger_or_smaller_than_the_dataset_says_is_an_error(encoded_cases):
    _, frames, _ = encoded_cases(_case("JLS_16u"))  # 37 x 51
    for rows, columns, spp in ((38, 51, 1), (37, 50, 1), (37, 51, 3)):
        data = fac.encapsulated_file(frames, transfer_syntax=JLS_LOSSLESS, rows=rows,
                                     columns=columns, samples_per_pixel=spp, bits_allocated=16)
        with pytest.raises(turbodicom.DecodeError, match="'Rows'"):
            turbodicom.decode(data)


def test_precision_wider_than_bits_allocated_is_unsupported(encoded_cases):
    _, frames, _ = encoded_cases(_case("JLS_12u"))
    data = fac.encapsulated_file(frames, transfer_syntax=JLS_LOSSLESS, rows=37, columns=51,
                                 bits_allocated=8, bits_stored=8)
    with pytest.raises(turbodicom.UnsupportedError, match="precision 12"):
        turbodicom.decode(data)


def test_rgb_component_ids_and_ybr(encoded_cases):
    """pydicom conforms the colour space to the stream (component IDs 'R','G','B'): so does
    decode(); YBR_FULL data comes back as RGB like pixel_array."""
    case = _case("JLS_8u_RGB_ILV2")
    _, frames, coded = encoded_cases(case)
    frame = frames[0]
    sof = frame.index(b"\xff\xf7")
    rgb_ids = bytearray(frame)
    for k, cid in enumerate(b"RGB"):
        rgb_ids[sof + 10 + 3 * k] = cid
    # T.87 allows any component IDs; the scan header names them too
    sos = rgb_ids.index(b"\xff\xda")
    for k, cid in enumerate(b"RGB"):
        rgb_ids[sos + 5 + 2 * k] = cid
    for stream, photometric in ((bytes(rgb_ids), "YBR_FULL"), (frame, "YBR_FULL")):
        data = fac.encapsulated_file([stream], transfer_syntax=JLS_LOSSLESS, rows=37,
                                     columns=51, samples_per_pixel=3, bits_allocated=8,
                                     photometric=photometric)
        expected = fac.pydicom_array(data)
        fac.assert_same_array(turbodicom.decode(data), expected, photometric)
    np.testing.assert_array_equal(turbodicom.decode(fac.encapsulated_file(
        [bytes(rgb_ids)], transfer_syntax=JLS_LOSSLESS, rows=37, columns=51,
        samples_per_pixel=3, bits_allocated=8, photometric="YBR_FULL")), coded)


# ------------------------------------------------------------------------------------------
# (d) truncated and bit-flipped frames
# ------------------------------------------------------------------------------------------
MUTATED = ["JLS_12s", "JLS_8u_RGB_ILV0", "JLS_12u_RGB_ILV1", "JLS_16u_NEAR5",
           "JLS_16u_imagecodecs", "JLS_2u", "JLS_12s_3F"]


def _cuts(n: int) -> list[int]:
    return sorted(set(list(range(0, min(n, 120), 3)) + list(np.linspace(0, n - 1, 40,
                                                                         dtype=int))))


@pytest.mark.parametrize("name", MUTATED)
def test_truncated_frames_raise_decode_error(name, encoded_cases):
    case = _case(name)
    _, frames, _ = encoded_cases(case)
    frame = frames[0]
    for cut in _cuts(len(frame)):
        with pytest.raises(turbodicom.DecodeError):
            turbodicom.decode_frame(frame[:cut], case.syntax, **_kwargs(case))


@pytest.mark.parametrize("name", MUTATED)
def test_bit_flipped_frames_fail_cleanly(name, encoded_cases):
    """A flipped bit in entropy-coded data may still decode (to other values): an error must
    be turbodicom's, an array must have the dataset's shape and dtype."""
    case = _case(name)
    _, frames, _ = encoded_cases(case)
    frame = frames[0]
    rng = np.random.default_rng(len(name))
    errors = 0
    for pos in list(range(min(len(frame), 64))) + list(rng.integers(0, len(frame), 120)):
        bad = bytearray(frame)
        bad[pos] ^= 1 << int(rng.integers(0, 8))
        data = fac.encapsulated_file([bytes(bad)], transfer_syntax=case.syntax,
                                     rows=case.shape[0], columns=case.shape[1],
                                     samples_per_pixel=case.spp, bits_allocated=case.ba,
                                     bits_stored=case.bs, pixel_representation=int(case.signed),
                                     photometric=case.photometric)
        try:
            arr = turbodicom.decode(data, index=0)
        except (turbodicom.DecodeError, turbodicom.UnsupportedError):
            errors += 1
            continue
        assert arr.shape == case.shape + ((case.spp,) if case.spp > 1 else ())
        assert arr.dtype == np.dtype(f"{'iu'[not case.signed]}{case.ba // 8}")
    assert errors  # the header bytes at least are checked


@pytest.mark.parametrize("row", corpus_params(
    [r for r in CORPUS_JLS if "WG04" in r["path"] or "pydicom" in r["path"]][:8]))
def test_truncated_corpus_frames_raise_decode_error(row):
    frame, ds = next(iter(fac.iter_frame_bytes(row["abspath"])))
    kw = dict(rows=ds.Rows, columns=ds.Columns, samples_per_pixel=ds.SamplesPerPixel,
              bits_allocated=ds.BitsAllocated, bits_stored=ds.BitsStored,
              pixel_representation=ds.PixelRepresentation)
    end = frame.rindex(b"\xff\xd9") + 2  # past EOI: some writers pad with 00, some with FF
    for cut in np.linspace(0, end - 1, 25, dtype=int):
        with pytest.raises(turbodicom.DecodeError):
            turbodicom.decode_frame(frame[:cut], row["transfer_syntax_uid"], **kw)


# ------------------------------------------------------------------------------------------
# (e) the pydicom plugin on both runner APIs
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["JLS_12s", "JLS_8u_RGB_ILV0", "JLS_5u_RGB_ILV0"])
def test_plugin_options_on_pydicom30_and_31_runners(name, encoded_cases):
    from turbodicom import pydicom_plugin

    import test_plugin

    case = _case(name)
    data, frames, coded = encoded_cases(case)
    ds = fac.read_dataset(data)
    for runner_class in (test_plugin.Runner30, test_plugin.Runner31):
        runner = runner_class(ds, index=0)
        runner.transfer_syntax = case.syntax
        out = pydicom_plugin._decode_frame(frames[0], runner)
        natural = 1 if case.bits <= 8 else 2
        assert bytes(out) == fac.le_container(coded, 8 * natural)  # raw, unsigned as coded
        expected = [("bits_allocated", 8 * natural)]
        if case.spp > 1:
            expected.append(("planar_configuration", 0))
        if runner_class is test_plugin.Runner31:
            assert runner.calls == [("set_frame_option", 0, n, v) for n, v in expected]
        else:
            assert runner.calls == [("set_option", n, v) for n, v in expected]


# ------------------------------------------------------------------------------------------
# (f) threads and the GIL
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def jls_multiframe():
    case = Case("JLS_16s_8F_512", 16, signed=True, shape=(512, 512), frames=8)
    data, _, coded = case.file()
    return data, case.expected(coded)


def test_threads_multiframe_equals_one_thread(jls_multiframe):
    data, expected = jls_multiframe
    one = turbodicom.decode(data, threads=1)
    fac.assert_same_array(one, expected)
    fac.assert_same_array(turbodicom.decode(data, threads=2), one, "threads=2")


def test_concurrent_decodes_equal_serial(jls_multiframe):
    data, expected = jls_multiframe
    results: list = [None] * 8

    def work(k: int) -> None:
        try:
            results[k] = turbodicom.decode(data, index=k, threads=1)
        except BaseException as exc:  # pragma: no cover - reported below
            results[k] = exc

    workers = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    for k, r in enumerate(results):
        assert isinstance(r, np.ndarray), r
        fac.assert_same_array(r, expected[k], f"thread {k}")


def test_gil_released_during_decode_frame(jls_multiframe):
    from test_threads import _ticks_during

    case = Case("JLS_16u_1024", 16, shape=(1024, 1024))
    _, frames, coded = case.file()
    out = bytearray(coded.nbytes)
    old = sys.getswitchinterval()
    sys.setswitchinterval(30.0)
    try:
        ticks, _ = _ticks_during(lambda: turbodicom.decode_frame(
            frames[0], JLS_LOSSLESS, rows=1024, columns=1024, bits_allocated=16, out=out),
            want=10, max_calls=50)
    finally:
        sys.setswitchinterval(old)
    assert bytes(out) == fac.le_container(coded, 16)
    assert ticks >= 10, f"the ticker ran only {ticks} times during one decode_frame call"
