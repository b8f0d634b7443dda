# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""RLE Lossless (PS3.5 Annex G) decode and encode: the boundary over csrc/td_rle."""
from libc.stdint cimport uint8_t, uint32_t
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING
from turbodicom._capi cimport *

include "_status.pxi"


def frame_size(uint32_t rows, uint32_t columns, uint32_t samples_per_pixel,
               uint32_t bits_allocated):
    """Bytes one decoded frame occupies (0 if the description is impossible)."""
    return td_rle_frame_size(rows, columns, samples_per_pixel, bits_allocated)


def decode_into(const uint8_t[::1] src not None, uint8_t[::1] out not None, *, uint32_t rows,
                uint32_t columns, uint32_t samples_per_pixel, uint32_t bits_allocated,
                bint planar=False, bint segment_order_le=False):
    """Decode one RLE frame into `out` (validated by the caller) with the GIL released."""
    cdef td_error err
    cdef int rc
    cdef unsigned flags = (TD_RLE_PLANAR if planar else 0) | (
        TD_RLE_SEGMENT_ORDER_LE if segment_order_le else 0)
    td_error_clear(&err)
    with nogil:
        rc = td_rle_decode_frame(cptr(src), <size_t>src.shape[0], rows,
                                 columns, samples_per_pixel, bits_allocated, flags,
                                 wptr(out), <size_t>out.shape[0], &err)
    check(rc, &err)


def encode(const uint8_t[::1] src not None, *, uint32_t rows, uint32_t columns,
           uint32_t samples_per_pixel, uint32_t bits_allocated):
    """Encode one frame of little-endian, pixel-interleaved samples; return the RLE bytes."""
    cdef td_error err
    cdef int rc
    cdef size_t written = 0
    cdef size_t bound = td_rle_encode_bound(rows, columns, samples_per_pixel, bits_allocated)
    if bound == 0:
        raise ValueError("impossible image description for RLE encoding")
    cdef bytes out = PyBytes_FromStringAndSize(NULL, <Py_ssize_t>bound)
    cdef uint8_t *po = <uint8_t *>PyBytes_AS_STRING(out)
    td_error_clear(&err)
    with nogil:
        rc = td_rle_encode_frame(cptr(src), <size_t>src.shape[0], rows,
                                 columns, samples_per_pixel, bits_allocated, po, bound, &written,
                                 &err)
    check(rc, &err)
    return out[:written]
