"""turbodicom: fast DICOM pixel data decoding with C kernels, and a drop-in pydicom plugin.

>>> import turbodicom
>>> arr = turbodicom.decode("image.dcm")          # same array as pydicom's ds.pixel_array
>>> turbodicom.register()                          # make pydicom itself use turbodicom

Importing turbodicom has no side effects: nothing is registered with pydicom until
:func:`register` is called.
"""

from turbodicom._version import __version__
from turbodicom.codecs import features
from turbodicom.decode import decode, decode_frame, encode_rle, iter_frames
from turbodicom.errors import (
    DecodeError,
    LimitError,
    ScanError,
    TurboDicomError,
    UnsupportedError,
)
from turbodicom.frames import PixelModule, open_pixels
from turbodicom.scan import ScanResult, scan


def register(prefer: bool = True) -> None:
    """Register turbodicom as a pydicom 3 decoder/encoder plugin (label ``"turbodicom"``),
    or with pydicom 2 as the first of ``pydicom.config.pixel_data_handlers``.

    See :func:`turbodicom.pydicom_plugin.register`.
    """
    from turbodicom import pydicom_plugin

    pydicom_plugin.register(prefer=prefer)


def unregister() -> None:
    """Remove turbodicom's pydicom plugins."""
    from turbodicom import pydicom_plugin

    pydicom_plugin.unregister()


__all__ = [
    "__version__",
    "decode",
    "decode_frame",
    "encode_rle",
    "iter_frames",
    "features",
    "register",
    "unregister",
    "open_pixels",
    "PixelModule",
    "TurboDicomError",
    "DecodeError",
    "UnsupportedError",
    "ScanError",
    "LimitError",
    "scan",
    "ScanResult",
]
