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


# Both engines share one contract (td_jls.h): the functions below take the engine's two entry
# points, so CharLS's and turbodicom's own decoder go through the same boundary code.
ctypedef int (*_header_fn)(const uint8_t *src, size_t len, td_jls_info *info,
                           td_error *err) noexcept nogil
ctypedef int (*_decode_fn)(const uint8_t *src, size_t len, uint8_t *out, size_t out_len,
                           const td_jls_options *opt, td_error *err) noexcept nogil


cdef dict _read_header(_header_fn header, const uint8_t[::1] src):
    cdef td_jls_info info
    cdef td_error err
    cdef int rc
    td_error_clear(&err)
    with nogil:
        rc = header(cptr(src), <size_t>src.shape[0], &info, &err)
    check(rc, &err)
    return _facts(&info)


cdef dict _decode(_header_fn header, _decode_fn decode, const uint8_t[::1] src,
                  uint8_t[::1] out, uint32_t bytes_per_sample, bint sign_extend,
                  uint32_t rows, uint32_t columns, uint32_t samples_per_pixel):
    """Header, the dataset check (when rows is given), then the decode: one GIL-free call."""
    cdef td_jls_info info
    cdef td_jls_options opt
    cdef td_error err
    cdef int rc
    cdef bint mismatch = False
    memset(&opt, 0, sizeof(opt))
    opt.bytes_per_sample = bytes_per_sample
    opt.flags = TD_JLS_SIGN_EXTEND if sign_extend else 0
    td_error_clear(&err)
    with nogil:
        rc = header(cptr(src), <size_t>src.shape[0], &info, &err)
        if rc == 0 and rows:
            mismatch = (info.rows != rows or info.columns != columns
                        or info.components != samples_per_pixel)
        if rc == 0 and not mismatch:
            rc = decode(cptr(src), <size_t>src.shape[0], wptr(out), <size_t>out.shape[0], &opt,
                        &err)
    check(rc, &err)
    if mismatch:
        raise _DecodeError(
            f"the JPEG-LS frame is {info.rows} x {info.columns} with {info.components} "
            f"component(s), but (0028,0010) 'Rows' is {rows}, (0028,0011) 'Columns' {columns} "
            f"and (0028,0002) 'Samples per Pixel' {samples_per_pixel}")
    return _facts(&info)


# ------------------------------------------------------------------------------------------
# CharLS (csrc/td_jls): the reference the tests hold turbodicom's own decoder to
# ------------------------------------------------------------------------------------------
def read_header(const uint8_t[::1] src not None):
    """The frame's header facts as a dict (rows, columns, components, bits_per_sample, near,
    interleave_mode, color_transformation, bytes_per_sample)."""
    return _read_header(td_jls_read_header, src)


def decode_into(const uint8_t[::1] src not None, uint8_t[::1] out not None, *,
                uint32_t bytes_per_sample=0, bint sign_extend=False):
    """Decode one frame into `out` with the GIL released: pixel-interleaved little-endian
    samples, unsigned as coded (pydicom plugin layout) unless sign_extend.

    bytes_per_sample 0 writes the natural container of the precision (1 byte up to 8 bits,
    else 2); 1, 2 or 4 widens to that container.  Returns the header facts.
    """
    return _decode(td_jls_read_header, td_jls_decode, src, out, bytes_per_sample, sign_extend,
                   0, 0, 0)


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
    return _decode(td_jls_read_header, td_jls_decode, src, out, bytes_per_sample,
                   pixel_representation, rows, columns, samples_per_pixel)


# ------------------------------------------------------------------------------------------
# turbodicom's own decoder (csrc/td_jlsdec): the same contract, no CharLS; the codec uses it
# ------------------------------------------------------------------------------------------
def own_read_header(const uint8_t[::1] src not None):
    """read_header through turbodicom's own JPEG-LS decoder (csrc/td_jlsdec)."""
    return _read_header(td_jlsdec_read_header, src)


def own_decode_into(const uint8_t[::1] src not None, uint8_t[::1] out not None, *,
                    uint32_t bytes_per_sample=0, bint sign_extend=False):
    """decode_into through turbodicom's own JPEG-LS decoder (csrc/td_jlsdec): the same
    layout, containers and sign extension as CharLS's.  Returns the header facts."""
    return _decode(td_jlsdec_read_header, td_jlsdec_decode, src, out, bytes_per_sample,
                   sign_extend, 0, 0, 0)


def own_decode_for_dataset(const uint8_t[::1] src not None, uint8_t[::1] out not None, *,
                           uint32_t bytes_per_sample, bint pixel_representation,
                           uint32_t rows=0, uint32_t columns=0, uint32_t samples_per_pixel=0):
    """decode_for_dataset through turbodicom's own JPEG-LS decoder (csrc/td_jlsdec)."""
    return _decode(td_jlsdec_read_header, td_jlsdec_decode, src, out, bytes_per_sample,
                   pixel_representation, rows, columns, samples_per_pixel)
