"""The decoding API: :func:`decode`, :func:`iter_frames`, :func:`decode_frame`, :func:`encode_rle`.

Arrays come back exactly as pydicom 3's ``Dataset.pixel_array`` returns them with its default
options: same dtype (signed when Pixel Representation is 1, big-endian for Explicit VR Big
Endian, float for Float Pixel Data), shape ``(frames, rows, columns[, samples])`` for multi-frame
and ``(rows, columns[, samples])`` otherwise, planar configuration 0, unused high bits masked or
sign-extended, YBR_FULL / YBR_FULL_422 converted to RGB.
"""

from __future__ import annotations

import math
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, Callable, Iterator

import numpy as np

from turbodicom import _parse
from turbodicom.codecs import _BY_UID, Codec, FrameSpec, check_reduce, codec_for
from turbodicom.errors import DecodeError, UnsupportedError
from turbodicom.frames import PixelModule, PixelSource, Source, check_frame_limit, open_pixels

__all__ = ["decode", "iter_frames", "decode_frame", "encode_rle", "default_threads"]

_YBR = ("YBR_FULL", "YBR_FULL_422")


def default_threads() -> int:
    """Threads used when ``threads=None``: the cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


_executors: dict[int, ThreadPoolExecutor] = {}
_executors_lock = threading.Lock()


def _executor(threads: int) -> ThreadPoolExecutor:
    with _executors_lock:
        ex = _executors.get(threads)
        if ex is None:
            ex = _executors[threads] = ThreadPoolExecutor(threads, "turbodicom")
        return ex


def _dtype(m: PixelModule) -> np.dtype:
    """pydicom's DecodeRunner.pixel_dtype for this pixel module."""
    dt: np.dtype
    if m.pixel_keyword == "FloatPixelData":
        dt = np.dtype("float32")
    elif m.pixel_keyword == "DoubleFloatPixelData":
        dt = np.dtype("float64")
    elif m.bits_allocated == 1:
        dt = np.dtype("u1")
    else:
        try:
            dt = np.dtype(f"{'ui'[m.pixel_representation]}{m.bits_allocated // 8}")
        except TypeError:
            raise UnsupportedError(
                f"(0028,0100) 'Bits Allocated' {m.bits_allocated} has no NumPy integer type"
            ) from None
    if m.big_endian != (sys.byteorder == "big"):
        dt = dt.newbyteorder("S")
    return dt


def _shape(m: PixelModule, nframes: int, as_frame: bool, reduce: int = 0) -> tuple[int, ...]:
    # reduce: JPEG 2000 resolution levels discarded, ceil(rows / 2**reduce) (FrameSpec.out_rows)
    base: tuple[int, ...] = (-(-m.rows >> reduce), -(-m.columns >> reduce))
    if m.samples_per_pixel > 1:
        base += (m.samples_per_pixel,)
    return base if as_frame or nframes == 1 else (nframes,) + base


def _spec(m: PixelModule, options: Any = None, threads: int = 1, reduce: int = 0) -> FrameSpec:
    return FrameSpec(m.rows, m.columns, m.samples_per_pixel, m.bits_allocated, m.bits_stored,
                     m.pixel_representation, m.planar_configuration,
                     m.photometric_interpretation, options, threads, reduce)


def _ybr_to_rgb_numpy(arr: np.ndarray) -> np.ndarray:
    """pydicom's YBR_FULL to RGB for containers other than 8 bits (rare; same arithmetic)."""
    m = np.asarray([[1.000, 1.000, 1.000],
                    [0.000, -0.114 * 1.772 / 0.587, 1.772],
                    [1.402, -0.299 * 1.402 / 0.587, 0.000]], dtype=np.float32)
    f = arr.astype(np.float32)
    f -= [0, 128, 128]
    np.matmul(f, m, out=f)
    f += 0.5
    np.floor(f, out=f)
    np.clip(f, 0, 255, out=f)
    return f.astype(arr.dtype)


# ------------------------------------------------------------------------------------------
# Native (uncompressed) pixel data: pydicom's Decoder._as_array_native, without pydicom.
# ------------------------------------------------------------------------------------------
def _decode_native(px: PixelSource, index: int | None) -> np.ndarray:
    m = px.module
    dtype = _dtype(m)
    data = px.native_bytes()
    pixels = m.pixels_per_frame
    nframes = m.number_of_frames
    if m.bits_allocated == 1:
        frame_len: float = pixels / 8
    else:
        frame_len = pixels * m.bits_allocated // 8
    if m.photometric_interpretation == "YBR_FULL_422":
        frame_len = frame_len // 3 * 2
    be_swap_ow = (m.big_endian and m.bits_allocated == 8 and m.pixel_keyword == "PixelData"
                  and m.pixel_vr == "OW")

    total = math.ceil(frame_len * nframes)
    if (index is None and m.photometric_interpretation != "YBR_FULL_422" and frame_len
            and len(data) > total + total % 2):
        # pydicom's default allow_excess_frames: whole extra frames in the data are returned
        whole = int(len(data) // frame_len)
        if whole > nframes:
            m.check_output_size(whole)
            _warn_excess(whole, nframes)
            nframes = whole
            total = math.ceil(frame_len * nframes)
    if index is not None:
        if not 0 <= index < nframes:
            raise IndexError(f"frame index {index} out of range for {nframes} frames")
        start = math.floor(index * frame_len)
        if start + math.ceil(frame_len) > len(data):
            raise DecodeError(f"the pixel data ({len(data)} bytes) is too short to contain "
                              f"frame {index} ({index + 1} frames of {frame_len} bytes)")
    elif len(data) < total:
        raise DecodeError(
            f"the pixel data is {len(data)} bytes but (0028,0010) Rows x (0028,0011) Columns x "
            f"(0028,0002) Samples per Pixel x (0028,0100) Bits Allocated x (0028,0008) Number "
            f"of Frames need {total}; the file may be truncated or its group 0028 values wrong")

    if be_swap_ow:
        # 8-bit data stored as OW in big endian: bytes are swapped pairwise (incl. padding).
        flen = int(frame_len)
        if index is None:
            words = (total + 1) // 2
            if len(data) < 2 * words:  # the swapped-in last sample sits in the missing byte
                raise DecodeError(f"the OW pixel data is {len(data)} bytes, {2 * words} are "
                                  "needed for 8-bit samples stored as big-endian words")
            raw = np.frombuffer(data, dtype=">u2", count=words).byteswap()
            arr = raw.view(dtype)[:total]
        else:
            odd = index % 2 if flen % 2 else 0
            start = index * flen - odd
            chunk = data[start:start + flen + (1 if flen % 2 else 0)]
            if len(chunk) % 2:
                raise DecodeError(f"the OW pixel data ({len(data)} bytes) ends inside frame "
                                  f"{index}'s last big-endian word")
            raw = np.frombuffer(chunk, dtype=">u2").byteswap()
            arr = raw.view(dtype)[odd:odd + flen]
    else:
        if index is None:
            count_bytes = total
            start = 0
        else:
            start = math.floor(index * frame_len)
            count_bytes = math.ceil(frame_len)
        if m.bits_allocated == 1:
            if index is not None:  # frames need not start or end on a byte boundary
                start = index * pixels // 8
                count_bytes = math.ceil((index + 1) * pixels / 8) - start
            arr = np.frombuffer(data, dtype=np.uint8, count=count_bytes, offset=start)
        else:
            arr = np.frombuffer(data, dtype=dtype, count=count_bytes // dtype.itemsize,
                                offset=start)

    if m.bits_allocated == 1:
        nbits = pixels * (nframes if index is None else 1)
        first = 0 if index is None else (index * pixels) % 8
        arr = np.unpackbits(arr, bitorder="little", count=len(arr) * 8)[first:first + nbits]
    elif m.photometric_interpretation == "YBR_FULL_422":
        # PS3.3 C.7.6.3.1.2: Y1 Y2 Cb Cr -> Y1 Cb Cr Y2 Cb Cr
        out = np.empty(arr.shape[0] // 2 * 3, dtype=dtype)
        out[::6] = arr[::4]
        out[3::6] = arr[1::4]
        out[1::6] = out[4::6] = arr[2::4]
        out[2::6] = out[5::6] = arr[3::4]
        arr = out
    else:
        arr = arr.copy()  # detach from the memory map, writeable like pydicom's result

    nf = nframes if index is None else 1
    if m.samples_per_pixel > 1 and m.planar_configuration == 1:
        arr = arr.reshape(nf, m.samples_per_pixel, m.rows, m.columns).transpose(0, 2, 3, 1)
        arr = np.ascontiguousarray(arr)
    arr = arr.reshape(_shape(m, nf, index is not None))

    if m.pixel_keyword == "PixelData" and m.bits_allocated > m.bits_stored:
        shift = m.bits_allocated - m.bits_stored
        np.left_shift(arr, shift, out=arr)
        np.right_shift(arr, shift, out=arr)
    if m.photometric_interpretation in _YBR and m.samples_per_pixel == 3:
        if arr.dtype == np.uint8:
            _parse.ybr_full_to_rgb(arr.reshape(-1))
        else:
            arr = _ybr_to_rgb_numpy(arr)
    return arr


# ------------------------------------------------------------------------------------------
# Encapsulated pixel data: frames through the codec registry, in parallel when asked.
# ------------------------------------------------------------------------------------------
class _FramePlan:
    """How one frame goes from encoded bytes to its slot in the output array."""

    def __init__(self, px: PixelSource, codec: Codec, spec: FrameSpec, dtype: np.dtype):
        m = px.module
        self.px = px
        self.codec = codec
        self.spec = spec
        self.unpack_bits = m.bits_allocated == 1 and codec.packs_one_bit
        #: whether run_batch can decode frames in one call (the codec's own C threads)
        self.batch = codec.decode_frames_into is not None and not self.unpack_bits
        self.decoded_nbytes = codec.frame_nbytes(spec)
        self.frame_items = spec.out_rows * spec.out_columns * m.samples_per_pixel
        ybr = (spec.photometric_interpretation in _YBR and m.samples_per_pixel == 3)
        c_ybr = ybr and dtype == np.uint8  # the C conversion is for unsigned 8-bit samples
        if c_ybr and codec.converts_ybr:  # the codec converts while decoding
            spec = self.spec = replace(spec, as_rgb=True)
            ybr = c_ybr = False
        self.numpy_ybr = ybr and not c_ybr
        bps = max(1, m.bits_allocated // 8)
        mask_bits = codec.masks_unused_bits and not self.unpack_bits
        self.post = _parse.PostProcess(
            bps, m.bits_stored if mask_bits else 0, m.pixel_representation == 1, c_ybr)
        # whether post changes anything (PostProcess's fix_bits or ybr_to_rgb)
        self.has_post = c_ybr or (mask_bits and 0 < m.bits_stored < 8 * bps)
        if not self.unpack_bits and self.decoded_nbytes != self.frame_items * dtype.itemsize:
            raise DecodeError("codec output size does not match the pixel module")

    def run(self, index: int, out: np.ndarray) -> None:
        """Decode frame `index` into `out` (a 1-D view of its slot)."""
        data = self.px.frame(index)
        if self.unpack_bits:
            packed = bytearray(self.decoded_nbytes)
            self.codec.decode_into(data, packed, self.spec)
            out[:] = np.unpackbits(np.frombuffer(packed, np.uint8), bitorder="little",
                                   count=self.frame_items)
            return
        buf = out.view(np.uint8)
        self.codec.decode_into(data, buf, self.spec)
        self.post(buf)

    def run_batch(self, indices: list[int], out: np.ndarray, threads: int) -> None:
        """Decode frames `indices` into the rows of `out` through the codec's
        decode_frames_into (its own threads, the GIL released once).  As frame by frame, the
        first frame that fails, to locate or to decode, raises."""
        srcs: list[Any] = []
        located: Exception | None = None
        for i in indices:
            try:
                srcs.append(self.px.frame(i))
            except Exception as e:  # raised after the frames before it are decoded
                located = e
                break
        buf = out.view(np.uint8)
        if srcs:
            assert self.codec.decode_frames_into is not None
            self.codec.decode_frames_into(srcs, buf[:len(srcs)], self.spec, threads)
            if self.has_post:
                for k in range(len(srcs)):
                    self.post(buf[k])
        if located is not None:
            raise located


def _run_frames(plan: _FramePlan, indices: list[int], arr: np.ndarray, threads: int,
                inner: Callable[[int], _FramePlan] | None = None) -> None:
    """Decode frames `indices` into the rows of `arr`, one frame per thread, when each
    thread gets at least ``plan.codec.frame_threads_min_bytes`` of output.

    A codec with decode_frames_into (JPEG 2000) shares every frame over its own C threads in
    one call (its last frames take the threads that run out of frames).  The others go through
    a Python thread pool frame by frame; `inner(n)`, for a codec with threads of its own, is a
    plan whose frames use n threads inside: the last ``len(indices) % threads`` frames (the
    ones left running alone once the others are shared out evenly) take the threads the
    finished frames leave idle.
    """
    min_bytes = plan.codec.frame_threads_min_bytes
    threads = min(threads, len(indices), max(1, arr.nbytes // max(1, min_bytes)))
    if threads <= 1:
        for k, i in enumerate(indices):
            plan.run(i, arr[k])
        return
    if plan.batch:
        plan.run_batch(indices, arr, threads)
        return
    tail = len(indices) % threads if inner is not None else 0
    plans = [plan] * (len(indices) - tail)
    if tail:
        plans += [inner(max(1, threads // tail))] * tail
    ex = _executor(threads)
    futures = [ex.submit(plans[k].run, i, arr[k]) for k, i in enumerate(indices)]
    for f in futures:
        f.result()


def _warn_excess(found: int, declared: int) -> None:
    import warnings

    warnings.warn(f"{found} frames were found in the pixel data, more than the (0028,0008) "
                  f"'Number of Frames' value of {declared}; all {found} are returned, as pydicom "
                  "does", stacklevel=4)


def _decode_encapsulated(px: PixelSource, indices: list[int] | None, threads: int,
                         options: Any = None, reduce: int = 0) -> np.ndarray:
    """Decode frames `indices` (None: every frame, including excess ones as pydicom does).

    `reduce` (JPEG 2000 only, checked by the caller with check_reduce) discards that many
    resolution levels: every frame comes out ``ceil(rows / 2**reduce)`` rows high.
    """
    m = px.module
    codec = codec_for(m.transfer_syntax_uid)
    dtype = _dtype(m)
    spec = _spec(m, options, 1, reduce)
    # One frame: let the codec use the threads inside it (OpenJPEG code-blocks in parallel);
    # several frames: one frame per thread, which scales better.
    single = indices is not None and len(indices) == 1 or (
        indices is None and m.number_of_frames == 1)
    out_nbytes = spec.out_rows * spec.out_columns * m.samples_per_pixel * dtype.itemsize
    if single and threads > 1 and codec.threads_inside(out_nbytes):
        spec = replace(spec, threads=threads)
    if reduce:
        _check_reduced_dims(px, codec, spec, indices[0] if indices else 0)
    if codec.conform is not None:  # pydicom re-reads the colour space from the first frame
        first = px.frame(indices[0] if indices else 0)
        spec = replace(spec, photometric_interpretation=codec.conform(first, spec))
    plan = _FramePlan(px, codec, spec, dtype)
    if indices is None or len(indices) > 1:
        nfound = px.nr_encoded_frames  # builds the frame table once, before any thread runs
        if nfound < m.number_of_frames:
            raise DecodeError(
                f"(0028,0008) 'Number of Frames' is {m.number_of_frames} but the encapsulated "
                f"pixel data holds only {nfound} frames")
        if indices is None:
            if nfound > m.number_of_frames:
                m.check_output_size(nfound)
                _warn_excess(nfound, m.number_of_frames)
            indices = list(range(nfound))
    arr = np.empty((len(indices), plan.frame_items), dtype=dtype)
    def with_inner_threads(n: int) -> _FramePlan:
        return _FramePlan(px, codec, replace(spec, threads=n), dtype)

    inner = (with_inner_threads if codec.inner_threads_min_bytes
             and out_nbytes >= codec.frame_threads_min_bytes else None)
    _run_frames(plan, indices, arr, threads, inner)
    if plan.numpy_ybr:
        arr = _ybr_to_rgb_numpy(arr.reshape(-1, 3)).reshape(arr.shape)
    return arr


def _check_reduced_dims(px: PixelSource, codec: Codec, spec: FrameSpec, index: int) -> None:
    """Before allocating: frame `index` decodes at spec.reduce to the shape the output uses.

    UnsupportedError (from the codec) when the codestream has fewer decomposition levels than
    spec.reduce; DecodeError when its reduced size disagrees with Rows and Columns.
    """
    assert codec.reduced_dims is not None  # check_reduce() has vetted the codec
    rows, columns = codec.reduced_dims(px.frame(index), spec)
    if (rows, columns) != (spec.out_rows, spec.out_columns):
        raise DecodeError(
            f"frame {index} decodes at reduce {spec.reduce} to {rows} x {columns}, but "
            f"(0028,0010) 'Rows' {spec.rows} and (0028,0011) 'Columns' {spec.columns} give "
            f"{spec.out_rows} x {spec.out_columns}")


def _resolve_threads(threads: int | None) -> int:
    if threads is None:
        return default_threads()
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    return int(threads)


def decode(src: Source, index: int | None = None, *, threads: int | None = None,
           reduce: int = 0) -> np.ndarray:
    """Decode the pixel data of a DICOM file or dataset.

    Parameters
    ----------
    src : str, os.PathLike, bytes-like, binary file object or pydicom.Dataset
        The file (paths are memory-mapped, or read whole up to 512 KiB; pydicom is not
        needed) or dataset.
    index : int, optional
        Decode only frame `index` (0-based).  From a file of more than 512 KiB, only that
        frame's bytes and the item headers needed to find them are read.
    threads : int, optional
        Frames decoded in parallel with the GIL released (default: all cores available).
        A single large frame is split among the threads by the codec where it can (OpenJPEG's
        code-blocks).
    reduce : int, optional
        JPEG 2000 and HTJ2K only: discard this many resolution levels, e.g. for thumbnails.
        Each frame comes out ``ceil(rows / 2**reduce)`` x ``ceil(columns / 2**reduce)``, with
        the same dtype and sign handling as the full-resolution decode.

    Returns
    -------
    numpy.ndarray
        Exactly what pydicom 3's ``pixel_array`` returns for the same file with default
        options: ``(frames, rows, columns[, samples])`` for multi-frame data,
        ``(rows, columns[, samples])`` for one frame or when `index` is given.

    Raises
    ------
    DecodeError
        The data is malformed or truncated (also a ``ValueError``).
    UnsupportedError
        The transfer syntax or a feature of it is not supported (also a
        ``NotImplementedError``), including ``reduce > 0`` for a transfer syntax other than
        JPEG 2000 / HTJ2K or beyond the codestream's decomposition levels.
    """
    nthreads = _resolve_threads(threads)
    with open_pixels(src, sequential=index is None) as px:
        m = px.module
        reduce = _resolve_reduce(m, reduce)
        m.validate()
        m.check_output_size(1 if index is not None else m.number_of_frames)
        if not m.encapsulated:
            return _decode_native(px, index)
        if index is not None:
            if not 0 <= index < m.number_of_frames:
                raise IndexError(f"frame index {index} out of range for {m.number_of_frames} "
                                 "frames")
            arr = _decode_encapsulated(px, [index], nthreads, reduce=reduce)
            return arr.reshape(_shape(m, 1, True, reduce))
        arr = _decode_encapsulated(px, None, nthreads, reduce=reduce)
        return arr.reshape(_shape(m, len(arr), False, reduce))


def _resolve_reduce(m: PixelModule, reduce: int) -> int:
    """`reduce` as an int, after check_reduce has vetted it for the file's transfer syntax."""
    check_reduce(m.transfer_syntax_uid, reduce)
    return int(reduce)


def iter_frames(src: Source, *, threads: int | None = None,
                reduce: int = 0) -> Iterator[np.ndarray]:
    """Yield the frames of `src` one at a time, each shaped ``(rows, columns[, samples])``.

    With ``threads > 1`` up to `threads` frames are decoded ahead in parallel; memory stays
    bounded by that many frames.  Values equal ``decode(src)[i]``; `reduce` as for
    :func:`decode` (JPEG 2000 / HTJ2K only), each frame then ``decode(src, reduce=reduce)[i]``.
    """
    nthreads = _resolve_threads(threads)
    with open_pixels(src) as px:
        m = px.module
        reduce = _resolve_reduce(m, reduce)
        m.validate()
        n = m.number_of_frames
        batch = max(1, nthreads)
        m.check_output_size(min(n, batch))
        if not m.encapsulated:
            for i in range(n):
                yield _decode_native(px, i)
            return
        shape = _shape(m, 1, True, reduce)
        for start in range(0, n, batch):
            idx = list(range(start, min(n, start + batch)))
            arr = _decode_encapsulated(px, idx, nthreads, reduce=reduce)
            for k in range(len(idx)):
                yield arr[k].reshape(shape)


def _check_out(out: Any, nbytes: int) -> memoryview:
    view = memoryview(out)
    if view.readonly:
        raise ValueError("out must be writable")
    if not view.c_contiguous:
        raise ValueError("out must be C-contiguous")
    view = view.cast("B") if view.format != "B" or view.ndim != 1 else view
    if view.nbytes < nbytes:
        raise ValueError(f"out holds {view.nbytes} bytes but the frame needs {nbytes}")
    return view[:nbytes]


def _frame_plan(uid: Any, rows: Any, columns: Any, samples_per_pixel: Any, bits_allocated: Any,
                bits_stored: Any, pixel_representation: Any, planar_configuration: Any,
                photometric_interpretation: Any, rle_segment_order: str, reduce: int,
                threads: int) -> tuple[Codec, FrameSpec, int]:
    """decode_frame's checks of a frame description: its codec, FrameSpec and decoded bytes
    (the exceptions name what is wrong)."""
    check_reduce(str(uid), reduce)
    spec = FrameSpec(int(rows), int(columns), int(samples_per_pixel), int(bits_allocated),
                     int(bits_stored if bits_stored is not None else bits_allocated),
                     int(pixel_representation), int(planar_configuration),
                     photometric_interpretation or "", rle_segment_order, threads=threads,
                     reduce=int(reduce))
    spec.validate()
    codec = codec_for(str(uid))
    nbytes = codec.frame_nbytes(spec)
    if threads > 1 and not codec.threads_inside(nbytes):
        spec = replace(spec, threads=1)
    return codec, spec, nbytes


#: decode_frame's plans by its arguments: a caller decoding frame after frame of one series
#: checks the description and builds its FrameSpec once (about 10 us a call otherwise, on a
#: path where a 512x512 frame takes 1 ms on two threads).  Bounded; a plan is used only while
#: its codec is still the one registered for the syntax.
_FRAME_PLANS: dict[tuple[Any, ...], tuple[Codec, FrameSpec, int]] = {}
_FRAME_PLANS_MAX = 256


def decode_frame(data: Any, transfer_syntax_uid: str, *, rows: int, columns: int,
                 samples_per_pixel: int = 1, bits_allocated: int, bits_stored: int | None = None,
                 pixel_representation: int = 0, planar_configuration: int = 0,
                 photometric_interpretation: str | None = None, out: Any = None,
                 rle_segment_order: str = ">", reduce: int = 0, threads: int = 1) -> Any:
    """Decode one encoded frame into little-endian samples (pydicom's plugin layout).

    Parameters
    ----------
    data : bytes-like
        One frame's encoded bytes (fragments already joined).
    transfer_syntax_uid : str
        The transfer syntax of `data`, e.g. ``"1.2.840.10008.1.2.5"`` (RLE Lossless).
    rows, columns, samples_per_pixel, bits_allocated, bits_stored, pixel_representation, \
planar_configuration, photometric_interpretation
        The Image Pixel module values, pydicom's names.
    out : writable bytes-like, optional
        Where to write the frame; must hold the frame's bytes.  A new ``bytearray`` otherwise.
    rle_segment_order : {">", "<"}
        RLE only: ``"<"`` for the non-conformant least-significant-byte-first segment order.
    reduce : int, optional
        JPEG 2000 / HTJ2K only: discard this many resolution levels; the frame then has
        ``ceil(rows / 2**reduce)`` rows and ``ceil(columns / 2**reduce)`` columns.
    threads : int, optional
        Threads inside the frame, JPEG 2000 / HTJ2K only, from 256 KiB of decoded output as in
        `decode` (the code-blocks, wavelet steps and output shared out; the result is the same
        for any number).  1 by default; None: the cores this process may run on.  The other
        codecs decode a frame on one thread.

    Returns
    -------
    bytearray or `out`
        ``rows * columns * samples_per_pixel * bits_allocated / 8`` bytes, pixel-interleaved
        (planar configuration 0), samples in a ``bits_allocated`` container.  For Bits Allocated
        1 the frame is bit-packed, ``ceil(rows * columns / 8)`` bytes, as DICOM stores it.
        Unused high bits are returned as encoded (pydicom masks them itself).
    """
    threads = _resolve_threads(threads)
    key = (transfer_syntax_uid, rows, columns, samples_per_pixel, bits_allocated, bits_stored,
           pixel_representation, planar_configuration, photometric_interpretation,
           rle_segment_order, reduce, threads)
    keep = type(reduce) is int  # (a bool reduce is refused by the checks, never looked up as 0)
    try:
        plan = _FRAME_PLANS.get(key) if keep else None
    except TypeError:  # an unhashable argument: the checks name it
        plan, keep = None, False
    if plan is None or _BY_UID.get(transfer_syntax_uid) is not plan[0]:
        plan = _frame_plan(*key)
        if keep:
            if len(_FRAME_PLANS) >= _FRAME_PLANS_MAX:
                _FRAME_PLANS.clear()
            _FRAME_PLANS[key] = plan
    codec, spec, nbytes = plan
    if out is None:
        check_frame_limit(nbytes, f"a {spec.rows} x {spec.columns} frame of "
                          f"{spec.samples_per_pixel} samples of {spec.bits_allocated} bits")
        result = _parse.uncleared_bytearray(nbytes) if codec.fills_output else bytearray(nbytes)
        codec.decode_into(data, result, spec)
        return result
    codec.decode_into(data, _check_out(out, nbytes), spec)
    return out


def encode_rle(src: Any, *, rows: int, columns: int, samples_per_pixel: int,
               bits_allocated: int) -> bytes:
    """RLE Lossless encode one frame, byte-identical to pydicom's own RLE encoder.

    Parameters
    ----------
    src : numpy.ndarray or bytes-like
        One frame: an array shaped ``(rows, columns[, samples])`` (any byte order; converted
        to little endian), or little-endian pixel-interleaved bytes.
    rows, columns, samples_per_pixel, bits_allocated
        The frame description; bits_allocated is 8, 16, 32 or 64.

    Returns
    -------
    bytes
        The encoded frame: 64-byte RLE header and segments.
    """
    from turbodicom import _rle

    if bits_allocated not in (8, 16, 32, 64):
        raise ValueError(f"(0028,0100) 'Bits Allocated' must be 8, 16, 32 or 64 for RLE, got "
                         f"{bits_allocated}")
    if samples_per_pixel * bits_allocated // 8 > 15:
        raise ValueError("RLE allows at most 15 segments: (0028,0002) 'Samples per Pixel' x "
                         "bytes per sample must be at most 15")
    if isinstance(src, np.ndarray):
        if src.dtype.itemsize != bits_allocated // 8:
            src = src.astype(f"{src.dtype.kind if src.dtype.kind in 'iu' else 'u'}"
                             f"{bits_allocated // 8}")
        src = np.ascontiguousarray(src, dtype=src.dtype.newbyteorder("<"))
    view = memoryview(src).cast("B") if not isinstance(src, (bytes, bytearray)) else src
    expected = rows * columns * samples_per_pixel * bits_allocated // 8
    if len(view) != expected:
        raise ValueError(f"src has {len(view)} bytes but a {rows}x{columns} frame with "
                         f"{samples_per_pixel} samples of {bits_allocated} bits needs {expected}")
    return _rle.encode(view, rows=rows, columns=columns, samples_per_pixel=samples_per_pixel,
                       bits_allocated=bits_allocated)
