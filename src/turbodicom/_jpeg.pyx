# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""JPEG baseline and extended sequential DCT (ITU-T T.81 Annex F): the boundary over
csrc/td_jpegdct (our own decoder, 8 and 12 bits per sample)."""
from libc.stdint cimport uint8_t, uint32_t
from turbodicom._capi cimport *

include "_status.pxi"


def dct_read_header(const uint8_t[::1] src not None):
    """The frame header facts (SOF0/SOF1, up to the first scan) as a dict."""
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
    """Decode one frame into `out`: pixel-interleaved little-endian samples in a 1- or 2-byte
    container; `rgb` converts a 3-component frame from YCbCr to RGB."""
    cdef td_error err
    cdef int rc
    cdef unsigned flags = TD_JPEGDCT_RGB if rgb else 0
    td_error_clear(&err)
    with nogil:
        rc = td_jpegdct_decode(cptr(src), <size_t>src.shape[0], wptr(out), <size_t>out.shape[0],
                               bytes_per_sample, flags, &err)
    check(rc, &err)
