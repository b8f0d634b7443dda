"""A pydicom 2.x pixel data handler: turbodicom inside ``pydicom.config.pixel_data_handlers``.

pydicom 2 (2.3, 2.4) decodes ``ds.pixel_array`` through handler modules listed in
``pydicom.config.pixel_data_handlers``: it asks each in turn whether it supports the transfer
syntax and is available, calls ``get_pixeldata(ds)`` for a 1-D array, reshapes it with
``pydicom.pixel_data_handlers.util.reshape_pixel_array`` and converts YBR to RGB only when
``needs_to_convert_to_RGB(ds)`` says so.  :func:`turbodicom.register` puts this module first in
that list when it finds pydicom 2 (:func:`register` here); :func:`unregister` takes it out.

The array is the one pydicom 2.4's own handlers give, not pydicom 3's:

- samples as coded: YBR_FULL / YBR_FULL_422 JPEG frames stay YCbCr (pydicom 2's pillow and
  pylibjpeg handlers do the same and leave the conversion to ``convert_color_space``);
- bits above Bits Stored are left as decoded (pydicom 2 masks nothing), except in 12-bit lossy
  JPEG, where GDCM (the only pydicom 2 handler decoding it) masks the IDCT's overshoot;
- JPEG 2000: when the codestream is unsigned and Pixel Representation is 1, samples are
  sign-extended from the codestream precision, as pydicom 2 does with
  ``config.APPLY_J2K_CORRECTIONS`` (honoured when set to False);
- the 1-D array is in the order ``reshape_pixel_array`` expects: planar configuration 1 for
  RLE Lossless, 0 for the JPEG family, the dataset's value otherwise.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

import numpy as np

from turbodicom.codecs import J2K_SYNTAXES, RLE_LOSSLESS, FrameSpec, codec_for, supported_syntaxes
from turbodicom.errors import DecodeError

__all__ = ["HANDLER_NAME", "DEPENDENCIES", "SUPPORTED_TRANSFER_SYNTAXES", "is_available",
           "supports_transfer_syntax", "needs_to_convert_to_RGB",
           "should_change_PhotometricInterpretation_to_RGB", "get_pixeldata", "register",
           "unregister", "is_registered"]

HANDLER_NAME = "turbodicom"
#: pydicom 2 lists these (import name: (URL, package name)) when the handler is unavailable
DEPENDENCIES = {"numpy": ("https://numpy.org/", "NumPy"),
                "turbodicom": ("https://pypi.org/project/turbodicom/", "turbodicom")}
SUPPORTED_TRANSFER_SYNTAXES: tuple[str, ...] = supported_syntaxes()

#: pydicom 2's reshape_pixel_array reads these as pixel-interleaved whatever the dataset says
_INTERLEAVED_SYNTAXES = ("1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.57",
                         "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.80",
                         "1.2.840.10008.1.2.4.81", "1.2.840.10008.1.2.4.90",
                         "1.2.840.10008.1.2.4.91")
#: the attribute pydicom 2's ``ds.convert_pixel_data("turbodicom")`` looks up on its config
_CONFIG_ATTR = "turbodicom_handler"


def is_available() -> bool:
    """pydicom 2 handler hook: turbodicom and numpy are importable (they are, if this is)."""
    return True


def supports_transfer_syntax(transfer_syntax: str) -> bool:
    """pydicom 2 handler hook: whether this build decodes `transfer_syntax`."""
    return str(transfer_syntax) in SUPPORTED_TRANSFER_SYNTAXES


def needs_to_convert_to_RGB(ds: Any) -> bool:
    """pydicom 2 handler hook: never; YBR samples come back as coded, as with pydicom 2's
    pillow and pylibjpeg handlers."""
    return False


def should_change_PhotometricInterpretation_to_RGB(ds: Any) -> bool:
    """pydicom 2 handler hook: never (the data is not converted)."""
    return False


def _planar_one(ds: Any, uid: str, samples: int) -> bool:
    """Whether reshape_pixel_array will read our 1-D array as colour-by-plane."""
    if samples == 1:
        return False
    if uid == RLE_LOSSLESS:
        return True
    if uid in _INTERLEAVED_SYNTAXES:
        return False
    return int(ds.get("PlanarConfiguration", 0) or 0) == 1


class _Frames:
    """Decodes frame `index` of an open PixelSource into a 1-D slot of the output array."""

    def __init__(self, px: Any, spec: FrameSpec, dtype: np.dtype, planar_one: bool,
                 j2k_correct: bool) -> None:
        self.px = px
        self.spec = spec
        self.codec = codec_for(px.module.transfer_syntax_uid)
        self.dtype = dtype
        self.planar_one = planar_one
        self.j2k_correct = j2k_correct
        self.items = spec.rows * spec.columns * spec.samples_per_pixel
        self.batch = False  # frame by frame (decode._run_frames), each in pydicom 2's layout

    def run(self, index: int, out: np.ndarray) -> None:
        spec, codec = self.spec, self.codec
        src = self.px.frame(index)
        if codec.name == "j2k":
            self._j2k(src, out)
        elif spec.bits_allocated == 1 and codec.packs_one_bit:
            packed = bytearray(codec.frame_nbytes(spec))
            codec.decode_into(src, packed, spec)
            out[:] = np.unpackbits(np.frombuffer(packed, np.uint8), bitorder="little",
                                   count=self.items)
        elif self.planar_one and codec.name == "rle":
            from turbodicom import _rle

            # RLE codes colour plane by plane: the kernel writes the planes as they are
            _rle.decode_into(src, out.view(np.uint8), rows=spec.rows, columns=spec.columns,
                             samples_per_pixel=spec.samples_per_pixel,
                             bits_allocated=spec.bits_allocated, planar=True)
        elif self.planar_one:
            tmp = np.empty(self.items, self.dtype)
            codec.decode_into(src, tmp.view(np.uint8), spec)
            out.reshape(spec.samples_per_pixel, -1)[:] = tmp.reshape(-1, spec.samples_per_pixel).T
        else:
            codec.decode_into(src, out.view(np.uint8), spec)
            if codec.name == "jpeg" and spec.bits_allocated == 16 and spec.bits_stored < 16:
                # 12-bit lossy JPEG can overshoot Bits Stored; GDCM, the one pydicom 2
                # handler that decodes it, masks the excess bits (as pydicom 3 does)
                from turbodicom import _parse

                _parse.PostProcess(2, spec.bits_stored, spec.pixel_representation == 1,
                                   False)(out.view(np.uint8))

    def _j2k(self, src: Any, out: np.ndarray) -> None:
        """pydicom 2's JPEG 2000 result: the samples widened to Bits Allocated with the
        dataset's signedness, then (APPLY_J2K_CORRECTIONS) sign-extended from the codestream
        precision when the codestream is unsigned and Pixel Representation is 1."""
        from turbodicom import _j2kdec, _parse

        spec = self.spec
        target = out
        if self.planar_one:
            target = np.empty(self.items, self.dtype)
        hdr = _j2kdec.decode_for_dataset(
            src, target.view(np.uint8), bytes_per_sample=max(1, spec.bits_allocated // 8),
            pixel_representation=bool(spec.pixel_representation), monochrome=False,
            threads=spec.threads, rows=spec.rows, columns=spec.columns,
            samples_per_pixel=spec.samples_per_pixel)
        if self.j2k_correct and spec.pixel_representation == 1:
            if not hdr["is_signed"] and hdr["precision"] < spec.bits_allocated:
                _parse.PostProcess(spec.bits_allocated // 8, hdr["precision"], True,
                                   False)(target.view(np.uint8))
        if self.planar_one:
            out.reshape(spec.samples_per_pixel, -1)[:] = target.reshape(
                -1, spec.samples_per_pixel).T


def get_pixeldata(ds: Any) -> np.ndarray:
    """pydicom 2 handler hook: the whole *Pixel Data* of `ds` as a 1-D array.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        A pydicom 2 dataset with encapsulated pixel data in a transfer syntax this build
        decodes (:data:`SUPPORTED_TRANSFER_SYNTAXES`).

    Returns
    -------
    numpy.ndarray
        ``Number of Frames`` frames, dtype ``pydicom.pixel_data_handlers.util.pixel_dtype(ds)``,
        laid out as pydicom 2's ``reshape_pixel_array`` expects.

    Raises
    ------
    DecodeError
        The data is malformed, or holds fewer frames than (0028,0008) says.
    UnsupportedError
        The transfer syntax or a feature of it is not supported by this build.
    """
    from pydicom import config
    from pydicom.pixel_data_handlers.util import pixel_dtype

    from turbodicom.decode import _run_frames, default_threads
    from turbodicom.frames import open_pixels

    uid = str(ds.file_meta.TransferSyntaxUID)
    codec_for(uid)  # UnsupportedError naming the syntax before anything else
    dtype = pixel_dtype(ds)
    with open_pixels(ds) as px:
        m = px.module
        m.validate()
        nframes = m.number_of_frames
        m.check_output_size(nframes)
        spp = m.samples_per_pixel
        spec = FrameSpec(m.rows, m.columns, spp, m.bits_allocated, m.bits_stored,
                         m.pixel_representation, m.planar_configuration if spp > 1 else 0,
                         m.photometric_interpretation, ">", as_rgb=False)
        spec.validate()
        arr = np.empty((nframes, m.rows * m.columns * spp), dtype=dtype)
        threads = default_threads()
        if nframes == 1 and uid in J2K_SYNTAXES:
            from dataclasses import replace

            spec = replace(spec, threads=threads)  # OpenJPEG's workers inside the one frame
        frames = _Frames(px, spec, dtype, _planar_one(ds, uid, spp),
                         bool(getattr(config, "APPLY_J2K_CORRECTIONS", True)))
        if nframes > 1 and px.nr_encoded_frames < nframes:
            raise DecodeError(
                f"(0028,0008) 'Number of Frames' is {nframes} but the encapsulated pixel data "
                f"holds only {px.nr_encoded_frames} frames")
        # pydicom 2 decodes (0028,0008) frames and ignores any excess ones
        _run_frames(frames, list(range(nframes)), arr, threads)  # type: ignore[arg-type]
    return arr.reshape(-1)


# ------------------------------------------------------------------------------------------
# registration
# ------------------------------------------------------------------------------------------
def _config() -> ModuleType:
    import pydicom.config

    return pydicom.config


def register(prefer: bool = True) -> None:
    """Put this handler in ``pydicom.config.pixel_data_handlers`` (first unless `prefer` is
    False, then last), and make ``ds.convert_pixel_data("turbodicom")`` find it.

    Idempotent: calling it again only moves the handler."""
    config = _config()
    me = sys.modules[__name__]
    handlers = config.pixel_data_handlers
    while me in handlers:
        handlers.remove(me)
    if prefer:
        handlers.insert(0, me)
    else:
        handlers.append(me)
    setattr(config, _CONFIG_ATTR, me)


def unregister() -> None:
    """Take this handler out of ``pydicom.config.pixel_data_handlers``."""
    config = _config()
    me = sys.modules[__name__]
    while me in config.pixel_data_handlers:
        config.pixel_data_handlers.remove(me)
    if getattr(config, _CONFIG_ATTR, None) is me:
        delattr(config, _CONFIG_ATTR)


def is_registered() -> bool:
    """Whether this handler is in ``pydicom.config.pixel_data_handlers``."""
    return sys.modules[__name__] in _config().pixel_data_handlers
