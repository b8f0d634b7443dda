/* td_jls.c - JPEG-LS through CharLS; see td_jls.h for the contract. */
#include "td_jls.h"

#include <charls/charls.h>
#include <stdlib.h>
#include <string.h>

#include "td_bytes.h"
#include "td_jlsdec.h"
#include "td_pixels.h"

/* ---------------------------------------------------------------------------------------------
 * CharLS errors -> td status
 * ------------------------------------------------------------------------------------------- */

static int td_jls_status(charls_jpegls_errc ec)
{
    switch (ec) {
    case CHARLS_JPEGLS_ERRC_SOURCE_BUFFER_TOO_SMALL:
    case CHARLS_JPEGLS_ERRC_END_OF_IMAGE_MARKER_NOT_FOUND:
        return TD_E_TRUNCATED;
    case CHARLS_JPEGLS_ERRC_NOT_ENOUGH_MEMORY:
        return TD_E_NOMEM;
    case CHARLS_JPEGLS_ERRC_PARAMETER_VALUE_NOT_SUPPORTED:
    case CHARLS_JPEGLS_ERRC_BIT_DEPTH_FOR_TRANSFORM_NOT_SUPPORTED:
    case CHARLS_JPEGLS_ERRC_COLOR_TRANSFORM_NOT_SUPPORTED:
    case CHARLS_JPEGLS_ERRC_ENCODING_NOT_SUPPORTED:
    case CHARLS_JPEGLS_ERRC_JPEGLS_PRESET_EXTENDED_PARAMETER_TYPE_NOT_SUPPORTED:
        return TD_E_UNSUPPORTED;
    case CHARLS_JPEGLS_ERRC_DESTINATION_BUFFER_TOO_SMALL:
        return TD_E_OUTPUT_TOO_SMALL;
    case CHARLS_JPEGLS_ERRC_UNEXPECTED_FAILURE:
    case CHARLS_JPEGLS_ERRC_INVALID_OPERATION:
        return TD_E_BACKEND;
    default: /* invalid encoded data, markers, segment sizes, parameter values */
        return TD_E_CORRUPT;
    }
}

static int td_jls_fail(td_error *err, charls_jpegls_errc ec, const char *step)
{
    return td_fail(err, td_jls_status(ec), -1, "CharLS %s: %s (error %d)", step,
                   charls_get_error_message(ec), (int)ec);
}

const char *td_jls_backend_version(void) { return charls_get_version_string(); }

/* ---------------------------------------------------------------------------------------------
 * Header (T.87 C.2.2, C.2.3)
 * ------------------------------------------------------------------------------------------- */

/* A decoder over src[0..len) with its headers read; *dec is NULL on failure. */
static int td_jls_open(const uint8_t *src, size_t len, charls_jpegls_decoder **dec,
                       td_jls_info *info, td_error *err)
{
    *dec = NULL;
    if (len < 4)
        return td_fail(err, TD_E_TRUNCATED, 0, "JPEG-LS stream of %zu bytes", len);
    if (src[0] != 0xFF || src[1] != 0xD8)
        return td_fail(err, TD_E_CORRUPT, 0, "not a JPEG-LS stream: starts with %02X %02X, not "
                       "SOI (FF D8)", src[0], src[1]);
    charls_jpegls_decoder *d = charls_jpegls_decoder_create();
    if (d == NULL) return td_fail(err, TD_E_NOMEM, -1, "CharLS could not create a decoder");
    charls_jpegls_errc ec = charls_jpegls_decoder_set_source_buffer(d, src, len);
    if (ec != CHARLS_JPEGLS_ERRC_SUCCESS) goto fail_source;
    ec = charls_jpegls_decoder_read_header(d);
    if (ec != CHARLS_JPEGLS_ERRC_SUCCESS) goto fail_header;

    charls_frame_info fi;
    int32_t near = 0;
    charls_interleave_mode ilv = CHARLS_INTERLEAVE_MODE_NONE;
    charls_color_transformation ct = CHARLS_COLOR_TRANSFORMATION_NONE;
    ec = charls_jpegls_decoder_get_frame_info(d, &fi);
    if (ec == CHARLS_JPEGLS_ERRC_SUCCESS) ec = charls_jpegls_decoder_get_near_lossless(d, 0, &near);
    if (ec == CHARLS_JPEGLS_ERRC_SUCCESS) ec = charls_jpegls_decoder_get_interleave_mode(d, &ilv);
    if (ec == CHARLS_JPEGLS_ERRC_SUCCESS)
        ec = charls_jpegls_decoder_get_color_transformation(d, &ct);
    if (ec != CHARLS_JPEGLS_ERRC_SUCCESS) goto fail_header;
    /* CharLS 2.x (through 2.4.4) codes a sample-interleaved scan whose LSE sets a RESET other
     * than the default 64 with its single-component codec, then copies each line out as
     * 3- or 4-sample pixels: it reads past its line buffer (found by fuzz_jls).  Such a
     * stream is not given to it; turbodicom's own decoder decodes it. */
    charls_jpegls_pc_parameters pc;
    ec = charls_jpegls_decoder_get_preset_coding_parameters(d, 0, &pc);
    if (ec != CHARLS_JPEGLS_ERRC_SUCCESS) goto fail_header;
    if (ilv == CHARLS_INTERLEAVE_MODE_SAMPLE && pc.reset_value != 0 && pc.reset_value != 64) {
        charls_jpegls_decoder_destroy(d);
        return td_fail(err, TD_E_UNSUPPORTED, -1,
                       "JPEG-LS: a sample-interleaved scan with RESET %d is not given to "
                       "CharLS, which reads out of bounds on it", (int)pc.reset_value);
    }
    if (fi.width == 0 || fi.height == 0 || fi.component_count < 1 || fi.component_count > 255 ||
        fi.bits_per_sample < 2 || fi.bits_per_sample > 16 || near < 0 || (int)ilv < 0 ||
        (int)ilv > 2) {
        charls_jpegls_decoder_destroy(d);
        return td_fail(err, TD_E_CORRUPT, -1,
                       "JPEG-LS header: %u x %u, %d components, P %d, NEAR %d, ILV %d",
                       fi.height, fi.width, fi.component_count, fi.bits_per_sample, near,
                       (int)ilv);
    }
    info->rows = fi.height;
    info->columns = fi.width;
    info->components = (uint32_t)fi.component_count;
    info->bits_per_sample = (uint32_t)fi.bits_per_sample;
    info->near = (uint32_t)near;
    info->interleave_mode = (uint32_t)ilv;
    info->color_transformation = (uint32_t)ct;
    info->bytes_per_sample = fi.bits_per_sample <= 8 ? 1 : 2;
    *dec = d;
    return TD_OK;

fail_source:
    charls_jpegls_decoder_destroy(d);
    return td_jls_fail(err, ec, "source");
fail_header:
    charls_jpegls_decoder_destroy(d);
    return td_jls_fail(err, ec, "header");
}

int td_jls_read_header(const uint8_t *src, size_t len, td_jls_info *info, td_error *err)
{
    td_error_clear(err);
    if ((src == NULL && len != 0) || info == NULL)
        return td_fail(err, TD_E_INVALID_ARGUMENT, -1, "td_jls_read_header: NULL argument");
    memset(info, 0, sizeof *info);
    charls_jpegls_decoder *d;
    int st = td_jls_open(src, len, &d, info, err);
    if (d != NULL) charls_jpegls_decoder_destroy(d);
    return st;
}

int td_jls_decoded_size(const td_jls_info *info, const td_jls_options *opt, size_t *size,
                        td_error *err)
{
    return td_jlsdec_decoded_size(info, opt, size, err); /* the same for both engines */
}

/* ---------------------------------------------------------------------------------------------
 * Layout: CharLS writes host-endian samples in the natural container, planar for ILV 0
 * ------------------------------------------------------------------------------------------- */

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define TD_JLS_BIG_ENDIAN_HOST 1
#else
#define TD_JLS_BIG_ENDIAN_HOST 0
#endif

static inline uint32_t td_jls_load(const uint8_t *p, uint32_t nbps)
{
    if (nbps == 1) return p[0];
    uint16_t v;
    memcpy(&v, p, 2); /* host order, as CharLS wrote it */
    return v;
}

static inline void td_jls_store(uint8_t *p, uint32_t bps, uint32_t v)
{
    if (bps == 1) p[0] = (uint8_t)v;
    else if (bps == 2) td_store_le16(p, (uint16_t)v);
    else td_store_le32(p, v);
}

/* Widen n samples from the natural container nbps to bps (>= nbps) in place, little-endian,
 * last sample first so nothing is overwritten before it is read. */
static void td_jls_widen(uint8_t *buf, size_t n, uint32_t nbps, uint32_t bps)
{
    if (nbps == bps) {
        if (TD_JLS_BIG_ENDIAN_HOST && bps == 2)
            for (size_t i = 0; i < n; i++) {
                uint32_t v = td_jls_load(buf + 2 * i, 2);
                td_store_le16(buf + 2 * i, (uint16_t)v);
            }
        return;
    }
    for (size_t i = n; i-- > 0;)
        td_jls_store(buf + i * bps, bps, td_jls_load(buf + i * nbps, nbps));
}

/* Interleave `components` planes of n samples (natural container nbps) into out. */
static void td_jls_interleave(const uint8_t *restrict planes, size_t n, uint32_t components,
                              uint32_t nbps, uint32_t bps, uint8_t *restrict out)
{
    const size_t pixel = (size_t)components * bps;
    if (components == 3 && nbps == 1 && bps == 1) {
        const uint8_t *r = planes, *g = planes + n, *b = planes + 2 * n;
        for (size_t i = 0; i < n; i++) {
            out[3 * i] = r[i];
            out[3 * i + 1] = g[i];
            out[3 * i + 2] = b[i];
        }
        return;
    }
    for (uint32_t c = 0; c < components; c++) {
        const uint8_t *s = planes + (size_t)c * n * nbps;
        uint8_t *d = out + (size_t)c * bps;
        for (size_t i = 0; i < n; i++)
            td_jls_store(d + i * pixel, bps, td_jls_load(s + i * nbps, nbps));
    }
}

/* ---------------------------------------------------------------------------------------------
 * Decode
 * ------------------------------------------------------------------------------------------- */

/* Length of src up to and including its last EOI marker (FF D9), or 0 if it has none.  Inside
 * entropy-coded data FF is followed by a stuffed 0 bit (T.87 A.1), so FF D9 is always a marker.
 * CharLS 2.x loops forever on some streams that end inside scan data (fixed in CharLS 3.0),
 * so a stream without EOI never reaches it; bytes after EOI (DICOM padding) are dropped. */
static size_t td_jls_end_of_image(const uint8_t *src, size_t len)
{
    for (size_t pos = len; pos >= 2; pos--)
        if (src[pos - 2] == 0xFF && src[pos - 1] == 0xD9) return pos;
    return 0;
}

/* Zero bytes between the last scan's data and EOI in src[0..len) (len just past EOI): a
 * non-conforming pad some encoders wrote.  Returns how many; 0 when there are none. */
static size_t td_jls_zeros_before_eoi(const uint8_t *src, size_t len)
{
    size_t k = 0, eoi = len - 2;
    while (eoi - k > 2 && src[eoi - k - 1] == 0x00) k++;
    return k;
}

/* For a frame of one scan per component (ILV 0 in the first SOS): the byte offset of an SOS
 * in src[0..len) that is not one component in interleave mode 0, or 0 if every one is.
 * CharLS 2.x (through 2.4.4) lays its output out as planes from the first scan's mode and
 * then decodes each later scan in that scan's own mode: a later scan of all components in
 * line or sample interleave writes a whole interleaved image into the last plane, past the
 * end of the buffer (read in CharLS's decode loop after fuzz_jls died in CI on a corrupted
 * heap, and confirmed under an ASan build of CharLS 2.4.1).  Every FF DA pair is taken for
 * an SOS: inside entropy-coded data FF is followed by a byte below 0x80, and an FF DA inside
 * another segment at worst refuses a stream that CharLS would have decoded. */
static size_t td_jls_mixed_scan(const uint8_t *src, size_t len)
{
    for (size_t p = 2; p + 1 < len; p++) {
        if (src[p] != 0xFF || src[p + 1] != 0xDA) continue;
        /* FF DA Ls(2) Ns [Cs Tm] NEAR ILV: Ns at p + 4, ILV at p + 8 when Ns is 1 */
        if (p + 8 >= len || src[p + 4] != 1 || src[p + 8] != 0) return p;
    }
    return 0;
}

/* Decode with an opened decoder d (destroyed here) into dst[0..dst_len) (natural container,
 * CharLS layout); *ec gets CharLS's code. */
static int td_jls_run(charls_jpegls_decoder *d, uint8_t *dst, size_t dst_len,
                      charls_jpegls_errc *ec, td_error *err)
{
    size_t need = 0;
    *ec = charls_jpegls_decoder_get_destination_size(d, 0, &need);
    if (*ec == CHARLS_JPEGLS_ERRC_SUCCESS && need != dst_len) {
        charls_jpegls_decoder_destroy(d);
        return td_fail(err, TD_E_BACKEND, -1, "CharLS wants %zu output bytes, expected %zu", need,
                       dst_len);
    }
    if (*ec == CHARLS_JPEGLS_ERRC_SUCCESS)
        *ec = charls_jpegls_decoder_decode_to_buffer(d, dst, dst_len, 0);
    charls_jpegls_decoder_destroy(d);
    return *ec == CHARLS_JPEGLS_ERRC_SUCCESS ? TD_OK : td_jls_fail(err, *ec, "decode");
}

/* td_jls_run on src[0..len) (len just past EOI, d opened over it), tolerating zero bytes
 * between the last scan's data and EOI, which CharLS >= 2.3 rejects ("leading start byte not
 * found" or "source buffer still contains encoded data": it expects the EOI marker right after
 * the scan data).  With a single scan (one component, or interleave mode 1 or 2) CharLS raises
 * those errors only after the scan, every line already written, so the output stands; with
 * one scan per component the error may come before the last scans, so a copy without the zero
 * bytes is decoded instead.  WG04's MR1_JLSL is such a file. */
static int td_jls_run_lenient(charls_jpegls_decoder *d, const uint8_t *src, size_t len,
                              uint8_t *dst, size_t dst_len, const td_jls_info *info,
                              td_error *err)
{
    charls_jpegls_errc ec;
    int st = td_jls_run(d, dst, dst_len, &ec, err);
    if (st == TD_OK || (ec != CHARLS_JPEGLS_ERRC_JPEG_MARKER_START_BYTE_NOT_FOUND &&
                        ec != CHARLS_JPEGLS_ERRC_TOO_MUCH_ENCODED_DATA))
        return st;
    const size_t eoi = len - 2, k = td_jls_zeros_before_eoi(src, len);
    if (k == 0) return st;
    if (info->components == 1 || info->interleave_mode != 0)
        return td_fail(err, TD_OK, (int64_t)(eoi - k),
                       "JPEG-LS: %zu zero byte(s) between the scan data and EOI at byte %zu "
                       "ignored", k, eoi);
    uint8_t *copy = malloc(eoi - k + 2);
    if (copy == NULL) return st;
    memcpy(copy, src, eoi - k);
    copy[eoi - k] = 0xFF;
    copy[eoi - k + 1] = 0xD9;
    td_error retry;
    td_jls_info again;
    int st2 = td_jls_open(copy, eoi - k + 2, &d, &again, &retry);
    if (st2 == TD_OK && (again.rows != info->rows || again.columns != info->columns ||
                         again.components != info->components ||
                         again.bits_per_sample != info->bits_per_sample)) {
        charls_jpegls_decoder_destroy(d);
        st2 = TD_E_BACKEND;
    } else if (st2 == TD_OK) {
        st2 = td_jls_run(d, dst, dst_len, &ec, &retry);
    }
    free(copy);
    if (st2 != TD_OK) return st; /* report the first failure: the padding was not the problem */
    return td_fail(err, TD_OK, (int64_t)(eoi - k),
                   "JPEG-LS: skipped %zu zero byte(s) between the scan data and EOI at byte %zu",
                   k, eoi);
}

int td_jls_decode(const uint8_t *src, size_t len, uint8_t *out, size_t out_len,
                  const td_jls_options *opt, td_error *err)
{
    static const td_jls_options defaults = {0, 0};
    td_error_clear(err);
    if (src == NULL || (out == NULL && out_len != 0))
        return td_fail(err, TD_E_INVALID_ARGUMENT, -1, "td_jls_decode: NULL argument");
    if (opt == NULL) opt = &defaults;

    td_jls_info info;
    charls_jpegls_decoder *d;
    int st;
    const size_t used = td_jls_end_of_image(src, len);
    if (used == 0) { /* a header error says more than the missing EOI */
        st = td_jls_open(src, len, &d, &info, err);
        if (st != TD_OK) return st;
        charls_jpegls_decoder_destroy(d);
        return td_fail(err, TD_E_TRUNCATED, (int64_t)len,
                       "JPEG-LS stream of %zu bytes has no EOI marker (FF D9): truncated", len);
    }
    st = td_jls_open(src, used, &d, &info, err);
    if (st != TD_OK) return st;
    uint32_t bps = 0;
    size_t need = 0;
    st = td_jlsdec_container(&info, opt, &bps, err);
    if (st == TD_OK) st = td_jls_decoded_size(&info, opt, &need, err);
    if (st == TD_OK && out_len < need)
        st = td_fail(err, TD_E_OUTPUT_TOO_SMALL, -1,
                     "JPEG-LS frame needs %zu output bytes, buffer has %zu", need, out_len);
    if (st != TD_OK) {
        charls_jpegls_decoder_destroy(d);
        return st;
    }

    const uint32_t nbps = info.bytes_per_sample;
    const size_t npix = (size_t)info.rows * info.columns;
    const size_t nsamples = npix * info.components;
    const size_t natural = nsamples * nbps;
    if (info.components > 1 && info.interleave_mode == 0) {
        /* one scan per component: CharLS writes component planes */
        const size_t mixed = td_jls_mixed_scan(src, used);
        if (mixed != 0) {
            charls_jpegls_decoder_destroy(d);
            return td_fail(err, TD_E_UNSUPPORTED, (int64_t)mixed,
                           "JPEG-LS: the scan at byte %zu is not one component in interleave "
                           "mode 0 like the first; such a stream is not given to CharLS, which "
                           "writes past its output on it", mixed);
        }
        uint8_t *planes = malloc(natural ? natural : 1);
        if (planes == NULL) {
            charls_jpegls_decoder_destroy(d);
            return td_fail(err, TD_E_NOMEM, -1, "JPEG-LS: no memory for %zu bytes of planes",
                           natural);
        }
        st = td_jls_run_lenient(d, src, used, planes, natural, &info, err);
        if (st == TD_OK) td_jls_interleave(planes, npix, info.components, nbps, bps, out);
        free(planes);
        if (st != TD_OK) return st;
    } else {
        st = td_jls_run_lenient(d, src, used, out, natural, &info, err);
        if (st != TD_OK) return st;
        td_jls_widen(out, nsamples, nbps, bps);
    }
    if ((opt->flags & TD_JLS_SIGN_EXTEND) && info.bits_per_sample < 8 * bps)
        td_pixels_fix_unused_bits(out, nsamples, bps, info.bits_per_sample, 1);
    return TD_OK;
}
