"""Opening DICOM pixel data and reaching its frames, without pydicom.

:func:`open_pixels` accepts a path, bytes-like object, binary file object or pydicom
``Dataset`` and returns a :class:`PixelSource`: the Image Pixel module attributes plus access
to each frame's bytes.  Files of more than 512 KiB are memory-mapped and walked by turbodicom's
C element walker (``csrc/td_parse.c``), so only the pages holding element headers and the
requested frame's bytes are ever read; smaller ones are read whole (see _READ_WHOLE_MAX).  Encapsulated frames are located through the Extended or Basic Offset Table when
present, and by walking item headers otherwise (``csrc/td_frames.c``).
"""

from __future__ import annotations

import mmap
import os
import zlib
from dataclasses import dataclass
from typing import IO, Any, Union

from turbodicom import _parse
from turbodicom.codecs import codec_for
from turbodicom.errors import DecodeError, LimitError

__all__ = ["PixelModule", "PixelSource", "open_pixels", "Source"]

Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes], Any]

NATIVE_SYNTAXES = frozenset(
    {
        "1.2.840.10008.1.2",  # Implicit VR Little Endian
        "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
        "1.2.840.10008.1.2.2",  # Explicit VR Big Endian
        "1.2.840.10008.1.2.1.99",  # Deflated Explicit VR Little Endian
    }
)
BIG_ENDIAN_SYNTAX = "1.2.840.10008.1.2.2"
DEFLATED_SYNTAX = "1.2.840.10008.1.2.1.99"

_PIXEL_KEYWORDS = {0x7FE00010: "PixelData", 0x7FE00008: "FloatPixelData",
                   0x7FE00009: "DoubleFloatPixelData"}

#: Largest inflated size accepted for a deflated dataset (a decompression-bomb guard).
MAX_INFLATED_BYTES = 4 << 30
#: Largest decoded output decode() will allocate; larger claims raise LimitError before any
#: allocation (a malformed header cannot make turbodicom ask for terabytes).  Assign to change.
MAX_OUTPUT_BYTES = 4 << 30


@dataclass(frozen=True)
class PixelModule:
    """The attributes that describe a dataset's pixel data (PS3.3 C.7.6.3), pydicom's names."""

    transfer_syntax_uid: str
    rows: int
    columns: int
    samples_per_pixel: int
    bits_allocated: int
    bits_stored: int
    pixel_representation: int
    planar_configuration: int
    photometric_interpretation: str
    number_of_frames: int
    pixel_keyword: str = "PixelData"
    pixel_vr: str = ""
    big_endian: bool = False
    encapsulated: bool = False

    @property
    def pixels_per_frame(self) -> int:
        return self.rows * self.columns * self.samples_per_pixel

    def validate(self) -> None:
        """Raise DecodeError naming the element when the description cannot be decoded."""
        for name, tag, value in (("Rows", "(0028,0010)", self.rows),
                                 ("Columns", "(0028,0011)", self.columns),
                                 ("Samples per Pixel", "(0028,0002)", self.samples_per_pixel)):
            if value < 1:
                raise DecodeError(f"{tag} '{name}' must be at least 1, got {value}")
        ba = self.bits_allocated
        if not (ba == 1 or (ba % 8 == 0 and 8 <= ba <= 64)):
            raise DecodeError(
                f"(0028,0100) 'Bits Allocated' must be 1 or a multiple of 8 up to 64, got {ba}")
        if self.pixel_keyword == "PixelData" and not 1 <= self.bits_stored <= ba:
            raise DecodeError(
                f"(0028,0101) 'Bits Stored' must be between 1 and (0028,0100) 'Bits Allocated' "
                f"({ba}), got {self.bits_stored}")
        if self.pixel_representation not in (0, 1):
            raise DecodeError(
                f"(0028,0103) 'Pixel Representation' must be 0 or 1, got "
                f"{self.pixel_representation}")
        if self.samples_per_pixel > 1 and self.planar_configuration not in (0, 1):
            raise DecodeError(
                f"(0028,0006) 'Planar Configuration' must be 0 or 1, got "
                f"{self.planar_configuration}")
        if self.number_of_frames < 1:
            raise DecodeError(
                f"(0028,0008) 'Number of Frames' must be at least 1, got {self.number_of_frames}")
        float_bits = {"FloatPixelData": (32, "(7FE0,0008) 'Float Pixel Data'"),
                      "DoubleFloatPixelData": (64, "(7FE0,0009) 'Double Float Pixel Data'")}
        if self.pixel_keyword in float_bits:
            bits, name = float_bits[self.pixel_keyword]
            if ba != bits:
                raise DecodeError(
                    f"(0028,0100) 'Bits Allocated' must be {bits} for {name}, got {ba}")
        if self.photometric_interpretation == "YBR_FULL_422" and not self.encapsulated and (
                self.samples_per_pixel != 3 or self.pixel_representation != 0):
            raise DecodeError(
                "(0028,0004) 'Photometric Interpretation' YBR_FULL_422 needs (0028,0002) "
                "'Samples per Pixel' 3 and (0028,0103) 'Pixel Representation' 0 (PS3.3 "
                f"C.7.6.3.1.2), got {self.samples_per_pixel} and {self.pixel_representation}")

    def frame_nbytes(self) -> int:
        """Bytes one decoded frame occupies in the output array."""
        return self.pixels_per_frame * max(1, self.bits_allocated // 8)

    def check_output_size(self, nframes: int) -> None:
        """LimitError if `nframes` decoded frames would exceed MAX_OUTPUT_BYTES."""
        total = self.frame_nbytes() * nframes
        if total > MAX_OUTPUT_BYTES:
            raise LimitError(
                f"decoding would produce {total:,} bytes ({nframes} frames of {self.rows} x "
                f"{self.columns} x {self.samples_per_pixel} samples of {self.bits_allocated} "
                f"bits), more than turbodicom.frames.MAX_OUTPUT_BYTES ({MAX_OUTPUT_BYTES:,})")


def check_frame_limit(nbytes: int, what: str) -> None:
    """LimitError before allocating `nbytes` for one decoded frame beyond MAX_OUTPUT_BYTES.

    The entry points that take a frame description from their caller (``decode_frame``, the
    pydicom plugin) or from a codestream header check it here, as ``decode`` checks the
    whole array, so a hostile description cannot ask for an unbounded allocation.
    """
    if nbytes > MAX_OUTPUT_BYTES:
        raise LimitError(f"{what} would decode to {nbytes:,} bytes, more than "
                         f"turbodicom.frames.MAX_OUTPUT_BYTES ({MAX_OUTPUT_BYTES:,})")


def _module_from_info(info: dict, ts: str, pixel_length: int) -> PixelModule:
    present = info["present"]
    if not info["pixel_tag"]:
        raise DecodeError("the dataset has no (7FE0,0010) 'Pixel Data', (7FE0,0008) 'Float "
                          "Pixel Data' or (7FE0,0009) 'Double Float Pixel Data' element")
    for bit, tag, name in ((1 << 0, "(0028,0010)", "Rows"), (1 << 1, "(0028,0011)", "Columns"),
                           (1 << 3, "(0028,0100)", "Bits Allocated")):
        if not present & bit:
            raise DecodeError(f"missing required element {tag} '{name}'")
    keyword = _PIXEL_KEYWORDS[info["pixel_tag"]]
    bits_allocated = info["bits_allocated"]
    bits_stored = info["bits_stored"] if present & (1 << 4) else 0
    if keyword == "PixelData" and not present & (1 << 4):
        raise DecodeError("missing required element (0028,0101) 'Bits Stored'")
    if keyword != "PixelData":
        bits_stored = bits_allocated
    return PixelModule(
        transfer_syntax_uid=ts,
        rows=info["rows"],
        columns=info["columns"],
        samples_per_pixel=info["samples_per_pixel"] if present & (1 << 2) else 1,
        bits_allocated=bits_allocated,
        bits_stored=bits_stored,
        pixel_representation=info["pixel_representation"] if keyword == "PixelData" else 0,
        planar_configuration=info["planar_configuration"],
        photometric_interpretation=info["photometric_interpretation"],
        number_of_frames=max(1, info["number_of_frames"]),
        pixel_keyword=keyword,
        pixel_vr=info["pixel_vr"],
        big_endian=ts == BIG_ENDIAN_SYNTAX,
        encapsulated=pixel_length < 0,
    )


class PixelSource:
    """A dataset's pixel data opened for frame access; use as a context manager.

    Attributes
    ----------
    module : PixelModule
        The Image Pixel module attributes.
    """

    def __init__(self, module: PixelModule, buf: memoryview, pixel_offset: int,
                 pixel_length: int, eot: memoryview | None = None,
                 eotl: memoryview | None = None, closer: Any = None) -> None:
        self.module = module
        self._buf = buf
        self._pixel_offset = pixel_offset
        self._pixel_length = pixel_length
        self._eot = eot
        self._eotl = eotl
        self._closer = closer
        self._table: list[list[tuple[int, int]]] | None = None

    # -- lifetime ---------------------------------------------------------------------------
    def close(self) -> None:
        """Release the memory map or file (frames already returned stay valid copies)."""
        self._eot = self._eotl = None
        buf, self._buf = self._buf, memoryview(b"")
        try:
            buf.release()
        except (AttributeError, ValueError):
            pass
        if self._closer is not None:
            closer, self._closer = self._closer, None
            try:
                closer.close()
            except BufferError:
                pass  # a frame view is still alive; the map closes when it is collected

    def __enter__(self) -> "PixelSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- native pixel data ------------------------------------------------------------------
    def native_bytes(self) -> memoryview:
        """The whole native pixel data value (no copy)."""
        if self.module.encapsulated:
            raise ValueError("pixel data is encapsulated")
        start = self._pixel_offset
        end = min(len(self._buf), start + self._pixel_length)
        return self._buf[start:end]

    # -- encapsulated pixel data ------------------------------------------------------------
    def frame_spans(self) -> list[list[tuple[int, int]]]:
        """Every frame's fragments as (offset, length) spans of the buffer."""
        if self._table is None:
            m = self.module
            self._table = _parse.frame_table(self._buf, self._pixel_offset, m.big_endian,
                                             m.number_of_frames, self._eot, self._eotl)
        return self._table

    @property
    def nr_encoded_frames(self) -> int:
        return len(self.frame_spans())

    def frame(self, index: int) -> memoryview | bytes:
        """The encoded bytes of frame `index` (a view when it is one fragment)."""
        m = self.module
        if index < 0 or (index >= m.number_of_frames
                         and (self._table is None or index >= len(self._table))):
            raise IndexError(f"frame index {index} out of range for {m.number_of_frames} frames")
        spans = None
        if self._table is None:
            spans = _parse.locate_frame(self._buf, self._pixel_offset, m.big_endian,
                                        m.number_of_frames, index, self._eot, self._eotl)
        if spans is None:
            table = self.frame_spans()
            if index >= len(table):
                raise DecodeError(
                    f"(0028,0008) 'Number of Frames' is {m.number_of_frames} but the encapsulated"
                    f" pixel data holds only {len(table)} frames")
            spans = table[index]
        return self._join(spans)

    def _join(self, spans: list[tuple[int, int]]) -> memoryview | bytes:
        if len(spans) == 1:
            off, length = spans[0]
            return self._buf[off:off + length]
        return b"".join(self._buf[off:off + length] for off, length in spans)


def _open_buffer(buf: memoryview, closer: Any = None) -> PixelSource:
    info = _parse.parse_image(buf)
    ts = info["transfer_syntax_uid"]
    if info["encoding"] == _parse.ENC_DEFLATED:
        # the slice is released on the way out, error or not: a view left alive in the
        # traceback would keep the caller from closing the memory map
        with buf[info["dataset_offset"]:] as deflated:
            inflated = _inflate(deflated)
        if closer is not None:
            closer.close()
        meta = info
        info = _parse.parse_dataset(inflated, 0, _parse.ENC_EXPLICIT_LE, meta)
        buf, closer = memoryview(inflated), None
    module = _module_from_info(info, ts, info["pixel_length"])
    if module.encapsulated and ts in NATIVE_SYNTAXES:
        raise DecodeError(f"pixel data has undefined length (encapsulated) but the transfer "
                          f"syntax {ts} is a native one")
    if not module.encapsulated and ts not in NATIVE_SYNTAXES and ts:
        codec_for(ts)  # a syntax this build does not decode is named as unsupported
        raise DecodeError(f"transfer syntax {ts} needs encapsulated pixel data, but (7FE0,0010)"
                          f" has a defined length")
    eot = eotl = None
    if info["eot"][0] >= 0 and info["eotl"][0] >= 0:
        eot = buf[info["eot"][0]:info["eot"][0] + info["eot"][1]]
        eotl = buf[info["eotl"][0]:info["eotl"][0] + info["eotl"][1]]
    return PixelSource(module, buf, info["pixel_offset"], info["pixel_length"], eot, eotl,
                       closer)


def _inflate(data: memoryview) -> bytes:
    """Inflate a deflated dataset (raw RFC 1951 stream), refusing decompression bombs."""
    d = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        out = d.decompress(data, MAX_INFLATED_BYTES)
    except zlib.error as exc:
        raise DecodeError(f"deflated dataset cannot be inflated: {exc}") from None
    if d.unconsumed_tail:
        raise LimitError(f"deflated dataset inflates to more than {MAX_INFLATED_BYTES} bytes")
    return out


def _open_dataset(ds: Any) -> PixelSource:
    file_meta = getattr(ds, "file_meta", None)
    ts = str(file_meta.get("TransferSyntaxUID", "")) if file_meta is not None else ""
    if not ts:
        raise DecodeError("the dataset's file_meta has no (0002,0010) 'Transfer Syntax UID'")
    keyword = next((k for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
                    if k in ds), None)
    if keyword is None:
        raise DecodeError("the dataset has no (7FE0,0010) 'Pixel Data', (7FE0,0008) 'Float "
                          "Pixel Data' or (7FE0,0009) 'Double Float Pixel Data' element")
    elem = ds[keyword]
    value = elem.value
    data = memoryview(value if isinstance(value, (bytes, bytearray)) else bytes(value))
    encapsulated = ts not in NATIVE_SYNTAXES

    def get(name: str, default: int | None = None) -> Any:
        v = ds.get(name, default)
        if v is None:
            raise DecodeError(f"missing required element '{name}'")
        return v

    bits_allocated = int(get("BitsAllocated"))
    module = PixelModule(
        transfer_syntax_uid=ts,
        rows=int(get("Rows")),
        columns=int(get("Columns")),
        samples_per_pixel=int(ds.get("SamplesPerPixel", 1) or 1),
        bits_allocated=bits_allocated,
        bits_stored=int(get("BitsStored")) if keyword == "PixelData" else bits_allocated,
        pixel_representation=int(ds.get("PixelRepresentation", 0) or 0),
        planar_configuration=int(ds.get("PlanarConfiguration", 0) or 0),
        photometric_interpretation=str(ds.get("PhotometricInterpretation", "") or ""),
        number_of_frames=int(ds.get("NumberOfFrames", 1) or 1),
        pixel_keyword=keyword,
        pixel_vr=str(elem.VR),
        big_endian=ts == BIG_ENDIAN_SYNTAX,
        encapsulated=encapsulated,
    )
    eot = eotl = None
    if "ExtendedOffsetTable" in ds and "ExtendedOffsetTableLengths" in ds:
        eot = memoryview(ds.ExtendedOffsetTable)
        eotl = memoryview(ds.ExtendedOffsetTableLengths)
    return PixelSource(module, data, 0, -1 if encapsulated else len(data), eot, eotl)


def open_pixels(src: Source, *, sequential: bool = True) -> PixelSource:
    """Open the pixel data of `src` for frame access.

    Parameters
    ----------
    src : str, os.PathLike, bytes-like, binary file object or pydicom.Dataset
        A Part 10 file (with or without preamble and file meta) or bare dataset.  Paths and real
        files are memory-mapped (up to 512 KiB: read whole, which costs less); in-memory file
        objects (``io.BytesIO``) are used without a copy; other file objects without a file
        descriptor are read whole.
    sequential : bool
        Hint for the memory map: True when most frames will be read (read-ahead helps), False
        when only one frame is wanted (the kernel then reads only the pages touched).

    Returns
    -------
    PixelSource
        Use as a context manager so the memory map is released promptly.
    """
    if isinstance(src, (str, os.PathLike)):
        with open(src, "rb") as f:
            return _open_file(f, sequential)
    if isinstance(src, (bytes, bytearray, memoryview)):
        return _open_buffer(memoryview(src).cast("B"))
    if hasattr(src, "PixelData") or hasattr(src, "file_meta"):
        return _open_dataset(src)
    if hasattr(src, "getbuffer"):  # io.BytesIO: no copy
        buf = src.getbuffer()
        return _open_buffer(buf[src.tell():].cast("B"))
    if hasattr(src, "read"):
        return _open_file(src, sequential)
    if hasattr(src, "__buffer__") or hasattr(src, "__array_interface__"):
        return _open_buffer(memoryview(src).cast("B"))
    raise TypeError(f"cannot read DICOM data from {type(src).__name__}; pass a path, bytes, a "
                    "binary file object or a pydicom Dataset")


#: Files up to this size are read whole rather than memory-mapped: mapping, faulting the pages
#: in and unmapping cost more than the copy (RLE CT/MR/US frames of 250-420 KB decoded 9-10%
#: faster from a path read whole; a 1.9 MB file 6% slower).
_READ_WHOLE_MAX = 512 << 10


def _open_file(f: IO[bytes], sequential: bool = True) -> PixelSource:
    try:
        fd = f.fileno()
        start = f.tell()
    except (AttributeError, OSError, ValueError):
        fd = -1
    if fd >= 0:
        size = os.fstat(fd).st_size
        if size == 0:
            raise DecodeError("empty file: no DICOM data")
        if size - start <= _READ_WHOLE_MAX:
            return _open_buffer(memoryview(f.read()))
        mm = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
        try:
            mm.madvise(mmap.MADV_SEQUENTIAL if sequential else mmap.MADV_RANDOM)
        except (AttributeError, OSError):
            pass
        try:
            view = memoryview(mm)[start:]
            return _open_buffer(view, closer=_MapCloser(view, mm))
        except BaseException:
            _MapCloser(view, mm).close()  # never let a close failure hide the real error
            raise
    data = f.read()
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError("the file object must be opened in binary mode")
    return _open_buffer(memoryview(data))


class _MapCloser:
    """Closes a memory map once no view of it is left."""

    def __init__(self, view: memoryview, mm: mmap.mmap) -> None:
        self._view = view
        self._mm = mm

    def close(self) -> None:
        self._view.release()
        try:
            self._mm.close()
        except BufferError:
            pass
