"""pylibjpeg plugins: turbodicom's decoders found through pylibjpeg's entry points.

pylibjpeg finds decoders through entry points declared in ``pyproject.toml``; installing
turbodicom (``pip install``) is the only step, nothing needs to be called:

- ``pylibjpeg.jpeg_decoders``, ``pylibjpeg.jpeg_ls_decoders``, ``pylibjpeg.jpeg_2000_decoders``
  (name ``turbodicom``): :func:`decode`, used by ``pylibjpeg.decode(data)`` and
  ``pylibjpeg.decode(data, decoder="turbodicom")``.  Returns what pylibjpeg-libjpeg's and
  pylibjpeg-openjpeg's ``decode`` return: the image shaped ``(rows, columns[, components])``.
- ``pylibjpeg.pixel_data_decoders`` (name = transfer syntax UID): :func:`decode_rle`,
  :func:`decode_jpeg_lossless`, :func:`decode_jpeg_ls`, :func:`decode_j2k` with pylibjpeg's
  ``f(src, ds=None, version=1, **kwargs)`` signature, returning the official plugins' layouts:
  ``version=1`` a 1-D ``uint8`` array of the frame's bytes (pydicom 2's pylibjpeg handler),
  ``version=2`` a ``bytearray`` (pydicom 3's pylibjpeg plugin).

JPEG Baseline and Extended (1.2.840.10008.1.2.4.50/.51) are deliberately not registered as
pixel data decoders: pylibjpeg's version-1 registry keeps one function per UID and picks among
installed plugins in hash order, which changes from one Python process to the next, and
libjpeg-turbo's inverse DCT rounds differently from libjpeg 9's (pylibjpeg-libjpeg) by up to a
few grey levels.  Registering them would make pydicom 2's pylibjpeg handler return different
pixels from run to run.  They stay available through :func:`decode`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from turbodicom.codecs import FrameSpec, codec_for
from turbodicom.errors import DecodeError, UnsupportedError

__all__ = ["decode", "decode_rle", "decode_jpeg_lossless", "decode_jpeg_ls", "decode_j2k",
           "PIXEL_DATA_DECODERS"]

#: {transfer syntax UID: function name} declared under ``pylibjpeg.pixel_data_decoders``
PIXEL_DATA_DECODERS = {
    "1.2.840.10008.1.2.5": "decode_rle",
    "1.2.840.10008.1.2.4.57": "decode_jpeg_lossless",
    "1.2.840.10008.1.2.4.70": "decode_jpeg_lossless",
    "1.2.840.10008.1.2.4.80": "decode_jpeg_ls",
    "1.2.840.10008.1.2.4.81": "decode_jpeg_ls",
    "1.2.840.10008.1.2.4.90": "decode_j2k",
    "1.2.840.10008.1.2.4.91": "decode_j2k",
    "1.2.840.10008.1.2.4.201": "decode_j2k",
    "1.2.840.10008.1.2.4.202": "decode_j2k",
    "1.2.840.10008.1.2.4.203": "decode_j2k",
}

_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"


def _bytes(src: Any) -> Any:
    """pylibjpeg's accepted sources (bytes-like, path, binary file) as a buffer."""
    if isinstance(src, (bytes, bytearray, memoryview, np.ndarray)):
        return src
    if hasattr(src, "read"):
        return src.read()
    with open(src, "rb") as f:  # str or os.PathLike
        return f.read()


def _result(frame: bytearray, version: int) -> np.ndarray | bytearray:
    """pylibjpeg's return convention: version 1 a 1-D uint8 array, version 2 the bytearray."""
    if int(version) == 1:
        return np.frombuffer(frame, dtype=np.uint8)
    if int(version) == 2:
        return frame
    raise ValueError(f"unsupported pylibjpeg plugin version {version!r} (1 or 2)")


def _ds_value(ds: Any, keyword: str, kwargs: dict[str, Any], name: str) -> Any:
    value = ds.get(keyword) if ds else None
    return kwargs.get(name) if value is None else value


# ------------------------------------------------------------------------------------------
# frame decoders by codec family (the bytes of one frame, in the official plugins' layout)
# ------------------------------------------------------------------------------------------
def _jpeg_lossless_frame(src: Any) -> tuple[bytearray, dict[str, Any]]:
    """pylibjpeg-libjpeg's layout: samples as coded, 1 byte when the precision is at most 8,
    else 2 (little endian), pixel-interleaved."""
    from turbodicom import _ljpeg

    hdr = _ljpeg.read_header(src)
    bps = 1 if hdr["precision"] <= 8 else 2
    out = bytearray(hdr["rows"] * hdr["columns"] * hdr["components"] * bps)
    _ljpeg.decode_into(src, out, bytes_per_sample=bps)
    return out, hdr


def _jpeg_ls_frame(src: Any) -> tuple[bytearray, dict[str, Any]]:
    """pylibjpeg-libjpeg's layout for JPEG-LS: container by precision, unsigned as coded,
    pixel-interleaved."""
    frame, changes = codec_for("1.2.840.10008.1.2.4.80").plugin_frame(src, _NO_SPEC)  # type: ignore[misc]
    from turbodicom import _jls

    hdr = _jls.own_read_header(src)
    hdr["bytes_per_sample"] = changes["bits_allocated"] // 8
    return frame, hdr


def _j2k_frame(src: Any) -> tuple[bytearray, dict[str, Any]]:
    """pylibjpeg-openjpeg's layout: container by codestream precision, signed samples as
    coded, components interleaved, multiple component transform applied."""
    from turbodicom import _j2kdec

    frame, _ = codec_for("1.2.840.10008.1.2.4.90").plugin_frame(src, _NO_SPEC)  # type: ignore[misc]
    return frame, _j2kdec.read_header(src)


def _dct_frame(src: Any, colour_transform: int) -> tuple[bytearray, dict[str, Any]]:
    """JPEG Baseline/Extended: samples as coded (colour_transform 0) or YCbCr converted to
    RGB (1), 1 byte per sample for 8-bit, 2 for 12-bit."""
    from turbodicom import _jpeg

    hdr = _jpeg.dct_read_header(src)
    if colour_transform not in (0, 1):
        raise UnsupportedError(f"colour_transform={colour_transform}: turbodicom supports 0 "
                               "(none) and 1 (YCbCr to RGB) for JPEG")
    bits = 8 if hdr["precision"] <= 8 else 16
    pi = "YBR_FULL" if colour_transform == 1 and hdr["components"] == 3 else ""
    spec = FrameSpec(hdr["rows"], hdr["columns"], hdr["components"], bits, hdr["precision"],
                     photometric_interpretation=pi, as_rgb=bool(pi))
    out = bytearray(hdr["rows"] * hdr["columns"] * hdr["components"] * bits // 8)
    codec_for("1.2.840.10008.1.2.4.50").decode_into(src, out, spec)
    return out, hdr


# plugin_frame() reads everything it needs from the codestream; threads=1, no reduction
_NO_SPEC = FrameSpec(1, 1, 1, 8, 8)


# ------------------------------------------------------------------------------------------
# pylibjpeg.pixel_data_decoders
# ------------------------------------------------------------------------------------------
def decode_rle(src: bytes, ds: Any = None, version: int = 1, **kwargs: Any
               ) -> np.ndarray | bytearray:
    """RLE Lossless, as pylibjpeg-rle's ``decode_pixel_data``.

    Parameters
    ----------
    src : bytes
        One RLE frame (header and segments).
    ds : pydicom.Dataset or dict, optional
        Supplies (0028,0010) Rows, (0028,0011) Columns and (0028,0100) Bits Allocated when
        given (version 1); otherwise the keyword arguments do.
    version : int
        1: a 1-D ``uint8`` array; 2: a ``bytearray``.
    **kwargs
        ``rows``, ``columns``, ``bits_allocated`` (required without `ds`), ``byteorder``
        (``"<"`` default, or ``">"``), ``pack_bits`` (version 2, Bits Allocated 1: keep 8
        pixels per byte).

    Returns
    -------
    numpy.ndarray or bytearray
        The frame with planar configuration 1 (all of sample 0, then sample 1, ...).
    """
    rows = _ds_value(ds, "Rows", kwargs, "rows")
    columns = _ds_value(ds, "Columns", kwargs, "columns")
    bits_allocated = _ds_value(ds, "BitsAllocated", kwargs, "bits_allocated")
    if None in (rows, columns, bits_allocated):
        raise ValueError("rows, columns and bits_allocated are needed, from `ds` or keywords")
    rows, columns, bits_allocated = int(rows), int(columns), int(bits_allocated)
    byteorder = kwargs.get("byteorder", "<")
    if byteorder not in ("<", ">"):
        raise ValueError(f"byteorder must be '<' or '>', got {byteorder!r}")
    data = _bytes(src)
    if len(data) < 64:
        raise DecodeError(f"an RLE frame starts with a 64-byte header, got {len(data)} bytes")
    nr_segments = int.from_bytes(bytes(memoryview(data)[:4]), "little")
    bps = max(1, bits_allocated // 8)
    if nr_segments == 0 or nr_segments % bps:
        raise DecodeError(f"the RLE header's {nr_segments} segments do not make whole "
                          f"{bits_allocated}-bit samples")
    spp = nr_segments // bps
    codec = codec_for("1.2.840.10008.1.2.5")
    if bits_allocated == 1:
        unpacked = _rle_one_bit(codec, data, rows, columns, spp)
        if kwargs.get("pack_bits", False) and int(version) == 2:
            return bytearray(np.packbits(unpacked, bitorder="little").tobytes())
        return _result(bytearray(unpacked.tobytes()), version)
    spec = FrameSpec(rows, columns, spp, bits_allocated, bits_allocated)
    spec.validate()
    decoded = _rle_planes(data, spec)
    if byteorder == ">" and bps > 1:
        decoded = bytearray(np.frombuffer(decoded, f"<u{bps}").astype(f">u{bps}").tobytes())
    return _result(decoded, version)


def _rle_planes(data: Any, spec: FrameSpec) -> bytearray:
    """One RLE frame, plane by plane (planar configuration 1), little-endian samples."""
    from turbodicom import _rle

    out = bytearray(codec_for("1.2.840.10008.1.2.5").frame_nbytes(spec))
    _rle.decode_into(data, out, rows=spec.rows, columns=spec.columns,
                     samples_per_pixel=spec.samples_per_pixel,
                     bits_allocated=spec.bits_allocated, planar=True)
    return out


def _rle_one_bit(codec: Any, data: Any, rows: int, columns: int, spp: int) -> np.ndarray:
    """Bits Allocated 1, one byte per pixel (planar).  pylibjpeg-rle writes and reads one
    segment byte per pixel; other encoders (pydicom's liver_rle.dcm) pack 8 pixels per
    segment byte, which is what turbodicom's decoder reads.  A segment holding a byte per
    pixel is tried first: a packed one decodes to too few bytes for that."""
    try:
        spec = FrameSpec(rows, columns, spp, 8, 8)
        spec.validate()
        return np.frombuffer(_rle_planes(data, spec), np.uint8)
    except DecodeError:
        pass
    spec = FrameSpec(rows, columns, spp, 1, 1)
    packed = bytearray(codec.frame_nbytes(spec))
    codec.decode_into(data, packed, spec)
    return np.unpackbits(np.frombuffer(packed, np.uint8), bitorder="little",
                         count=rows * columns * spp)


def decode_jpeg_lossless(src: bytes, ds: Any = None, version: int = 1, **kwargs: Any
                         ) -> np.ndarray | bytearray:
    """JPEG Lossless (Process 14, SV1), as pylibjpeg-libjpeg's ``decode_pixel_data``.

    Returns the frame as coded (no colour transform), pixel-interleaved, 1 byte per sample
    for precision up to 8 and 2 (little endian) above; `version` 1: 1-D ``uint8`` array,
    2: ``bytearray``.  `ds` and keyword arguments are accepted and not needed.
    """
    return _result(_jpeg_lossless_frame(_bytes(src))[0], version)


def decode_jpeg_ls(src: bytes, ds: Any = None, version: int = 1, **kwargs: Any
                   ) -> np.ndarray | bytearray:
    """JPEG-LS Lossless and Near-Lossless, as pylibjpeg-libjpeg's ``decode_pixel_data``.

    Container by the JPEG-LS precision, unsigned samples as coded (sign correction is the
    caller's, as pydicom does it), pixel-interleaved; `version` 1: 1-D ``uint8`` array,
    2: ``bytearray``.
    """
    return _result(_jpeg_ls_frame(_bytes(src))[0], version)


def decode_j2k(src: bytes, ds: Any = None, version: int = 1, **kwargs: Any
               ) -> np.ndarray | bytearray:
    """JPEG 2000 and HTJ2K codestreams, as pylibjpeg-openjpeg's ``decode_pixel_data``.

    Container by codestream precision (1, 2 or 4 bytes), signed samples as coded, components
    interleaved with the multiple component transform undone; `version` 1: 1-D ``uint8``
    array, 2: ``bytearray``.
    """
    return _result(_j2k_frame(_bytes(src))[0], version)


# ------------------------------------------------------------------------------------------
# pylibjpeg.jpeg_decoders / jpeg_ls_decoders / jpeg_2000_decoders
# ------------------------------------------------------------------------------------------
def decode(src: Any, colour_transform: int = 0, reshape: bool = True, **kwargs: Any
           ) -> np.ndarray:
    """Decode a JPEG, JPEG-LS or JPEG 2000 codestream, as pylibjpeg's ``decode`` plugins do.

    Parameters
    ----------
    src : bytes-like, str, os.PathLike or binary file
        The encoded image.
    colour_transform : int
        JPEG Baseline/Extended only: 0 returns the samples as coded (pylibjpeg-libjpeg's
        default), 1 converts YCbCr to RGB.
    reshape : bool
        True: ``(rows, columns[, components])`` with the samples' dtype; False: the
        frame's bytes as a 1-D ``uint8`` array.
    **kwargs
        Accepted for pylibjpeg's other plugins (``j2k_format``, ...) and ignored.

    Returns
    -------
    numpy.ndarray
        JPEG family: ``uint8`` for precision up to 8, else ``<u2``.  JPEG 2000: unsigned or
        signed by the codestream, 1, 2 or 4 bytes by its precision.

    Raises
    ------
    DecodeError, UnsupportedError
        Not a stream turbodicom decodes (pylibjpeg then tries its next decoder).
    """
    data = _bytes(src)
    head = bytes(memoryview(data)[:4])
    if head[:2] == b"\xff\xd8":
        frame, hdr, dtype = _jpeg_family(data, colour_transform)
        rows, columns, components = hdr["rows"], hdr["columns"], hdr["components"]
    elif head == b"\xff\x4f\xff\x51" or bytes(memoryview(data)[:12]) == _JP2_SIGNATURE:
        frame, hdr = _j2k_frame(data)
        rows, columns, components = hdr["rows"], hdr["columns"], hdr["components"]
        nbytes = len(frame) // (rows * columns * components)
        dtype = np.dtype(f"<{'i' if hdr['is_signed'] else 'u'}{nbytes}")
    else:
        raise DecodeError("not a JPEG, JPEG-LS or JPEG 2000 codestream (no SOI or SOC marker)")
    if not reshape:
        return np.frombuffer(frame, dtype=np.uint8)
    shape = (rows, columns) + ((components,) if components > 1 else ())
    return np.frombuffer(frame, dtype=dtype).reshape(shape)


def _jpeg_family(data: Any, colour_transform: int
                 ) -> tuple[bytearray, dict[str, Any], np.dtype]:
    """Which of the three T.81/T.87 processes `data` uses, decoded by that codec."""
    from turbodicom import _jpeg

    try:
        sof = _jpeg.dct_read_header(data)["sof_marker"]
    except (DecodeError, UnsupportedError):
        sof = None
    if sof is not None:
        frame, hdr = _dct_frame(data, colour_transform)
        bps = 1 if hdr["precision"] <= 8 else 2
    else:
        try:
            frame, hdr = _jpeg_lossless_frame(data)
            bps = 1 if hdr["precision"] <= 8 else 2
        except (DecodeError, UnsupportedError):
            frame, hdr = _jpeg_ls_frame(data)
            bps = hdr["bytes_per_sample"]
    return frame, hdr, np.dtype(np.uint8 if bps == 1 else "<u2")
