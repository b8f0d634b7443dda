# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Element walker, frame table and pixel post-processing (csrc/td_parse, td_frames, td_pixels)."""
from libc.stdint cimport uint8_t, uint32_t, int64_t
from libc.stdlib cimport malloc, free
from cpython.bytearray cimport PyByteArray_FromStringAndSize
from turbodicom._capi cimport *

include "_status.pxi"

ENC_IMPLICIT_LE = TD_ENC_IMPLICIT_LE
ENC_EXPLICIT_LE = TD_ENC_EXPLICIT_LE
ENC_EXPLICIT_BE = TD_ENC_EXPLICIT_BE
ENC_DEFLATED = TD_ENC_DEFLATED


cdef dict _info_dict(td_image_info *info):
    return {
        "present": info.present,
        "encoding": info.encoding,
        "dataset_offset": info.dataset_offset,
        "transfer_syntax_uid": info.transfer_syntax_uid.decode("ascii", "replace"),
        "rows": info.rows,
        "columns": info.columns,
        "samples_per_pixel": info.samples_per_pixel,
        "bits_allocated": info.bits_allocated,
        "bits_stored": info.bits_stored,
        "high_bit": info.high_bit,
        "pixel_representation": info.pixel_representation,
        "planar_configuration": info.planar_configuration,
        "number_of_frames": info.number_of_frames,
        "photometric_interpretation": info.photometric_interpretation.decode("ascii", "replace"),
        "pixel_tag": info.pixel_tag,
        "pixel_vr": info.pixel_vr.decode("ascii", "replace"),
        "pixel_offset": info.pixel_offset,
        "pixel_length": info.pixel_length,
        "eot": (info.eot_offset, info.eot_length),
        "eotl": (info.eotl_offset, info.eotl_length),
    }


def uncleared_bytearray(Py_ssize_t n):
    """A bytearray of n bytes holding whatever its memory held: for a decoder that writes
    every byte of its output (Codec.fills_output)."""
    if n < 0:
        raise ValueError(f"negative size {n}")
    return PyByteArray_FromStringAndSize(NULL, n)


def parse_image(const uint8_t[::1] buf not None):
    """Walk a Part 10 file (or bare dataset) in `buf`; return the pixel-related facts as a dict."""
    cdef td_image_info info
    cdef td_error err
    cdef int rc
    td_error_clear(&err)
    with nogil:
        rc = td_parse_image(&buf[0] if buf.shape[0] else NULL, <size_t>buf.shape[0], &info, &err)
    if buf.shape[0] == 0:
        from turbodicom.errors import DecodeError
        raise DecodeError("empty input: no DICOM data")
    check(rc, &err)
    return _info_dict(&info)


def parse_dataset(const uint8_t[::1] buf not None, size_t offset, int encoding, dict meta):
    """Walk a bare dataset (e.g. an inflated deflated dataset); `meta` supplies the file meta."""
    cdef td_image_info info
    cdef td_error err
    cdef int rc
    cdef bytes ts = meta["transfer_syntax_uid"].encode("ascii")[:64]
    td_error_clear(&err)
    if buf.shape[0] == 0:
        from turbodicom.errors import DecodeError
        raise DecodeError("empty dataset")
    info.present = meta["present"]
    info.number_of_frames = 1
    info.rows = info.columns = info.samples_per_pixel = 0
    info.bits_allocated = info.bits_stored = info.high_bit = 0
    info.pixel_representation = info.planar_configuration = 0
    info.photometric_interpretation[0] = 0
    info.pixel_tag = 0
    info.pixel_vr[0] = 0
    info.pixel_offset = info.eot_offset = info.eotl_offset = -1
    info.pixel_length = 0
    info.eot_length = info.eotl_length = -1
    info.transfer_syntax_uid[:len(ts)] = ts
    info.transfer_syntax_uid[len(ts)] = 0
    with nogil:
        rc = td_parse_dataset(&buf[0], <size_t>buf.shape[0], offset, encoding, &info, &err)
    check(rc, &err)
    return _info_dict(&info)


def encoding_for_syntax(str uid):
    """The dataset encoding (ENC_*) a transfer syntax UID implies."""
    return td_parse_encoding_for_syntax(uid.encode("ascii", "replace"))


cdef const uint8_t *_opt_ptr(const uint8_t[::1] b):
    return &b[0] if b is not None and b.shape[0] else NULL


def frame_table(const uint8_t[::1] buf not None, size_t pixel_offset, bint big_endian,
                long long number_of_frames, const uint8_t[::1] eot=None,
                const uint8_t[::1] eotl=None):
    """Return the fragments of encapsulated pixel data grouped by frame.

    Returns a list with one entry per frame, each a list of ``(offset, length)`` spans of `buf`.
    """
    cdef td_error err
    cdef td_span bot
    cdef size_t nfrag = 0, nframes = 0, i, j
    cdef td_span *frags = NULL
    cdef uint32_t *first = NULL
    cdef uint32_t *count = NULL
    cdef int rc
    cdef const uint8_t *p = &buf[0] if buf.shape[0] else NULL
    cdef const uint8_t *peot = _opt_ptr(eot)
    cdef const uint8_t *peotl = _opt_ptr(eotl)
    cdef size_t leot = eot.shape[0] if eot is not None else 0
    cdef size_t leotl = eotl.shape[0] if eotl is not None else 0
    td_error_clear(&err)
    if p == NULL:
        from turbodicom.errors import DecodeError
        raise DecodeError("encapsulated pixel data is empty")
    try:
        with nogil:
            rc = td_frames_scan(p, <size_t>buf.shape[0], pixel_offset, big_endian, &bot, NULL, 0,
                                &nfrag, &err)
        check(rc, &err)
        frags = <td_span *>malloc((nfrag + 1) * sizeof(td_span))
        first = <uint32_t *>malloc((nfrag + 1) * sizeof(uint32_t))
        count = <uint32_t *>malloc((nfrag + 1) * sizeof(uint32_t))
        if frags == NULL or first == NULL or count == NULL:
            raise MemoryError()
        with nogil:
            rc = td_frames_scan(p, <size_t>buf.shape[0], pixel_offset, big_endian, &bot, frags,
                                nfrag, &nfrag, &err)
            if rc == 0:
                rc = td_frames_assign(p, <size_t>buf.shape[0], big_endian, bot, frags, nfrag,
                                      peot, leot, peotl, leotl, number_of_frames, first, count,
                                      0, &nframes, &err)
        check(rc, &err)
        if nframes > nfrag:  # EOT / BOT entries beyond the fragments
            from turbodicom.errors import DecodeError
            raise DecodeError(
                f"the offset table lists {nframes} frames but there are only {nfrag} fragments")
        with nogil:
            rc = td_frames_assign(p, <size_t>buf.shape[0], big_endian, bot, frags, nfrag,
                                  peot, leot, peotl, leotl, number_of_frames, first, count,
                                  nframes, &nframes, &err)
        check(rc, &err)
        result = []
        for i in range(nframes):
            result.append([(frags[j].offset, frags[j].length)
                           for j in range(first[i], first[i] + count[i])])
        # The EOT may give a frame length shorter than its fragment.
        if peot != NULL and peotl != NULL and leot == leotl and leot // 8 == nframes:
            import struct
            lengths = struct.unpack(f"{'>' if big_endian else '<'}{nframes}Q", bytes(eotl))
            for i in range(nframes):
                if len(result[i]) == 1:
                    result[i] = [(result[i][0][0], min(result[i][0][1], lengths[i]))]
        return result
    finally:
        free(frags)
        free(first)
        free(count)


def locate_frame(const uint8_t[::1] buf not None, size_t pixel_offset, bint big_endian,
                 long long number_of_frames, long long index, const uint8_t[::1] eot=None,
                 const uint8_t[::1] eotl=None):
    """Spans of frame `index` found through the EOT/BOT alone, or None if neither is usable."""
    cdef td_error err
    cdef size_t n = 0, cap = 64
    cdef td_span *frags = NULL
    cdef int rc
    cdef const uint8_t *p = &buf[0] if buf.shape[0] else NULL
    cdef const uint8_t *peot = _opt_ptr(eot)
    cdef const uint8_t *peotl = _opt_ptr(eotl)
    cdef size_t leot = eot.shape[0] if eot is not None else 0
    cdef size_t leotl = eotl.shape[0] if eotl is not None else 0
    td_error_clear(&err)
    if p == NULL:
        return None
    try:
        while True:
            frags = <td_span *>malloc(cap * sizeof(td_span))
            if frags == NULL:
                raise MemoryError()
            with nogil:
                rc = td_frames_locate(p, <size_t>buf.shape[0], pixel_offset, big_endian, peot,
                                      leot, peotl, leotl, number_of_frames, index, frags, cap,
                                      &n, &err)
            if rc == TD_E_UNSUPPORTED:
                return None
            check(rc, &err)
            if n <= cap:
                return [(frags[i].offset, frags[i].length) for i in range(n)]
            free(frags)
            frags = NULL
            cap = n
    finally:
        free(frags)


def fix_unused_bits(uint8_t[::1] buf not None, unsigned bytes_per_sample, unsigned bits_stored,
                    bint is_signed):
    """Mask or sign-extend the unused high bits of every sample in `buf`, in place."""
    with nogil:
        td_pixels_fix_unused_bits(&buf[0] if buf.shape[0] else NULL,
                                  <size_t>buf.shape[0] // bytes_per_sample, bytes_per_sample,
                                  bits_stored, is_signed)


def ybr_full_to_rgb(uint8_t[::1] buf not None):
    """Convert pixel-interleaved 8-bit YBR_FULL to RGB in place (pydicom's arithmetic)."""
    with nogil:
        td_pixels_ybr_full_to_rgb(&buf[0] if buf.shape[0] else NULL, <size_t>buf.shape[0] // 3)


cdef class PostProcess:
    """Post-processing of one decoded frame, applied in place with the GIL released."""
    cdef unsigned bytes_per_sample, bits_stored
    cdef bint is_signed, ybr_to_rgb, fix_bits

    def __init__(self, unsigned bytes_per_sample, unsigned bits_stored, bint is_signed,
                 bint ybr_to_rgb):
        self.bytes_per_sample = bytes_per_sample
        self.bits_stored = bits_stored
        self.is_signed = is_signed
        self.ybr_to_rgb = ybr_to_rgb
        self.fix_bits = 0 < bits_stored < 8 * bytes_per_sample

    def __call__(self, uint8_t[::1] buf not None):
        cdef size_t n = <size_t>buf.shape[0]
        if n == 0:
            return
        with nogil:
            if self.fix_bits:
                td_pixels_fix_unused_bits(&buf[0], n // self.bytes_per_sample,
                                          self.bytes_per_sample, self.bits_stored, self.is_signed)
            if self.ybr_to_rgb:
                td_pixels_ybr_full_to_rgb(&buf[0], n // 3)
