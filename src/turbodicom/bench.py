"""Side-by-side timing of turbodicom against every installed peer, in one run.

Two levels are timed on the same inputs:

* ``frame``: one encoded frame in, pixels out, one core: turbodicom's kernel against the peers'
  frame decoders (imagecodecs, pylibjpeg plugins, pydicom's own pure-Python decoders).
* ``file``: a whole file from the page cache to a NumPy array: ``turbodicom.decode`` (1 thread
  and all cores) against ``pydicom.pixels.pixel_array`` with each of its plugins, pydicom with
  turbodicom registered, and dicomsdl.

Every peer's output is checked against turbodicom's before it is timed; a disagreement is shown
in the table.  Throughput is MB/s of decoded output; ``ratio`` is turbodicom's speed divided by
the peer's (above 1 means turbodicom is faster).  The benchmarks/ suite (pytest-benchmark) uses
the same workloads and peers.
"""

from __future__ import annotations

import contextlib
import math
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

import turbodicom
from turbodicom.codecs import RLE_LOSSLESS, SYNTAX_NAMES, FrameSpec, codec_for
from turbodicom.frames import open_pixels

__all__ = ["Workload", "Result", "default_workloads", "workloads_from_paths", "frame_peers",
           "file_peers", "run", "format_table"]


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
            if w.frames:  # compressed files only: native ones have no codec to compare
                out.append(w)
    return out


def _corpus_dir() -> Path | None:
    env = os.environ.get("TURBODICOM_CORPUS")
    cands = [Path(env)] if env else []
    here = Path(__file__).resolve()
    cands += [p / "shared" / "corpus" for p in here.parents[:5]]
    cands.append(Path.cwd().parent / "shared" / "corpus")
    for c in cands:
        if (c / "MANIFEST.tsv").is_file():
            return c
    return None


def _write_encapsulated_file(path: Path, frames: np.ndarray, encoded: list[bytes],
                             transfer_syntax: str, photometric: str, signed: bool) -> None:
    """Write a multi-frame file holding `encoded`, the frames of `frames` encoded in
    `transfer_syntax` (Bits Stored = Bits Allocated, basic offset table)."""
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
    ds.BitsAllocated = ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = int(signed)
    ds.PhotometricInterpretation = photometric
    if spp > 1:
        ds.PlanarConfiguration = 0
    ds.NumberOfFrames = nf
    ds.PixelData = encapsulate(encoded, has_bot=True)
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)


def _write_rle_file(path: Path, frames: np.ndarray, photometric: str, signed: bool) -> None:
    """Write a multi-frame RLE Lossless file of `frames` with turbodicom's encoder."""
    rows, cols = frames.shape[1:3]
    spp = frames.shape[3] if frames.ndim == 4 else 1
    enc = [turbodicom.encode_rle(f, rows=rows, columns=cols, samples_per_pixel=spp,
                                 bits_allocated=frames.dtype.itemsize * 8) for f in frames]
    _write_encapsulated_file(path, frames, enc, RLE_LOSSLESS, photometric, signed)


def _write_j2k_file(path: Path, frames: np.ndarray, photometric: str, signed: bool) -> None:
    """Write a multi-frame JPEG 2000 Lossless file of `frames` (imagecodecs' OpenJPEG encoder,
    reversible 5-3 wavelet, raw codestreams)."""
    import imagecodecs

    enc = [bytes(imagecodecs.jpeg2k_encode(f, level=0, codecformat="J2K", reversible=True))
           for f in frames]
    _write_encapsulated_file(path, frames, enc, J2K_LOSSLESS, photometric, signed)


def default_workloads(quick: bool = False, tmpdir: str | None = None) -> list[Workload]:
    """The default workload, built on the spot on any machine.

    With the shared corpus present (``TURBODICOM_CORPUS`` or ``../shared/corpus``): the WG04
    RLE files (512x512 16-bit CT/MR, 1760x1760 RG, 640x480 RGB US), their JPEG Lossless, JPEG
    2000, HTJ2K and JPEG-LS versions, and multi-frame files re-encoded from real images (the
    120-frame ultrasound as RLE, a 16-bit CT stack as RLE and as JPEG 2000 Lossless).  Without
    it:
    pydicom's bundled RLE test files and a multi-frame file encoded from them.
    """
    tmp = Path(tmpdir or tempfile.mkdtemp(prefix="turbodicom-bench-"))
    out: list[Workload] = []
    corpus = _corpus_dir()
    if corpus is not None:
        wg = corpus / "dicom-test-files" / "data" / "WG04" / "RLE"
        names = ["CT1_RLE", "MR1_RLE", "US1_RLE"] + ([] if quick else ["RG3_RLE"])
        for n in names:
            if (wg / n).is_file():
                out.append(_load(str(wg / n), f"WG04 {n}"))
        jpll = [("WG04/JPLL", "CT1_JPLL"), ("WG04/JPLL", "MR1_JPLL")]
        if not quick:
            jpll += [("WG04/JPLL", "RG3_JPLL")]
        for sub, n in jpll:
            f = corpus / "dicom-test-files" / "data" / sub / n
            if f.is_file():
                out.append(_load(str(f), f"WG04 {n}"))
        rgb = corpus / "fo-dicom" / "Tests" / "FO-DICOM.Tests" / "Test Data" / "GH538-jpeg14sv1.dcm"
        if rgb.is_file():
            out.append(_load(str(rgb), "SV1 RGB 636x434 (fo-dicom GH538)"))
        if "j2k" in turbodicom.features()["codecs"]:
            j2k = [("WG04/J2KR", "CT1_J2KR"), ("WG04/J2KR", "MR1_J2KR"),
                   ("WG04/J2KR", "US1_J2KR"), ("WG04/J2KI", "CT1_J2KI")]
            if not quick:
                j2k += [("WG04/J2KR", "RG3_J2KR"), ("WG04/J2KI", "MG1_J2KI")]
            for sub, n in j2k:
                f = corpus / "dicom-test-files" / "data" / sub / n
                if f.is_file():
                    out.append(_load(str(f), f"WG04 {n}"))
            ht = corpus / "DICOMHTJ2K" / "test" / "fixtures" / "htj2k"
            for n in ["CT1_JPH", "US1_JPH"] + ([] if quick else ["RG3_JPH"]):
                if (ht / n).is_file():
                    out.append(_load(str(ht / n), f"HTJ2K {n}"))
        if "jls" in turbodicom.features()["codecs"]:
            jls = ["CT1_JLSL", "MR1_JLSL"] + ([] if quick else ["MR2_JLSL", "RG3_JLSL"])
            for n in jls:
                f = corpus / "dicom-test-files" / "data" / "WG04" / "JLSL" / n
                if f.is_file():
                    out.append(_load(str(f), f"WG04 {n}"))
        jpeg = [("pydicom-data/data_store/data/color3d_jpeg_baseline.dcm",
                 "US 120x 640x480 YBR_FULL_422 JPEG baseline"),
                ("fo-dicom/Tests/FO-DICOM.Tests/Test Data/GH538-jpeg1.dcm",
                 "YBR_FULL 636x434 JPEG baseline (fo-dicom GH538)"),
                ("cornerstone3D/packages/dicomImageLoader/testImages/"
                 "CTImage.dcm_JPEGProcess1TransferSyntax_1.2.840.10008.1.2.4.50.dcm",
                 "CT 512^2 8-bit JPEG baseline"),
                ("dicom-test-files/data/WG04/JPLY/MR1_JPLY", "WG04 MR1_JPLY 12-bit")]
        if not quick:
            jpeg += [("dicom-test-files/data/WG04/JPLY/RG3_JPLY", "WG04 RG3_JPLY 12-bit")]
        if "jpeg" in turbodicom.features()["codecs"]:
            for rel, label in jpeg:
                if (corpus / rel).is_file():
                    out.append(_load(str(corpus / rel), label))
        us = corpus / "pydicom-data" / "data_store" / "data" / "color3d_jpeg_baseline.dcm"
        ct = corpus / "dicom-test-files" / "data" / "WG04" / "REF" / "CT1_UNC"
        with contextlib.suppress(Exception):
            import pydicom

            if us.is_file():
                arr = pydicom.dcmread(us).pixel_array  # real ultrasound frames (YBR->RGB)
                arr = arr[:24] if quick else arr
                p = tmp / "us_rgb_rle.dcm"
                _write_rle_file(p, np.ascontiguousarray(arr), "RGB", False)
                out.append(_load(str(p), f"US {len(arr)}x RGB (re-encoded)"))
            if ct.is_file():
                ct1 = turbodicom.decode(str(ct))
                nct = 8 if quick else 32
                stack = np.stack([np.roll(ct1, 4 * k, axis=0) for k in range(nct)])
                p = tmp / "ct_stack_rle.dcm"
                _write_rle_file(p, stack, "MONOCHROME2", ct1.dtype.kind == "i")
                out.append(_load(str(p), f"CT {nct}x 512^2 16-bit (re-encoded)"))
        with contextlib.suppress(Exception):  # needs imagecodecs' JPEG 2000 encoder
            if ct.is_file() and "j2k" in turbodicom.features()["codecs"]:
                ct1 = turbodicom.decode(str(ct))
                nct = 8 if quick else 24
                stack = np.stack([np.roll(ct1, 4 * k, axis=0) for k in range(nct)])
                p = tmp / "ct_stack_j2k.dcm"
                _write_j2k_file(p, stack, "MONOCHROME2", ct1.dtype.kind == "i")
                out.append(_load(str(p), f"CT {nct}x 512^2 16-bit J2K lossless (re-encoded)"))
    if not out:
        from pydicom.data import get_testdata_file

        for name in ("MR_small_RLE.dcm", "SC_rgb_rle.dcm", "rtdose_rle.dcm"):
            bundled = get_testdata_file(name)
            if isinstance(bundled, str):
                out.append(_load(bundled, f"pydicom {name}"))
        ct_small = get_testdata_file("CT_small.dcm")
        if isinstance(ct_small, str):
            img = turbodicom.decode(ct_small)
            stack = np.stack([np.roll(img, k, axis=1) for k in range(16)])
            p = tmp / "ct_small_stack_rle.dcm"
            _write_rle_file(p, stack, "MONOCHROME2", img.dtype.kind == "i")
            out.append(_load(str(p), "CT_small 16x (re-encoded)"))
    return out


# ------------------------------------------------------------------------------------------
# Peers: name -> factory(workload) returning a zero-argument callable, or None if unusable.
# ------------------------------------------------------------------------------------------
FrameRunner = Callable[[], Any]


def _turbodicom_frames(w: Workload) -> FrameRunner | None:
    codec_for(w.transfer_syntax_uid)
    s = w.spec
    out = bytearray(codec_for(w.transfer_syntax_uid).frame_nbytes(s))

    def run() -> bytearray:
        for f in w.frames:
            turbodicom.decode_frame(f, w.transfer_syntax_uid, rows=s.rows, columns=s.columns,
                                    samples_per_pixel=s.samples_per_pixel,
                                    bits_allocated=s.bits_allocated, bits_stored=s.bits_stored,
                                    pixel_representation=s.pixel_representation,
                                    photometric_interpretation=s.photometric_interpretation,
                                    out=out)
        return out
    return run


J2K_LOSSLESS = "1.2.840.10008.1.2.4.90"
J2K_SYNTAXES = (J2K_LOSSLESS, "1.2.840.10008.1.2.4.91")
HTJ2K_SYNTAXES = ("1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202",
                  "1.2.840.10008.1.2.4.203")
LJPEG_SYNTAXES = ("1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70")
JLS_SYNTAXES = ("1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81")
JPEG_SYNTAXES = ("1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51")
#: Syntaxes whose frames may be lossy: peers may differ from turbodicom by rounding.
LOSSY_SYNTAXES = JPEG_SYNTAXES + ("1.2.840.10008.1.2.4.81", "1.2.840.10008.1.2.4.91",
                                  "1.2.840.10008.1.2.4.203")


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
     lambda m, w: lambda f: m.decode_pixel_data(f)[0]),
    ("libjpeg-turbo 3 (imagecodecs)", "imagecodecs", JPEG_SYNTAXES, lambda s: True,
     _imagecodecs_jpeg_raw),
    ("Pillow (libjpeg-turbo 3)", "PIL.Image", JPEG_SYNTAXES, lambda s: s.bits_allocated == 8,
     _pillow_jpeg),
)


def _frame_peer(module: str, syntaxes: tuple[str, ...], usable: Callable[[FrameSpec], bool],
                decoder: Callable[[Any, Workload], Callable[[bytes], Any]]
                ) -> Callable[[Workload], FrameRunner | None]:
    def factory(w: Workload) -> FrameRunner | None:
        if w.transfer_syntax_uid not in syntaxes or not usable(w.spec):
            return None
        import importlib

        return _each_frame(w, decoder(importlib.import_module(module), w))
    return factory


def frame_peers() -> dict[str, Callable[[Workload], FrameRunner | None]]:
    """Frame-level decoders: turbodicom first, then each installed peer.

    Every factory returns None for a transfer syntax its peer does not decode.
    """
    peers: dict[str, Callable[[Workload], FrameRunner | None]] = {
        "turbodicom": _turbodicom_frames}
    for name, module, syntaxes, usable, decoder in _FRAME_PEERS:
        if _importable(module.split(".")[0]):
            peers[name] = _frame_peer(module, syntaxes, usable, decoder)
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


def _pydicom_file(plugin: str) -> Callable[[Workload], FrameRunner | None]:
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
    import dicomsdl

    if w.transfer_syntax_uid not in (RLE_LOSSLESS,) and not w.transfer_syntax_uid.startswith(
            "1.2.840.10008.1.2.4"):
        return None

    def run() -> np.ndarray:
        d = dicomsdl.open_file(w.path)
        if w.nr_frames == 1:
            return d.pixelData(storedvalue=True)
        return np.stack([d.pixelData(i, storedvalue=True) for i in range(w.nr_frames)])
    return run


#: Peers that have crashed the process on real files (dicomsdl overflows its heap on
#: pydicom's rtdose_rle.dcm): each input is tried in a child process before it is timed here.
ISOLATED_PEERS = ("dicomsdl",)


def _survives_in_subprocess(peer: str, w: Workload, threads: int | None) -> bool:
    """Run one peer on one workload in a child process; False if the child crashed."""
    import subprocess

    code = ("import sys; from turbodicom import bench; w = bench._load(sys.argv[1]); "
            "fn = bench.file_peers(None)[sys.argv[2]](w)\n"
            "try:\n    fn and fn()\nexcept Exception:\n    pass\n")
    try:
        proc = subprocess.run([sys.executable, "-c", code, w.path, peer],
                              capture_output=True, timeout=300)
    except subprocess.TimeoutExpired:
        return False
    return proc.returncode == 0


def file_peers(threads: int | None = None) -> dict[str, Callable[[Workload], FrameRunner | None]]:
    """File-level decoders: turbodicom (1 thread, N threads) then each installed peer."""
    from turbodicom.decode import default_threads

    n = threads or default_threads()
    peers: dict[str, Callable[[Workload], FrameRunner | None]] = {
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
    return peers


# ------------------------------------------------------------------------------------------
# Timing
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


def time_callable(fn: Callable[[], Any], min_time: float, min_runs: int = 3,
                  max_runs: int = 200) -> tuple[float, int]:
    """Median wall time of fn() over repeated runs (one warm-up run first)."""
    fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max_runs and (len(times) < min_runs
                                     or time.perf_counter() - start < min_time):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), len(times)


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
    raw = np.frombuffer(bytes(value) if not isinstance(value, np.ndarray) else value.tobytes(),
                        np.uint8)
    if peer != "turbodicom" and s.samples_per_pixel > 1:
        # pylibjpeg-rle, imagecodecs' RLE and pydicom return colour planes (planar config. 1)
        planes = raw.reshape(s.samples_per_pixel, s.rows * s.columns, bps)
        raw = np.ascontiguousarray(planes.transpose(1, 0, 2)).reshape(-1)
    if s.bits_allocated < 8 or w.transfer_syntax_uid == RLE_LOSSLESS:
        return raw
    return np.frombuffer(raw.tobytes(), f"<{kind}{bps}").astype(np.int64)


def run(workloads: list[Workload], *, levels: tuple[str, ...] = ("frame", "file"),
        min_time: float = 0.5, threads: int | None = None,
        progress: Callable[[str], None] | None = None) -> list[Result]:
    """Time every peer on every workload; return one Result per (workload, level, peer)."""
    results: list[Result] = []
    with _turbodicom_unregistered():
        for w in workloads:
            for level in levels:
                peers = frame_peers() if level == "frame" else file_peers(threads)
                ref_speed = None
                ref_out: np.ndarray | None = None
                for name, factory in peers.items():
                    if progress:
                        progress(f"{w.label}: {level} {name}")
                    try:
                        fn = factory(w)
                    except Exception as exc:  # a peer that cannot take this input
                        fn, note = None, f"{type(exc).__name__}"
                    else:
                        note = ""
                    if fn is None:
                        continue
                    if name in ISOLATED_PEERS and not _survives_in_subprocess(name, w, threads):
                        results.append(Result(w.label, w.syntax_name, level, name, math.nan,
                                              math.nan, None, False, 0,
                                              "failed: crashed the process (tried in a child)"))
                        continue
                    try:
                        out = _normalise(w, level, name, fn())
                    except Exception as exc:
                        results.append(Result(w.label, w.syntax_name, level, name, math.nan,
                                              math.nan, None, False, 0,
                                              f"failed: {type(exc).__name__}: {str(exc)[:60]}"))
                        continue
                    if name == "turbodicom":
                        ref_out, agrees = out, True
                    else:
                        same_shape = (ref_out is not None and out is not None
                                      and out.shape == ref_out.shape)
                        agrees = (same_shape and out is not None and ref_out is not None
                                  and bool(np.array_equal(out, ref_out)))
                        if same_shape and not agrees:  # lossy codecs: how far apart
                            diff = np.abs(np.asarray(out, np.int64) - np.asarray(ref_out,
                                                                                 np.int64))
                            note = f"max |diff| {int(diff.max())}"
                    med, nruns = time_callable(fn, min_time)
                    speed = w.decoded_nbytes / med / 1e6
                    if name == "turbodicom":
                        ref_speed = speed
                    ratio = ref_speed / speed if ref_speed else None
                    if name.startswith("turbodicom (") and ref_speed:
                        note = f"{speed / ref_speed:.2f}x one thread"
                        ratio = None
                    results.append(Result(w.label, w.syntax_name, level, name, med, speed,
                                          ratio, agrees, nruns, note))
    return results


def format_table(results: list[Result]) -> str:
    """A plain-text table (Markdown pipe syntax) of the results."""
    lines = ["| workload | level | decoder | MB/s | turbodicom speed-up | agrees |",
             "|---|---|---|---:|---:|:---:|"]
    for r in results:
        ratio = "" if r.ratio is None or r.peer == "turbodicom" else f"{r.ratio:.2f}x"
        agree = "" if r.agrees is None else ("yes" if r.agrees else "NO")
        mb = "failed" if math.isnan(r.mb_s) else f"{r.mb_s:,.0f}"
        lines.append(f"| {r.workload} | {r.level} | {r.peer} | {mb} | {ratio} | {agree}"
                     f"{' ' + r.note if r.note else ''} |")
    return "\n".join(lines)
