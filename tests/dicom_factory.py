"""Build DICOM test data with pydicom's own encoders (independent of turbodicom).

Everything here is deterministic.  RLE frames come from pydicom's native RLE encoder
(``pydicom.pixels.encoders.native``) unless a caller explicitly asks for turbodicom's encoder
(only where the encoder itself is not what is being tested, e.g. big inputs for thread tests).
"""

from __future__ import annotations

import io
import struct
from typing import Any, Iterable, Sequence

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate, encapsulate_extended
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RLELossless,
)

SOP_CLASS = "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture
SOP_INSTANCE = "1.2.826.0.1.3680043.8.498.1"

NATIVE_SYNTAXES = (ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian)


# ------------------------------------------------------------------------------------------
# RLE encoding with pydicom's encoder
# ------------------------------------------------------------------------------------------
class FakeEncodeRunner:
    """The few runner attributes pydicom's native RLE ``_encode_frame`` reads."""

    def __init__(self, rows: int, columns: int, samples_per_pixel: int, bits_allocated: int):
        self.rows = rows
        self.columns = columns
        self.samples_per_pixel = samples_per_pixel
        self.bits_allocated = bits_allocated

    def get_option(self, name: str, default: Any = None) -> Any:
        return default


def le_container(frame: np.ndarray, bits_allocated: int) -> bytes:
    """`frame` as little-endian samples in a ``bits_allocated`` container, pixel-interleaved."""
    kind = frame.dtype.kind if frame.dtype.kind in "iu" else "u"
    return np.ascontiguousarray(frame.astype(f"<{kind}{bits_allocated // 8}")).tobytes()


def pydicom_rle_encode(frame: np.ndarray, bits_allocated: int) -> bytes:
    """One frame (rows, columns[, samples]) RLE-encoded by pydicom's own native encoder."""
    from pydicom.pixels.encoders.native import _encode_frame

    rows, columns = frame.shape[:2]
    spp = frame.shape[2] if frame.ndim == 3 else 1
    runner = FakeEncodeRunner(rows, columns, spp, bits_allocated)
    return bytes(_encode_frame(le_container(frame, bits_allocated), runner))


def rle_encode_1bit(frame: np.ndarray) -> bytes:
    """A Bits Allocated 1 frame (values 0/1) as an RLE frame: one segment of packed bits.

    The segment is PackBits-encoded with pydicom's own row encoder over the packed bytes.
    """
    from pydicom.pixels.encoders.native import _encode_segment

    packed = np.packbits(frame.astype(np.uint8).ravel(), bitorder="little").tobytes()
    segment = bytes(_encode_segment(packed, len(packed)))
    header = struct.pack("<2L", 1, 64) + b"\x00" * 56
    return header + segment


def split_frames(arr: np.ndarray, samples_per_pixel: int) -> list[np.ndarray]:
    """The frames of `arr`: (frames, rows, cols[, spp]) or one frame (rows, cols[, spp])."""
    single_ndim = 2 if samples_per_pixel == 1 else 3
    if arr.ndim == single_ndim:
        return [arr]
    assert arr.ndim == single_ndim + 1, arr.shape
    return [arr[i] for i in range(arr.shape[0])]


def encode_frames(arr: np.ndarray, *, bits_allocated: int, samples_per_pixel: int = 1,
                  encoder: str = "pydicom") -> list[bytes]:
    frames = split_frames(arr, samples_per_pixel)
    if bits_allocated == 1:
        return [rle_encode_1bit(f) for f in frames]
    if encoder == "pydicom":
        return [pydicom_rle_encode(f, bits_allocated) for f in frames]
    import turbodicom

    rows, columns = frames[0].shape[:2]
    return [turbodicom.encode_rle(le_container(f, bits_allocated), rows=rows, columns=columns,
                                  samples_per_pixel=samples_per_pixel,
                                  bits_allocated=bits_allocated) for f in frames]


# ------------------------------------------------------------------------------------------
# Datasets and files
# ------------------------------------------------------------------------------------------
def make_dataset(*, transfer_syntax: str, rows: int, columns: int, pixel_data: bytes,
                 samples_per_pixel: int = 1, bits_allocated: int, bits_stored: int | None = None,
                 pixel_representation: int | None = 0, photometric: str | None = None,
                 planar_configuration: int | None = None, frames: int = 1,
                 pixel_keyword: str = "PixelData", pixel_vr: str | None = None,
                 extended_offsets: tuple[bytes, bytes] | None = None) -> Dataset:
    """A minimal Secondary Capture dataset with file meta and the given pixel module."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    ds.file_meta.MediaStorageSOPClassUID = SOP_CLASS
    ds.file_meta.MediaStorageSOPInstanceUID = SOP_INSTANCE
    ds.SOPClassUID = SOP_CLASS
    ds.SOPInstanceUID = SOP_INSTANCE
    ds.Modality = "OT"
    ds.Rows = rows
    ds.Columns = columns
    ds.SamplesPerPixel = samples_per_pixel
    if photometric is None:
        photometric = "RGB" if samples_per_pixel == 3 else "MONOCHROME2"
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = bits_allocated
    if pixel_keyword == "PixelData":
        bits_stored = bits_allocated if bits_stored is None else bits_stored
        ds.BitsStored = bits_stored
        ds.HighBit = bits_stored - 1
        if pixel_representation is not None:
            ds.PixelRepresentation = pixel_representation
    if samples_per_pixel > 1:
        ds.PlanarConfiguration = planar_configuration or 0
    if frames > 1:
        ds.NumberOfFrames = frames
    if extended_offsets is not None:
        ds.ExtendedOffsetTable = extended_offsets[0]
        ds.ExtendedOffsetTableLengths = extended_offsets[1]
    setattr(ds, pixel_keyword, pixel_data)
    if pixel_vr is None:
        pixel_vr = {"PixelData": "OB" if bits_allocated <= 8 or transfer_syntax not in
                    NATIVE_SYNTAXES + (DeflatedExplicitVRLittleEndian,) else "OW",
                    "FloatPixelData": "OF", "DoubleFloatPixelData": "OD"}[pixel_keyword]
    ds[pixel_keyword].VR = pixel_vr
    return ds


def to_bytes(ds: Dataset, *, preamble: bool = True, file_meta: bool = True) -> bytes:
    """Serialise `ds`: a Part 10 file, or without preamble and/or without file meta."""
    ts = ds.file_meta.TransferSyntaxUID
    buf = io.BytesIO()
    implicit_vr = ts == ImplicitVRLittleEndian
    little_endian = ts != ExplicitVRBigEndian
    if preamble and file_meta:
        ds.save_as(buf, implicit_vr=implicit_vr, little_endian=little_endian,
                   enforce_file_format=True)
        return buf.getvalue()
    out = Dataset(ds)  # shallow copy so the caller's dataset keeps its file meta
    out.preamble = None
    if file_meta:
        out.file_meta = ds.file_meta
    else:
        out.file_meta = FileMetaDataset()
        del out.file_meta
    out.save_as(buf, implicit_vr=implicit_vr, little_endian=little_endian,
                enforce_file_format=False)
    return buf.getvalue()


def native_pixel_bytes(arr: np.ndarray, *, transfer_syntax: str, bits_allocated: int,
                       samples_per_pixel: int = 1, planar_configuration: int = 0,
                       pixel_keyword: str = "PixelData") -> bytes:
    """Native pixel data for `arr` as the transfer syntax stores it (packed bits for BA 1)."""
    if bits_allocated == 1:
        raw = np.packbits(arr.astype(np.uint8).ravel(), bitorder="little").tobytes()
    else:
        frames = split_frames(arr, samples_per_pixel)
        if samples_per_pixel > 1 and planar_configuration == 1:
            frames = [np.ascontiguousarray(f.transpose(2, 0, 1)) for f in frames]
        order = ">" if transfer_syntax == ExplicitVRBigEndian else "<"
        if pixel_keyword == "PixelData":
            kind = arr.dtype.kind if arr.dtype.kind in "iu" else "u"
            dt = np.dtype(f"{order}{kind}{bits_allocated // 8}")
        else:
            dt = arr.dtype.newbyteorder(order)
        raw = b"".join(np.ascontiguousarray(f.astype(dt)).tobytes() for f in frames)
    if len(raw) % 2:
        raw += b"\x00"
    return raw


def native_file(arr: np.ndarray, *, transfer_syntax: str = ExplicitVRLittleEndian,
                bits_allocated: int, bits_stored: int | None = None,
                pixel_representation: int = 0, samples_per_pixel: int = 1,
                photometric: str | None = None, planar_configuration: int = 0,
                pixel_keyword: str = "PixelData", pixel_vr: str | None = None,
                raw: bytes | None = None, preamble: bool = True, file_meta: bool = True,
                frames: int | None = None) -> bytes:
    """A native (uncompressed) file holding `arr` (or the given `raw` pixel bytes)."""
    nframes = frames if frames is not None else len(split_frames(arr, samples_per_pixel))
    rows, columns = split_frames(arr, samples_per_pixel)[0].shape[:2]
    if raw is None:
        raw = native_pixel_bytes(arr, transfer_syntax=transfer_syntax,
                                 bits_allocated=bits_allocated,
                                 samples_per_pixel=samples_per_pixel,
                                 planar_configuration=planar_configuration,
                                 pixel_keyword=pixel_keyword)
    ds = make_dataset(transfer_syntax=transfer_syntax, rows=rows, columns=columns,
                      pixel_data=raw, samples_per_pixel=samples_per_pixel,
                      bits_allocated=bits_allocated, bits_stored=bits_stored,
                      pixel_representation=pixel_representation if pixel_keyword == "PixelData"
                      else None, photometric=photometric,
                      planar_configuration=planar_configuration, frames=nframes,
                      pixel_keyword=pixel_keyword, pixel_vr=pixel_vr)
    return to_bytes(ds, preamble=preamble, file_meta=file_meta)


def encapsulated_pixel_data(frames: Sequence[bytes], layout: str,
                            fragments_per_frame: int = 1) -> tuple[bytes, tuple | None]:
    """Encapsulate encoded frames; layout 'bot', 'nobot', 'eot' or 'fragments' (BOT + k/frame)."""
    if layout == "bot":
        return encapsulate(list(frames), has_bot=True), None
    if layout == "nobot":
        return encapsulate(list(frames), has_bot=False), None
    if layout == "fragments":
        return encapsulate(list(frames), fragments_per_frame=fragments_per_frame,
                           has_bot=True), None
    if layout == "fragments_nobot":
        return encapsulate(list(frames), fragments_per_frame=fragments_per_frame,
                           has_bot=False), None
    if layout == "eot":
        data, eot, eotl = encapsulate_extended(list(frames))
        return data, (eot, eotl)
    raise ValueError(layout)


def rle_file(arr: np.ndarray, *, bits_allocated: int, bits_stored: int | None = None,
             pixel_representation: int = 0, samples_per_pixel: int = 1,
             photometric: str | None = None, planar_configuration: int = 0,
             layout: str = "bot", fragments_per_frame: int = 1, encoder: str = "pydicom",
             frames: int | None = None, encoded: Sequence[bytes] | None = None) -> bytes:
    """An RLE Lossless Part 10 file for `arr` (frames encoded with pydicom's encoder)."""
    if encoded is None:
        encoded = encode_frames(arr, bits_allocated=bits_allocated,
                                samples_per_pixel=samples_per_pixel, encoder=encoder)
    rows, columns = split_frames(arr, samples_per_pixel)[0].shape[:2]
    return encapsulated_file(encoded, transfer_syntax=RLELossless, rows=rows, columns=columns,
                             samples_per_pixel=samples_per_pixel, bits_allocated=bits_allocated,
                             bits_stored=bits_stored, pixel_representation=pixel_representation,
                             photometric=photometric, planar_configuration=planar_configuration,
                             layout=layout, fragments_per_frame=fragments_per_frame,
                             frames=frames)


def encapsulated_file(encoded: Sequence[bytes], *, transfer_syntax: str, rows: int,
                      columns: int, bits_allocated: int, samples_per_pixel: int = 1,
                      bits_stored: int | None = None, pixel_representation: int = 0,
                      photometric: str | None = None, planar_configuration: int = 0,
                      layout: str = "bot", fragments_per_frame: int = 1,
                      frames: int | None = None) -> bytes:
    """A Part 10 file holding already-encoded frames in an encapsulated transfer syntax."""
    pixel, eot = encapsulated_pixel_data(encoded, layout, fragments_per_frame)
    ds = make_dataset(transfer_syntax=transfer_syntax, rows=rows, columns=columns,
                      pixel_data=pixel, samples_per_pixel=samples_per_pixel,
                      bits_allocated=bits_allocated, bits_stored=bits_stored,
                      pixel_representation=pixel_representation, photometric=photometric,
                      planar_configuration=planar_configuration,
                      frames=frames if frames is not None else len(encoded),
                      extended_offsets=eot)
    return to_bytes(ds)


# ------------------------------------------------------------------------------------------
# Oracles
# ------------------------------------------------------------------------------------------
def read_dataset(src: Any, *, transfer_syntax_if_missing: str | None = None) -> Dataset:
    """dcmread `src` (path or bytes), adding a transfer syntax when the file has no meta."""
    fp = io.BytesIO(bytes(src)) if isinstance(src, (bytes, bytearray, memoryview)) else src
    ds = pydicom.dcmread(fp, force=True)
    if transfer_syntax_if_missing and "TransferSyntaxUID" not in ds.file_meta:
        ds.file_meta.TransferSyntaxUID = transfer_syntax_if_missing
    return ds


def pydicom_array(src: Any, *, plugin: str = "", transfer_syntax_if_missing: str | None = None,
                  index: int | None = None) -> np.ndarray:
    """``pixel_array`` as pydicom computes it with `plugin` ('' = pydicom's choice)."""
    ds = read_dataset(src, transfer_syntax_if_missing=transfer_syntax_if_missing)
    if index is not None:
        from pydicom.pixels import pixel_array

        kwargs = {"decoding_plugin": plugin} if plugin else {}
        return pixel_array(ds, index=index, **kwargs)
    if plugin:
        ds.pixel_array_options(decoding_plugin=plugin)
    return ds.pixel_array


def assert_same_array(actual: np.ndarray, expected: np.ndarray, what: str = "") -> None:
    """dtype, shape and every value (byte for byte) equal."""
    prefix = f"{what}: " if what else ""
    assert actual.dtype == expected.dtype, f"{prefix}dtype {actual.dtype} != {expected.dtype}"
    assert actual.shape == expected.shape, f"{prefix}shape {actual.shape} != {expected.shape}"
    a = np.ascontiguousarray(actual)
    e = np.ascontiguousarray(expected)
    if a.tobytes() != e.tobytes():
        diff = np.argwhere(a != e) if a.dtype.kind != "f" else np.argwhere(
            a.view(f"u{a.itemsize}") != e.view(f"u{e.itemsize}"))
        first = tuple(int(i) for i in diff[0]) if len(diff) else ()
        raise AssertionError(
            f"{prefix}{len(diff)} of {a.size} values differ; first at {first}: "
            f"{a[first] if first else '?'} != {e[first] if first else '?'}")


def planar_to_interleaved(buf: bytes, rows: int, columns: int, samples_per_pixel: int,
                          bytes_per_sample: int) -> bytes:
    """pydicom/pylibjpeg RLE output (sample planes) as pixel-interleaved bytes."""
    a = np.frombuffer(bytes(buf), dtype=np.uint8).reshape(samples_per_pixel, rows * columns,
                                                          bytes_per_sample)
    return np.ascontiguousarray(a.transpose(1, 0, 2)).tobytes()


def iter_frame_bytes(path_or_bytes: Any) -> Iterable[tuple[bytes, Dataset]]:
    """The encoded frames of an encapsulated file, found by pydicom."""
    from pydicom.encaps import generate_frames

    ds = read_dataset(path_or_bytes)
    n = int(ds.get("NumberOfFrames", 1) or 1)
    kwargs = {}
    if "ExtendedOffsetTable" in ds:
        kwargs["extended_offsets"] = (ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths)
    for frame in generate_frames(ds.PixelData, number_of_frames=n, **kwargs):
        yield frame, ds
