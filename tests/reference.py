"""The reference table: named decoding cases, each with its file and its oracles.

Names follow ``<KIND>_<bits allocated>_<samples per pixel>_<frames>F[_<variant>]``.  A case is
either a test file bundled inside pydicom or a file generated here, deterministically, with
pydicom's own encoders (``dicom_factory``).  Oracles, checked by ``test_reference.py``:

``pydicom``
    pydicom's own decoder (``pixel_array`` with turbodicom unregistered; for RLE, pydicom's
    pure-Python RLE plugin is forced).
``pylibjpeg-rle``
    pylibjpeg-rle (Rust), through pydicom's ``pylibjpeg`` plugin and frame by frame directly.
``imagecodecs``
    imagecodecs' DICOM RLE codec (Cython), frame by frame.
``twin``
    pydicom's decoding of an uncompressed twin holding the same pixels.
``truth``
    the array the generator encoded (after the standard's unused-bit rule where relevant).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from pydicom.uid import (
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

import dicom_factory as fac

# ------------------------------------------------------------------------------------------
# Deterministic source arrays
# ------------------------------------------------------------------------------------------


def runs_and_noise(shape: tuple[int, ...], dtype: str, seed: int, *, low: int | None = None,
                   high: int | None = None) -> np.ndarray:
    """Half runs (lengths 1..300, crossing the 128-byte PackBits limit), half noise."""
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    low = info.min if low is None else low
    high = info.max if high is None else high
    n = int(np.prod(shape))
    flat = np.empty(n, dtype=dtype)
    pos = 0
    palette = rng.integers(low, high, size=6, dtype=dtype, endpoint=True)
    while pos < n:
        length = int(rng.choice([1, 2, 3, 127, 128, 129, 130, 255, 256, 257, 300]))
        if rng.random() < 0.5:
            flat[pos:pos + length] = palette[rng.integers(0, len(palette))]
        else:
            k = min(length, n - pos)
            flat[pos:pos + k] = rng.integers(low, high, size=k, dtype=dtype, endpoint=True)
        pos += length
    return flat.reshape(shape)


def mask_unused(arr: np.ndarray, bits_stored: int) -> np.ndarray:
    """pydicom's rule for Bits Stored < Bits Allocated: shift the unused high bits out."""
    shift = arr.dtype.itemsize * 8 - bits_stored
    out = arr.copy()
    np.left_shift(out, shift, out=out)
    np.right_shift(out, shift, out=out)
    return out


# ------------------------------------------------------------------------------------------
# The table
# ------------------------------------------------------------------------------------------
Builder = Callable[[], "tuple[bytes, np.ndarray | None]"]


@dataclass(frozen=True)
class Case:
    """One reference case."""

    name: str
    oracles: tuple[str, ...]
    bundled: str | None = None  #: a file name inside pydicom's test data
    build: Builder | None = None  #: generator: (file bytes, truth array or None)
    twin: str | None = None  #: case name of an uncompressed twin with the same pixels
    transfer_syntax_if_missing: str | None = None  #: for files without file meta

    @property
    def is_rle(self) -> bool:
        return self.name.startswith("RLE_")

    def path(self, root: Path) -> str:
        """The case's file: pydicom's bundled path, or the generated file under `root`."""
        if self.bundled is not None:
            from conftest import pydicom_file

            return pydicom_file(self.bundled)
        data, _ = _built(self.name)
        p = Path(root) / f"{self.name}.dcm"
        p.write_bytes(data)
        return str(p)

    def truth(self) -> np.ndarray:
        _, truth = _built(self.name)
        assert truth is not None, f"{self.name} has no generator truth"
        return truth


@functools.lru_cache(maxsize=None)
def _built(name: str):
    return BY_NAME[name].build()


# ---- generated RLE cases -----------------------------------------------------------------
def _rle_8_1_3f_odd():
    arr = runs_and_noise((3, 37, 41), "u1", seed=1)
    return fac.rle_file(arr, bits_allocated=8), arr


def _rle_16_1_2f_bs12s():
    raw = runs_and_noise((2, 33, 29), "i2", seed=2)  # garbage in the 4 unused high bits
    return (fac.rle_file(raw, bits_allocated=16, bits_stored=12, pixel_representation=1),
            mask_unused(raw, 12))


def _rle_16_1_1f_bs10u():
    raw = runs_and_noise((31, 35), "u2", seed=3)
    return fac.rle_file(raw, bits_allocated=16, bits_stored=10), mask_unused(raw, 10)


def _rle_unused_bits(dtype: str, bits_stored: int, seed: int):
    """Garbage in the unused high bits of every container width: masked / sign-extended."""
    def build():
        raw = runs_and_noise((2, 11, 13), dtype, seed=seed)
        signed = np.dtype(dtype).kind == "i"
        data = fac.rle_file(raw, bits_allocated=np.dtype(dtype).itemsize * 8,
                            bits_stored=bits_stored, pixel_representation=int(signed))
        return data, mask_unused(raw, bits_stored)
    return build


def _rle_8_3_2f_ybr():
    arr = runs_and_noise((2, 19, 23, 3), "u1", seed=4)
    return fac.rle_file(arr, bits_allocated=8, samples_per_pixel=3, photometric="YBR_FULL"), None


def _rle_8_3_1f_pc1():
    arr = runs_and_noise((17, 21, 3), "u1", seed=5)
    return fac.rle_file(arr, bits_allocated=8, samples_per_pixel=3,
                        planar_configuration=1), arr


def _rle_16_3_3f_nobot():
    arr = runs_and_noise((3, 13, 27, 3), "u2", seed=6)
    return fac.rle_file(arr, bits_allocated=16, samples_per_pixel=3, layout="nobot"), arr


def _rle_32_1_4f_eot():
    arr = runs_and_noise((4, 11, 17), "u4", seed=7)
    return fac.rle_file(arr, bits_allocated=32, layout="eot"), arr


def _rle_16_1_3f_frags():
    arr = runs_and_noise((3, 24, 25), "i2", seed=8)
    return fac.rle_file(arr, bits_allocated=16, pixel_representation=1, layout="fragments",
                        fragments_per_frame=3), arr


def _rle_64_1_2f():
    arr = runs_and_noise((2, 9, 15), "u8", seed=9)
    return fac.rle_file(arr, bits_allocated=64), arr


def _rle_32_3_1f_big():
    # 12 segments, 3000 pixels: several chunks of the decoder's interleaving arena
    arr = runs_and_noise((50, 60, 3), "u4", seed=10)
    return fac.rle_file(arr, bits_allocated=32, samples_per_pixel=3), arr


def _rle_16_1_1f_wide():
    # 2 x 9000 16-bit: wider than the encoder's stack row and longer than one arena chunk
    arr = runs_and_noise((2, 9000), "u2", seed=11)
    return fac.rle_file(arr, bits_allocated=16), arr


def _rle_8_1_1f_1x1():
    arr = np.array([[201]], dtype=np.uint8)
    return fac.rle_file(arr, bits_allocated=8), arr


def _rle_spp(samples: int, dtype: str, seed: int):
    """Samples per pixel 2 or 4: pydicom refuses them (so its encoder is called directly)."""
    def build():
        arr = runs_and_noise((2, 13, 19, samples), dtype, seed=seed)
        photometric = {2: "MONOCHROME2", 4: "ARGB"}[samples]
        return (fac.rle_file(arr, bits_allocated=np.dtype(dtype).itemsize * 8,
                             samples_per_pixel=samples, photometric=photometric), arr)
    return build


def _bits_5x13x3():
    return np.random.default_rng(12).integers(0, 2, size=(3, 5, 13), dtype=np.uint8)


def _rle_1_1_3f():
    arr = _bits_5x13x3()
    return fac.rle_file(arr, bits_allocated=1), arr


# ---- generated native cases --------------------------------------------------------------
def _native_ba1_3f_unaligned():
    arr = _bits_5x13x3()  # 65 bits per frame: frames 2 and 3 start mid-byte
    return fac.native_file(arr, bits_allocated=1), arr


def _native_ba1_3f_unaligned_be():
    arr = _bits_5x13x3()
    return fac.native_file(arr, bits_allocated=1, transfer_syntax=ExplicitVRBigEndian), arr


def _ybr422_8_3_3f():
    rng = np.random.default_rng(13)
    rows, cols, nf = 6, 10, 3
    raw = rng.integers(0, 256, size=nf * rows * cols * 2, dtype=np.uint8).tobytes()
    data = fac.native_file(np.zeros((nf, rows, cols, 3), np.uint8), bits_allocated=8,
                           samples_per_pixel=3, photometric="YBR_FULL_422", raw=raw)
    return data, None


def _ybr_full_8_3_2f_pc1():
    arr = np.random.default_rng(14).integers(0, 256, size=(2, 7, 9, 3), dtype=np.uint8)
    return fac.native_file(arr, bits_allocated=8, samples_per_pixel=3, photometric="YBR_FULL",
                           planar_configuration=1), None


def _native_le_16_3_2f_pc1():
    arr = np.random.default_rng(15).integers(0, 65536, size=(2, 5, 7, 3), dtype=np.uint16)
    return fac.native_file(arr, bits_allocated=16, samples_per_pixel=3,
                           planar_configuration=1), arr


def _native_be_16_3_2f_pc1():
    arr = np.random.default_rng(15).integers(0, 65536, size=(2, 5, 7, 3), dtype=np.uint16)
    return fac.native_file(arr, bits_allocated=16, samples_per_pixel=3, planar_configuration=1,
                           transfer_syntax=ExplicitVRBigEndian), arr.astype(">u2")


def _native_le_16_1_2f_bs12s():
    raw = np.random.default_rng(16).integers(-32768, 32768, size=(2, 6, 7)).astype("i2")
    return fac.native_file(raw, bits_allocated=16, bits_stored=12, pixel_representation=1), \
        mask_unused(raw, 12)


def _float(keyword: str, dtype: str, ts: str):
    def build():
        arr = np.random.default_rng(17).standard_normal((3, 5, 7)).astype(dtype)
        data = fac.native_file(arr, bits_allocated=np.dtype(dtype).itemsize * 8,
                               pixel_keyword=keyword, transfer_syntax=ts)
        truth = arr.astype(arr.dtype.newbyteorder(">" if ts == ExplicitVRBigEndian else "<"))
        return data, truth
    return build


def _headerless(ts: str, *, file_meta: bool):
    def build():
        arr = np.random.default_rng(18).integers(0, 4096, size=(2, 4, 5)).astype("u2")
        data = fac.native_file(arr, bits_allocated=16, bits_stored=12, transfer_syntax=ts,
                               preamble=False, file_meta=file_meta)
        truth = arr.astype(">u2") if ts == ExplicitVRBigEndian else arr
        return data, truth
    return build


#: The independent RLE decoders every RLE case pydicom can read is checked against.
RLE_ORACLES = ("pydicom", "pylibjpeg-rle", "imagecodecs")

CASES: tuple[Case, ...] = (
    # ---- RLE Lossless, pydicom's bundled files ----
    Case("RLE_16_1_1F", RLE_ORACLES + ("twin",), bundled="MR_small_RLE.dcm",
         twin="NATIVE_LE_16_1_1F"),
    Case("RLE_8_3_1F", RLE_ORACLES, bundled="SC_rgb_rle.dcm"),
    Case("RLE_8_3_2F", RLE_ORACLES, bundled="SC_rgb_rle_2frame.dcm"),
    Case("RLE_16_3_1F", RLE_ORACLES, bundled="SC_rgb_rle_16bit.dcm"),
    Case("RLE_16_3_2F", RLE_ORACLES, bundled="SC_rgb_rle_16bit_2frame.dcm"),
    Case("RLE_32_3_1F", RLE_ORACLES, bundled="SC_rgb_rle_32bit.dcm"),
    Case("RLE_32_3_2F", RLE_ORACLES, bundled="SC_rgb_rle_32bit_2frame.dcm"),
    Case("RLE_32_1_1F", RLE_ORACLES + ("twin",), bundled="rtdose_rle_1frame.dcm",
         twin="NATIVE_LE_32_1_1F"),
    Case("RLE_32_1_15F", RLE_ORACLES + ("twin",), bundled="rtdose_rle.dcm",
         twin="NATIVE_IMPLICIT_32_1_15F"),
    # ---- RLE Lossless, generated with pydicom's encoder ----
    Case("RLE_8_1_3F_ODD", RLE_ORACLES + ("truth",), build=_rle_8_1_3f_odd),
    Case("RLE_16_1_2F_BS12S", RLE_ORACLES + ("truth",), build=_rle_16_1_2f_bs12s),
    Case("RLE_16_1_1F_BS10U", RLE_ORACLES + ("truth",), build=_rle_16_1_1f_bs10u),
    Case("RLE_8_1_2F_BS5S", RLE_ORACLES + ("truth",), build=_rle_unused_bits("i1", 5, 65)),
    Case("RLE_8_1_2F_BS3U", RLE_ORACLES + ("truth",), build=_rle_unused_bits("u1", 3, 66)),
    Case("RLE_32_1_2F_BS20S", RLE_ORACLES + ("truth",), build=_rle_unused_bits("i4", 20, 67)),
    Case("RLE_64_1_2F_BS40S", RLE_ORACLES + ("truth",), build=_rle_unused_bits("i8", 40, 68)),
    Case("RLE_64_1_2F_BS33U", RLE_ORACLES + ("truth",), build=_rle_unused_bits("u8", 33, 69)),
    Case("RLE_8_3_2F_YBR", RLE_ORACLES, build=_rle_8_3_2f_ybr),
    Case("RLE_8_3_1F_PC1", RLE_ORACLES + ("truth",), build=_rle_8_3_1f_pc1),
    Case("RLE_16_3_3F_NOBOT", RLE_ORACLES + ("truth",), build=_rle_16_3_3f_nobot),
    Case("RLE_32_1_4F_EOT", RLE_ORACLES + ("truth",), build=_rle_32_1_4f_eot),
    Case("RLE_16_1_3F_FRAGS", RLE_ORACLES + ("truth",), build=_rle_16_1_3f_frags),
    Case("RLE_64_1_2F", RLE_ORACLES + ("truth",), build=_rle_64_1_2f),
    Case("RLE_32_3_1F_BIG", RLE_ORACLES + ("truth",), build=_rle_32_3_1f_big),
    Case("RLE_16_1_1F_WIDE", RLE_ORACLES + ("truth",), build=_rle_16_1_1f_wide),
    Case("RLE_8_1_1F_1X1", RLE_ORACLES + ("truth",), build=_rle_8_1_1f_1x1),
    # pydicom's pixel_array refuses Samples per Pixel 2 and 4: frame-level oracle and truth
    Case("RLE_8_2_2F", ("imagecodecs", "truth"), build=_rle_spp(2, "u1", 61)),
    Case("RLE_8_4_2F", ("imagecodecs", "truth"), build=_rle_spp(4, "u1", 62)),
    Case("RLE_16_4_2F", ("imagecodecs", "truth"), build=_rle_spp(4, "u2", 63)),
    Case("RLE_32_2_2F", ("imagecodecs", "truth"), build=_rle_spp(2, "u4", 64)),
    # pydicom and pylibjpeg-rle cannot decode RLE with Bits Allocated 1: twin and truth only
    Case("RLE_1_1_3F", ("twin", "truth"), build=_rle_1_1_3f, twin="NATIVE_BA1_3F_UNALIGNED"),
    # ---- native, pydicom's bundled files ----
    Case("NATIVE_LE_16_1_1F", ("pydicom",), bundled="MR_small.dcm"),
    Case("NATIVE_IMPLICIT_16_1_1F", ("pydicom", "twin"), bundled="MR_small_implicit.dcm",
         twin="NATIVE_LE_16_1_1F"),
    Case("NATIVE_BE_16_1_1F", ("pydicom", "twin"), bundled="MR_small_bigendian.dcm",
         twin="NATIVE_LE_16_1_1F"),
    Case("NATIVE_BE_16_1_1F_EXPB", ("pydicom",), bundled="MR_small_expb.dcm"),
    Case("NATIVE_LE_32_1_1F", ("pydicom",), bundled="rtdose_1frame.dcm"),
    Case("NATIVE_IMPLICIT_32_1_15F", ("pydicom",), bundled="rtdose.dcm"),
    Case("NATIVE_BE_32_1_15F", ("pydicom", "twin"), bundled="rtdose_expb.dcm",
         twin="NATIVE_IMPLICIT_32_1_15F"),
    Case("NATIVE_BE_8_3_1F_PC1", ("pydicom",), bundled="ExplVR_BigEnd.dcm"),
    Case("NATIVE_LE_8_3_1F_ODD", ("pydicom",), bundled="SC_rgb_small_odd.dcm"),
    Case("NATIVE_BE_8_3_1F_ODD_OW", ("pydicom", "twin"), bundled="SC_rgb_small_odd_big_endian.dcm",
         twin="NATIVE_LE_8_3_1F_ODD"),
    Case("NATIVE_LE_8_3_1F", ("pydicom",), bundled="examples_rgb_color.dcm"),
    Case("NATIVE_LE_16_1_1F_CT", ("pydicom",), bundled="CT_small.dcm"),
    Case("NATIVE_LE_8_1_1F_PALETTE", ("pydicom",), bundled="examples_palette.dcm"),
    Case("NATIVE_LE_16_1_1F_PADDED", ("pydicom", "twin"), bundled="MR_small_padded.dcm",
         twin="NATIVE_LE_16_1_1F"),
    Case("NATIVE_BA1_1_1F", ("pydicom",), bundled="liver_1frame.dcm"),
    Case("NATIVE_BA1_1_1F_BE", ("pydicom", "twin"), bundled="liver_expb_1frame.dcm",
         twin="NATIVE_BA1_1_1F"),
    Case("YBR422_8_3_1F", ("pydicom",), bundled="SC_ybr_full_422_uncompressed.dcm"),
    Case("DEFLATED_8_1_1F", ("pydicom",), bundled="image_dfl.dcm"),
    # ---- native, generated ----
    Case("NATIVE_BA1_3F_UNALIGNED", ("pydicom", "truth"), build=_native_ba1_3f_unaligned),
    Case("NATIVE_BA1_3F_UNALIGNED_BE", ("pydicom", "truth"), build=_native_ba1_3f_unaligned_be),
    Case("YBR422_8_3_3F", ("pydicom",), build=_ybr422_8_3_3f),
    Case("YBR_FULL_8_3_2F_PC1", ("pydicom",), build=_ybr_full_8_3_2f_pc1),
    Case("NATIVE_LE_16_3_2F_PC1", ("pydicom", "truth"), build=_native_le_16_3_2f_pc1),
    Case("NATIVE_BE_16_3_2F_PC1", ("pydicom", "truth"), build=_native_be_16_3_2f_pc1),
    Case("NATIVE_LE_16_1_2F_BS12S", ("pydicom", "truth"), build=_native_le_16_1_2f_bs12s),
    Case("FLOAT_32_1_3F", ("pydicom", "truth"),
         build=_float("FloatPixelData", "float32", ExplicitVRLittleEndian)),
    Case("FLOAT_32_1_3F_BE", ("pydicom", "truth"),
         build=_float("FloatPixelData", "float32", ExplicitVRBigEndian)),
    Case("DOUBLE_64_1_3F_IMPLICIT", ("pydicom", "truth"),
         build=_float("DoubleFloatPixelData", "float64", ImplicitVRLittleEndian)),
    Case("NATIVE_NOPREAMBLE_16_1_2F", ("pydicom", "truth"),
         build=_headerless(ExplicitVRLittleEndian, file_meta=True)),
    Case("NATIVE_NOMETA_IMPLICIT_16_1_2F", ("pydicom", "truth"),
         build=_headerless(ImplicitVRLittleEndian, file_meta=False),
         transfer_syntax_if_missing=ImplicitVRLittleEndian),
    Case("NATIVE_NOMETA_EXPLICIT_16_1_2F", ("pydicom", "truth"),
         build=_headerless(ExplicitVRLittleEndian, file_meta=False),
         transfer_syntax_if_missing=ExplicitVRLittleEndian),
    Case("NATIVE_NOMETA_BE_16_1_2F", ("pydicom", "truth"),
         build=_headerless(ExplicitVRBigEndian, file_meta=False),
         transfer_syntax_if_missing=ExplicitVRBigEndian),
)

BY_NAME = {c.name: c for c in CASES}
assert len(BY_NAME) == len(CASES), "duplicate case names"


def cases_with(oracle: str) -> list[Case]:
    return [c for c in CASES if oracle in c.oracles]


RLE_CASES = [c for c in CASES if c.is_rle]
