# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""JPEG Lossless, process 14 and SV1 (ITU-T T.81 Annex H): the boundary over csrc/td_ljpeg."""
from libc.stdint cimport uint8_t, uint32_t
from turbodicom._capi cimport *

include "_status.pxi"


def read_header(const uint8_t[::1] src not None):
    """The frame header facts (SOF3 and the first scan) as a dict."""
    cdef td_ljpeg_info info
    cdef td_error err
    cdef int rc
    td_error_clear(&err)
    with nogil:
        rc = td_ljpeg_read_header(cptr(src), <size_t>src.shape[0], &info, &err)
    check(rc, &err)
    return {"rows": info.rows, "columns": info.columns, "components": info.components,
            "precision": info.precision, "predictor": info.predictor,
            "point_transform": info.point_transform,
            "component_ids": [info.component_ids[i] for i in range(min(info.components, 4))],
            "restart_interval": info.restart_interval}


def decode_into(const uint8_t[::1] src not None, uint8_t[::1] out not None, *,
                uint32_t bytes_per_sample, bint planar=False):
    """Decode one frame into `out` (little-endian samples, 1- or 2-byte container)."""
    cdef td_error err
    cdef int rc
    cdef unsigned flags = TD_LJPEG_PLANAR if planar else 0
    td_error_clear(&err)
    with nogil:
        rc = td_ljpeg_decode(cptr(src), <size_t>src.shape[0], wptr(out), <size_t>out.shape[0],
                             bytes_per_sample, flags, &err)
    check(rc, &err)
