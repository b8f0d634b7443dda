"""The registry of frame codecs: one entry per codec family, keyed by transfer syntax UID.

A codec decodes one encoded frame into a caller-supplied byte buffer laid out as pydicom's plugin
contract says: little-endian samples in a ``bits_allocated`` container, pixel-interleaved
(planar configuration 0).  Every entry point (``decode``, ``iter_frames``, ``decode_frame``, the
pydicom plugin, ``bench``) goes through :func:`codec_for`, so a codec is written once.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any, Callable

from turbodicom.errors import DecodeError, UnsupportedError

__all__ = ["Codec", "FrameSpec", "codec_for", "check_reduce", "features", "SYNTAX_NAMES",
           "STANDARD_SYNTAX_NAMES", "syntax_name"]

RLE_LOSSLESS = "1.2.840.10008.1.2.5"

SYNTAX_NAMES = {
    "1.2.840.10008.1.2": "Implicit VR Little Endian",
    "1.2.840.10008.1.2.1": "Explicit VR Little Endian",
    "1.2.840.10008.1.2.2": "Explicit VR Big Endian",
    "1.2.840.10008.1.2.1.99": "Deflated Explicit VR Little Endian",
    "1.2.840.10008.1.2.5": "RLE Lossless",
    "1.2.840.10008.1.2.4.50": "JPEG Baseline (Process 1)",
    "1.2.840.10008.1.2.4.51": "JPEG Extended (Process 2 and 4)",
    "1.2.840.10008.1.2.4.57": "JPEG Lossless (Process 14)",
    "1.2.840.10008.1.2.4.70": "JPEG Lossless SV1",
    "1.2.840.10008.1.2.4.80": "JPEG-LS Lossless",
    "1.2.840.10008.1.2.4.81": "JPEG-LS Near-Lossless",
    "1.2.840.10008.1.2.4.90": "JPEG 2000 Lossless",
    "1.2.840.10008.1.2.4.91": "JPEG 2000",
    "1.2.840.10008.1.2.4.201": "HTJ2K Lossless",
    "1.2.840.10008.1.2.4.202": "HTJ2K Lossless RPCL",
    "1.2.840.10008.1.2.4.203": "HTJ2K",
}


#: Every transfer syntax of the DICOM standard (PS3.6 Table A-1), the standard's names (with
#: "and" for "&", as pydicom writes them), so errors name a syntax without pydicom; pydicom's
#: own dictionary is preferred when it is installed (see :func:`syntax_name`).
STANDARD_SYNTAX_NAMES = {
    "1.2.840.10008.1.2": "Implicit VR Little Endian",
    "1.2.840.10008.1.2.1": "Explicit VR Little Endian",
    "1.2.840.10008.1.2.1.98": "Encapsulated Uncompressed Explicit VR Little Endian",
    "1.2.840.10008.1.2.1.99": "Deflated Explicit VR Little Endian",
    "1.2.840.10008.1.2.2": "Explicit VR Big Endian",
    "1.2.840.10008.1.2.4.50": "JPEG Baseline (Process 1)",
    "1.2.840.10008.1.2.4.51": "JPEG Extended (Process 2 and 4)",
    "1.2.840.10008.1.2.4.52": "JPEG Extended (Process 3 and 5)",
    "1.2.840.10008.1.2.4.53": "JPEG Spectral Selection, Non-Hierarchical (Process 6 and 8)",
    "1.2.840.10008.1.2.4.54": "JPEG Spectral Selection, Non-Hierarchical (Process 7 and 9)",
    "1.2.840.10008.1.2.4.55": "JPEG Full Progression, Non-Hierarchical (Process 10 and 12)",
    "1.2.840.10008.1.2.4.56": "JPEG Full Progression, Non-Hierarchical (Process 11 and 13)",
    "1.2.840.10008.1.2.4.57": "JPEG Lossless, Non-Hierarchical (Process 14)",
    "1.2.840.10008.1.2.4.58": "JPEG Lossless, Non-Hierarchical (Process 15)",
    "1.2.840.10008.1.2.4.59": "JPEG Extended, Hierarchical (Process 16 and 18)",
    "1.2.840.10008.1.2.4.60": "JPEG Extended, Hierarchical (Process 17 and 19)",
    "1.2.840.10008.1.2.4.61": "JPEG Spectral Selection, Hierarchical (Process 20 and 22)",
    "1.2.840.10008.1.2.4.62": "JPEG Spectral Selection, Hierarchical (Process 21 and 23)",
    "1.2.840.10008.1.2.4.63": "JPEG Full Progression, Hierarchical (Process 24 and 26)",
    "1.2.840.10008.1.2.4.64": "JPEG Full Progression, Hierarchical (Process 25 and 27)",
    "1.2.840.10008.1.2.4.65": "JPEG Lossless, Hierarchical (Process 28)",
    "1.2.840.10008.1.2.4.66": "JPEG Lossless, Hierarchical (Process 29)",
    "1.2.840.10008.1.2.4.70": "JPEG Lossless, Non-Hierarchical, First-Order Prediction "
                              "(Process 14 [Selection Value 1])",
    "1.2.840.10008.1.2.4.80": "JPEG-LS Lossless Image Compression",
    "1.2.840.10008.1.2.4.81": "JPEG-LS Lossy (Near-Lossless) Image Compression",
    "1.2.840.10008.1.2.4.90": "JPEG 2000 Image Compression (Lossless Only)",
    "1.2.840.10008.1.2.4.91": "JPEG 2000 Image Compression",
    "1.2.840.10008.1.2.4.92": "JPEG 2000 Part 2 Multi-component Image Compression "
                              "(Lossless Only)",
    "1.2.840.10008.1.2.4.93": "JPEG 2000 Part 2 Multi-component Image Compression",
    "1.2.840.10008.1.2.4.94": "JPIP Referenced",
    "1.2.840.10008.1.2.4.95": "JPIP Referenced Deflate",
    "1.2.840.10008.1.2.4.100": "MPEG2 Main Profile / Main Level",
    "1.2.840.10008.1.2.4.100.1": "Fragmentable MPEG2 Main Profile / Main Level",
    "1.2.840.10008.1.2.4.101": "MPEG2 Main Profile / High Level",
    "1.2.840.10008.1.2.4.101.1": "Fragmentable MPEG2 Main Profile / High Level",
    "1.2.840.10008.1.2.4.102": "MPEG-4 AVC/H.264 High Profile / Level 4.1",
    "1.2.840.10008.1.2.4.102.1": "Fragmentable MPEG-4 AVC/H.264 High Profile / Level 4.1",
    "1.2.840.10008.1.2.4.103": "MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1",
    "1.2.840.10008.1.2.4.103.1": "Fragmentable MPEG-4 AVC/H.264 BD-compatible High Profile / "
                                 "Level 4.1",
    "1.2.840.10008.1.2.4.104": "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video",
    "1.2.840.10008.1.2.4.104.1": "Fragmentable MPEG-4 AVC/H.264 High Profile / Level 4.2 For "
                                 "2D Video",
    "1.2.840.10008.1.2.4.105": "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video",
    "1.2.840.10008.1.2.4.105.1": "Fragmentable MPEG-4 AVC/H.264 High Profile / Level 4.2 For "
                                 "3D Video",
    "1.2.840.10008.1.2.4.106": "MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2",
    "1.2.840.10008.1.2.4.106.1": "Fragmentable MPEG-4 AVC/H.264 Stereo High Profile / "
                                 "Level 4.2",
    "1.2.840.10008.1.2.4.107": "HEVC/H.265 Main Profile / Level 5.1",
    "1.2.840.10008.1.2.4.108": "HEVC/H.265 Main 10 Profile / Level 5.1",
    "1.2.840.10008.1.2.4.110": "JPEG XL Lossless",
    "1.2.840.10008.1.2.4.111": "JPEG XL JPEG Recompression",
    "1.2.840.10008.1.2.4.112": "JPEG XL",
    "1.2.840.10008.1.2.4.201": "High-Throughput JPEG 2000 Image Compression (Lossless Only)",
    "1.2.840.10008.1.2.4.202": "High-Throughput JPEG 2000 with RPCL Options Image Compression "
                               "(Lossless Only)",
    "1.2.840.10008.1.2.4.203": "High-Throughput JPEG 2000 Image Compression",
    "1.2.840.10008.1.2.4.204": "JPIP HTJ2K Referenced",
    "1.2.840.10008.1.2.4.205": "JPIP HTJ2K Referenced Deflate",
    "1.2.840.10008.1.2.5": "RLE Lossless",
    "1.2.840.10008.1.2.6.1": "RFC 2557 MIME encapsulation",
    "1.2.840.10008.1.2.6.2": "XML Encoding",
    "1.2.840.10008.1.2.7.1": "SMPTE ST 2110-20 Uncompressed Progressive Active Video",
    "1.2.840.10008.1.2.7.2": "SMPTE ST 2110-20 Uncompressed Interlaced Active Video",
    "1.2.840.10008.1.2.7.3": "SMPTE ST 2110-30 PCM Digital Audio",
    "1.2.840.10008.1.2.8.1": "Deflated Image Frame Compression",
    "1.2.840.10008.1.20": "Papyrus 3 Implicit VR Little Endian",
}


def syntax_name(uid: str) -> str:
    """The standard name of transfer syntax `uid` (pydicom's dictionary when installed, else
    :data:`STANDARD_SYNTAX_NAMES`), or ``"not a DICOM standard transfer syntax"``."""
    try:
        from pydicom.uid import UID
    except ImportError:
        pass
    else:
        known = UID(uid)
        if known.type == "Transfer Syntax":
            return str(known.name)
    return STANDARD_SYNTAX_NAMES.get(uid, "not a DICOM standard transfer syntax")


@dataclass(frozen=True)
class FrameSpec:
    """What a codec needs to know about one frame (pydicom's names)."""

    rows: int
    columns: int
    samples_per_pixel: int
    bits_allocated: int
    bits_stored: int
    pixel_representation: int = 0
    planar_configuration: int = 0
    photometric_interpretation: str = ""
    options: Any = None  # codec-specific extras (e.g. RLE segment order)
    threads: int = 1  # threads a codec may use inside one frame (OpenJPEG's workers)
    #: resolution levels discarded (JPEG 2000 / HTJ2K only, see :attr:`Codec.reduced_dims`):
    #: the frame comes out :attr:`out_rows` x :attr:`out_columns`
    reduce: int = 0
    #: YBR_FULL / YBR_FULL_422 frames of 8-bit samples come out converted to RGB with pydicom's
    #: arithmetic, by codecs that can do it while decoding (:attr:`Codec.converts_ybr`); False
    #: gives the samples as coded (pydicom's plugin layout).  ``decode()`` sets it for such
    #: codecs; the pydicom plugin only where pydicom would convert the frame next (see
    #: pydicom_plugin._may_convert_colour).
    as_rgb: bool = False

    @property
    def out_rows(self) -> int:
        """Rows of the decoded frame: ``ceil(rows / 2**reduce)`` (T.800 B.5, no image offset)."""
        return -(-self.rows >> self.reduce)

    @property
    def out_columns(self) -> int:
        """Columns of the decoded frame: ``ceil(columns / 2**reduce)``."""
        return -(-self.columns >> self.reduce)

    def validate(self) -> None:
        """Raise DecodeError naming the element for an impossible description."""
        for name, tag, value in (("Rows", "(0028,0010)", self.rows),
                                 ("Columns", "(0028,0011)", self.columns)):
            if not 1 <= value <= 0xFFFF:
                raise DecodeError(f"{tag} '{name}' must be between 1 and 65535, got {value}")
        if not 1 <= self.samples_per_pixel <= 4:
            raise DecodeError(f"(0028,0002) 'Samples per Pixel' must be 1 to 4, got "
                              f"{self.samples_per_pixel}")
        ba = self.bits_allocated
        if ba not in (1, 8, 16, 32, 64):
            raise DecodeError(f"(0028,0100) 'Bits Allocated' must be 1, 8, 16, 32 or 64, got {ba}")
        if not 1 <= self.bits_stored <= ba:
            raise DecodeError(f"(0028,0101) 'Bits Stored' must be 1 to {ba}, got "
                              f"{self.bits_stored}")


@dataclass(frozen=True)
class Codec:
    """One codec family: its name, transfer syntaxes and frame functions."""

    name: str
    uids: tuple[str, ...]
    #: bytes one decoded frame occupies in the codec's output layout
    frame_nbytes: Callable[[FrameSpec], int]
    #: decode_into(encoded, out, spec): write one frame into `out` (GIL released inside)
    decode_into: Callable[[Any, Any, FrameSpec], None]
    #: the library the codec runs on, for features()/info
    engine: str = "turbodicom"
    #: whether pydicom masks/sign-extends bits above Bits Stored after this codec (its
    #: correct_unused_bits); pydicom does not for JPEG 2000 and JPEG-LS, which have their own
    #: sign correction (done inside decode_into for those codecs)
    masks_unused_bits: bool = True
    #: smallest decoded frame (bytes) worth splitting over threads inside the codec; 0 means
    #: the codec has no threads of its own.  OpenJPEG spends ~40 ns per output byte, so even a
    #: 512x512 frame gains from its workers; RLE/JPEG Lossless frames are split between frames.
    inner_threads_min_bytes: int = 0
    #: smallest decoded output (bytes) per thread worth handing whole frames to threads: about
    #: a millisecond of decoding against the executor's hand-off (RLE decodes 1 MiB in about
    #: that; JPEG 2000 spends ~20 ns per output byte, so 64 KiB already pays)
    frame_threads_min_bytes: int = 1 << 20
    #: True when Bits Allocated 1 frames come out bit-packed (RLE) and need unpacking
    packs_one_bit: bool = False
    #: conform(encoded frame, spec) -> the Photometric Interpretation pydicom settles on after
    #: reading the codestream (JPEG component IDs, JFIF marker); None keeps the dataset's
    conform: Callable[[Any, FrameSpec], str] | None = None
    #: plugin_frame(encoded, spec) -> (frame bytes, runner option overrides) for pydicom's
    #: plugin contract when it differs from decode_into's dataset layout
    plugin_frame: Callable[[Any, FrameSpec], tuple[bytearray, dict[str, Any]]] | None = None
    #: decode_into converts YBR_FULL / YBR_FULL_422 8-bit frames to RGB itself when
    #: FrameSpec.as_rgb is set (fused into decoding, pydicom's arithmetic)
    converts_ybr: bool = False
    #: reduced_dims(encoded frame, spec) -> (rows, columns) the frame decodes to with
    #: spec.reduce resolution levels discarded; None when the codec cannot decode at a lower
    #: resolution (FrameSpec.reduce must then be 0)
    reduced_dims: Callable[[Any, FrameSpec], tuple[int, int]] | None = None
    #: decode_frames_into(encoded frames, out, spec, threads): frame k into out[k] (a 2-D
    #: uint8 array), the frames shared over `threads` C threads with the GIL released once for
    #: all of them; the first failing frame's exception after every frame is done.  None: the
    #: frames go to a Python thread pool one decode_into at a time (that hand-off costs tens
    #: of microseconds a frame on 2 threads, which shows on sub-millisecond frames)
    decode_frames_into: Callable[[list[Any], Any, FrameSpec, int], None] | None = None
    #: decode_into writes every byte of a frame it decodes (none is left as the buffer held
    #: it), so decode_frame hands it a buffer it has not cleared: clearing costs a memset
    #: (8 us for 512 KiB) and, on 2 threads, puts every line of the frame in the caller's
    #: cache, from which the other thread then fetches the half it writes
    fills_output: bool = False

    def threads_inside(self, nbytes: int) -> bool:
        """Whether a frame decoding to `nbytes` bytes is worth this codec's own threads."""
        return bool(self.inner_threads_min_bytes) and nbytes >= self.inner_threads_min_bytes


def _rle_nbytes(spec: FrameSpec) -> int:
    if spec.bits_allocated == 1:
        return math.ceil(spec.rows * spec.columns * spec.samples_per_pixel / 8)
    return spec.rows * spec.columns * spec.samples_per_pixel * spec.bits_allocated // 8


def _rle_decode_into(src: Any, out: Any, spec: FrameSpec) -> None:
    from turbodicom import _rle

    _rle.decode_into(src, out, rows=spec.rows, columns=spec.columns,
                     samples_per_pixel=spec.samples_per_pixel,
                     bits_allocated=spec.bits_allocated,
                     segment_order_le=spec.options == "<")


def _rle_plugin_frame(src: Any, spec: FrameSpec) -> tuple[bytearray, dict[str, Any]]:
    """pydicom's RLE plugins' layout: each sample plane whole (planar configuration 1, as RLE
    codes it, whatever the dataset says), and Bits Allocated 1 unpacked to a byte per pixel
    (pydicom's array layout for encapsulated 1-bit frames, which its own plugins cannot decode)."""
    import numpy as np

    from turbodicom import _parse, _rle
    from turbodicom.frames import check_frame_limit

    nbytes = _rle_nbytes(spec)
    check_frame_limit(nbytes, f"a {spec.rows} x {spec.columns} frame of "
                      f"{spec.samples_per_pixel} samples of {spec.bits_allocated} bits")
    out = _parse.uncleared_bytearray(nbytes)  # (Codec.fills_output)
    _rle.decode_into(src, out, rows=spec.rows, columns=spec.columns,
                     samples_per_pixel=spec.samples_per_pixel,
                     bits_allocated=spec.bits_allocated, planar=True,
                     segment_order_le=spec.options == "<")
    if spec.bits_allocated == 1:
        pixels = spec.rows * spec.columns * spec.samples_per_pixel
        out = bytearray(np.unpackbits(np.frombuffer(out, np.uint8), bitorder="little",
                                      count=pixels).tobytes())
    return out, {"planar_configuration": 1}


J2K_SYNTAXES = ("1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91")
HTJ2K_SYNTAXES = ("1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202",
                  "1.2.840.10008.1.2.4.203")


def _dataset_nbytes(spec: FrameSpec) -> int:
    """One byte per sample at least: codecs other than RLE store Bits Allocated 1 unpacked."""
    return (spec.out_rows * spec.out_columns * spec.samples_per_pixel
            * max(1, spec.bits_allocated // 8))


def j2k_output_limit(nbytes: int, comps: list[tuple[int, int, int, bool]]) -> None:
    """_j2kdec.decode_new's `limit` (turbodicom.frames.MAX_OUTPUT_BYTES) for a codestream of
    these components (rows, columns, precision, is_signed), before the allocation."""
    from turbodicom import frames  # (frames imports this module)

    if nbytes > frames.MAX_OUTPUT_BYTES:
        frames.check_frame_limit(nbytes, f"the JPEG 2000 codestream's {comps[0][0]} x "
                                 f"{comps[0][1]} x {len(comps)} image")


# JPEG 2000 Part 1 frames (.90/.91) and HTJ2K frames (.201-.203) are decoded by turbodicom's
# own decoder (csrc/j2k, _j2kdec; HT code-blocks by csrc/j2k/ht.c): identical to OpenJPEG on
# every corpus frame and generated stream, all 22 Part 1 and 34 HTJ2K conformance
# codestreams.  The system OpenJPEG (_j2k) stays in the build as the tests' oracle only.
def _j2k_functions() -> dict[str, Any]:
    """decode_into / reduced_dims / plugin_frame / decode_frames_into over _j2kdec
    (ImportError if this build lacks it)."""
    from turbodicom import _j2kdec as mod

    def dataset_args(spec: FrameSpec) -> dict[str, Any]:
        return {"bytes_per_sample": max(1, spec.bits_allocated // 8),
                "pixel_representation": bool(spec.pixel_representation),
                "monochrome": spec.photometric_interpretation.startswith("MONOCHROME"),
                "reduce": spec.reduce, "rows": spec.rows, "columns": spec.columns,
                "samples_per_pixel": spec.samples_per_pixel}

    def check_dims(info: dict[str, Any], spec: FrameSpec) -> None:
        if (info["rows"], info["columns"]) != (spec.out_rows, spec.out_columns):
            # the full size matched, so only an image offset (XOsiz/YOsiz) can get here
            raise DecodeError(
                f"the JPEG 2000 frame decodes at reduce {spec.reduce} to {info['rows']} x "
                f"{info['columns']}, not ceil((0028,0010) 'Rows' / {1 << spec.reduce}) x "
                f"ceil((0028,0011) 'Columns' / {1 << spec.reduce}) = {spec.out_rows} x "
                f"{spec.out_columns}")

    # decode_into's arguments for the C call and the dimensions it must report, by spec
    # (held in the entry, so that its id stays its own): ~3 us a frame otherwise
    calls: dict[int, tuple[FrameSpec, dict[str, Any], tuple[int, int]]] = {}

    def decode_into(src: Any, out: Any, spec: FrameSpec) -> None:
        call = calls.get(id(spec))
        if call is None or call[0] is not spec:
            if len(calls) >= 256:
                calls.clear()
            call = calls[id(spec)] = (spec, dict(dataset_args(spec), threads=spec.threads),
                                      (spec.out_rows, spec.out_columns))
        info = mod.decode_for_dataset(src, out, **call[1])
        if (info["rows"], info["columns"]) != call[2]:
            check_dims(info, spec)

    def decode_frames_into(srcs: list[Any], out: Any, spec: FrameSpec, threads: int) -> None:
        for info in mod.decode_frames_for_dataset(srcs, out, threads=threads,
                                                  **dataset_args(spec)):
            check_dims(info, spec)

    def reduced_dims(src: Any, spec: FrameSpec) -> tuple[int, int]:
        return tuple(mod.reduced_dims(src, spec.reduce))  # type: ignore[return-value]

    def plugin_frame(src: Any, spec: FrameSpec) -> tuple[bytearray, dict[str, Any]]:
        """pylibjpeg-openjpeg's layout: container by codestream precision; MCT gives RGB.  The
        codestream read once, into a buffer not cleared first (_j2kdec.decode_new)."""
        out, _, _, natural = mod.decode_new(src, threads=spec.threads, planar=False,
                                            limit=j2k_output_limit)
        changes: dict[str, Any] = {"bits_allocated": 8 * natural}
        if spec.photometric_interpretation in ("YBR_ICT", "YBR_RCT"):
            changes["photometric_interpretation"] = "RGB"
        return out, changes

    return {"decode_into": decode_into, "reduced_dims": reduced_dims,
            "plugin_frame": plugin_frame,
            "decode_frames_into": (decode_frames_into
                                   if hasattr(mod, "decode_frames_for_dataset") else None)}


JPEG_LOSSLESS = "1.2.840.10008.1.2.4.57"
JPEG_LOSSLESS_SV1 = "1.2.840.10008.1.2.4.70"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
JPEG_EXTENDED = "1.2.840.10008.1.2.4.51"
_YBR = ("YBR_FULL", "YBR_FULL_422")


def jpeg_markers(frame: Any, limit: int = 1 << 16) -> tuple[list[int], bool]:
    """Component IDs of the SOF and whether a JFIF APP0 segment precedes the first SOS.

    Reads only marker segments (T.81 B.1.1.4) up to the first SOS, within `limit` bytes.
    """
    data = bytes(memoryview(frame)[:limit])
    ids: list[int] = []
    jfif = False
    pos = 2 if data[:2] == b"\xff\xd8" else 0
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            break
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xDA or marker == 0xD9:  # SOS / EOI
            break
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        seg = data[pos + 4:pos + 2 + length]
        if ((0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC) or marker == 0xF7)
                and len(seg) >= 6):  # SOFn, or SOF55 (JPEG-LS, T.87 C.2.2)
            ids = [seg[6 + 3 * i] for i in range(seg[5]) if 6 + 3 * i < len(seg)]
        elif marker == 0xE0 and seg.startswith(b"JFIF"):
            jfif = True
        pos += 2 + length
    return ids, jfif


def _jpeg_conform(frame: Any, spec: FrameSpec, ybr: str = "YBR_FULL") -> str:
    """pydicom's DecodeRunner._conform_jpg_colorspace for one frame."""
    pi = spec.photometric_interpretation
    if spec.samples_per_pixel != 3:
        return pi
    ids, jfif = jpeg_markers(frame)
    if ids in ([82, 71, 66], [114, 103, 98]) and pi != "RGB":
        return "RGB"
    if jfif and "YBR" not in pi:
        return ybr
    return pi


JLS_SYNTAXES = ("1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81")


# JPEG-LS frames are decoded by turbodicom's own kernel (csrc/td_jlsdec): bit-exact with CharLS
# on every stream tested, as fast as a release CharLS, and - unlike Debian's CharLS 2.4.1,
# built with assert() on - it turns a damaged stream into a DecodeError instead of aborting the
# process.  The CharLS adapter (_jls.decode_into etc.) stays in the build as the tests' oracle.
def _jls_decode_into(src: Any, out: Any, spec: FrameSpec) -> None:
    from turbodicom import _jls

    _jls.own_decode_for_dataset(src, out, bytes_per_sample=max(1, spec.bits_allocated // 8),
                                pixel_representation=bool(spec.pixel_representation),
                                rows=spec.rows, columns=spec.columns,
                                samples_per_pixel=spec.samples_per_pixel)


def _jls_plugin_frame(src: Any, spec: FrameSpec) -> tuple[bytearray, dict[str, Any]]:
    """pydicom's JPEG-LS plugins' layout: container by precision, unsigned as coded (pydicom
    applies its JPEG-LS sign correction itself), pixel-interleaved."""
    from turbodicom import _jls
    from turbodicom.frames import check_frame_limit

    hdr = _jls.own_read_header(src)
    natural = hdr["bytes_per_sample"]
    nbytes = hdr["rows"] * hdr["columns"] * hdr["components"] * natural
    check_frame_limit(nbytes, f"the JPEG-LS frame's {hdr['rows']} x {hdr['columns']} x "
                      f"{hdr['components']} image")
    out = bytearray(nbytes)
    _jls.own_decode_into(src, out)
    return out, {"bits_allocated": 8 * natural}


def _ljpeg_decode_into(src: Any, out: Any, spec: FrameSpec) -> None:
    from turbodicom import _ljpeg

    if spec.bits_allocated not in (8, 16):
        raise UnsupportedError(
            f"JPEG Lossless into (0028,0100) 'Bits Allocated' {spec.bits_allocated} is not "
            "supported: samples of at most 16 bits go into an 8- or 16-bit container")
    _ljpeg.decode_into(src, out, bytes_per_sample=spec.bits_allocated // 8)


def _jpeg_converts(spec: FrameSpec) -> bool:
    """Whether a JPEG frame comes out converted from YBR to RGB (FrameSpec.as_rgb)."""
    return (spec.as_rgb and spec.samples_per_pixel == 3 and spec.bits_allocated == 8
            and spec.photometric_interpretation in _YBR)


def _jpeg_decode_into(src: Any, out: Any, spec: FrameSpec) -> None:
    """The samples pydicom's pillow plugin gets from libjpeg-turbo: as coded (YCbCr stays
    YCbCr), or converted to RGB by libjpeg when an Adobe APP14 marker is present; then, with
    spec.as_rgb, pydicom's YBR_FULL -> RGB band by band while the rows are in cache.

    8-bit frames go through libjpeg-turbo; 12-bit frames (Bits Allocated 16), and every frame
    of a build without libjpeg-turbo, through turbodicom's own kernel (td_jpegdct), whose
    output equals libjpeg-turbo 3's."""
    from turbodicom import _jpeg

    if spec.bits_allocated == 8 and _jpeg.has_libjpeg():
        flags = _jpeg.ADOBE_RGB | (_jpeg.YBR_TO_RGB if _jpeg_converts(spec) else 0)
        _jpeg.decode_into(src, out, rows=spec.rows, columns=spec.columns,
                          components=spec.samples_per_pixel, flags=flags)
        return
    if spec.bits_allocated not in (8, 16):
        raise UnsupportedError(
            f"JPEG into (0028,0100) 'Bits Allocated' {spec.bits_allocated}: JPEG samples of 8 "
            "or 12 bits go into an 8- or 16-bit container")
    hdr = _jpeg.dct_read_header(src)
    if (hdr["rows"], hdr["columns"], hdr["components"]) != (
            spec.rows, spec.columns, spec.samples_per_pixel):
        raise DecodeError(
            f"the JPEG frame is {hdr['rows']} x {hdr['columns']} with {hdr['components']} "
            f"components, but (0028,0010) 'Rows', (0028,0011) 'Columns' and (0028,0002) "
            f"'Samples per Pixel' say {spec.rows} x {spec.columns} with "
            f"{spec.samples_per_pixel}")
    # libjpeg's colour-space guess, as Pillow leaves it to libjpeg when Adobe APP14 is there:
    # JFIF or Adobe transform 1 mean YCbCr (converted), Adobe transform 0 means RGB (as coded)
    adobe = hdr["adobe_transform"]
    rgb = spec.samples_per_pixel == 3 and adobe >= 0 and (hdr["jfif"] or adobe != 0)
    _jpeg.dct_decode_into(src, out, bytes_per_sample=spec.bits_allocated // 8, rgb=rgb)
    if _jpeg_converts(spec):
        from turbodicom import _parse

        _parse.ybr_full_to_rgb(out)


def _jpeg_plugin_frame(src: Any, spec: FrameSpec) -> tuple[bytearray, dict[str, Any]]:
    """pydicom's pillow layout; with as_rgb, YBR frames are converted here, in C, with
    pydicom's arithmetic (instead of its numpy conversion) and reported as RGB."""
    from turbodicom.frames import check_frame_limit

    nbytes = _dataset_nbytes(spec)
    check_frame_limit(nbytes, f"a {spec.rows} x {spec.columns} frame of "
                      f"{spec.samples_per_pixel} samples")
    out = bytearray(nbytes)
    _jpeg_decode_into(src, out, spec)
    return out, {"photometric_interpretation": "RGB"} if _jpeg_converts(spec) else {}


def _jpeg_engine() -> str:
    from turbodicom import _jpeg

    return f"libjpeg-turbo {_jpeg.backend_version()}" if _jpeg.has_libjpeg() else "turbodicom"


def _j2k_engine() -> str:
    from turbodicom import _j2kdec  # noqa: F401  (ImportError: not in this build)

    try:
        from turbodicom import _j2k

        return f"turbodicom (tested against OpenJPEG {_j2k.backend_version()})"
    except ImportError:
        return "turbodicom"


def _jls_engine() -> str:
    from turbodicom import _jls

    return f"turbodicom (tested against CharLS {_jls.backend_version()})"


def _available_codecs() -> list[Codec]:
    codecs = [Codec("rle", (RLE_LOSSLESS,), _rle_nbytes, _rle_decode_into, packs_one_bit=True,
                    plugin_frame=_rle_plugin_frame, fills_output=True),
              Codec("ljpeg", (JPEG_LOSSLESS, JPEG_LOSSLESS_SV1), _dataset_nbytes,
                    _ljpeg_decode_into, conform=_jpeg_conform),
              Codec("jpeg", (JPEG_BASELINE, JPEG_EXTENDED), _dataset_nbytes, _jpeg_decode_into,
                    engine=_jpeg_engine(), conform=_jpeg_conform, converts_ybr=True,
                    plugin_frame=_jpeg_plugin_frame)]
    j2k = _j2k_functions()  # one decoder for both (HT code-blocks by csrc/j2k/ht.c)
    for name, uids in (("j2k", J2K_SYNTAXES), ("htj2k", HTJ2K_SYNTAXES)):
        codecs.append(Codec(name, uids, _dataset_nbytes, j2k["decode_into"],
                            engine=_j2k_engine(), masks_unused_bits=False,
                            inner_threads_min_bytes=256 << 10, frame_threads_min_bytes=64 << 10,
                            plugin_frame=j2k["plugin_frame"], reduced_dims=j2k["reduced_dims"],
                            decode_frames_into=j2k["decode_frames_into"], fills_output=True))
    try:
        codecs.append(Codec("jls", JLS_SYNTAXES, _dataset_nbytes, _jls_decode_into,
                            engine=_jls_engine(), masks_unused_bits=False,
                            conform=_jpeg_conform, plugin_frame=_jls_plugin_frame))
    except ImportError:  # built without CharLS
        pass
    return codecs


_CODECS: list[Codec] = _available_codecs()
_BY_UID = {uid: c for c in _CODECS for uid in c.uids}


def codec_for(uid: str) -> Codec:
    """The codec for transfer syntax `uid`; UnsupportedError if this build has none."""
    try:
        return _BY_UID[uid]
    except KeyError:
        supported = ", ".join(SYNTAX_NAMES.get(u, u) for u in features()["decode"])
        raise UnsupportedError(
            f"transfer syntax {uid} ({syntax_name(uid)}) is not supported by this build of "
            f"turbodicom; it decodes: {supported}") from None


#: Most resolution levels a JPEG 2000 codestream can have discarded (T.800 A.6.1: at most 32
#: decomposition levels).
MAX_REDUCE = 32


def check_reduce(uid: str, reduce: int) -> Codec | None:
    """Validate a ``reduce=`` argument for transfer syntax `uid`.

    Returns the codec that will decode at the lower resolution (None for ``reduce=0``).
    ValueError for a negative value; UnsupportedError naming the transfer syntax when it
    cannot decode at a lower resolution (everything but JPEG 2000 and HTJ2K), or beyond the
    32 levels JPEG 2000 allows.
    """
    if isinstance(reduce, bool):
        raise TypeError(f"reduce must be an int, got {reduce!r}")
    reduce = operator.index(reduce)  # TypeError for floats, strings, ...
    if reduce < 0:
        raise ValueError(f"reduce must be 0 or more (resolution levels to discard), got {reduce}")
    if reduce == 0:
        return None
    codec = _BY_UID.get(uid)
    if codec is None or codec.reduced_dims is None:
        raise UnsupportedError(
            f"reduce={reduce}: decoding at a lower resolution is only possible for JPEG 2000 "
            f"and HTJ2K, not for transfer syntax {uid} ({syntax_name(uid)})")
    if reduce > MAX_REDUCE:
        raise UnsupportedError(f"reduce={reduce}: a JPEG 2000 codestream has at most "
                               f"{MAX_REDUCE} decomposition levels to discard")
    return codec


def supported_syntaxes() -> tuple[str, ...]:
    """The encapsulated transfer syntaxes this build decodes."""
    return tuple(sorted(_BY_UID))


def features() -> dict[str, Any]:
    """What this build can do.

    Returns
    -------
    dict
        ``decode``: {transfer syntax UID: codec name} for every syntax ``decode`` handles
        (native ones included); ``encode``: the same for encoders; ``codecs``: {codec name:
        engine}.
    """
    decode = {uid: "native" for uid in ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1",
                                        "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99")}
    decode.update({uid: c.name for uid, c in _BY_UID.items()})
    return {
        "decode": decode,
        "encode": {RLE_LOSSLESS: "rle"},
        "codecs": {c.name: c.engine for c in _CODECS},
    }
