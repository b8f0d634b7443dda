"""pydicom 3 decoder and encoder plugins, and :func:`register` / :func:`unregister`.

pydicom finds decoder plugins only through explicit registration (no entry points), and tries
them in insertion order.  ``register(prefer=True)`` adds turbodicom (label ``"turbodicom"``) to
every pydicom decoder whose transfer syntax this build decodes, moves it to the front, and
registers the RLE Lossless encoder the same way.  Registration is idempotent; ``import
turbodicom`` alone registers nothing.

The decode function follows pydicom's plugin contract: one frame in, little-endian samples in a
``bits_allocated`` container out, and any difference from the dataset's description reported on
the runner (``set_frame_option`` on pydicom 3.1+, ``set_option`` on 3.0).
"""

from __future__ import annotations

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


def _may_convert_colour(runner: Any) -> bool:
    """Whether a codec may hand back a YBR frame already converted to RGB (and say so).

    pydicom 3.1 records the Photometric Interpretation per frame; pydicom 3.0 has one value
    for the whole dataset and converts all frames after the last one, so there only a
    single-frame dataset may be converted here (otherwise pydicom converts, in numpy)."""
    if not runner.get_option("as_rgb", True):
        return False
    return hasattr(runner, "set_frame_option") or int(runner.number_of_frames or 1) == 1


def _decode_frame(src: bytes, runner: Any) -> bytearray:
    """pydicom decode plugin: decode one frame `src` as `runner` describes it."""
    uid = str(runner.transfer_syntax)
    spec = FrameSpec(runner.rows, runner.columns, runner.samples_per_pixel,
                     runner.bits_allocated, runner.bits_stored,
                     runner.pixel_representation,
                     runner.planar_configuration if runner.samples_per_pixel > 1 else 0,
                     str(runner.photometric_interpretation),
                     runner.get_option("rle_segment_order", ">"),
                     as_rgb=_may_convert_colour(runner))
    spec.validate()
    codec = codec_for(uid)
    if codec.inner_threads_min_bytes and codec.frame_nbytes(spec) >= codec.inner_threads_min_bytes:
        # pydicom hands over one frame at a time: the codec's own threads are the only
        # parallelism available here
        from turbodicom.decode import default_threads

        spec = replace(spec, threads=default_threads())
    if codec.plugin_frame is not None:
        frame, changes = codec.plugin_frame(src, spec)
        if spec.samples_per_pixel > 1:
            changes["planar_configuration"] = 0
        for name, value in changes.items():
            _set(runner, name, value)
        return frame
    nbytes = codec.frame_nbytes(spec)
    check_frame_limit(nbytes, f"a {spec.rows} x {spec.columns} frame of "
                      f"{spec.samples_per_pixel} samples of {spec.bits_allocated} bits")
    frame = bytearray(nbytes)
    codec.decode_into(src, frame, spec)
    if spec.bits_allocated == 1 and codec.packs_one_bit:
        # pydicom expects one byte per pixel for encapsulated Bits Allocated 1 frames
        pixels = spec.rows * spec.columns * spec.samples_per_pixel
        frame = bytearray(np.unpackbits(np.frombuffer(frame, np.uint8), bitorder="little",
                                        count=pixels).tobytes())
    if spec.samples_per_pixel > 1:
        _set(runner, "planar_configuration", 0)  # we always return pixel-interleaved samples
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
