# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""JPEG 2000 Part 1: the boundary over csrc/j2k (turbodicom's own decoder, no library)."""
from libc.stdint cimport uint8_t, uint32_t
from libc.stdlib cimport calloc, free
from libc.string cimport memset
from turbodicom._capi cimport *

include "_status.pxi"

from turbodicom._parse import uncleared_bytearray


cdef td_j2kdec_options _options(uint32_t bytes_per_sample, uint32_t reduce, uint32_t layers,
                                 uint32_t threads, bint planar, bint strict) noexcept:
    """The decode options for td_j2kdec_decoded_size / td_j2kdec_decode (td_j2k.h)."""
    cdef td_j2kdec_options opt
    memset(&opt, 0, sizeof(opt))
    opt.bytes_per_sample = bytes_per_sample
    opt.reduce = reduce
    opt.layers = layers
    opt.threads = threads
    opt.flags = (TD_J2KDEC_PLANAR if planar else 0) | (TD_J2KDEC_STRICT if strict else 0)
    return opt


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
            "jp2": info.format == 1, "component_info": comps,
            "bytes_per_sample": (0 if info.precision > 32 else 1 if info.precision <= 8
                                 else 2 if info.precision <= 16 else 4)}


cdef td_j2kdec *_open(const uint8_t[::1] src) except NULL:
    """td_j2kdec_open with the GIL released: the decoder (the caller closes it), or the
    error raised."""
    cdef td_j2kdec *dec = NULL
    cdef td_error err
    cdef int rc
    td_error_clear(&err)
    with nogil:
        rc = td_j2kdec_open(cptr(src), <size_t>src.shape[0], &dec, &err)
    check(rc, &err)
    return dec


def read_header(const uint8_t[::1] src not None, uint32_t reduce=0):
    """The main-header facts as a dict, with per-component geometry for `reduce` in
    'component_info' (rows, columns, precision, is_signed, dx, dy)."""
    cdef td_j2kdec *dec = _open(src)
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
    opt = _options(bytes_per_sample, reduce, 0, 1, planar, False)
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
    opt = _options(bytes_per_sample, reduce, layers, threads, planar, strict)
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


def decode_new(const uint8_t[::1] src not None, *, uint32_t reduce=0, uint32_t layers=0,
               uint32_t threads=1, bint strict=False, planar=None, limit=None):
    """Decode one codestream (or JP2 file) into a new bytearray, reading it once (what
    read_header, decoded_size and decode_into do in three calls): (out, comps, same,
    bytes_per_sample), comps one (rows, columns, precision, is_signed) per component for
    `reduce`, same: every component alike.  out is planar (each plane its component's size)
    when `planar` says so, or when it is None and the components differ, else
    pixel-interleaved, in the natural container of the largest precision (bytes_per_sample).
    limit(nbytes, comps), when given, is called before the buffer is allocated and may raise
    to refuse it.  The GIL is released while the header is read and while it decodes."""
    cdef td_j2kdec *dec = _open(src)
    cdef td_error err
    cdef td_j2kdec_comp comp
    cdef td_j2kdec_options opt
    cdef size_t size = 0
    cdef uint32_t bps = 0, c, n
    cdef uint8_t[::1] view
    cdef int rc
    td_error_clear(&err)
    try:
        n = td_j2kdec_get_info(dec).components
        comps = []
        for c in range(n):
            check(td_j2kdec_component(dec, c, reduce, &comp, &err), &err)
            comps.append((comp.rows, comp.columns, comp.precision, bool(comp.is_signed)))
        same = comps.count(comps[0]) == len(comps)
        opt = _options(0, reduce, layers, threads, not same if planar is None else planar, strict)
        check(td_j2kdec_decoded_size(dec, &opt, &size, &bps, &err), &err)
        if limit is not None:
            limit(size, comps)
        # not cleared: the decoder writes every byte (a tile without tile-parts as zeros; on
        # an error the buffer is dropped); a 512² 16-bit frame's bytearray(size) took 8 µs
        out = uncleared_bytearray(size)
        view = out
        with nogil:
            rc = td_j2kdec_decode(dec, wptr(view), size, &opt, &err)
        check(rc, &err)
        return out, comps, same, bps
    finally:
        td_j2kdec_close(dec)


def reduced_dims(const uint8_t[::1] src not None, uint32_t reduce):
    """(rows, columns) of component 0 decoded with `reduce` resolution levels discarded."""
    info = read_header(src, reduce)
    c0 = info["component_info"][0]
    return c0["rows"], c0["columns"]


cdef struct _ds_params:
    # what decode_for_dataset asks of every frame
    td_j2kdec_options opt
    uint32_t bytes_per_sample, rows, columns, samples_per_pixel, reduce
    bint pixel_representation, monochrome


cdef struct _ds_frame:
    # one frame: its codestream and output slot in, its result out
    const uint8_t *src
    size_t src_len
    uint8_t *out
    size_t out_len
    int rc
    bint mismatch
    td_error err
    uint32_t rows, columns, components, precision, comp_rows, comp_columns
    bint is_signed, mct


cdef void _ds_decode(const _ds_params *p, _ds_frame *f) noexcept nogil:
    """One frame of decode_for_dataset, without the GIL (see its docstring)."""
    cdef td_j2kdec *dec = NULL
    cdef const td_j2kdec_info *info
    cdef td_j2kdec_comp comp
    cdef size_t size = 0, nsamples
    cdef uint32_t bps = 0, natural = 0
    memset(&comp, 0, sizeof(comp))
    td_error_clear(&f.err)
    f.mismatch = False
    f.rc = td_j2kdec_open(f.src, f.src_len, &dec, &f.err)
    if f.rc == 0:
        info = td_j2kdec_get_info(dec)
        f.rows, f.columns, f.components = info.rows, info.columns, info.components
        f.precision, f.is_signed, f.mct = info.precision, info.is_signed != 0, info.mct != 0
        natural = 1 if info.precision <= 8 else 2 if info.precision <= 16 else 4
        if p.rows:
            f.mismatch = (info.rows != p.rows or info.columns != p.columns
                          or info.components != p.samples_per_pixel)
    if f.rc == 0 and not f.mismatch:
        f.rc = td_j2kdec_component(dec, 0, p.reduce, &comp, &f.err)
        f.comp_rows, f.comp_columns = comp.rows, comp.columns
    if f.rc == 0 and not f.mismatch:
        f.rc = td_j2kdec_decoded_size(dec, &p.opt, &size, &bps, &f.err)
    if f.rc == 0 and not f.mismatch:
        f.rc = td_j2kdec_decode(dec, f.out, f.out_len, &p.opt, &f.err)
    if f.rc == 0 and not f.mismatch and p.bytes_per_sample:
        nsamples = size // p.bytes_per_sample
        if natural < p.bytes_per_sample:
            td_pixels_fix_unused_bits(f.out, nsamples, p.bytes_per_sample, 8 * natural,
                                      p.pixel_representation)
        if p.monochrome and f.is_signed != p.pixel_representation:
            td_pixels_fix_unused_bits(f.out, nsamples, p.bytes_per_sample, f.precision,
                                      p.pixel_representation)
    td_j2kdec_close(dec)


cdef dict _ds_result(const _ds_params *p, _ds_frame *f):
    """decode_for_dataset's dict for a decoded frame, or its exception."""
    check(f.rc, &f.err)
    if f.mismatch:
        from turbodicom.errors import DecodeError
        raise DecodeError(
            f"the JPEG 2000 codestream is {f.rows} x {f.columns} with "
            f"{f.components} component(s), but (0028,0010) 'Rows' is {p.rows}, "
            f"(0028,0011) 'Columns' {p.columns} and (0028,0002) 'Samples per Pixel' "
            f"{p.samples_per_pixel}")
    return {"rows": f.comp_rows, "columns": f.comp_columns, "components": f.components,
            "precision": f.precision, "is_signed": bool(f.is_signed),
            "bytes_per_sample": 1 if f.precision <= 8 else 2 if f.precision <= 16 else 4,
            "mct": bool(f.mct)}


cdef _ds_params _ds_init(uint32_t bytes_per_sample, bint pixel_representation, bint monochrome,
                         uint32_t reduce, uint32_t threads, uint32_t rows, uint32_t columns,
                         uint32_t samples_per_pixel) noexcept:
    cdef _ds_params p
    p.opt = _options(bytes_per_sample, reduce, 0, threads, False, False)
    p.bytes_per_sample = bytes_per_sample
    p.pixel_representation = pixel_representation
    p.monochrome = monochrome
    p.reduce = reduce
    p.rows, p.columns, p.samples_per_pixel = rows, columns, samples_per_pixel
    return p


def decode_for_dataset(const uint8_t[::1] src not None, uint8_t[::1] out not None, *,
                       uint32_t bytes_per_sample, bint pixel_representation, bint monochrome,
                       uint32_t reduce=0, uint32_t threads=1, uint32_t rows=0,
                       uint32_t columns=0, uint32_t samples_per_pixel=0):
    """Decode one frame into the dataset's container exactly as pydicom's pixel_array ends up
    (the contract of _j2k.decode_for_dataset, with our decoder).

    pydicom reads the plugin's natural-container samples with the dataset's signedness, widens
    them to the Bits Allocated container, then (monochrome only) shifts out the bits above the
    codestream precision when the codestream's sign disagrees with Pixel Representation; both
    are done here in C.  When rows, columns and samples_per_pixel are given (the dataset's), a
    codestream of another size is a DecodeError before anything is decoded.  Returns a dict
    with the decoded rows and columns, components, precision, is_signed, bytes_per_sample (the
    natural container) and mct.
    """
    cdef _ds_params p = _ds_init(bytes_per_sample, pixel_representation, monochrome, reduce,
                                 threads, rows, columns, samples_per_pixel)
    cdef _ds_frame f
    memset(&f, 0, sizeof(f))
    f.src, f.src_len = cptr(src), <size_t>src.shape[0]
    f.out, f.out_len = wptr(out), <size_t>out.shape[0]
    with nogil:
        _ds_decode(&p, &f)
    return _ds_result(&p, &f)


cdef struct _ds_batch:
    const _ds_params *p     # one thread inside the frame
    const _ds_params *tail  # threads inside the frame
    size_t tail_from        # the frames from here on use tail
    _ds_frame *frames


cdef void _ds_item(void *ctx, size_t i) noexcept nogil:
    cdef _ds_batch *b = <_ds_batch *>ctx
    _ds_decode(b.tail if i >= b.tail_from else b.p, &b.frames[i])


def decode_frames_for_dataset(srcs, uint8_t[:, ::1] out not None, *, uint32_t bytes_per_sample,
                              bint pixel_representation, bint monochrome, uint32_t reduce=0,
                              uint32_t threads=1, uint32_t rows=0, uint32_t columns=0,
                              uint32_t samples_per_pixel=0):
    """decode_for_dataset for several frames at once: codestream srcs[k] into row k of out,
    the frames shared out over `threads` threads with the GIL released once for all of them.
    Each frame runs on one thread, except the last ``len(srcs) % threads`` (the ones left
    once the others are shared out evenly, while the other threads run out of frames): those
    share the threads inside the frame (td_threads.h: a thread that finds no frame left joins
    their code-blocks).  Every frame is decoded; then the first failing frame's exception is
    raised, else the list of decode_for_dataset's dicts."""
    cdef Py_ssize_t n = len(srcs), k
    if out.shape[0] != n:
        raise ValueError(f"{n} frames but {out.shape[0]} output rows")
    cdef _ds_params p = _ds_init(bytes_per_sample, pixel_representation, monochrome, reduce,
                                 1, rows, columns, samples_per_pixel)
    cdef size_t left = <size_t>n % threads if threads > 1 else 0
    cdef _ds_params tail = _ds_init(bytes_per_sample, pixel_representation, monochrome, reduce,
                                    (threads + left - 1) // left if left else 1, rows, columns,
                                    samples_per_pixel)
    cdef _ds_batch b
    cdef const uint8_t[::1] view
    views = []  # keeps every codestream's buffer alive while the threads read it
    b.p = &p
    b.tail = &tail
    b.tail_from = <size_t>n - left
    b.frames = <_ds_frame *>calloc(n if n else 1, sizeof(_ds_frame))
    if b.frames == NULL:
        raise MemoryError()
    try:
        for k in range(n):
            view = srcs[k]
            views.append(view)
            b.frames[k].src, b.frames[k].src_len = cptr(view), <size_t>view.shape[0]
            b.frames[k].out = &out[k, 0] if out.shape[1] else _EMPTY
            b.frames[k].out_len = <size_t>out.shape[1]
        with nogil:
            td_parallel_for(<size_t>n, threads, _ds_item, &b)
        return [_ds_result(&p, &b.frames[k]) for k in range(n)]
    finally:
        free(b.frames)


def release_memory():
    """Free the working buffers decodes keep for the next ones (one process-wide cache,
    bounded by a multiple of the largest recent frame and by 128 MiB; td_j2k.h)."""
    with nogil:
        td_j2kdec_release_memory()
