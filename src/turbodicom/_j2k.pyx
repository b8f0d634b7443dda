# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""JPEG 2000 / HTJ2K: the boundary over csrc/td_j2k (OpenJPEG)."""
from libc.stdint cimport uint8_t, uint32_t
from libc.string cimport memset
from turbodicom._capi cimport *

include "_status.pxi"

from turbodicom.errors import DecodeError as _DecodeError


cdef inline td_j2k_options _options(uint32_t bytes_per_sample, uint32_t reduce,
                                    uint32_t threads) noexcept:
    cdef td_j2k_options opt
    memset(&opt, 0, sizeof(opt))
    opt.bytes_per_sample = bytes_per_sample
    opt.reduce = reduce
    opt.num_threads = threads
    return opt


def backend_version():
    """The OpenJPEG version this extension is linked with."""
    return td_j2k_backend_version().decode("ascii", "replace")


def read_header(const uint8_t[::1] src not None):
    """The codestream main header facts as a dict (precision, is_signed, mct, ...)."""
    cdef td_j2k_info info
    cdef td_error err
    cdef int rc
    td_error_clear(&err)
    with nogil:
        rc = td_j2k_read_header(cptr(src), <size_t>src.shape[0], &info, &err)
    check(rc, &err)
    return {"rows": info.rows, "columns": info.columns, "components": info.components,
            "precision": info.precision, "is_signed": bool(info.is_signed),
            "bytes_per_sample": info.bytes_per_sample, "mct": bool(info.mct),
            "reversible": bool(info.reversible), "htj2k": bool(info.htj2k),
            "resolution_levels": info.resolution_levels, "tiles": info.tiles,
            "subsampled": bool(info.subsampled)}


def reduced_dims(const uint8_t[::1] src not None, uint32_t reduce):
    """(rows, columns) of the frame decoded with `reduce` resolution levels discarded."""
    cdef td_j2k_info info
    cdef td_error err
    cdef uint32_t rows = 0, columns = 0
    cdef int rc
    td_error_clear(&err)
    with nogil:
        rc = td_j2k_read_header(cptr(src), <size_t>src.shape[0], &info, &err)
        if rc == 0:
            rc = td_j2k_reduced_dims(&info, reduce, &rows, &columns, &err)
    check(rc, &err)
    return rows, columns


cdef dict _decoded(const td_j2k_info *info, uint32_t rows, uint32_t columns):
    """What a decode call returns: the frame's header facts and the decoded dimensions."""
    return {"rows": rows, "columns": columns, "components": info.components,
            "precision": info.precision, "is_signed": bool(info.is_signed),
            "bytes_per_sample": info.bytes_per_sample, "mct": bool(info.mct)}


def decode_into(const uint8_t[::1] src not None, uint8_t[::1] out not None, *,
                uint32_t bytes_per_sample=0, uint32_t reduce=0, uint32_t threads=1):
    """Decode one frame into `out` with the GIL released.

    bytes_per_sample 0 writes the codestream's natural container (pydicom plugin layout);
    1, 2 or 4 widens to that container.  Returns a dict of the frame's header facts
    (precision, is_signed, bytes_per_sample, mct, components) and the decoded rows and
    columns (reduced ones when reduce > 0).
    """
    cdef td_j2k_info info
    cdef td_j2k_options opt
    cdef td_error err
    cdef uint32_t rows = 0, columns = 0
    cdef int rc
    opt = _options(bytes_per_sample, reduce, threads)
    td_error_clear(&err)
    with nogil:
        rc = td_j2k_read_header(cptr(src), <size_t>src.shape[0], &info, &err)
        if rc == 0:
            rc = td_j2k_reduced_dims(&info, reduce, &rows, &columns, &err)
        if rc == 0:
            rc = td_j2k_decode(cptr(src), <size_t>src.shape[0], wptr(out),
                               <size_t>out.shape[0], &opt, &err)
    check(rc, &err)
    return _decoded(&info, rows, columns)


def decode_for_dataset(const uint8_t[::1] src not None, uint8_t[::1] out not None, *,
                       uint32_t bytes_per_sample, bint pixel_representation, bint monochrome,
                       uint32_t reduce=0, uint32_t threads=1, uint32_t rows=0,
                       uint32_t columns=0, uint32_t samples_per_pixel=0):
    """Decode one frame into the dataset's container exactly as pydicom's pixel_array ends up.

    pydicom reads the plugin's natural-container samples with the dataset's signedness, widens
    them to the Bits Allocated container, then (monochrome only) shifts out the bits above the
    codestream precision when the codestream's sign disagrees with Pixel Representation.  Both
    steps are done here in C on the widened samples, in the same GIL-free call.  When rows,
    columns and samples_per_pixel are given (the dataset's), a codestream of another size is a
    DecodeError before anything is decoded.  Returns the same dict as decode_into.
    """
    cdef td_j2k_info info
    cdef td_j2k_options opt
    cdef td_error err
    cdef uint32_t out_rows = 0, out_columns = 0
    cdef int rc
    cdef bint mismatch = False
    cdef size_t nsamples
    opt = _options(bytes_per_sample, reduce, threads)
    td_error_clear(&err)
    with nogil:
        rc = td_j2k_read_header(cptr(src), <size_t>src.shape[0], &info, &err)
        if rc == 0 and rows:
            mismatch = (info.rows != rows or info.columns != columns
                        or info.components != samples_per_pixel)
        if rc == 0 and not mismatch:
            rc = td_j2k_reduced_dims(&info, reduce, &out_rows, &out_columns, &err)
        if rc == 0 and not mismatch:
            rc = td_j2k_decode(cptr(src), <size_t>src.shape[0], wptr(out),
                               <size_t>out.shape[0], &opt, &err)
        if rc == 0 and not mismatch and bytes_per_sample:
            nsamples = <size_t>out.shape[0] // bytes_per_sample
            if info.bytes_per_sample < bytes_per_sample:
                # pydicom's frombuffer(natural container, dataset signedness) then widening
                td_pixels_fix_unused_bits(wptr(out), nsamples, bytes_per_sample,
                                          8 * info.bytes_per_sample, pixel_representation)
            if monochrome and (info.is_signed != 0) != pixel_representation:
                td_pixels_fix_unused_bits(wptr(out), nsamples, bytes_per_sample,
                                          info.precision, pixel_representation)
    check(rc, &err)
    if mismatch:
        raise _DecodeError(
            f"the JPEG 2000 codestream is {info.rows} x {info.columns} with {info.components} "
            f"component(s), but (0028,0010) 'Rows' is {rows}, (0028,0011) 'Columns' {columns} "
            f"and (0028,0002) 'Samples per Pixel' {samples_per_pixel}")
    return _decoded(&info, out_rows, out_columns)
