"""JPEG 2000 and HTJ2K (csrc/td_j2k.c over the system OpenJPEG).

Oracles:

* glymur (``pip install glymur``) decodes the same codestream, written to a file, through its
  own ctypes binding of libopenjp2.  It shares the library with turbodicom, so it checks what
  turbodicom adds around it: the memory stream, the frame table, the container width, the
  signedness and pydicom's J2K sign rules, colour interleaving, ``reduce`` and threads.
* pydicom's ``pixel_array`` with its own J2K plugins (pylibjpeg-openjpeg, gdcm).
* Images encoded on the spot by imagecodecs (its own OpenJPEG and OpenJPH builds): a lossless
  decode must give back the source array exactly.

Tests that need an optional oracle are skipped, naming it, when it is not installed; the corpus
tests are skipped without the corpus (``TURBODICOM_CORPUS``).
"""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest

import turbodicom

import dicom_factory as fac
from conftest import corpus_params, corpus_rows, requires_corpus

pytestmark = pytest.mark.skipif("j2k" not in turbodicom.features()["codecs"],
                                reason="this build of turbodicom has no OpenJPEG")

J2K_LOSSLESS = "1.2.840.10008.1.2.4.90"
J2K_LOSSY = "1.2.840.10008.1.2.4.91"
HTJ2K_LOSSLESS = "1.2.840.10008.1.2.4.201"
HTJ2K_RPCL = "1.2.840.10008.1.2.4.202"
HTJ2K = "1.2.840.10008.1.2.4.203"
J2K_SYNTAXES = (J2K_LOSSLESS, J2K_LOSSY, HTJ2K_LOSSLESS, HTJ2K_RPCL, HTJ2K)

#: pydicom's bundled J2K files (looked up without downloading)
BUNDLED = ["MR_small_jp2klossless.dcm", "J2K_pixelrep_mismatch.dcm", "GDCMJ2K_TextGBR.dcm",
           "693_J2KI.dcm", "JPEG2000.dcm", "SC_rgb_gdcm_KY.dcm"]


# ------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------
def _glymur():
    return pytest.importorskip("glymur", reason="glymur (pip install glymur) is the oracle")


def _imagecodecs():
    ic = pytest.importorskip("imagecodecs", reason="imagecodecs encodes the generated images")
    if not ic.JPEG2K.available:
        pytest.skip("imagecodecs was built without OpenJPEG")
    return ic


def _bundled(name: str) -> str:
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name, download=False)
    if path is None:
        pytest.skip(f"pydicom's bundled {name} is not in this pydicom install")
    return str(path)


def _frames(path: str) -> list[bytes]:
    """The encoded frames of `path`, found by pydicom (not by turbodicom's frame table)."""
    return [bytes(f) for f, _ in fac.iter_frame_bytes(path)]


def glymur_decode(frame: bytes, tmp_path, reduce: int = 0) -> np.ndarray:
    """glymur's decode of one frame (a raw codestream or a JP2 file), `reduce` levels down."""
    glymur = _glymur()
    jp2 = frame[4:8] == b"jP  "
    path = tmp_path / f"frame_{abs(hash(frame))}_{reduce}.{'jp2' if jp2 else 'j2k'}"
    path.write_bytes(frame)
    image = glymur.Jp2k(str(path))
    image.ignore_pclr_cmap_cdef = True  # like DICOM (and turbodicom): the components as coded
    step = 1 << reduce
    return np.asarray(image[::step, ::step])


def as_pixel_array(values: np.ndarray, frame: bytes, *, bits_allocated: int,
                   pixel_representation: int, photometric: str) -> np.ndarray:
    """Codestream sample values as pydicom's ``pixel_array`` reports them (PYDICOM.md).

    pydicom reads the J2K plugin's natural container (precision 1-8: 1 byte, 9-16: 2) with the
    dataset's signedness, widens it to Bits Allocated, and for monochrome images whose
    codestream sign disagrees with Pixel Representation shifts out the bits above the
    codestream precision (sign-extending when Pixel Representation is 1).
    """
    from turbodicom import _j2k

    hdr = _j2k.read_header(frame)
    natural = hdr["bytes_per_sample"]
    coded = values.astype(f"{'i' if hdr['is_signed'] else 'u'}{natural}")
    kind = "i" if pixel_representation else "u"
    arr = coded.view(f"{kind}{natural}").astype(f"{kind}{max(1, bits_allocated // 8)}")
    if photometric.startswith("MONOCHROME") and hdr["is_signed"] != bool(pixel_representation):
        shift = 8 * arr.dtype.itemsize - hdr["precision"]
        if shift:
            np.left_shift(arr, shift, out=arr)
            np.right_shift(arr, shift, out=arr)
    if photometric in ("YBR_FULL", "YBR_FULL_422") and arr.ndim == 3:
        from pydicom.pixels.processing import convert_color_space

        arr = convert_color_space(arr, "YBR_FULL", "RGB")
    return arr


def expected_from_glymur(path: str, tmp_path, reduce: int = 0) -> list[np.ndarray]:
    """Each frame of `path` decoded by glymur and mapped as pydicom maps it."""
    ds = fac.read_dataset(path)
    out = []
    for frame in _frames(path):
        values = glymur_decode(frame, tmp_path, reduce)
        out.append(as_pixel_array(values, frame, bits_allocated=ds.BitsAllocated,
                                  pixel_representation=ds.PixelRepresentation,
                                  photometric=str(ds.PhotometricInterpretation)))
    return out


def _per_frame(arr: np.ndarray, nframes: int) -> list[np.ndarray]:
    return [arr] if nframes == 1 else [arr[i] for i in range(nframes)]


def _image(shape: tuple[int, ...], lo: int, hi: int, seed: int) -> np.ndarray:
    """A gradient with noise spanning [lo, hi): compressible, yet every bit plane used."""
    rng = np.random.default_rng(seed)
    rows, cols = shape[:2]
    y, x = np.mgrid[0:rows, 0:cols]
    ramp = (x * 7 + y * 3).astype(np.int64)
    if len(shape) == 3:
        ramp = np.stack([ramp * (k + 1) for k in range(shape[2])], axis=-1)
    span = hi - lo
    img = lo + (ramp * (span // 97 + 1) + rng.integers(0, max(2, span // 8), size=shape)) % span
    img.flat[0], img.flat[-1] = lo, hi - 1  # both extremes present
    return img


def _dtype(bits_allocated: int, signed: bool) -> np.dtype:
    return np.dtype(f"{'i' if signed else 'u'}{bits_allocated // 8}")


@dataclasses.dataclass(frozen=True)
class Case:
    """One image encoded on the spot: J2K (imagecodecs' OpenJPEG) or HTJ2K (OpenJPH)."""

    name: str
    bits_stored: int
    signed: bool
    spp: int = 1
    mct: bool = False
    htj2k: bool = False
    shape: tuple[int, int] = (37, 51)
    frames: int = 1
    resolutions: int | None = None

    @property
    def bits_allocated(self) -> int:
        return 8 if self.bits_stored <= 8 else 16

    @property
    def syntax(self) -> str:
        return HTJ2K_LOSSLESS if self.htj2k else J2K_LOSSLESS

    @property
    def photometric(self) -> str:
        if self.spp == 1:
            return "MONOCHROME2"
        return "YBR_RCT" if self.mct else "RGB"

    def source(self) -> np.ndarray:
        lo, hi = ((-(1 << (self.bits_stored - 1)), 1 << (self.bits_stored - 1)) if self.signed
                  else (0, 1 << self.bits_stored))
        shape = self.shape + ((self.spp,) if self.spp > 1 else ())
        dt = _dtype(self.bits_allocated, self.signed)
        frames = [_image(shape, lo, hi, seed=k).astype(dt) for k in range(self.frames)]
        return frames[0] if self.frames == 1 else np.stack(frames)

    def encode(self, frame: np.ndarray) -> bytes:
        ic = _imagecodecs()
        extra = {} if self.resolutions is None else {"resolutions": self.resolutions}
        if self.htj2k:
            if not getattr(ic, "HTJ2K", None) or not ic.HTJ2K.available:
                pytest.skip("imagecodecs was built without OpenJPH (htj2k_encode)")
            return bytes(ic.htj2k_encode(frame, reversible=True, rgb=self.mct, **extra))
        return bytes(ic.jpeg2k_encode(frame, level=0, codecformat="J2K", reversible=True,
                                      mct=self.mct, bitspersample=self.bits_stored, **extra))

    def file(self) -> tuple[bytes, list[bytes], np.ndarray]:
        """(Part 10 file, encoded frames, source array)."""
        src = self.source()
        frames = [self.encode(f) for f in fac.split_frames(src, self.spp)]
        data = fac.encapsulated_file(
            frames, transfer_syntax=self.syntax, rows=self.shape[0], columns=self.shape[1],
            samples_per_pixel=self.spp, bits_allocated=self.bits_allocated,
            bits_stored=self.bits_stored, pixel_representation=int(self.signed),
            photometric=self.photometric)
        return data, frames, src


CASES = [
    Case("J2K_8u", 8, False),
    Case("J2K_8s", 8, True),
    Case("J2K_12u", 12, False),
    Case("J2K_12s", 12, True),
    Case("J2K_16u", 16, False),
    Case("J2K_16s", 16, True),
    Case("J2K_8u_RGB", 8, False, spp=3),
    Case("J2K_8u_RCT", 8, False, spp=3, mct=True),
    Case("J2K_12u_RCT", 12, False, spp=3, mct=True),
    Case("J2K_16s_3F", 16, True, frames=3),
    Case("J2K_8u_RCT_2F", 8, False, spp=3, mct=True, frames=2),
    Case("J2K_16u_1x7", 16, False, shape=(1, 7)),
    Case("J2K_10u_tall", 10, False, shape=(129, 45)),
    Case("HTJ2K_8u", 8, False, htj2k=True),
    Case("HTJ2K_8s", 8, True, htj2k=True),
    Case("HTJ2K_12u", 12, False, htj2k=True),
    Case("HTJ2K_16s", 16, True, htj2k=True),
    Case("HTJ2K_8u_RGB", 8, False, spp=3, htj2k=True),
    Case("HTJ2K_8u_RCT", 8, False, spp=3, mct=True, htj2k=True),
    Case("HTJ2K_16u_2F", 16, False, frames=2, htj2k=True),
]
CASE_IDS = [c.name for c in CASES]


@pytest.fixture(scope="module")
def encoded_cases():
    """{case name: (file bytes, frames, source)}, built on first use."""
    cache: dict[str, tuple[bytes, list[bytes], np.ndarray]] = {}

    def get(case: Case) -> tuple[bytes, list[bytes], np.ndarray]:
        if case.name not in cache:
            cache[case.name] = case.file()
        return cache[case.name]
    return get


# ------------------------------------------------------------------------------------------
# (a) corpus files against glymur
# ------------------------------------------------------------------------------------------
CORPUS_J2K = corpus_rows(lambda r: r["transfer_syntax_uid"] in J2K_SYNTAXES)


@requires_corpus
def test_corpus_has_lossless_lossy_and_htj2k_files():
    syntaxes = {r["transfer_syntax_uid"] for r in CORPUS_J2K}
    assert {J2K_LOSSLESS, J2K_LOSSY} <= syntaxes
    assert syntaxes & {HTJ2K_LOSSLESS, HTJ2K_RPCL, HTJ2K}
    assert {r["lossy"] for r in CORPUS_J2K} >= {"yes", "no"}


@requires_corpus
@pytest.mark.parametrize("row", corpus_params(CORPUS_J2K))
def test_corpus_equals_glymur(row, tmp_path):
    path = row["abspath"]
    expected = expected_from_glymur(path, tmp_path)
    arr = turbodicom.decode(path, threads=1)
    got = _per_frame(arr, len(expected))
    assert len(got) == len(expected)
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        assert g.shape == e.shape, f"frame {i}"
        np.testing.assert_array_equal(g, e, err_msg=f"frame {i} of {row['path']}")


# ------------------------------------------------------------------------------------------
# (b) pydicom's bundled J2K files: pydicom's own plugins, turbodicom as a plugin, decode()
# ------------------------------------------------------------------------------------------
def _pydicom_can_decode(uid: str) -> bool:
    from pydicom.pixels.decoders.base import get_decoder

    return bool(get_decoder(uid)._available)


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_equals_pydicom_and_plugin(name, unregistered):
    path = _bundled(name)
    ds = fac.read_dataset(path)
    if not _pydicom_can_decode(ds.file_meta.TransferSyntaxUID):
        pytest.skip("pydicom has no J2K plugin installed (pylibjpeg-openjpeg or gdcm)")
    expected = fac.pydicom_array(path)  # pydicom's own plugins: turbodicom unregistered
    fac.assert_same_array(turbodicom.decode(path), expected, "turbodicom.decode")
    turbodicom.register()
    via_plugin = fac.pydicom_array(path, plugin="turbodicom")
    fac.assert_same_array(via_plugin, expected, "pydicom + turbodicom plugin")


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_equals_glymur(name, tmp_path):
    path = _bundled(name)
    expected = expected_from_glymur(path, tmp_path)
    np.testing.assert_array_equal(turbodicom.decode(path), expected[0])


# ------------------------------------------------------------------------------------------
# (c) images encoded on the spot come back exactly
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_generated_lossless_roundtrip(case, encoded_cases):
    data, frames, src = encoded_cases(case)
    fac.assert_same_array(turbodicom.decode(data), src, case.name)
    for i, frame in enumerate(frames):
        one = turbodicom.decode(data, index=i)
        fac.assert_same_array(one, fac.split_frames(src, case.spp)[i], f"{case.name}[{i}]")
        raw = turbodicom.decode_frame(
            frame, case.syntax, rows=case.shape[0], columns=case.shape[1],
            samples_per_pixel=case.spp, bits_allocated=case.bits_allocated,
            bits_stored=case.bits_stored, pixel_representation=int(case.signed),
            photometric_interpretation=case.photometric)
        assert bytes(raw) == fac.le_container(one, case.bits_allocated)


@pytest.mark.parametrize("case", CASES[::3], ids=CASE_IDS[::3])
def test_generated_through_the_plugin(case, encoded_cases, registered):
    data, _, src = encoded_cases(case)
    fac.assert_same_array(fac.pydicom_array(data, plugin="turbodicom"), src, case.name)


# ------------------------------------------------------------------------------------------
# (d) reduce
# ------------------------------------------------------------------------------------------
def _ceil_shape(shape: tuple[int, ...], reduce: int) -> tuple[int, ...]:
    return tuple(-(-n // (1 << reduce)) for n in shape[:2]) + tuple(shape[2:])


REDUCE_CASES = [c for c in CASES if c.name in (
    "J2K_8s", "J2K_12u", "J2K_16s", "J2K_8u_RCT", "J2K_16s_3F", "J2K_10u_tall", "HTJ2K_16s",
    "HTJ2K_8u_RCT", "HTJ2K_16u_2F")]


@pytest.mark.parametrize("reduce", [1, 2])
@pytest.mark.parametrize("case", REDUCE_CASES, ids=[c.name for c in REDUCE_CASES])
def test_reduce_generated(case, reduce, encoded_cases, tmp_path):
    data, frames, src = encoded_cases(case)
    full = turbodicom.decode(data)
    arr = turbodicom.decode(data, reduce=reduce)
    frame_shape = _ceil_shape(case.shape + ((case.spp,) if case.spp > 1 else ()), reduce)
    assert arr.shape == ((case.frames,) if case.frames > 1 else ()) + frame_shape
    assert arr.dtype == full.dtype
    got = _per_frame(arr, case.frames)
    # every entry point gives the same reduced frames
    for i, it in enumerate(turbodicom.iter_frames(data, reduce=reduce, threads=1)):
        fac.assert_same_array(it, got[i], f"iter_frames[{i}]")
        fac.assert_same_array(turbodicom.decode(data, index=i, reduce=reduce), got[i],
                              f"index={i}")
        raw = turbodicom.decode_frame(
            frames[i], case.syntax, rows=case.shape[0], columns=case.shape[1],
            samples_per_pixel=case.spp, bits_allocated=case.bits_allocated,
            bits_stored=case.bits_stored, pixel_representation=int(case.signed),
            photometric_interpretation=case.photometric, reduce=reduce)
        assert bytes(raw) == fac.le_container(got[i], case.bits_allocated)
    # and the values are OpenJPEG's reduced decode (through glymur)
    for i, frame in enumerate(frames):
        np.testing.assert_array_equal(got[i], glymur_decode(frame, tmp_path, reduce),
                                      err_msg=f"frame {i}")


def test_reduce_zero_is_the_full_decode(encoded_cases):
    data, _, src = encoded_cases(CASES[0])
    fac.assert_same_array(turbodicom.decode(data, reduce=0), src)


REDUCE_CORPUS = ["dicom-test-files/data/WG04/J2KR/CT1_J2KR",  # signed 16-bit, lossless
                 "dicom-test-files/data/WG04/J2KR/VL1_J2KR",  # RGB (RCT), odd sizes
                 "dicom-test-files/data/WG04/J2KI/MR2_J2KI",  # lossy, 12-bit
                 "dicom-test-files/data/WG04/J2KI/US1_J2KI",  # lossy colour (ICT)
                 "DICOMHTJ2K/test/fixtures/htj2k/MR1_JPH",
                 "DICOMHTJ2K/test/fixtures/htj2k/VL3_JPH",
                 "pydicom-data/data_store/data/liver_nonbyte_aligned_j2k.dcm",  # 3 frames, 1-bit
                 "pylibjpeg-data/ljdata/ds/JPEG2000Lossless/TOSHIBA_J2K_SIZ0_PixRep1.dcm"]


@requires_corpus
@pytest.mark.parametrize("reduce", [1, 2])
@pytest.mark.parametrize("rel", REDUCE_CORPUS)
def test_reduce_corpus_equals_glymur(rel, reduce, tmp_path):
    from conftest import CORPUS

    path = str(CORPUS / rel)
    if not (CORPUS / rel).is_file():
        pytest.skip(f"{rel} is not in this corpus")
    full = turbodicom.decode(path)
    arr = turbodicom.decode(path, reduce=reduce)
    expected = expected_from_glymur(path, tmp_path, reduce)
    nframes = len(expected)
    frame_shape = full.shape[1:] if nframes > 1 else full.shape
    assert arr.shape == full.shape[:1] * (nframes > 1) + _ceil_shape(frame_shape, reduce)
    assert arr.dtype == full.dtype
    for i, (g, e) in enumerate(zip(_per_frame(arr, nframes), expected, strict=True)):
        np.testing.assert_array_equal(g, e, err_msg=f"frame {i}")


@pytest.mark.parametrize("name", ["MR_small_jp2klossless.dcm", "J2K_pixelrep_mismatch.dcm",
                                  "GDCMJ2K_TextGBR.dcm", "693_J2KI.dcm"])
def test_reduce_bundled_equals_glymur(name, tmp_path):
    path = _bundled(name)
    full = turbodicom.decode(path)
    arr = turbodicom.decode(path, reduce=1)
    assert arr.shape == _ceil_shape(full.shape, 1)
    assert arr.dtype == full.dtype
    np.testing.assert_array_equal(arr, expected_from_glymur(path, tmp_path, 1)[0])


def test_reduce_beyond_the_decomposition_levels_is_refused():
    case = Case("J2K_16u_2res", 16, False, shape=(40, 40), resolutions=2)  # 1 level
    data, frames, _ = case.file()
    assert turbodicom.decode(data, reduce=1).shape == (20, 20)
    with pytest.raises(turbodicom.UnsupportedError, match="only 1 decomposition level"):
        turbodicom.decode(data, reduce=2)
    with pytest.raises(turbodicom.UnsupportedError, match="decomposition level"):
        next(turbodicom.iter_frames(data, reduce=2))
    with pytest.raises(turbodicom.UnsupportedError, match="decomposition level"):
        turbodicom.decode_frame(frames[0], J2K_LOSSLESS, rows=40, columns=40,
                                bits_allocated=16, reduce=2)
    with pytest.raises(turbodicom.UnsupportedError, match="at most 32"):
        turbodicom.decode(data, reduce=33)


def test_reduce_on_other_syntaxes_names_the_syntax():
    src = np.arange(64, dtype=np.uint16).reshape(8, 8)
    rle = fac.rle_file(src, bits_allocated=16)
    native = fac.native_file(src, bits_allocated=16)
    for data, name in ((rle, "RLE Lossless"), (native, "Explicit VR Little Endian")):
        with pytest.raises(turbodicom.UnsupportedError, match=name):
            turbodicom.decode(data, reduce=1)
        with pytest.raises(turbodicom.UnsupportedError, match=name):
            next(turbodicom.iter_frames(data, reduce=1))
        fac.assert_same_array(turbodicom.decode(data, reduce=0), src)
    frame = fac.pydicom_rle_encode(src, 16)
    with pytest.raises(turbodicom.UnsupportedError, match="RLE Lossless"):
        turbodicom.decode_frame(frame, "1.2.840.10008.1.2.5", rows=8, columns=8,
                                bits_allocated=16, reduce=1)
    with pytest.raises(ValueError, match="0 or more"):
        turbodicom.decode(rle, reduce=-1)
    with pytest.raises(TypeError):
        turbodicom.decode(rle, reduce=1.0)  # type: ignore[arg-type]


def test_codestream_larger_or_smaller_than_the_dataset_says_is_an_error(encoded_cases):
    _, frames, _ = encoded_cases(CASES[4])  # 37 x 51, 16-bit
    for rows, columns, spp in ((38, 51, 1), (37, 50, 1), (37, 51, 3)):
        data = fac.encapsulated_file(frames, transfer_syntax=J2K_LOSSLESS, rows=rows,
                                     columns=columns, samples_per_pixel=spp,
                                     bits_allocated=16)
        for reduce in (0, 1):
            with pytest.raises(turbodicom.DecodeError, match="Rows"):
                turbodicom.decode(data, reduce=reduce)


# ------------------------------------------------------------------------------------------
# (e) truncated and bit-flipped frames: DecodeError/UnsupportedError or a well-shaped array
# ------------------------------------------------------------------------------------------
MUTATED = ["J2K_16s", "J2K_8u_RCT", "HTJ2K_16s", "HTJ2K_8u_RCT"]


def _mutations(frame: bytes, seed: int) -> list[tuple[str, bytes]]:
    n = len(frame)
    # from 2 bytes on: pydicom cannot encapsulate a shorter fragment (see the test below)
    cuts = sorted(set(list(range(2, min(n, 160), 7)) + list(np.linspace(2, n - 1, 40,
                                                                         dtype=int))))
    out = [(f"cut{c}", frame[:c]) for c in cuts]
    rng = np.random.default_rng(seed)
    for pos in rng.integers(0, n, size=80):
        flipped = bytearray(frame)
        flipped[pos] ^= 1 << int(rng.integers(0, 8))
        out.append((f"flip{pos}", bytes(flipped)))
    return out


def _check_mutations(frame: bytes, case: Case, seed: int) -> int:
    expected_shapes = {r: _ceil_shape(case.shape + ((case.spp,) if case.spp > 1 else ()), r)
                       for r in (0, 1)}
    decoded = 0
    for what, bad in _mutations(frame, seed):
        data = fac.encapsulated_file([bad], transfer_syntax=case.syntax, rows=case.shape[0],
                                     columns=case.shape[1], samples_per_pixel=case.spp,
                                     bits_allocated=case.bits_allocated,
                                     bits_stored=case.bits_stored,
                                     pixel_representation=int(case.signed),
                                     photometric=case.photometric)
        for reduce in (0, 1):
            try:
                arr = turbodicom.decode(data, reduce=reduce)
            except (turbodicom.DecodeError, turbodicom.UnsupportedError):
                continue
            except Exception as exc:  # pragma: no cover - the failure being tested for
                raise AssertionError(
                    f"{what} reduce={reduce}: {type(exc).__name__}: {exc}") from exc
            assert arr.shape == expected_shapes[reduce], f"{what} reduce={reduce}"
            assert arr.dtype == _dtype(case.bits_allocated, case.signed)
            decoded += 1
    return decoded


@pytest.mark.parametrize("name", MUTATED)
def test_truncated_and_bit_flipped_frames(name, encoded_cases):
    case = next(c for c in CASES if c.name == name)
    _, frames, _ = encoded_cases(case)
    _check_mutations(frames[0], case, seed=len(name))


@pytest.mark.parametrize("cut", [0, 1, 2, 4, 12])
def test_frame_of_a_few_bytes(cut, encoded_cases):
    _, frames, _ = encoded_cases(CASES[0])
    for reduce in (0, 1):
        with pytest.raises(turbodicom.DecodeError):
            turbodicom.decode_frame(frames[0][:cut], J2K_LOSSLESS, rows=37, columns=51,
                                    bits_allocated=8, reduce=reduce)


def test_truncated_and_bit_flipped_real_frame():
    path = _bundled("MR_small_jp2klossless.dcm")
    frame = _frames(path)[0]
    case = Case("MR_small", 16, True, shape=(64, 64))
    _check_mutations(frame, case, seed=7)


# ------------------------------------------------------------------------------------------
# (f) threads
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def j2k_multiframe():
    """8 frames of 512x512 signed 16-bit, JPEG 2000 lossless: (file bytes, source)."""
    case = Case("J2K_16s_8F_512", 16, True, shape=(512, 512), frames=8)
    data, _, src = case.file()
    return data, src


def test_threads_multiframe_equals_one_thread(j2k_multiframe):
    data, src = j2k_multiframe
    one = turbodicom.decode(data, threads=1)
    fac.assert_same_array(one, src)
    fac.assert_same_array(turbodicom.decode(data, threads=2), one, "threads=2")
    fac.assert_same_array(np.stack(list(turbodicom.iter_frames(data, threads=2))), one,
                          "iter_frames threads=2")
    fac.assert_same_array(turbodicom.decode(data, threads=2, reduce=1),
                          turbodicom.decode(data, threads=1, reduce=1), "reduce=1")


def test_concurrent_decodes_equal_serial(j2k_multiframe):
    data, src = j2k_multiframe
    results: list[np.ndarray | BaseException] = [None] * 4  # type: ignore[list-item]

    def work(k: int) -> None:
        try:
            results[k] = turbodicom.decode(data, index=k, threads=1)
        except BaseException as exc:  # pragma: no cover - reported below
            results[k] = exc

    workers = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    for k, r in enumerate(results):
        assert isinstance(r, np.ndarray), r
        fac.assert_same_array(r, src[k], f"thread {k}")


def _spy_on_j2k(monkeypatch) -> list[int]:
    """Record FrameSpec.threads of every J2K frame decode (the threads inside the frame; the
    codec's frame batches run each frame on one thread inside, their threads are across,
    except the len % threads frames left at the end, which the C batch itself gives threads
    inside)."""
    from turbodicom import codecs

    seen: list[int] = []
    codec = codecs.codec_for(J2K_LOSSLESS)

    def decode_into(src, out, spec):
        seen.append(spec.threads)
        codec.decode_into(src, out, spec)

    def decode_frames_into(srcs, out, spec, threads):
        assert spec.threads == 1 and threads > 1
        seen.extend([1] * len(srcs))
        codec.decode_frames_into(srcs, out, spec, threads)

    spy = dataclasses.replace(codec, decode_into=decode_into,
                              decode_frames_into=decode_frames_into)
    for uid in codec.uids:
        monkeypatch.setitem(codecs._BY_UID, uid, spy)
    return seen


def test_one_large_frame_uses_threads_inside_the_codec(monkeypatch):
    case = Case("J2K_16u_1024", 16, False, shape=(1024, 1024))  # 2 MiB decoded
    data, _, src = case.file()
    seen = _spy_on_j2k(monkeypatch)
    fac.assert_same_array(turbodicom.decode(data, threads=2), src, "threads=2")
    fac.assert_same_array(turbodicom.decode(data, threads=1), src, "threads=1")
    assert seen == [2, 1]


def test_many_frames_use_one_thread_each_inside_the_codec(j2k_multiframe, monkeypatch):
    data, src = j2k_multiframe
    seen = _spy_on_j2k(monkeypatch)
    fac.assert_same_array(turbodicom.decode(data, threads=2), src)
    assert seen == [1] * len(src)
