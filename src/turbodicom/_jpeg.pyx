# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""JPEG baseline / extended (ITU-T T.81 processes 1, 2, 4): the boundary over csrc/td_jpeg
(8-bit frames through libjpeg-turbo) and csrc/td_jpegdct (turbodicom's own sequential DCT
decoder, 8 and 12 bits per sample)."""
from libc.stdint cimport uint8_t, uint32_t
from turbodicom._capi cimport *

include "_status.pxi"

#: decode_into flags (td_jpeg.h)
ADOBE_RGB = TD_JPEG_ADOBE_RGB
YBR_TO_RGB = TD_JPEG_YBR_TO_RGB
RGB = TD_JPEG_RGB


def has_libjpeg():
    """Whether this build links libjpeg-turbo for 8-bit frames."""
    return bool(td_jpeg_available())


def backend_version():
    """The libjpeg-turbo version this extension is linked with ("" without it)."""
    return td_jpeg_backend_version().decode("ascii", "replace")


def read_header(const uint8_t[::1] src not None):
    """The frame header as libjpeg-turbo reads it, as a dict."""
    cdef td_jpeg_info info
    cdef td_error err
    cdef int rc
    td_error_clear(&err)
    with nogil:
        rc = td_jpeg_read_header(cptr(src), <size_t>src.shape[0], &info, &err)
    check(rc, &err)
    return {"rows": info.rows, "columns": info.columns, "components": info.components,
            "precision": info.precision, "progressive": bool(info.progressive),
            "jfif": bool(info.jfif), "adobe": bool(info.adobe),
            "adobe_transform": info.adobe_transform if info.adobe else None}


def decode_into(const uint8_t[::1] src not None, uint8_t[::1] out not None, *, uint32_t rows,
                uint32_t columns, uint32_t components, unsigned flags=0):
    """Decode one 8-bit frame into `out` (rows * columns * components bytes, interleaved)."""
    cdef td_error err
    cdef int rc
    td_error_clear(&err)
    with nogil:
        rc = td_jpeg_decode(cptr(src), <size_t>src.shape[0], rows, columns, components, flags,
                            wptr(out), <size_t>out.shape[0], &err)
    check(rc, &err)


def dct_read_header(const uint8_t[::1] src not None):
    """The frame header facts (SOF0/SOF1, up to the first scan) as td_jpegdct reads them."""
    cdef td_jpegdct_info info
    cdef td_error err
    cdef int rc
    td_error_clear(&err)
    with nogil:
        rc = td_jpegdct_read_header(cptr(src), <size_t>src.shape[0], &info, &err)
    check(rc, &err)
    n = min(info.components, 4)
    return {"rows": info.rows, "columns": info.columns, "components": info.components,
            "precision": info.precision, "sof_marker": info.sof_marker,
            "restart_interval": info.restart_interval, "jfif": bool(info.jfif),
            "adobe_transform": info.adobe_transform,
            "component_ids": [info.component_ids[i] for i in range(n)],
            "sampling": [(info.sampling[i] >> 4, info.sampling[i] & 15) for i in range(n)]}


def dct_decode_into(const uint8_t[::1] src not None, uint8_t[::1] out not None, *,
                    uint32_t bytes_per_sample, bint rgb=False):
    """Decode one frame with turbodicom's own kernel into `out`: pixel-interleaved
    little-endian samples in a 1- or 2-byte container; `rgb` converts a 3-component frame from
    YCbCr to RGB (libjpeg's fixed-point arithmetic)."""
    cdef td_error err
    cdef int rc
    cdef unsigned flags = TD_JPEGDCT_RGB if rgb else 0
    td_error_clear(&err)
    with nogil:
        rc = td_jpegdct_decode(cptr(src), <size_t>src.shape[0], wptr(out), <size_t>out.shape[0],
                               bytes_per_sample, flags, &err)
    check(rc, &err)
