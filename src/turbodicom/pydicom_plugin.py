"""pydicom 3 decoder and encoder plugins, and :func:`register` / :func:`unregister`.

pydicom finds decoder plugins only through explicit registration (no entry points), and tries
them in insertion order.  ``register(prefer=True)`` adds turbodicom (label ``"turbodicom"``) to
every pydicom decoder whose transfer syntax this build decodes, moves it to the front, and
registers the RLE Lossless encoder the same way.  Registration is idempotent; ``import
turbodicom`` alone registers nothing.

The decode function follows pydicom's plugin contract: one frame in, little-endian samples in a
``bits_allocated`` container out, and any difference from the dataset's description reported on
the runner (``set_frame_option`` on pydicom 3.1+, ``set_option`` on 3.0).  It returns what
pydicom's own plugins return - RLE colour as sample planes, YCbCr JPEG samples as coded - except
that a YBR JPEG frame pydicom is about to convert to RGB anyway comes back converted (in C, while
decoding): see :func:`_may_convert_colour` for when that is known to be the case.
"""

from __future__ import annotations

import functools
import sys
import threading
from dataclasses import replace
from typing import Any

import numpy as np

from turbodicom.codecs import RLE_LOSSLESS, FrameSpec, codec_for, supported_syntaxes
from turbodicom.frames import check_frame_limit

__all__ = ["register", "unregister", "is_available", "DECODER_DEPENDENCIES",
           "ENCODER_DEPENDENCIES", "LABEL"]

LABEL = "turbodicom"
DECODER_DEPENDENCIES: dict[str, tuple[str, ...]] = {uid: ("turbodicom",)
                                                    for uid in supported_syntaxes()}
ENCODER_DEPENDENCIES: dict[str, tuple[str, ...]] = {RLE_LOSSLESS: ("turbodicom",)}
_lock = threading.Lock()


def is_available(uid: str) -> bool:
    """pydicom plugin hook: whether this build handles transfer syntax `uid`."""
    return uid in DECODER_DEPENDENCIES or uid in ENCODER_DEPENDENCIES


def _set(runner: Any, name: str, value: Any) -> None:
    """Tell pydicom how the returned frame differs from the dataset (3.0 and 3.1 APIs)."""
    if hasattr(runner, "set_frame_option"):
        runner.set_frame_option(runner.index, name, value)
    else:
        runner.set_option(name, value)


def _frame_option(runner: Any, name: str) -> Any:
    """The runner's value of `name` for the frame being decoded (per frame on pydicom 3.1+)."""
    value = getattr(runner, name)
    if hasattr(runner, "get_frame_option"):
        return runner.get_frame_option(runner.index, name, value)
    return value


def _may_convert_colour(runner: Any) -> bool:
    """Whether a YBR_FULL / YBR_FULL_422 frame may come back converted to RGB (and say so).

    Only where pydicom converts the frame right after the plugin anyway, so the caller sees
    the same result, sooner (the conversion runs in C while decoding, not in numpy after):

    * never with ``as_rgb=False``, nor with ``force_rgb`` / ``force_ybr`` (pydicom converts
      then whatever the plugin reports);
    * only inside ``Decoder.as_array`` / ``iter_array`` called with ``raw=False``: buffers
      (``as_buffer``, ``iter_buffer``) keep the samples as coded, as pydicom 3.0's plugins and
      gdcm and pylibjpeg on 3.1 give them (see :func:`_pydicom_array_call`);
    * on pydicom 3.0, which keeps one Photometric Interpretation for all frames, only when
      that call decodes this one frame (:func:`_decodes_one_frame`); pydicom 3.1+ keeps it per
      frame.
    """
    if (not runner.get_option("as_rgb", True) or runner.get_option("force_rgb", False)
            or runner.get_option("force_ybr", False)):
        return False
    call = _pydicom_array_call(runner)
    if call is None:
        return False
    method, local, file_offset = call
    if hasattr(runner, "set_frame_option"):
        return True
    return _decodes_one_frame(runner, method, local, file_offset)


#: How far up the stack pydicom's Decoder.as_array / iter_array may be looked for: it is
#: 5 frames above _may_convert_colour (<- _decode_frame <- DecodeRunner._decode_frame
#: <- iter_decode or decode <- _as_array_encapsulated <- as_array); a little room for wrappers.
_STACK_DEPTH = 10


@functools.lru_cache(maxsize=1)
def _pydicom_code() -> tuple[dict[Any, str], Any]:
    """The code objects of pydicom's Decoder.as_array / iter_array and DecodeRunner.iter_decode."""
    from pydicom.pixels.decoders.base import DecodeRunner, Decoder

    return ({Decoder.as_array.__code__: "as_array", Decoder.iter_array.__code__: "iter_array"},
            DecodeRunner.iter_decode.__code__)


def _pydicom_array_call(runner: Any) -> tuple[str, dict[str, Any], int | None] | None:
    """The ``Decoder.as_array`` / ``iter_array`` call with ``raw=False`` that decodes with
    `runner`, as (method name, its local variables, the file offset its ``iter_decode`` started
    from), or None.

    pydicom converts YBR to RGB in those two methods unless called with ``raw=True``, a value
    pydicom 3.0 does not pass to plugins (3.1 passes it as ``as_rgb=False``); the caller's frame
    on the stack holds it.  It is found by code object and by the identity of its ``runner``, so
    any other caller (``as_buffer``, ``iter_buffer``, a pydicom laid out differently) finds
    nothing, and the frame stays as coded: slower then, never different.
    """
    array_code, iter_decode_code = _pydicom_code()
    frame = sys._getframe(1)
    file_offset = None
    for _ in range(_STACK_DEPTH):
        if frame is None:
            return None
        code = frame.f_code
        if code is iter_decode_code:
            local = frame.f_locals
            if local.get("self") is not runner:
                return None
            file_offset = local.get("file_offset")  # where a file-like's pixel data starts
        elif code in array_code:
            local = frame.f_locals
            if local.get("runner") is not runner or local.get("raw", True):
                return None
            return array_code[code], local, file_offset
        frame = frame.f_back
    return None


def _decodes_one_frame(runner: Any, method: str, local: dict[str, Any],
                       file_offset: int | None) -> bool:
    """Whether pydicom 3.0's `method` call (its locals `local`) decodes one frame only.

    pydicom 3.0 keeps one Photometric Interpretation for all frames and re-reads it from each
    frame's codestream (a JFIF marker turns "RGB" back into YBR_FULL_422), so "RGB" reported
    for one converted frame must not reach another frame of the same runner."""
    if method == "as_array":
        if local.get("index") is not None:
            return True
        if int(runner.number_of_frames or 1) != 1:
            return False
        # after the frames it expects, as_array decodes any excess frames it finds
        return not runner.get_option("allow_excess_frames", False) or _one_encapsulated_frame(
            runner, file_offset)
    indices = local.get("indices")
    if indices:  # iter_array decodes each index in turn
        return isinstance(indices, (list, tuple, range)) and len(indices) == 1
    # iter_array without indices decodes every frame the encapsulation holds
    return int(runner.number_of_frames or 1) == 1 and _one_encapsulated_frame(runner,
                                                                              file_offset)


def _one_encapsulated_frame(runner: Any, file_offset: int | None) -> bool:
    """Whether the runner's encapsulated pixel data yields one frame to pydicom 3.0 whose
    Number of Frames is 1: its frame boundaries come from the Extended Offset Table, else from
    the Basic Offset Table, else all fragments are one frame (pydicom's generate_frames)."""
    extended = runner.extended_offsets
    if extended:
        offsets = extended[0]
        count = len(offsets) // 8 if isinstance(offsets, (bytes, bytearray)) else len(offsets)
        return count <= 1
    src = runner.src
    if runner.is_binary:
        if file_offset is None:
            return False
        here = src.tell()
        try:
            src.seek(file_offset)
            head = src.read(8)
        finally:
            src.seek(here)
    else:
        head = bytes(memoryview(src)[:8])
    # the Basic Offset Table item (FFFE,E000): at most one 4-byte offset
    return (len(head) == 8 and head[:4] == b"\xfe\xff\x00\xe0"
            and int.from_bytes(head[4:], "little") <= 4)


_YBR = ("YBR_FULL", "YBR_FULL_422")


def _decode_frame(src: bytes, runner: Any) -> bytearray:
    """pydicom decode plugin: decode one frame `src` as `runner` describes it."""
    uid = str(runner.transfer_syntax)
    codec = codec_for(uid)
    spp = runner.samples_per_pixel
    photometric = str(_frame_option(runner, "photometric_interpretation"))
    as_rgb = (codec.converts_ybr and spp == 3 and photometric in _YBR
              and _may_convert_colour(runner))
    spec = FrameSpec(runner.rows, runner.columns, spp, runner.bits_allocated,
                     runner.bits_stored, runner.pixel_representation,
                     runner.planar_configuration if spp > 1 else 0, photometric,
                     runner.get_option("rle_segment_order", ">"), as_rgb=as_rgb)
    spec.validate()
    if codec.threads_inside(codec.frame_nbytes(spec)):
        # pydicom hands over one frame at a time: the codec's own threads are the only
        # parallelism available here
        from turbodicom.decode import default_threads

        spec = replace(spec, threads=default_threads())
    if codec.plugin_frame is not None:
        frame, changes = codec.plugin_frame(src, spec)
    else:
        nbytes = codec.frame_nbytes(spec)
        check_frame_limit(nbytes, f"a {spec.rows} x {spec.columns} frame of "
                          f"{spec.samples_per_pixel} samples of {spec.bits_allocated} bits")
        frame = bytearray(nbytes)
        codec.decode_into(src, frame, spec)
        changes = {}
    if spp > 1:
        # codecs return pixel-interleaved samples unless they say otherwise (RLE)
        changes.setdefault("planar_configuration", 0)
    for name, value in changes.items():
        _set(runner, name, value)
    return frame


def _encode_frame(src: bytes, runner: Any) -> bytes:
    """pydicom encode plugin (RLE Lossless): encode one little-endian frame."""
    from turbodicom.decode import encode_rle

    if runner.get_option("byteorder", "<") == ">":
        raise ValueError("Unsupported option \"byteorder = '>'\"")
    rows, columns, spp = runner.rows, runner.columns, runner.samples_per_pixel
    bits_allocated = runner.bits_allocated
    pixels = rows * columns * spp
    itemsize = bits_allocated // 8
    if pixels and len(src) != pixels * itemsize and len(src) % pixels == 0:
        # pydicom hands over samples sized by Bits Stored: widen to the Bits Allocated container
        have = len(src) // pixels
        kind = "i" if runner.pixel_representation else "u"
        arr = np.frombuffer(src, dtype=f"<{kind}{have}").astype(f"<{kind}{itemsize}")
        src = arr.tobytes()
    return encode_rle(src, rows=rows, columns=columns, samples_per_pixel=spp,
                      bits_allocated=bits_allocated)


def _coders() -> list[tuple[Any, str]]:
    from pydicom.pixels.decoders.base import get_decoder
    from pydicom.pixels.encoders.base import get_encoder

    pairs: list[tuple[Any, str]] = []
    for uid in DECODER_DEPENDENCIES:
        try:
            pairs.append((get_decoder(uid), "_decode_frame"))
        except (NotImplementedError, ValueError, KeyError):
            continue  # this pydicom has no decoder object for the syntax
    for uid in ENCODER_DEPENDENCIES:
        try:
            pairs.append((get_encoder(uid), "_encode_frame"))
        except (NotImplementedError, ValueError, KeyError):
            continue
    return pairs


def _pydicom_major() -> int:
    """pydicom's major version; ModuleNotFoundError naming the extra when it is missing."""
    try:
        import pydicom
    except ImportError as exc:
        raise ModuleNotFoundError(
            "turbodicom's pydicom plugin needs pydicom (2.3 or later): "
            "pip install 'turbodicom[pydicom]'", name="pydicom") from exc
    major = int(str(pydicom.__version__).split(".")[0])
    if major < 2:
        raise ImportError(f"turbodicom plugs into pydicom 2.x and 3.x, not pydicom "
                          f"{pydicom.__version__}: pip install 'turbodicom[pydicom]'")
    return major


def register(prefer: bool = True) -> None:
    """Register turbodicom as a pydicom 3 decoder plugin (and RLE encoder plugin).

    With pydicom 2.x installed, registers :mod:`turbodicom.pydicom2_handler` in
    ``pydicom.config.pixel_data_handlers`` instead.

    Parameters
    ----------
    prefer : bool
        Put turbodicom first so pydicom tries it before its other plugins (default).  With
        False it is tried last, or only when named: ``ds.pixel_array_options(
        decoding_plugin="turbodicom")``.

    Notes
    -----
    Idempotent: calling it again only updates the preference.  pydicom's plugin registry is
    not thread-safe; call this once at start-up.  Without pydicom: ModuleNotFoundError (an
    ImportError) naming the extra to install.
    """
    if _pydicom_major() < 3:
        from turbodicom import pydicom2_handler

        pydicom2_handler.register(prefer=prefer)
        return
    with _lock:
        for coder, func in _coders():
            if LABEL not in coder._available and LABEL not in coder._unavailable:
                coder.add_plugin(LABEL, (__name__, func))
            if LABEL in coder._available:
                fn = coder._available.pop(LABEL)
                if prefer:
                    coder._available = {LABEL: fn, **coder._available}
                else:
                    coder._available[LABEL] = fn


def unregister() -> None:
    """Remove turbodicom from every pydicom decoder and encoder it was registered with."""
    try:
        major = _pydicom_major()
    except ImportError:
        return  # no pydicom: nothing can be registered
    if major < 3:
        from turbodicom import pydicom2_handler

        pydicom2_handler.unregister()
        return
    with _lock:
        for coder, _ in _coders():
            if LABEL in coder._available or LABEL in coder._unavailable:
                coder.remove_plugin(LABEL)


def is_registered() -> bool:
    """Whether turbodicom is currently registered with pydicom's RLE Lossless decoder."""
    if _pydicom_major() < 3:
        from turbodicom import pydicom2_handler

        return pydicom2_handler.is_registered()
    from pydicom.pixels.decoders.base import get_decoder

    return LABEL in get_decoder(RLE_LOSSLESS)._available
