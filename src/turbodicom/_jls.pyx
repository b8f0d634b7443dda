# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""JPEG-LS: the boundary over csrc/td_jls (CharLS) and csrc/td_jlsdec (turbodicom's own
decoder, the own_* functions: same arguments, same results)."""
from libc.stdint cimport uint8_t, uint32_t
from libc.string cimport memset
from turbodicom._capi cimport *

include "_status.pxi"

from turbodicom.errors import DecodeError as _DecodeError


def backend_version():
    """The CharLS version this extension is linked with."""
    return td_jls_backend_version().decode("ascii", "replace")


cdef dict _facts(const td_jls_info *info):
    return {"rows": info.rows, "columns": info.columns, "components": info.components,
            "bits_per_sample": info.bits_per_sample, "near": info.near,
            "interleave_mode": info.interleave_mode,
            "color_transformation": info.color_transformation,
            "bytes_per_sample": info.bytes_per_sample}


def read_header(const uint8_t[::1] src not None):
    """The frame's header facts as a dict (rows, columns, components, bits_per_sample, near,
    interleave_mode, color_transformation, bytes_per_sample)."""
    cdef td_jls_info info
    cdef td_error err
    cdef int rc
    td_error_clear(&err)
    with nogil:
        rc = td_jls_read_header(cptr(src), <size_t>src.shape[0], &info, &err)
    check(rc, &err)
    return _facts(&info)


def decode_into(const uint8_t[::1] src not None, uint8_t[::1] out not None, *,
                uint32_t bytes_per_sample=0, bint sign_extend=False):
    """Decode one frame into `out` with the GIL released: pixel-interleaved little-endian
    samples, unsigned as coded (pydicom plugin layout) unless sign_extend.

    bytes_per_sample 0 writes the natural container of the precision (1 byte up to 8 bits,
    else 2); 1, 2 or 4 widens to that container.  Returns the header facts.
    """
    cdef td_jls_info info
    cdef td_jls_options opt
    cdef td_error err
    cdef int rc
    memset(&opt, 0, sizeof(opt))
    opt.bytes_per_sample = bytes_per_sample
    opt.flags = TD_JLS_SIGN_EXTEND if sign_extend else 0
    td_error_clear(&err)
    with nogil:
        rc = td_jls_read_header(cptr(src), <size_t>src.shape[0], &info, &err)
        if rc == 0:
            rc = td_jls_decode(cptr(src), <size_t>src.shape[0], wptr(out),
                               <size_t>out.shape[0], &opt, &err)
    check(rc, &err)
    return _facts(&info)


def decode_for_dataset(const uint8_t[::1] src not None, uint8_t[::1] out not None, *,
                       uint32_t bytes_per_sample, bint pixel_representation, uint32_t rows=0,
                       uint32_t columns=0, uint32_t samples_per_pixel=0):
    """Decode one frame into the dataset's container exactly as pydicom's pixel_array ends up.

    pydicom widens the plugin's unsigned samples to the Bits Allocated container and, for
    Pixel Representation 1, sign-extends them from the JPEG-LS precision (its JPEG-LS sign
    correction); both happen here in C in the same GIL-free call.  When rows, columns and
    samples_per_pixel are given (the dataset's), a frame of another size is a DecodeError
    before anything is decoded.  Returns the header facts.
    """
    cdef td_jls_info info
    cdef td_jls_options opt
    cdef td_error err
    cdef int rc
    cdef bint mismatch = False
    memset(&opt, 0, sizeof(opt))
    opt.bytes_per_sample = bytes_per_sample
    opt.flags = TD_JLS_SIGN_EXTEND if pixel_representation else 0
    td_error_clear(&err)
    with nogil:
        rc = td_jls_read_header(cptr(src), <size_t>src.shape[0], &info, &err)
        if rc == 0 and rows:
            mismatch = (info.rows != rows or info.columns != columns
                        or info.components != samples_per_pixel)
        if rc == 0 and not mismatch:
            rc = td_jls_decode(cptr(src), <size_t>src.shape[0], wptr(out),
                               <size_t>out.shape[0], &opt, &err)
    check(rc, &err)
    if mismatch:
        raise _DecodeError(
            f"the JPEG-LS frame is {info.rows} x {info.columns} with {info.components} "
            f"component(s), but (0028,0010) 'Rows' is {rows}, (0028,0011) 'Columns' {columns} "
            f"and (0028,0002) 'Samples per Pixel' {samples_per_pixel}")
    return _facts(&info)


# ------------------------------------------------------------------------------------------
# turbodicom's own decoder (csrc/td_jlsdec): the same contract, no CharLS
# ------------------------------------------------------------------------------------------
def own_read_header(const uint8_t[::1] src not None):
    """read_header through turbodicom's own JPEG-LS decoder (csrc/td_jlsdec)."""
    cdef td_jls_info info
    cdef td_error err
    cdef int rc
    td_error_clear(&err)
    with nogil:
        rc = td_jlsdec_read_header(cptr(src), <size_t>src.shape[0], &info, &err)
    check(rc, &err)
    return _facts(&info)


def own_decode_into(const uint8_t[::1] src not None, uint8_t[::1] out not None, *,
                    uint32_t bytes_per_sample=0, bint sign_extend=False):
    """decode_into through turbodicom's own JPEG-LS decoder (csrc/td_jlsdec): the same
    layout, containers and sign extension as CharLS's.  Returns the header facts."""
    cdef td_jls_info info
    cdef td_jls_options opt
    cdef td_error err
    cdef int rc
    memset(&opt, 0, sizeof(opt))
    opt.bytes_per_sample = bytes_per_sample
    opt.flags = TD_JLS_SIGN_EXTEND if sign_extend else 0
    td_error_clear(&err)
    with nogil:
        rc = td_jlsdec_read_header(cptr(src), <size_t>src.shape[0], &info, &err)
        if rc == 0:
            rc = td_jlsdec_decode(cptr(src), <size_t>src.shape[0], wptr(out),
                                  <size_t>out.shape[0], &opt, &err)
    check(rc, &err)
    return _facts(&info)


def own_decode_for_dataset(const uint8_t[::1] src not None, uint8_t[::1] out not None, *,
                           uint32_t bytes_per_sample, bint pixel_representation,
                           uint32_t rows=0, uint32_t columns=0, uint32_t samples_per_pixel=0):
    """decode_for_dataset through turbodicom's own JPEG-LS decoder (csrc/td_jlsdec)."""
    cdef td_jls_info info
    cdef td_jls_options opt
    cdef td_error err
    cdef int rc
    cdef bint mismatch = False
    memset(&opt, 0, sizeof(opt))
    opt.bytes_per_sample = bytes_per_sample
    opt.flags = TD_JLS_SIGN_EXTEND if pixel_representation else 0
    td_error_clear(&err)
    with nogil:
        rc = td_jlsdec_read_header(cptr(src), <size_t>src.shape[0], &info, &err)
        if rc == 0 and rows:
            mismatch = (info.rows != rows or info.columns != columns
                        or info.components != samples_per_pixel)
        if rc == 0 and not mismatch:
            rc = td_jlsdec_decode(cptr(src), <size_t>src.shape[0], wptr(out),
                                  <size_t>out.shape[0], &opt, &err)
    check(rc, &err)
    if mismatch:
        raise _DecodeError(
            f"the JPEG-LS frame is {info.rows} x {info.columns} with {info.components} "
            f"component(s), but (0028,0010) 'Rows' is {rows}, (0028,0011) 'Columns' {columns} "
            f"and (0028,0002) 'Samples per Pixel' {samples_per_pixel}")
    return _facts(&info)
