"""JPEG 2000 codestream decode, one frame: turbodicom.j2k.decode vs the OpenJPEG peers.

Rows (one thread each unless named): ``turbodicom.j2k`` (our decoder, issue 13),
``turbodicom OpenJPEG adapter`` (``turbodicom._j2k`` over the system OpenJPEG), imagecodecs'
``jpeg2k_decode`` (its bundled OpenJPEG, ``numthreads=1``) and pylibjpeg-openjpeg's ``decode``.
Frames: the corpus's WG04 J2KR/J2KI CT1, MR1, RG3 and MG1 codestreams, real RGB frames
(WG04 US1 and VL1) re-encoded here by imagecodecs into .90 (5/3 + RCT) and .91 (9/7 + ICT), and
the real 1024x1024 MR2 frame re-encoded by ``opj_compress`` into 16 tiles (9/7, 20:1; the Python
bindings write one tile).  Then 1 vs 2 threads on one 512x512 frame and on the tiled one.

Run once, briefly (the machine is shared):
``python -m pytest benchmarks/test_j2k.py --benchmark-columns=median,ops
--benchmark-group-by=group``.  Each row records MB/s of decoded samples in ``extra_info``; before
timing, every peer's output is checked against imagecodecs' (exact for 5/3, within 1 for 9/7).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import turbodicom

REPO = Path(__file__).resolve().parent.parent


def _corpus() -> Path | None:
    env = os.environ.get("TURBODICOM_CORPUS")
    for c in ([Path(env)] if env else []) + [REPO.parent / "shared" / "corpus"]:
        if (c / "MANIFEST.tsv").is_file():
            return c
    return None


WG04 = ("dicom-test-files", "data", "WG04")
#: (label, path under WG04) of the corpus's JPEG 2000 frames
CORPUS_FRAMES = [("CT1_J2KR 512x512 16-bit .90", "J2KR/CT1_J2KR"),
                 ("MR1_J2KR 512x512 16-bit .90", "J2KR/MR1_J2KR"),
                 ("RG3_J2KR 1760x1760 10-bit .90", "J2KR/RG3_J2KR"),
                 ("CT1_J2KI 512x512 16-bit .91", "J2KI/CT1_J2KI"),
                 ("MR1_J2KI 512x512 16-bit .91", "J2KI/MR1_J2KI"),
                 ("MG1_J2KI 4664x3064 12-bit .91", "J2KI/MG1_J2KI")]
#: (label, WG04 REF file, reversible) of real RGB frames re-encoded by imagecodecs
RGB_FRAMES = [("US1 640x480 RGB .90 (re-encoded)", "REF/US1_UNC", True),
              ("US1 640x480 RGB .91 (re-encoded)", "REF/US1_UNC", False),
              ("VL1 756x486 RGB .90 (re-encoded)", "REF/VL1_UNC", True),
              ("VL1 756x486 RGB .91 (re-encoded)", "REF/VL1_UNC", False)]
#: (label, WG04 REF file, bits stored, tile size, compression ratio) of a real frame re-encoded
#: by opj_compress in tiles
TILED_FRAMES = [("MR2 1024x1024 12-bit .91, 16 tiles (re-encoded)", "REF/MR2_UNC", 12, 256, 20)]
LABELS = ([label for label, _ in CORPUS_FRAMES] + [label for label, _, _ in RGB_FRAMES]
          + [t[0] for t in TILED_FRAMES])
THREADS_FRAME = CORPUS_FRAMES[0][0]


@dataclass(frozen=True)
class Frame:
    """One codestream to time and the size of its decoded samples."""

    label: str
    codestream: bytes
    decoded_nbytes: int
    reversible: bool


@functools.lru_cache(maxsize=None)
def frame(label: str) -> Frame:
    """The codestream behind `label` (skips without the corpus or the encoder)."""
    corpus = _corpus()
    if corpus is None:
        pytest.skip("real-file corpus not found (set TURBODICOM_CORPUS)")
    for lab, rel in CORPUS_FRAMES:
        if lab == label:
            path = corpus.joinpath(*WG04, rel)
            with turbodicom.open_pixels(str(path)) as px:
                m = px.module
                data = bytes(px.frame(0))
                nbytes = m.rows * m.columns * m.samples_per_pixel * (m.bits_allocated // 8)
            return Frame(label, data, nbytes, "J2KR" in rel)
    for lab, rel, reversible in RGB_FRAMES:
        if lab == label:
            ic = pytest.importorskip("imagecodecs", reason="imagecodecs re-encodes the RGB")
            rgb = np.ascontiguousarray(turbodicom.decode(str(corpus.joinpath(*WG04, rel))))
            assert rgb.ndim == 3 and rgb.shape[2] == 3, rgb.shape
            kw = dict(level=0, reversible=True) if reversible else dict(level=45,
                                                                        reversible=False)
            data = bytes(ic.jpeg2k_encode(rgb, codecformat="J2K", mct=True, numthreads=1,
                                          **kw))
            return Frame(label, data, rgb.nbytes, reversible)
    for lab, rel, bits, tile, ratio in TILED_FRAMES:
        if lab == label:
            from turbodicom.bench import opj_compress_tiled

            grey = np.ascontiguousarray(turbodicom.decode(str(corpus.joinpath(*WG04, rel))))
            try:
                data = opj_compress_tiled(grey, bits, tile, ratio)
            except RuntimeError as exc:
                pytest.skip(str(exc))
            return Frame(label, data, grey.nbytes, False)
    raise KeyError(label)


def _peer(name: str, threads: int = 1):
    """A callable decoding one codestream to an ndarray, for peer `name`."""
    if name == "turbodicom.j2k":
        from turbodicom import j2k

        return lambda data: j2k.decode(data, threads=threads)
    if name == "turbodicom OpenJPEG adapter":
        from turbodicom import _j2k

        def adapter(data: bytes) -> np.ndarray:
            hdr = _j2k.read_header(data)
            out = bytearray(hdr["rows"] * hdr["columns"] * hdr["components"]
                            * hdr["bytes_per_sample"])
            _j2k.decode_into(data, out, threads=threads)
            kind = "i" if hdr["is_signed"] else "u"
            arr = np.frombuffer(out, f"{kind}{hdr['bytes_per_sample']}")
            shape = (hdr["rows"], hdr["columns"]) + ((hdr["components"],)
                                                     if hdr["components"] > 1 else ())
            return arr.reshape(shape)

        return adapter
    if name == "imagecodecs (OpenJPEG)":
        ic = pytest.importorskip("imagecodecs")
        return lambda data: ic.jpeg2k_decode(data, numthreads=threads)
    if name == "pylibjpeg-openjpeg":
        if threads != 1:
            pytest.skip("pylibjpeg-openjpeg decodes on one thread")
        openjpeg = pytest.importorskip("openjpeg")
        return lambda data: openjpeg.decode(data, j2k_format=0)
    raise KeyError(name)


PEERS = ["turbodicom.j2k", "turbodicom OpenJPEG adapter", "imagecodecs (OpenJPEG)",
         "pylibjpeg-openjpeg"]


def _checked(f: Frame, decode) -> None:
    """`decode` agrees with imagecodecs' OpenJPEG on `f` (5/3 exact, 9/7 within 1)."""
    ic = pytest.importorskip("imagecodecs", reason="imagecodecs' decode is the reference")
    want = np.asarray(ic.jpeg2k_decode(f.codestream, numthreads=1)).astype(np.int64)
    got = np.asarray(decode(f.codestream)).astype(np.int64)
    assert got.shape == want.shape, (got.shape, want.shape)
    diff = int(np.abs(got - want).max())
    assert diff <= (0 if f.reversible else 1), f"max |diff| {diff} from imagecodecs"


def _time(benchmark, f: Frame, decode, group: str) -> None:
    benchmark.group = group
    benchmark.extra_info["decoded_bytes"] = f.decoded_nbytes
    rounds = 3 if f.decoded_nbytes > 8_000_000 else 10
    benchmark.pedantic(decode, args=(f.codestream,), rounds=rounds, warmup_rounds=1)
    if benchmark.stats is not None:  # None under --benchmark-disable
        median = benchmark.stats.stats.median
        benchmark.extra_info["MB/s"] = round(f.decoded_nbytes / median / 1e6, 1)


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("label", LABELS)
def test_j2k_frame(benchmark, label, peer):
    f = frame(label)
    decode = _peer(peer)
    _checked(f, decode)
    _time(benchmark, f, decode, f"j2k frame: {label}")


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("peer", ["turbodicom.j2k", "imagecodecs (OpenJPEG)"])
@pytest.mark.parametrize("label", [THREADS_FRAME, TILED_FRAMES[0][0]])
def test_j2k_threads(benchmark, label, peer, threads):
    """One frame on 1 and 2 threads: a 512x512 one (its code-blocks and strips shared) and
    a tiled one (its tiles shared out, each taken by one thread)."""
    f = frame(label)
    decode = _peer(peer, threads)
    _checked(f, decode)
    benchmark.extra_info["threads"] = threads
    _time(benchmark, f, decode, f"j2k threads: {label}")


#: frames of the multi-frame batch benchmark (a CT slice, shifted a row per frame)
BATCH_FRAMES = 24


@functools.lru_cache(maxsize=None)
def multiframe(syntax: str) -> bytes:
    """A 24-frame 512x512 16-bit file in `syntax` (.90 or .201), its frames encoded here by
    imagecodecs from the corpus's CT1 slice, each shifted one more row."""
    ic = pytest.importorskip("imagecodecs")
    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import UID

    f = frame(THREADS_FRAME)
    ct = np.asarray(ic.jpeg2k_decode(f.codestream, numthreads=1))
    encode = ((lambda a: ic.htj2k_encode(a, level=0, reversible=True))
              if syntax == "1.2.840.10008.1.2.4.201"
              else (lambda a: ic.jpeg2k_encode(a, level=0, codecformat="J2K", reversible=True,
                                               numthreads=1)))
    frames = [bytes(encode(np.roll(ct, k, axis=0))) for k in range(BATCH_FRAMES)]
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = UID(syntax)
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4"
    ds.SOPClassUID, ds.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.2", "1.2.3.4"
    ds.Rows, ds.Columns = ct.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelRepresentation = 1 if ct.dtype.kind == "i" else 0
    ds.NumberOfFrames = BATCH_FRAMES
    ds.PixelData = encapsulate(frames)
    ds["PixelData"].VR = "OB"
    import io

    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("syntax", ["1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.90"])
def test_j2k_frame_batch(benchmark, syntax, threads):
    """turbodicom.decode of a 24-frame file, 1 vs 2 threads: the frames shared over the
    decoder's C threads (td_threads.c); the ratio of the two rows is the batch's scaling."""
    data = multiframe(syntax)
    want = turbodicom.decode(data, threads=1)
    assert np.array_equal(turbodicom.decode(data, threads=threads), want)
    benchmark.group = f"j2k frame batch: {BATCH_FRAMES} x 512x512 16-bit {syntax}"
    benchmark.extra_info["threads"] = threads
    benchmark.extra_info["decoded_bytes"] = want.nbytes
    benchmark.pedantic(turbodicom.decode, args=(data,), kwargs={"threads": threads},
                       rounds=10, warmup_rounds=1)
    if benchmark.stats is not None:
        benchmark.extra_info["MB/s"] = round(want.nbytes / benchmark.stats.stats.median / 1e6, 1)
