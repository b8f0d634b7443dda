# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""JPEG 2000 Part 1: the boundary over csrc/j2k (turbodicom's own decoder, no library)."""
from libc.stdint cimport uint8_t, uint32_t
from libc.string cimport memset
from turbodicom._capi cimport *

include "_status.pxi"


cdef dict _info(td_j2kdec *dec, uint32_t reduce):
    cdef const td_j2kdec_info *info = td_j2kdec_get_info(dec)
    cdef td_j2kdec_comp comp
    cdef td_error err
    cdef uint32_t c
    td_error_clear(&err)
    comps = []
    for c in range(info.components):
        check(td_j2kdec_component(dec, c, reduce, &comp, &err), &err)
        comps.append({"rows": comp.rows, "columns": comp.columns, "precision": comp.precision,
                      "is_signed": bool(comp.is_signed), "dx": comp.dx, "dy": comp.dy})
    return {"rows": info.rows, "columns": info.columns, "components": info.components,
            "precision": info.precision, "is_signed": bool(info.is_signed),
            "uniform": bool(info.uniform), "reversible": bool(info.reversible),
            "mct": bool(info.mct), "htj2k": bool(info.htj2k), "layers": info.layers,
            "progression_order": info.progression_order,
            "decomposition_levels": info.decomposition_levels, "tiles": info.tiles,
            "tile_parts": info.tile_parts, "truncated": bool(info.truncated),
            "jp2": info.format == 1, "component_info": comps}


def read_header(const uint8_t[::1] src not None, uint32_t reduce=0):
    """The main-header facts as a dict, with per-component geometry for `reduce` in
    'component_info' (rows, columns, precision, is_signed, dx, dy)."""
    cdef td_j2kdec *dec = NULL
    cdef td_error err
    cdef int rc
    td_error_clear(&err)
    with nogil:
        rc = td_j2kdec_open(cptr(src), <size_t>src.shape[0], &dec, &err)
    check(rc, &err)
    try:
        return _info(dec, reduce)
    finally:
        td_j2kdec_close(dec)


def decoded_size(const uint8_t[::1] src not None, *, uint32_t bytes_per_sample=0,
                 uint32_t reduce=0, bint planar=False):
    """(bytes, container) that decode_into writes for these options."""
    cdef td_j2kdec *dec = NULL
    cdef td_error err
    cdef td_j2kdec_options opt
    cdef size_t size = 0
    cdef uint32_t bps = 0
    cdef int rc
    memset(&opt, 0, sizeof(opt))
    opt.bytes_per_sample = bytes_per_sample
    opt.reduce = reduce
    opt.flags = TD_J2KDEC_PLANAR if planar else 0
    td_error_clear(&err)
    with nogil:
        rc = td_j2kdec_open(cptr(src), <size_t>src.shape[0], &dec, &err)
        if rc == 0:
            rc = td_j2kdec_decoded_size(dec, &opt, &size, &bps, &err)
        td_j2kdec_close(dec)
    check(rc, &err)
    return size, bps


def decode_into(const uint8_t[::1] src not None, uint8_t[::1] out not None, *,
                uint32_t bytes_per_sample=0, uint32_t reduce=0, uint32_t layers=0,
                uint32_t threads=1, bint planar=False, bint strict=False):
    """Decode one codestream (or JP2 file) into `out` with the GIL released.

    Pixel-interleaved unless planar (then one plane per component, each its own size).
    bytes_per_sample 0 is the natural container of the largest precision.  layers 0 decodes
    every quality layer.  Returns read_header's dict for `reduce` plus 'bytes_per_sample'.
    """
    cdef td_j2kdec *dec = NULL
    cdef td_error err
    cdef td_j2kdec_options opt
    cdef size_t size = 0
    cdef uint32_t bps = 0
    cdef int rc
    memset(&opt, 0, sizeof(opt))
    opt.bytes_per_sample = bytes_per_sample
    opt.reduce = reduce
    opt.layers = layers
    opt.threads = threads
    opt.flags = (TD_J2KDEC_PLANAR if planar else 0) | (TD_J2KDEC_STRICT if strict else 0)
    td_error_clear(&err)
    with nogil:
        rc = td_j2kdec_open(cptr(src), <size_t>src.shape[0], &dec, &err)
        if rc == 0:
            rc = td_j2kdec_decoded_size(dec, &opt, &size, &bps, &err)
        if rc == 0:
            rc = td_j2kdec_decode(dec, wptr(out), <size_t>out.shape[0], &opt, &err)
    try:
        check(rc, &err)
        info = _info(dec, reduce)
        info["bytes_per_sample"] = bps
        return info
    finally:
        td_j2kdec_close(dec)
