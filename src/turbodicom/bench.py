"""Side-by-side timing of turbodicom against every installed peer, in one run.

Two levels are timed on the same inputs:

* ``frame``: one encoded frame in, pixels out, one core: turbodicom's kernel against the peers'
  frame decoders (imagecodecs, pylibjpeg plugins, pydicom's own pure-Python decoders).
* ``file``: a whole file from the page cache to a NumPy array: ``turbodicom.decode`` (1 thread
  and all cores) against ``pydicom.pixels.pixel_array`` with each of its plugins, pydicom with
  turbodicom registered, and dicomsdl.

Every decoder, turbodicom included, runs in a worker process of its own (one per decoder and
workload, forked from a preloaded server), so a peer that crashes, hangs or corrupts its heap
ends up as a row saying so ("crashed", "timed out", "fails") and never takes the benchmark
down.  The workers time in interleaved rounds (each decoder in turn, several times) on the same
bytes, so a change in the machine's load hits every decoder alike.

Every peer's output is checked against turbodicom's before it is timed; a disagreement is shown
in the table.  Throughput is MB/s of decoded output; ``ratio`` is turbodicom's speed divided by
the peer's (above 1 means turbodicom is faster).  The benchmarks/ suite (pytest-benchmark) uses
the same workloads and peers.  Further peers can be added by installed packages through the
entry-point groups ``turbodicom.bench.frame`` and ``turbodicom.bench.file`` (name: the peer's
name; object: a factory like the ones in `frame_peers`).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import multiprocessing
import os
import platform
import shutil
import signal
import subprocess
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

import turbodicom
from turbodicom.codecs import RLE_LOSSLESS, SYNTAX_NAMES, FrameSpec, codec_for
from turbodicom.frames import open_pixels

__all__ = ["Workload", "Result", "SummaryRow", "default_workloads", "workloads_from_paths",
           "frame_peers", "file_peers", "run", "summarise", "format_summary", "format_table",
           "main"]

J2K_LOSSLESS = "1.2.840.10008.1.2.4.90"
J2K_LOSSY = "1.2.840.10008.1.2.4.91"
J2K_SYNTAXES = (J2K_LOSSLESS, J2K_LOSSY)
HTJ2K_LOSSLESS = "1.2.840.10008.1.2.4.201"
HTJ2K_SYNTAXES = (HTJ2K_LOSSLESS, "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.203")
LJPEG_SV1 = "1.2.840.10008.1.2.4.70"
LJPEG_SYNTAXES = ("1.2.840.10008.1.2.4.57", LJPEG_SV1)
JLS_LOSSLESS, JLS_NEAR = "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"
JLS_SYNTAXES = (JLS_LOSSLESS, JLS_NEAR)
JPEG_BASELINE, JPEG_EXTENDED = "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51"
JPEG_SYNTAXES = (JPEG_BASELINE, JPEG_EXTENDED)
DEFLATED = "1.2.840.10008.1.2.1.99"
#: Syntaxes whose frames may be lossy: peers may differ from turbodicom by rounding.
LOSSY_SYNTAXES = JPEG_SYNTAXES + (JLS_NEAR, J2K_LOSSY, "1.2.840.10008.1.2.4.203")
#: Syntaxes whose decoders may differ by rounding (JPEG's IDCT and colour conversion, the
#: irreversible 9-7 wavelet), and by how much a peer may differ there and still count in the
#: summary.  JPEG-LS near-lossless decoding is exact: any difference is a disagreement.
ROUNDING_SYNTAXES = tuple(u for u in LOSSY_SYNTAXES if u != JLS_NEAR)
ROUNDING_TOLERANCE = 16

#: Seconds one decoder may take on one workload (start, check and every timing round) before
#: its worker is killed and its row says "timed out".
PEER_TIMEOUT = 60.0
#: Timing rounds: each decoder runs ``min_time / ROUNDS`` seconds per round, in turn.
ROUNDS = 5


class MissingExtraError(turbodicom.TurboDicomError):
    """An optional dependency the default workload needs is not installed."""


# ------------------------------------------------------------------------------------------
# Workloads
# ------------------------------------------------------------------------------------------
@dataclass
class Workload:
    """One DICOM file to time, with its frames extracted for the frame-level runs."""

    label: str
    path: str
    transfer_syntax_uid: str
    spec: FrameSpec
    nr_frames: int
    frames: list[bytes] = field(default_factory=list)
    decoded_nbytes: int = 0  # bytes of the whole decoded array

    @property
    def syntax_name(self) -> str:
        return SYNTAX_NAMES.get(self.transfer_syntax_uid, self.transfer_syntax_uid)


def _load(path: str, label: str | None = None) -> Workload:
    with open_pixels(path) as px:
        m = px.module
        spec = FrameSpec(m.rows, m.columns, m.samples_per_pixel, m.bits_allocated,
                         m.bits_stored, m.pixel_representation, m.planar_configuration,
                         m.photometric_interpretation)
        frames = ([bytes(px.frame(i)) for i in range(m.number_of_frames)]
                  if m.encapsulated else [])
        itemsize = max(1, m.bits_allocated // 8)
    return Workload(label or Path(path).name, str(path), m.transfer_syntax_uid, spec,
                    m.number_of_frames, frames,
                    m.pixels_per_frame * itemsize * m.number_of_frames)


def workloads_from_paths(paths: Iterable[str]) -> list[Workload]:
    """Workloads for the given files (directories are searched recursively)."""
    out: list[Workload] = []
    for p in paths:
        pp = Path(p)
        files = sorted(f for f in pp.rglob("*") if f.is_file()) if pp.is_dir() else [pp]
        for f in files:
            try:
                w = _load(str(f))
            except (turbodicom.TurboDicomError, OSError, ValueError):
                continue
            if w.frames or w.transfer_syntax_uid == DEFLATED:  # no codec in native files
                out.append(w)
    return out


def _corpus_dir() -> Path | None:
    env = os.environ.get("TURBODICOM_CORPUS")
    if env:  # where the user says, and only there
        cands = [Path(env)]
    else:
        here = Path(__file__).resolve()
        cands = [p / "shared" / "corpus" for p in here.parents[:5]]
        cands.append(Path.cwd().parent / "shared" / "corpus")
    for c in cands:
        if (c / "MANIFEST.tsv").is_file():
            return c
    return None


def _require_pydicom() -> None:
    try:
        import pydicom  # noqa: F401
    except ImportError:
        raise MissingExtraError(
            "the default workload needs pydicom (its test images and its DICOM writer): "
            "pip install 'turbodicom[pydicom]', or pass DICOM files to time: "
            "turbodicom bench FILES") from None


def _write_encapsulated_file(path: Path, frames: np.ndarray, encoded: list[bytes],
                             transfer_syntax: str, photometric: str, signed: bool,
                             bits_stored: int | None = None) -> None:
    """Write a multi-frame file holding `encoded`, the frames of `frames` encoded in
    `transfer_syntax` (basic offset table)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import UID, generate_uid

    nf, rows, cols = frames.shape[:3]
    spp = frames.shape[3] if frames.ndim == 4 else 1
    bits = frames.dtype.itemsize * 8
    meta = FileMetaDataset()
    meta.TransferSyntaxUID = UID(transfer_syntax)
    meta.MediaStorageSOPClassUID = UID("1.2.840.10008.5.1.4.1.1.7")
    meta.MediaStorageSOPInstanceUID = generate_uid()
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns, ds.SamplesPerPixel = rows, cols, spp
    ds.BitsAllocated = bits
    ds.BitsStored = bits_stored or bits
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = int(signed)
    ds.PhotometricInterpretation = photometric
    if spp > 1:
        ds.PlanarConfiguration = 0
    ds.NumberOfFrames = nf
    ds.PixelData = encapsulate(encoded, has_bot=True)
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)


def _write_rle_file(path: Path, frames: np.ndarray, photometric: str, signed: bool,
                    bits_stored: int | None = None) -> None:
    """Write a multi-frame RLE Lossless file of `frames` with turbodicom's encoder."""
    rows, cols = frames.shape[1:3]
    spp = frames.shape[3] if frames.ndim == 4 else 1
    enc = [turbodicom.encode_rle(f, rows=rows, columns=cols, samples_per_pixel=spp,
                                 bits_allocated=frames.dtype.itemsize * 8) for f in frames]
    _write_encapsulated_file(path, frames, enc, RLE_LOSSLESS, photometric, signed, bits_stored)


def _write_j2k_file(path: Path, frames: np.ndarray, photometric: str, signed: bool,
                    ht: bool = False) -> None:
    """Write a multi-frame JPEG 2000 Lossless file of `frames` (imagecodecs' OpenJPEG encoder,
    reversible 5-3 wavelet, raw codestreams), or with `ht` an HTJ2K Lossless one (imagecodecs'
    OpenJPH encoder)."""
    import imagecodecs

    if ht:
        enc = [bytes(imagecodecs.htj2k_encode(f, reversible=True)) for f in frames]
    else:
        enc = [bytes(imagecodecs.jpeg2k_encode(f, level=0, codecformat="J2K", reversible=True))
               for f in frames]
    _write_encapsulated_file(path, frames, enc, HTJ2K_LOSSLESS if ht else J2K_LOSSLESS,
                             photometric, signed)


def opj_compress_tiled(frame: np.ndarray, bits: int, tile: int, ratio: int = 0) -> bytes:
    """One grey frame as a JPEG 2000 codestream of `tile` x `tile` tiles by OpenJPEG's
    ``opj_compress`` (Debian's libopenjp2-tools, which install.sh installs; the Python
    bindings write one tile): lossless (5-3), or with `ratio` 9-7 at that compression ratio.
    RuntimeError without it."""
    exe = shutil.which("opj_compress")
    if exe is None:
        raise RuntimeError("opj_compress not found (apt-get install libopenjp2-tools)")
    rows, cols = frame.shape
    signed = frame.dtype.kind == "i"
    with tempfile.TemporaryDirectory(prefix="turbodicom-bench-") as d:
        src, dst = Path(d) / "in.rawl", Path(d) / "out.j2k"
        frame.astype(frame.dtype.newbyteorder("<")).tofile(src)
        run = subprocess.run([exe, "-i", str(src), "-o", str(dst), "-F",
                              f"{cols},{rows},1,{bits},{'s' if signed else 'u'}",
                              "-t", f"{tile},{tile}",
                              *(["-I", "-r", str(ratio)] if ratio else [])],
                             capture_output=True, text=True, timeout=120)
        if run.returncode != 0 or not dst.is_file():
            raise RuntimeError(f"opj_compress failed: {(run.stdout + run.stderr).strip()[-300:]}")
        return dst.read_bytes()


#: pydicom's bundled test files timed by default without the corpus: (file name, label,
#: also in --quick).  Real images, one or more per compressed transfer syntax.
BUNDLED_FILES = (
    ("rtdose_rle.dcm", "RT dose 15x 10x10 32-bit", True),
    ("MR_small_RLE.dcm", "MR 64x64 16-bit", False),
    ("SC_rgb_jpeg_gdcm.dcm", "RGB 100x100 (gdcm)", False),
    ("examples_ybr_color.dcm", "US 30x 240x320 YBR_FULL_422", True),
    ("JPEG-lossy.dcm", "1024x256 12-bit", True),
    ("MR_small_jpeg_ls_lossless.dcm", "MR 64x64 16-bit", False),
    ("SC_rgb_jls_lossy_sample.dcm", "RGB 100x100", False),
    ("examples_jpeg2k.dcm", "US 480x640 RGB", True),
    ("693_J2KI.dcm", "512x512 16-bit", False),
)


def _bundled_file(name: str) -> str | None:
    """The path of one of pydicom's bundled test files (never downloaded)."""
    from pydicom.data import get_testdata_file

    with contextlib.suppress(Exception):
        p = get_testdata_file(name, download=False)
        if isinstance(p, (str, os.PathLike)) and Path(p).is_file():
            return str(p)
    return None


def _reencoded_workloads(ct: np.ndarray, us: np.ndarray, tmp: Path) -> list[Workload]:
    """Real frames encoded on the spot in every syntax this build decodes, with turbodicom's
    RLE encoder and the installed peers' encoders (imagecodecs: libjpeg-turbo, CharLS,
    OpenJPEG, OpenJPH).

    `ct` is a stack of 12-bit greyscale frames (uint16), `us` a stack of RGB frames (uint8).
    JPEG 2000, about 10x slower to decode than the others, gets a quarter of the frames.
    """
    out: list[Workload] = []
    codecs = turbodicom.features()["codecs"]

    def describe(a: np.ndarray, what: str) -> str:
        return f"{what} {len(a)}x {a.shape[1]}x{a.shape[2]}" + (" 12-bit" if a.ndim == 3
                                                                 else " RGB")
    ct4, us4 = ct[:max(1, len(ct) // 4)], us[:max(1, len(us) // 4)]
    ctl, usl = describe(ct, "CT"), describe(us, "US")
    ct4l, us4l = describe(ct4, "CT"), describe(us4, "US")
    p = tmp / "ct_rle.dcm"
    _write_rle_file(p, ct, "MONOCHROME2", False, 12)
    out.append(_load(str(p), f"{ctl} (re-encoded)"))
    p = tmp / "us_rle.dcm"
    _write_rle_file(p, us, "RGB", False)
    out.append(_load(str(p), f"{usl} (re-encoded)"))
    try:
        import imagecodecs as ic
    except ImportError:
        return out
    jobs: list[tuple[str, str, Callable[[np.ndarray], Any], np.ndarray, str, str]] = []
    if "ljpeg" in codecs:
        jobs.append(("ljpeg", LJPEG_SV1, lambda f: ic.jpeg8_encode(f, lossless=True,
                                                                   predictor=1,
                                                                   bitspersample=12),
                     ct, "MONOCHROME2", ctl))
    if "jpeg" in codecs:
        jobs.append(("jpeg8", JPEG_BASELINE, lambda f: ic.jpeg8_encode(f, level=90,
                                                                       subsampling="422"),
                     us, "YBR_FULL_422", usl))
        jobs.append(("jpeg12", JPEG_EXTENDED, lambda f: ic.jpeg8_encode(f, level=90,
                                                                        bitspersample=12),
                     ct, "MONOCHROME2", ctl))
    if "jls" in codecs:
        jobs.append(("jls", JLS_LOSSLESS, lambda f: ic.jpegls_encode(f), ct, "MONOCHROME2",
                     ctl))
        jobs.append(("jlsnear", JLS_NEAR, lambda f: ic.jpegls_encode(f, level=2), ct,
                     "MONOCHROME2", ctl))
    if "j2k" in codecs:
        jobs.append(("j2k", J2K_LOSSLESS, lambda f: ic.jpeg2k_encode(
            f, level=0, codecformat="J2K", reversible=True), ct4, "MONOCHROME2", ct4l))
        jobs.append(("j2kus", J2K_LOSSLESS, lambda f: ic.jpeg2k_encode(
            f, level=0, codecformat="J2K", reversible=True), us4, "RGB", us4l))
        # PSNR 80 dB: about 10:1 on a CT slice, as real lossy CT (45 dB gave 1900:1: empty
        # code-blocks, no workload)
        jobs.append(("j2ki", J2K_LOSSY, lambda f: ic.jpeg2k_encode(
            f, level=80, codecformat="J2K", reversible=False), ct4, "MONOCHROME2", ct4l))
        jobs.append(("htj2k", HTJ2K_LOSSLESS, lambda f: ic.htj2k_encode(f, reversible=True),
                     ct4, "MONOCHROME2", ct4l))
    for key, uid, encode, frames, photometric, label in jobs:
        with contextlib.suppress(Exception):  # an encoder this imagecodecs lacks
            enc = [bytes(encode(f)) for f in frames]
            p = tmp / f"{key}.dcm"
            bits_stored = 12 if frames.dtype == np.uint16 else None
            _write_encapsulated_file(p, frames, enc, uid, photometric, False, bits_stored)
            w = _load(str(p), f"{label} (re-encoded)")
            turbodicom.decode(w.path, index=0)  # a stream this build decodes
            out.append(w)
    return out


def _bundled_workloads(quick: bool, tmp: Path) -> list[Workload]:
    """pydicom's bundled test files of every syntax and real frames from them re-encoded."""
    _require_pydicom()
    out: list[Workload] = []
    decodes = turbodicom.features()["decode"]
    for name, label, in_quick in BUNDLED_FILES:
        path = _bundled_file(name)
        if path is None or (quick and not in_quick):
            continue
        with contextlib.suppress(turbodicom.TurboDicomError, OSError, ValueError):
            w = _load(path, f"{label} ({name})")
            if w.transfer_syntax_uid in decodes:
                out.append(w)
    ct_path = _bundled_file("J2K_pixelrep_mismatch.dcm")  # a real 512x512 CT slice
    us_path = _bundled_file("examples_ybr_color.dcm")     # real ultrasound frames
    if ct_path is None or us_path is None or "j2k" not in turbodicom.features()["codecs"]:
        ct_path = _bundled_file("CT_small.dcm")
    if ct_path is None or us_path is None:
        return out
    ct1 = turbodicom.decode(ct_path).astype(np.int32)
    ct1 = np.clip(ct1 - ct1.min(), 0, 4095).astype(np.uint16)  # 12-bit, unsigned
    nct = 4 if quick else 16
    ct = np.stack([np.roll(ct1, 8 * k, axis=0) for k in range(nct)])
    us = turbodicom.decode(us_path)  # YBR_FULL_422 -> RGB, as pixel_array gives it
    us = np.ascontiguousarray(us[:8] if quick else us)
    return out + _reencoded_workloads(ct, us, tmp)


def _corpus_workloads(corpus: Path, quick: bool, tmp: Path) -> list[Workload]:
    """The corpus's large files: WG04 CT/MR/US/RG in every syntax, the 120-frame ultrasound,
    multi-frame files re-encoded from them, and a tiled JPEG 2000 MR frame."""
    out: list[Workload] = []
    codecs = turbodicom.features()["codecs"]
    wg = corpus / "dicom-test-files" / "data" / "WG04"
    rel: list[tuple[Path, str]] = []
    names = ["CT1_RLE", "MR1_RLE", "US1_RLE"] + ([] if quick else ["RG3_RLE"])
    rel += [(wg / "RLE" / n, f"WG04 {n}") for n in names]
    names = ["CT1_JPLL", "MR1_JPLL"] + ([] if quick else ["RG3_JPLL"])
    rel += [(wg / "JPLL" / n, f"WG04 {n}") for n in names]
    rel.append((corpus / "fo-dicom" / "Tests" / "FO-DICOM.Tests" / "Test Data"
                / "GH538-jpeg14sv1.dcm", "SV1 RGB 636x434 (fo-dicom GH538)"))
    if "j2k" in codecs:
        j2k = [("J2KR", "CT1_J2KR"), ("J2KR", "MR1_J2KR"), ("J2KR", "US1_J2KR"),
               ("J2KI", "CT1_J2KI")]
        if not quick:
            j2k += [("J2KR", "RG3_J2KR"), ("J2KI", "MG1_J2KI")]
        rel += [(wg / sub / n, f"WG04 {n}") for sub, n in j2k]
        ht = corpus / "DICOMHTJ2K" / "test" / "fixtures" / "htj2k"
        rel += [(ht / n, f"HTJ2K {n}") for n in ["CT1_JPH", "US1_JPH"]
                + ([] if quick else ["RG3_JPH"])]
    if "jls" in codecs:
        names = ["CT1_JLSL", "MR1_JLSL"] + ([] if quick else ["MR2_JLSL", "RG3_JLSL"])
        rel += [(wg / "JLSL" / n, f"WG04 {n}") for n in names]
    us = corpus / "pydicom-data" / "data_store" / "data" / "color3d_jpeg_baseline.dcm"
    if "jpeg" in codecs:
        rel += [(us, "US 120x 640x480 YBR_FULL_422 JPEG baseline"),
                (corpus / "fo-dicom/Tests/FO-DICOM.Tests/Test Data/GH538-jpeg1.dcm",
                 "YBR_FULL 636x434 JPEG baseline (fo-dicom GH538)"),
                (corpus / "cornerstone3D/packages/dicomImageLoader/testImages/"
                 "CTImage.dcm_JPEGProcess1TransferSyntax_1.2.840.10008.1.2.4.50.dcm",
                 "CT 512^2 8-bit JPEG baseline"),
                (wg / "JPLY" / "MR1_JPLY", "WG04 MR1_JPLY 12-bit")]
        if not quick:
            rel.append((wg / "JPLY" / "RG3_JPLY", "WG04 RG3_JPLY 12-bit"))
    for path, label in rel:
        if path.is_file():
            out.append(_load(str(path), label))
    ct = wg / "REF" / "CT1_UNC"
    with contextlib.suppress(MissingExtraError):
        _require_pydicom()  # the re-encoded files are written with pydicom
        mr2 = wg / "REF" / "MR2_UNC"
        if not quick and "j2k" in codecs and mr2.is_file():
            with contextlib.suppress(RuntimeError):  # needs opj_compress
                mr = turbodicom.decode(str(mr2))  # a real 1024x1024 12-bit MR frame
                p = tmp / "mr2_j2k_tiles.dcm"
                _write_encapsulated_file(p, mr[None], [opj_compress_tiled(mr, 12, 256, 20)],
                                         J2K_LOSSY, "MONOCHROME2", False, 12)
                out.append(_load(str(p), "WG04 MR2 1024^2 12-bit J2K 9-7 20:1, 16 tiles "
                                         "(re-encoded)"))
        if us.is_file() and "jpeg" in codecs:
            arr = turbodicom.decode(str(us))  # real ultrasound frames (YBR -> RGB)
            arr = np.ascontiguousarray(arr[:24] if quick else arr)
            p = tmp / "us_rgb_rle.dcm"
            _write_rle_file(p, arr, "RGB", False)
            out.append(_load(str(p), f"US {len(arr)}x RGB (re-encoded)"))
        if ct.is_file():
            ct1 = turbodicom.decode(str(ct))
            nct = 8 if quick else 32
            stack = np.stack([np.roll(ct1, 4 * k, axis=0) for k in range(nct)])
            p = tmp / "ct_stack_rle.dcm"
            _write_rle_file(p, stack, "MONOCHROME2", ct1.dtype.kind == "i")
            out.append(_load(str(p), f"CT {nct}x 512^2 16-bit (re-encoded)"))
            with contextlib.suppress(Exception):  # needs imagecodecs' JPEG 2000 encoder
                if "j2k" in codecs:
                    nct = 8 if quick else 24
                    p = tmp / "ct_stack_j2k.dcm"
                    _write_j2k_file(p, stack[:nct], "MONOCHROME2", ct1.dtype.kind == "i")
                    out.append(_load(str(p),
                                     f"CT {nct}x 512^2 16-bit J2K lossless (re-encoded)"))
            with contextlib.suppress(Exception):  # needs imagecodecs' HTJ2K encoder
                if "htj2k" in codecs:
                    nct = 8 if quick else 24
                    p = tmp / "ct_stack_htj2k.dcm"
                    _write_j2k_file(p, stack[:nct], "MONOCHROME2", ct1.dtype.kind == "i", ht=True)
                    out.append(_load(str(p),
                                     f"CT {nct}x 512^2 16-bit HTJ2K lossless (re-encoded)"))
    return out


def default_workloads(quick: bool = False, tmpdir: str | None = None) -> list[Workload]:
    """The default workload, built on the spot on any machine.

    With the shared corpus present (``TURBODICOM_CORPUS`` or ``../shared/corpus``): the WG04
    files (512x512 16-bit CT/MR, 1760x1760 RG, 640x480 RGB US) in RLE, JPEG Lossless, JPEG
    2000, HTJ2K, JPEG-LS and JPEG, the 120-frame ultrasound, multi-frame files re-encoded
    from them, and (not `quick`) the 1024x1024 MR2 frame in 16 JPEG 2000 tiles
    (``opj_compress``).  Without it: pydicom's bundled test files of every compressed syntax, and real
    frames from them (a 512x512 CT slice, 30 ultrasound frames) encoded on the spot in every
    syntax this build decodes, with turbodicom's RLE encoder and imagecodecs' encoders.

    Raises
    ------
    MissingExtraError
        Without the corpus, if pydicom is not installed.
    """
    tmp = Path(tmpdir or tempfile.mkdtemp(prefix="turbodicom-bench-"))
    corpus = _corpus_dir()
    out = _corpus_workloads(corpus, quick, tmp) if corpus is not None else []
    return out or _bundled_workloads(quick, tmp)


# ------------------------------------------------------------------------------------------
# Peers: name -> factory(workload) returning a zero-argument callable, or None if unusable.
# A factory only looks at the workload's metadata and imports its library: it decodes
# nothing, so the parent process can ask which peers apply without running any of them.
# ------------------------------------------------------------------------------------------
FrameRunner = Callable[[], Any]
PeerFactory = Callable[[Workload], "FrameRunner | None"]


def _turbodicom_frames(w: Workload, threads: int = 1) -> FrameRunner | None:
    if not w.frames:
        return None
    s = w.spec
    codec = codec_for(w.transfer_syntax_uid)
    out = bytearray(codec.frame_nbytes(s))
    if threads > 1 and not codec.threads_inside(len(out)):
        return None  # (a frame this codec decodes on one thread whatever it is asked)

    def run() -> bytearray:
        for f in w.frames:
            turbodicom.decode_frame(f, w.transfer_syntax_uid, rows=s.rows, columns=s.columns,
                                    samples_per_pixel=s.samples_per_pixel,
                                    bits_allocated=s.bits_allocated, bits_stored=s.bits_stored,
                                    pixel_representation=s.pixel_representation,
                                    photometric_interpretation=s.photometric_interpretation,
                                    out=out, threads=threads)
        return out
    return run


def _imagecodecs_jpeg_raw(m: Any, w: Workload) -> Callable[[bytes], Any]:
    """libjpeg-turbo 3 with the coded samples out (YCbCr stays YCbCr), as turbodicom's
    decode_frame and Pillow give them to pydicom."""
    if w.spec.samples_per_pixel == 3:
        return lambda f: m.jpeg8_decode(f, colorspace="YCbCr", outcolorspace="YCbCr")
    return m.jpeg8_decode


def _pillow_jpeg(m: Any, w: Workload) -> Callable[[bytes], Any]:
    """Pillow as pydicom's pillow plugin drives it (YCbCr draft for colour)."""
    import io

    def decode(f: bytes) -> np.ndarray:
        image = m.open(io.BytesIO(f), formats=("JPEG",))
        if w.spec.samples_per_pixel != 1 and "adobe_transform" not in image.info:
            image.draft("YCbCr", image.size)
        return np.asarray(image)
    return decode


def _each_frame(w: Workload, decode: Callable[[bytes], Any]) -> FrameRunner:
    def run() -> Any:
        r = None
        for f in w.frames:
            r = decode(f)
        return r
    return run


# One row per frame-level peer: (name, module to import, syntaxes, usable(spec), decoder
# factory).  The factory gets the imported module and the workload and returns a function of
# one encoded frame.
_FRAME_PEERS: tuple[tuple[str, str, tuple[str, ...], Callable[[FrameSpec], bool],
                          Callable[[Any, Workload], Callable[[bytes], Any]]], ...] = (
    ("imagecodecs", "imagecodecs", (RLE_LOSSLESS,), lambda s: s.bits_allocated != 1,
     lambda m, w: lambda f: m.dicomrle_decode(f, f"<u{w.spec.bits_allocated // 8}")),
    ("pylibjpeg-rle", "rle.rle", (RLE_LOSSLESS,), lambda s: True,
     lambda m, w: lambda f: m.decode_frame(f, w.spec.rows * w.spec.columns,
                                           w.spec.bits_allocated, "<")),
    ("pydicom (numpy/python)", "pydicom.pixels.decoders.rle", (RLE_LOSSLESS,),
     lambda s: s.bits_allocated != 1,
     lambda m, w: lambda f: m._rle_decode_frame(f, w.spec.rows, w.spec.columns,
                                                w.spec.samples_per_pixel,
                                                w.spec.bits_allocated)),
    ("imagecodecs (OpenJPEG)", "imagecodecs", J2K_SYNTAXES + HTJ2K_SYNTAXES, lambda s: True,
     lambda m, w: m.jpeg2k_decode),
    ("imagecodecs (OpenJPH)", "imagecodecs", HTJ2K_SYNTAXES, lambda s: True,
     lambda m, w: m.htj2k_decode),
    ("pylibjpeg-openjpeg", "openjpeg", J2K_SYNTAXES + HTJ2K_SYNTAXES, lambda s: True,
     lambda m, w: m.decode),
    ("libjpeg-turbo (imagecodecs)", "imagecodecs", LJPEG_SYNTAXES, lambda s: True,
     lambda m, w: m.jpeg8_decode),
    ("lj92 (imagecodecs)", "imagecodecs", LJPEG_SYNTAXES, lambda s: s.samples_per_pixel == 1,
     lambda m, w: m.ljpeg_decode),
    ("pylibjpeg-libjpeg", "libjpeg", LJPEG_SYNTAXES + JLS_SYNTAXES + JPEG_SYNTAXES,
     lambda s: True, lambda m, w: m.decode),
    ("imagecodecs (CharLS)", "imagecodecs", JLS_SYNTAXES, lambda s: True,
     lambda m, w: m.jpegls_decode),
    # pydicom's pyjpegls plugin calls decode_pixel_data: little-endian bytes and a dict
    ("pyjpegls", "jpeg_ls", JLS_SYNTAXES, lambda s: True,
     lambda m, w: m.decode_pixel_data),
    ("libjpeg-turbo 3 (imagecodecs)", "imagecodecs", JPEG_SYNTAXES, lambda s: True,
     _imagecodecs_jpeg_raw),
    ("Pillow (libjpeg-turbo 3)", "PIL.Image", JPEG_SYNTAXES, lambda s: s.bits_allocated == 8,
     _pillow_jpeg),
)


def _frame_peer(module: str, syntaxes: tuple[str, ...], usable: Callable[[FrameSpec], bool],
                decoder: Callable[[Any, Workload], Callable[[bytes], Any]]) -> PeerFactory:
    def factory(w: Workload) -> FrameRunner | None:
        if not w.frames or w.transfer_syntax_uid not in syntaxes or not usable(w.spec):
            return None
        import importlib

        return _each_frame(w, decoder(importlib.import_module(module), w))
    return factory


def _entry_point_peers(level: str) -> dict[str, PeerFactory]:
    """Peers that installed packages add (entry-point group ``turbodicom.bench.<level>``)."""
    from importlib import metadata

    found: dict[str, PeerFactory] = {}
    with contextlib.suppress(Exception):
        for ep in metadata.entry_points(group=f"turbodicom.bench.{level}"):
            with contextlib.suppress(Exception):
                found[ep.name] = ep.load()
    return found


def _thread_count(threads: int | None) -> int:
    """The N of the N-thread rows: `threads`, else the cores this process may run on."""
    from turbodicom.decode import default_threads

    return threads or default_threads()


def frame_peers(threads: int | None = None) -> dict[str, PeerFactory]:
    """Frame-level decoders: turbodicom (1 thread; N threads inside each frame, for the codecs
    that have them), then each installed peer.

    Every factory returns None for a transfer syntax its peer does not decode.
    """
    n = _thread_count(threads)
    peers: dict[str, PeerFactory] = {"turbodicom": _turbodicom_frames}
    if n > 1:
        peers[f"turbodicom ({n} threads)"] = lambda w: _turbodicom_frames(w, n)
    for name, module, syntaxes, usable, decoder in _FRAME_PEERS:
        if _importable(module.split(".")[0]):
            peers[name] = _frame_peer(module, syntaxes, usable, decoder)
    peers.update(_entry_point_peers("frame"))
    return peers


def _importable(mod: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(mod) is not None
    except (ImportError, ValueError):
        return False


@contextlib.contextmanager
def _turbodicom_unregistered() -> Iterator[None]:
    """Time pydicom's plugins without turbodicom in the way, restoring the registration."""
    try:
        from turbodicom import pydicom_plugin

        was = pydicom_plugin.is_registered()
    except ImportError:
        was = False
    if was:
        turbodicom.unregister()
    try:
        yield
    finally:
        if was:
            turbodicom.register()


def _pydicom_file(plugin: str) -> PeerFactory:
    def factory(w: Workload) -> FrameRunner | None:
        from pydicom.pixels import pixel_array
        from pydicom.pixels.decoders.base import get_decoder

        try:
            if plugin not in get_decoder(w.transfer_syntax_uid)._available:
                return None
        except NotImplementedError:
            return None
        return lambda: pixel_array(w.path, decoding_plugin=plugin)
    return factory


def _pydicom_with_turbodicom(w: Workload) -> FrameRunner | None:
    from pydicom.pixels import pixel_array

    def run() -> Any:
        turbodicom.register()
        try:
            return pixel_array(w.path, decoding_plugin="turbodicom")
        finally:
            turbodicom.unregister()
    return run


def _imagecodecs_jpeg_file(w: Workload) -> FrameRunner | None:
    """JPEG frames through libjpeg-turbo 3's own RGB conversion, stacked like pixel_array (the
    frames taken from memory: this times decoding and colour conversion only)."""
    if w.transfer_syntax_uid not in JPEG_SYNTAXES:
        return None
    import imagecodecs

    if w.nr_frames == 1:
        return lambda: imagecodecs.jpeg8_decode(w.frames[0])
    return lambda: np.stack([imagecodecs.jpeg8_decode(f) for f in w.frames])


def _dicomsdl_file(w: Workload) -> FrameRunner | None:
    if w.transfer_syntax_uid not in (RLE_LOSSLESS,) and not w.transfer_syntax_uid.startswith(
            "1.2.840.10008.1.2.4"):
        return None
    import dicomsdl

    def run() -> np.ndarray:
        d = dicomsdl.open_file(w.path)
        if w.nr_frames == 1:
            return d.pixelData(storedvalue=True)
        return np.stack([d.pixelData(i, storedvalue=True) for i in range(w.nr_frames)])
    return run


#: Kept for benchmarks/: peers known to crash the process on real files (dicomsdl overflows
#: its heap on pydicom's rtdose_rle.dcm).  `run` isolates every peer anyway.
ISOLATED_PEERS = ("dicomsdl",)


def file_peers(threads: int | None = None) -> dict[str, PeerFactory]:
    """File-level decoders: turbodicom (1 thread, N threads) then each installed peer."""
    n = _thread_count(threads)
    peers: dict[str, PeerFactory] = {
        "turbodicom": lambda w: (lambda: turbodicom.decode(w.path, threads=1)),
    }
    if n > 1:
        peers[f"turbodicom ({n} threads)"] = lambda w: (lambda: turbodicom.decode(w.path,
                                                                                  threads=n))
    if _importable("pydicom"):
        peers["pydicom + turbodicom plugin"] = _pydicom_with_turbodicom
        for plugin, mod in (("pylibjpeg", "pylibjpeg"), ("gdcm", "gdcm"), ("pillow", "PIL"),
                            ("pyjpegls", "jpeg_ls"),
                            ("pydicom", "pydicom")):
            if _importable(mod):
                peers[f"pydicom + {plugin}"] = _pydicom_file(plugin)
    if _importable("imagecodecs"):
        peers["imagecodecs (libjpeg-turbo 3, RGB)"] = _imagecodecs_jpeg_file
    if _importable("dicomsdl"):
        peers["dicomsdl"] = _dicomsdl_file
    peers.update(_entry_point_peers("file"))
    return peers


def _peer_table(level: str, threads: int | None) -> dict[str, PeerFactory]:
    return frame_peers(threads) if level == "frame" else file_peers(threads)


# ------------------------------------------------------------------------------------------
# Workers: one process per decoder and workload
# ------------------------------------------------------------------------------------------
@dataclass
class Result:
    workload: str
    syntax: str
    level: str  # "frame" or "file"
    peer: str
    median_s: float
    mb_s: float
    ratio: float | None  # turbodicom (1 thread) speed / this peer's speed
    agrees: bool | None
    runs: int
    note: str = ""
    status: str = "ok"  # "ok", "fails" (raised), "crashed", "timed out"
    max_diff: int | None = None  # largest difference from turbodicom's output, if any

    @property
    def acceptable(self) -> bool:
        """Output equal to turbodicom's, or within rounding for a lossy syntax."""
        rounding = {SYNTAX_NAMES.get(u, u) for u in ROUNDING_SYNTAXES}
        return bool(self.agrees) or (self.max_diff is not None and self.syntax in rounding
                                     and self.max_diff <= ROUNDING_TOLERANCE)


def _normalise(w: Workload, level: str, peer: str, value: Any) -> np.ndarray | None:
    """Bring a peer's output to turbodicom's layout for the agreement check: whole arrays for
    files; for frames the last frame's sample values in pixel-interleaved order."""
    if value is None:
        return None
    s = w.spec
    if level == "file":
        return np.asarray(value)
    bps = max(1, s.bits_allocated // 8)
    kind = "i" if s.pixel_representation else "u"
    if isinstance(value, np.ndarray) and value.ndim > 1:  # image-shaped: values, interleaved
        arr = np.ascontiguousarray(value).reshape(-1)
        if arr.dtype.kind in "iu" and arr.dtype.itemsize == bps:
            arr = arr.view(f"{kind}{bps}")  # same bits, the dataset's signedness
        return arr.astype(np.int64)
    # pylibjpeg-rle, imagecodecs' RLE and pydicom return colour planes (planar config. 1)
    planar = not peer.startswith("turbodicom") and s.samples_per_pixel > 1
    if isinstance(value, tuple):  # pyjpegls: (bytes, info), planes only in interleave mode 0
        value, info = value
        planar = planar and info.get("interleave_mode", 0) == 0
    raw = np.frombuffer(bytes(value) if not isinstance(value, np.ndarray) else value.tobytes(),
                        np.uint8)
    if planar:
        planes = raw.reshape(s.samples_per_pixel, s.rows * s.columns, bps)
        raw = np.ascontiguousarray(planes.transpose(1, 0, 2)).reshape(-1)
    if s.bits_allocated < 8 or w.transfer_syntax_uid == RLE_LOSSLESS:
        return raw
    return np.frombuffer(raw.tobytes(), f"<{kind}{bps}").astype(np.int64)


def _worker_main(conn: Any, level: str, peer: str, path: str, threads: int | None,
                 log_path: str) -> None:
    """One decoder on one workload: decode once and send the normalised output, then time
    repeated decodes for each budget the parent sends (None ends the worker)."""
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)  # the peer's own messages (and a crash message) go to the log
    os.dup2(fd, 2)
    try:
        w = _load(path)
        fn = _peer_table(level, threads)[peer](w)
        if fn is None:
            raise RuntimeError("does not decode this workload")
        conn.send(("ok", _normalise(w, level, peer, fn())))
        while (budget := conn.recv()) is not None:
            times = []
            end = time.perf_counter() + budget
            while True:
                t0 = time.perf_counter()
                fn()
                t1 = time.perf_counter()
                times.append(t1 - t0)
                if t1 >= end:
                    break
            conn.send(("times", times))
    except Exception as exc:  # noqa: BLE001 - any failure of the peer is its row's content
        conn.send(("fails", f"{type(exc).__name__}: {exc}"))


_CONTEXT: Any = None


def _context() -> Any:
    """The multiprocessing context: a fork server that has imported numpy and turbodicom
    (each worker starts in milliseconds, from a process no peer has run in)."""
    global _CONTEXT
    if _CONTEXT is None:
        if "forkserver" in multiprocessing.get_all_start_methods():
            _CONTEXT = multiprocessing.get_context("forkserver")
            # the peers' modules are imported once, in the server (import only: nothing is
            # decoded there); a missing one is skipped
            _CONTEXT.set_forkserver_preload(["turbodicom.bench", "pydicom", "pydicom.pixels",
                                             "imagecodecs"])
        else:  # pragma: no cover - platforms without fork
            _CONTEXT = multiprocessing.get_context("spawn")
    return _CONTEXT


class _Worker:
    """The parent's handle on one worker process, with its time limit."""

    def __init__(self, level: str, peer: str, w: Workload, threads: int | None,
                 logdir: Path, limit: float) -> None:
        ctx = _context()
        self.level, self.peer, self.limit = level, peer, limit
        self.log = logdir / f"{os.getpid()}-{id(self)}.log"
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, daemon=True,
                                args=(child, level, peer, w.path, threads, str(self.log)))
        self.spent = 0.0
        self.status, self.note = "ok", ""
        self.times: list[float] = []
        t0 = time.perf_counter()
        self.proc.start()
        child.close()
        self.spent += time.perf_counter() - t0

    @property
    def alive(self) -> bool:
        return self.status == "ok"

    def request(self, message: Any = None, send: bool = True) -> Any:
        """Send `message` (unless `send` is false) and wait for the reply within what is left
        of the time limit; None (and the status set) if the worker failed."""
        t0 = time.perf_counter()
        reply = None
        try:
            if send:
                self.conn.send(message)
            if self.conn.poll(max(0.0, self.limit - self.spent)):
                reply = self.conn.recv()
            else:
                self._kill()
                self.status, self.note = "timed out", f"after {self.limit:.0f} s"
        except (EOFError, OSError):
            self._crashed()
        self.spent += time.perf_counter() - t0
        if reply is not None and reply[0] == "fails":
            self.status, self.note = "fails", reply[1]
            self.close()
            return None
        return reply

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            lines = [ln.strip() for ln in self.log.read_text(errors="replace").splitlines()]
            lines = [ln for ln in lines if ln]
            return lines[-1] if lines else ""
        return ""

    def _crashed(self, when: str = "") -> None:
        self.proc.join(10)
        code = self.proc.exitcode
        if code is None:
            self._kill()
        if code is not None and code < 0:
            how = f"signal {-code}"
            with contextlib.suppress(ValueError):
                how = signal.Signals(-code).name
        else:
            how = f"exit status {code}"
        tail = self._log_tail()
        self.status = "crashed"
        self.note = f"{how}{when}" + (f": {tail}" if tail else "")

    def _kill(self) -> None:
        with contextlib.suppress(Exception):
            self.proc.kill()
        self.proc.join(10)

    def close(self) -> None:
        """End the worker; one that dies on the way out (a corrupted heap found by free())
        is reported as crashed."""
        if self.proc.exitcode is None and self.status == "ok":
            with contextlib.suppress(OSError):
                self.conn.send(None)
            self.proc.join(10)
            if self.proc.exitcode is None:
                self._kill()
            elif self.proc.exitcode != 0:
                self._crashed(" on exit")
        elif self.proc.exitcode is None:
            self._kill()
        self.conn.close()
        with contextlib.suppress(OSError):
            self.log.unlink()


def _agreement(ref: np.ndarray | None, out: np.ndarray | None
               ) -> tuple[bool | None, str, int | None]:
    """(equal, note, largest difference) of a peer's output against turbodicom's."""
    if ref is None:
        return None, "", None
    if out is None or out.shape != ref.shape:
        return False, f"shape {None if out is None else out.shape} vs {ref.shape}", None
    if np.array_equal(out, ref):
        return True, "", None
    diff = int(np.abs(np.asarray(out, np.int64) - np.asarray(ref, np.int64)).max())
    return False, f"max diff {diff}", diff


def _time_workload(w: Workload, level: str, names: list[str], threads: int | None,
                   min_time: float, limit: float, logdir: Path,
                   progress: Callable[[str], None] | None) -> list[Result]:
    """Every decoder in `names` (turbodicom first) on one workload at one level, each in its
    own worker; the timing runs interleaved in ROUNDS rounds."""
    workers: list[_Worker] = []
    results: list[Result] = []
    ref: np.ndarray | None = None
    agreement: dict[str, tuple[bool | None, str, int | None]] = {}
    try:
        for name in names:
            if progress:
                progress(f"{w.label}: {level} {name}")
            wk = _Worker(level, name, w, threads, logdir, limit)
            workers.append(wk)
            reply = wk.request(send=False)
            if reply is None:
                continue
            out = reply[1]
            if name == "turbodicom":
                ref, agreement[name] = out, (True, "", None)
            else:
                agreement[name] = _agreement(ref, out)
            del out, reply
        ref = None
        for r in range(ROUNDS):
            for wk in workers:
                if not wk.alive:
                    continue
                if progress:
                    progress(f"{w.label}: {level} {wk.peer} (round {r + 1}/{ROUNDS})")
                reply = wk.request(min_time / ROUNDS)
                if reply is not None:
                    wk.times += reply[1]
    finally:
        for wk in workers:
            wk.close()
    ref_speed = None
    for wk in workers:
        agrees, note, max_diff = agreement.get(wk.peer, (None, "", None))
        if wk.status != "ok":
            results.append(Result(w.label, w.syntax_name, level, wk.peer, math.nan, math.nan,
                                  None, None, 0, wk.note, wk.status))
            continue
        med = statistics.median(wk.times)
        speed = w.decoded_nbytes / med / 1e6
        if wk.peer == "turbodicom":
            ref_speed = speed
        ratio = ref_speed / speed if ref_speed else None
        if wk.peer.startswith("turbodicom (") and ref_speed:
            note, ratio = f"{speed / ref_speed:.2f}x one thread" + (f"; {note}" if note else ""), None
        results.append(Result(w.label, w.syntax_name, level, wk.peer, med, speed, ratio,
                              agrees, len(wk.times), note, max_diff=max_diff))
    return results


def run(workloads: list[Workload], *, levels: tuple[str, ...] = ("frame", "file"),
        min_time: float = 0.5, threads: int | None = None,
        progress: Callable[[str], None] | None = None,
        peer_timeout: float = PEER_TIMEOUT,
        done: Callable[[Workload], None] | None = None) -> list[Result]:
    """Time every decoder on every workload; one Result per (workload, level, decoder).

    Each decoder runs in its own worker process; one that raises, crashes or takes longer than
    `peer_timeout` seconds on a workload gets a Result with ``status`` "fails", "crashed" or
    "timed out" and no timing.  `min_time` is the timing budget per decoder and workload,
    spread over interleaved rounds.
    """
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="turbodicom-bench-logs-") as logdir:
        for w in workloads:
            for level in levels:
                names = []
                for name, factory in _peer_table(level, threads).items():
                    try:
                        applies = factory(w) is not None  # metadata only: no decoding
                    except Exception:  # noqa: BLE001 - a peer that cannot take this input
                        applies = name == "turbodicom"
                    if applies:
                        names.append(name)
                if "turbodicom" in names:
                    results += _time_workload(w, level, names, threads, min_time,
                                              peer_timeout, Path(logdir), progress)
            if done:
                done(w)
    return results


# ------------------------------------------------------------------------------------------
# Tables
# ------------------------------------------------------------------------------------------
@dataclass
class SummaryRow:
    """One transfer syntax at one level: turbodicom against its fastest peer."""

    syntax: str
    level: str
    files: int
    turbodicom_mb_s: float
    best_peer: str | None
    peer_mb_s: float | None
    ratio: float | None  # turbodicom's MB/s / the peer's, over the files both decoded
    peer_files: int = 0
    problems: list[str] = field(default_factory=list)  # "dicomsdl crashed", ...


#: Rows that time turbodicom itself, not a peer.
def _is_turbodicom(peer: str) -> bool:
    return peer.startswith("turbodicom") or peer == "pydicom + turbodicom plugin"


def summarise(results: list[Result]) -> list[SummaryRow]:
    """Per transfer syntax and level: turbodicom's MB/s (total decoded bytes over total time),
    and the peer with the best speed ratio (turbodicom's MB/s over the peer's, both counted on
    the files the peer decoded with output equal to turbodicom's or, for lossy syntaxes, within
    rounding), so large files weigh more than small ones."""
    groups: dict[tuple[str, str], list[Result]] = {}
    for r in results:
        groups.setdefault((r.syntax, r.level), []).append(r)
    rows = []
    for (syntax, level), rs in groups.items():
        td = {r.workload: r for r in rs if r.peer == "turbodicom" and r.status == "ok"}
        if not td:
            continue
        td_bytes = sum(r.mb_s * r.median_s for r in td.values())
        td_time = sum(r.median_s for r in td.values())
        problems = sorted({f"{r.peer} {r.status}" for r in rs if r.status != "ok"})
        problems += sorted({f"{r.peer} disagrees" for r in rs
                            if r.status == "ok" and not r.acceptable})
        best: tuple[float, str, float, int] | None = None
        for peer in dict.fromkeys(r.peer for r in rs):
            if _is_turbodicom(peer):
                continue
            ok = [r for r in rs if r.peer == peer and r.status == "ok" and r.ratio
                  and r.workload in td and r.acceptable]
            if not ok:
                continue
            mb = sum(r.mb_s * r.median_s for r in ok) / sum(r.median_s for r in ok)
            mine = [td[r.workload] for r in ok]
            ratio = sum(r.mb_s * r.median_s for r in mine) / sum(r.median_s for r in mine) / mb
            if best is None or ratio < best[0]:
                best = (ratio, peer, mb, len(ok))
        rows.append(SummaryRow(syntax, level, len(td), td_bytes / td_time,
                               best[1] if best else None, best[2] if best else None,
                               best[0] if best else None, best[3] if best else 0, problems))
    return rows


def format_summary(rows: list[SummaryRow]) -> str:
    """The summary (Markdown pipe syntax): one row per transfer syntax and level."""
    lines = ["| transfer syntax | level | files | turbodicom MB/s | fastest peer | peer MB/s "
             "| turbodicom speed-up |",
             "|---|---|---:|---:|---|---:|---:|"]
    for s in rows:
        if s.best_peer is None:
            peer, mb, ratio = "(none installed)", "", ""
        else:
            part = "" if s.peer_files == s.files else f" ({s.peer_files} of {s.files} files)"
            peer, mb, ratio = s.best_peer + part, f"{s.peer_mb_s:,.0f}", f"{s.ratio:.2f}x"
        lines.append(f"| {s.syntax} | {s.level} | {s.files} | {s.turbodicom_mb_s:,.0f} | "
                     f"{peer} | {mb} | {ratio} |")
    problems = sorted({p for s in rows for p in s.problems})
    if problems:
        lines.append("")
        lines.append("Peers that failed somewhere (see the rows below): " + ", ".join(problems))
    return "\n".join(lines)


def format_table(results: list[Result]) -> str:
    """A plain-text table (Markdown pipe syntax) of the results."""
    lines = ["| workload | transfer syntax | level | decoder | MB/s | turbodicom speed-up "
             "| agrees |",
             "|---|---|---|---|---:|---:|:---:|"]
    for r in results:
        ratio = "" if r.ratio is None or r.peer == "turbodicom" else f"{r.ratio:.2f}x"
        agree = "" if r.agrees is None else ("yes" if r.agrees else "NO")
        mb = r.status if r.status != "ok" else f"{r.mb_s:,.0f}"
        note = r.note.replace("|", "/").replace("\n", " ")
        note = note if len(note) <= 90 else note[:87] + "..."
        lines.append(f"| {r.workload} | {r.syntax} | {r.level} | {r.peer} | {mb} | {ratio} "
                     f"| {agree}"
                     f"{' ' + note if note else ''} |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------
# The ``turbodicom bench`` command
# ------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _progress(total: int) -> Iterator[tuple[Callable[[str], None], Callable[[Workload], None]]]:
    """Progress on stderr: a rich bar on a terminal, one line per file otherwise."""
    prog = None
    if sys.stderr.isatty():
        with contextlib.suppress(ImportError):
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeElapsedColumn)

            prog = Progress(TextColumn("timing"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), TextColumn("{task.description}"),
                            console=Console(stderr=True), transient=True)
    if prog is None:
        count = [0]

        def finished(w: Workload) -> None:
            count[0] += 1
            print(f"  [{count[0]}/{total}] {w.label}", file=sys.stderr, flush=True)
        yield (lambda s: None), finished
        return
    with prog:
        task = prog.add_task("", total=total)
        yield ((lambda s: prog.update(task, description=s)),
               (lambda w: prog.advance(task)))


def main(args: argparse.Namespace) -> int:
    """Run ``turbodicom bench`` with the command line's arguments (cli.py): the summary table
    first, then every row; exit status 0 whatever the peers do, 2 if nothing can be timed."""
    t_start = time.perf_counter()
    if args.paths:
        workloads = workloads_from_paths(args.paths)
        if not workloads:
            print("turbodicom: no compressed DICOM files this build decodes were found in the "
                  "given paths", file=sys.stderr)
            return 2
    else:
        print("turbodicom bench: building the default workload (real images, re-encoded on "
              "the spot)...", file=sys.stderr, flush=True)
        try:
            workloads = default_workloads(quick=args.quick)
        except MissingExtraError as exc:
            print(f"turbodicom: {exc}", file=sys.stderr)
            return 2
    levels = tuple(args.level) if args.level else ("frame", "file")
    min_time = args.min_time if args.min_time is not None else (0.1 if args.quick else 0.5)
    print(f"turbodicom bench: timing {len(workloads)} files, every decoder in a worker process "
          f"of its own...", file=sys.stderr, flush=True)
    with _progress(len(workloads)) as (progress, done):
        results = run(workloads, levels=levels, min_time=min_time, threads=args.threads,
                      progress=progress, done=done,
                      peer_timeout=getattr(args, "peer_timeout", None) or PEER_TIMEOUT)
    elapsed = time.perf_counter() - t_start
    print(f"turbodicom {turbodicom.__version__} on {platform.machine()}, {len(workloads)} "
          f"files, {elapsed:.0f} s; MB/s of decoded output, median of interleaved runs; "
          "speed-up = turbodicom (1 thread) / peer")
    print()
    print(format_summary(summarise(results)))
    print()
    print(format_table(results))
    if args.json:
        with open(args.json, "w") as f:
            json_results = [asdict(r) for r in results]
            import json

            json.dump(json_results, f, indent=1)
    bad = [r for r in results if r.status == "ok" and not r.acceptable]
    if bad:
        print(f"\n{len(bad)} peer results disagree with turbodicom's output:", file=sys.stderr)
        for r in bad:
            print(f"  {r.workload} {r.level} {r.peer}", file=sys.stderr)
    return 0
