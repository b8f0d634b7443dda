# cython: language_level=3
# All C declarations of csrc/, one block per header, 1:1 with the headers (see them for docs).
from libc.stdint cimport uint8_t, uint32_t, int32_t, int64_t


cdef extern from "td.h" nogil:
    enum:
        TD_OK
        TD_E_TRUNCATED
        TD_E_CORRUPT
        TD_E_UNSUPPORTED
        TD_E_OUTPUT_TOO_SMALL
        TD_E_NOMEM
        TD_E_BACKEND
        TD_E_LIMIT
        TD_E_INVALID_ARGUMENT
    ctypedef struct td_error:
        int status
        int64_t offset
        char message[256]
    const char *td_strerror(int status)
    void td_error_clear(td_error *err)


cdef extern from "td_rle.h" nogil:
    enum:
        TD_RLE_PLANAR
        TD_RLE_SEGMENT_ORDER_LE
    size_t td_rle_frame_size(uint32_t rows, uint32_t columns, uint32_t samples_per_pixel,
                             uint32_t bits_allocated)
    int td_rle_decode_frame(const uint8_t *src, size_t src_len, uint32_t rows, uint32_t columns,
                            uint32_t samples_per_pixel, uint32_t bits_allocated, unsigned flags,
                            uint8_t *out, size_t out_len, td_error *err)
    size_t td_rle_encode_bound(uint32_t rows, uint32_t columns, uint32_t samples_per_pixel,
                               uint32_t bits_allocated)
    int td_rle_encode_frame(const uint8_t *src, size_t src_len, uint32_t rows, uint32_t columns,
                            uint32_t samples_per_pixel, uint32_t bits_allocated, uint8_t *out,
                            size_t out_cap, size_t *out_len, td_error *err)


cdef extern from "td_parse.h" nogil:
    enum:
        TD_ENC_UNKNOWN
        TD_ENC_IMPLICIT_LE
        TD_ENC_EXPLICIT_LE
        TD_ENC_EXPLICIT_BE
        TD_ENC_DEFLATED
    ctypedef struct td_image_info:
        uint32_t present
        int encoding
        int64_t dataset_offset
        char transfer_syntax_uid[65]
        uint32_t rows, columns, samples_per_pixel, bits_allocated, bits_stored, high_bit
        uint32_t pixel_representation, planar_configuration
        int64_t number_of_frames
        char photometric_interpretation[17]
        uint32_t pixel_tag
        char pixel_vr[3]
        int64_t pixel_offset
        int64_t pixel_length
        int64_t eot_offset, eot_length
        int64_t eotl_offset, eotl_length
    int td_parse_image(const uint8_t *buf, size_t len, td_image_info *info, td_error *err)
    int td_parse_dataset(const uint8_t *buf, size_t len, size_t offset, int encoding,
                         td_image_info *info, td_error *err)
    int td_parse_encoding_for_syntax(const char *transfer_syntax_uid)


cdef extern from "td_frames.h" nogil:
    ctypedef struct td_span:
        int64_t offset
        int64_t length
    int td_frames_scan(const uint8_t *buf, size_t len, size_t pixel_offset, int big_endian,
                       td_span *bot, td_span *fragments, size_t cap, size_t *nr_fragments,
                       td_error *err)
    int td_frames_assign(const uint8_t *buf, size_t len, int big_endian, td_span bot,
                         const td_span *fragments, size_t nr_fragments, const uint8_t *eot,
                         size_t eot_len, const uint8_t *eotl, size_t eotl_len,
                         int64_t number_of_frames, uint32_t *frame_first, uint32_t *frame_count,
                         size_t cap, size_t *nr_frames, td_error *err)
    int td_frames_locate(const uint8_t *buf, size_t len, size_t pixel_offset, int big_endian,
                         const uint8_t *eot, size_t eot_len, const uint8_t *eotl, size_t eotl_len,
                         int64_t number_of_frames, int64_t index, td_span *fragments, size_t cap,
                         size_t *nr_out, td_error *err)


cdef extern from "td_threads.h" nogil:
    void td_parallel_for(size_t n, uint32_t threads, void (*fn)(void *ctx, size_t i) noexcept nogil,
                         void *ctx)


cdef extern from "td_pixels.h" nogil:
    void td_pixels_fix_unused_bits(uint8_t *buf, size_t nr_samples, uint32_t bytes_per_sample,
                                   uint32_t bits_stored, int is_signed)
    void td_pixels_ybr_full_to_rgb(uint8_t *buf, size_t nr_pixels)


cdef extern from "td_j2k.h" nogil:
    ctypedef struct td_j2k_info:
        int format
        uint32_t rows, columns, components, precision
        int is_signed, uniform, subsampled
        uint32_t bytes_per_sample
        int mct, reversible, htj2k
        uint32_t decomposition_levels, resolution_levels, layers, progression_order, tiles
        int truncated
    ctypedef struct td_j2k_options:
        uint32_t bytes_per_sample
        uint32_t planar
        uint32_t reduce
        uint32_t num_threads
        uint32_t flags
    int td_j2k_read_header(const uint8_t *src, size_t len, td_j2k_info *info, td_error *err)
    int td_j2k_reduced_dims(const td_j2k_info *info, uint32_t reduce, uint32_t *rows,
                            uint32_t *columns, td_error *err)
    int td_j2k_decoded_size(const td_j2k_info *info, const td_j2k_options *opt, size_t *size,
                            td_error *err)
    int td_j2k_decode(const uint8_t *src, size_t len, uint8_t *out, size_t out_len,
                      const td_j2k_options *opt, td_error *err)
    const char *td_j2k_backend_version()


cdef extern from "j2k/td_j2k.h" nogil:
    enum:
        TD_J2KDEC_PLANAR
        TD_J2KDEC_STRICT
    ctypedef struct td_j2kdec_info:
        int format
        uint32_t rows, columns, x_offset, y_offset, components, precision
        int is_signed, uniform, reversible, mct, htj2k
        uint32_t layers, progression_order, decomposition_levels, tiles, tile_parts
        int truncated
    ctypedef struct td_j2kdec_comp:
        uint32_t rows, columns, precision
        int is_signed
        uint32_t dx, dy
    ctypedef struct td_j2kdec_options:
        uint32_t bytes_per_sample, reduce, layers, threads, flags
    ctypedef struct td_j2kdec:
        pass
    int td_j2kdec_open(const uint8_t *src, size_t len, td_j2kdec **dec, td_error *err)
    const td_j2kdec_info *td_j2kdec_get_info(const td_j2kdec *dec)
    int td_j2kdec_component(const td_j2kdec *dec, uint32_t c, uint32_t reduce,
                            td_j2kdec_comp *comp, td_error *err)
    int td_j2kdec_decoded_size(const td_j2kdec *dec, const td_j2kdec_options *opt,
                               size_t *size, uint32_t *bps, td_error *err)
    int td_j2kdec_decode(td_j2kdec *dec, uint8_t *out, size_t out_len,
                         const td_j2kdec_options *opt, td_error *err)
    void td_j2kdec_close(td_j2kdec *dec)
    void td_j2kdec_release_memory()


cdef extern from "td_jls.h" nogil:
    enum:
        TD_JLS_SIGN_EXTEND
    ctypedef struct td_jls_info:
        uint32_t rows, columns, components, bits_per_sample, near, interleave_mode
        uint32_t color_transformation, bytes_per_sample
    ctypedef struct td_jls_options:
        uint32_t bytes_per_sample
        uint32_t flags
    int td_jls_read_header(const uint8_t *src, size_t len, td_jls_info *info, td_error *err)
    int td_jls_decoded_size(const td_jls_info *info, const td_jls_options *opt, size_t *size,
                            td_error *err)
    int td_jls_decode(const uint8_t *src, size_t len, uint8_t *out, size_t out_len,
                      const td_jls_options *opt, td_error *err)
    const char *td_jls_backend_version()


cdef extern from "td_jlsdec.h" nogil:
    int td_jlsdec_read_header(const uint8_t *src, size_t len, td_jls_info *info, td_error *err)
    int td_jlsdec_decoded_size(const td_jls_info *info, const td_jls_options *opt, size_t *size,
                               td_error *err)
    int td_jlsdec_decode(const uint8_t *src, size_t len, uint8_t *out, size_t out_len,
                         const td_jls_options *opt, td_error *err)


cdef extern from "td_ljpeg.h" nogil:
    enum:
        TD_LJPEG_PLANAR
    ctypedef struct td_ljpeg_info:
        uint32_t rows, columns, components, precision, sof_marker, predictor
        uint32_t point_transform, scan_components, restart_interval, rows_from_dnl
        uint8_t component_ids[4]
        uint8_t sampling[4]
    int td_ljpeg_read_header(const uint8_t *src, size_t src_len, td_ljpeg_info *info,
                             td_error *err)
    size_t td_ljpeg_frame_size(const td_ljpeg_info *info, uint32_t bytes_per_sample)
    int td_ljpeg_decode(const uint8_t *src, size_t src_len, uint8_t *out, size_t out_len,
                        uint32_t bytes_per_sample, unsigned flags, td_error *err)


cdef extern from "td_jpegdct.h" nogil:
    enum:
        TD_JPEGDCT_RGB
    ctypedef struct td_jpegdct_info:
        uint32_t rows, columns, components, precision, sof_marker, restart_interval, jfif
        int32_t adobe_transform
        uint8_t component_ids[4]
        uint8_t sampling[4]
    int td_jpegdct_read_header(const uint8_t *src, size_t src_len, td_jpegdct_info *info,
                               td_error *err)
    size_t td_jpegdct_frame_size(const td_jpegdct_info *info, uint32_t bytes_per_sample)
    int td_jpegdct_decode(const uint8_t *src, size_t src_len, uint8_t *out, size_t out_len,
                          uint32_t bytes_per_sample, unsigned flags, td_error *err)

cdef extern from "td_scan.h" nogil:
    enum:
        TD_SCAN_FIRST_READ
        TD_SCAN_WORK_MIN
    ctypedef struct td_scan_value:
        uint32_t tag
        int found
        char vr[3]
        int64_t offset
        int64_t length
    ctypedef struct td_scan_info:
        int encoding
        int big_endian
        int has_file_meta
        char transfer_syntax_uid[65]
        size_t arena_needed
        int64_t bytes_read
    int td_scan_file(const char *path, td_scan_value *values, size_t nr_tags, uint8_t *work,
                     size_t work_len, uint8_t *arena, size_t arena_cap, td_scan_info *info,
                     td_error *err)
    int td_scan_buffer(const uint8_t *buf, size_t len, td_scan_value *values, size_t nr_tags,
                       uint8_t *work, size_t work_len, uint8_t *arena, size_t arena_cap,
                       td_scan_info *info, td_error *err)


cdef extern from "td_jpeg.h" nogil:
    enum:
        TD_JPEG_ADOBE_RGB
        TD_JPEG_YBR_TO_RGB
        TD_JPEG_RGB
        TD_JPEG_MAX_SCANS
    ctypedef struct td_jpeg_info:
        uint32_t rows, columns, components, precision
        int progressive, jfif, adobe, adobe_transform
    int td_jpeg_read_header(const uint8_t *src, size_t src_len, td_jpeg_info *info,
                            td_error *err)
    int td_jpeg_decode(const uint8_t *src, size_t src_len, uint32_t rows, uint32_t columns,
                       uint32_t components, unsigned flags, uint8_t *out, size_t out_len,
                       td_error *err)
    int td_jpeg_available()
    const char *td_jpeg_backend_version()
