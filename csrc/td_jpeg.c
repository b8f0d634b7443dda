/* td_jpeg.c - 8-bit JPEG baseline/extended through libjpeg-turbo's libjpeg API (see td_jpeg.h). */
#include "td_jpeg.h"

#include <stdlib.h>
#include <string.h>

#ifdef TD_HAVE_LIBJPEG
#include <setjmp.h>
#include <stdio.h> /* jpeglib.h needs FILE */

#include <jerror.h>
#include <jpeglib.h>

#include "td_pixels.h"

#define TD_STR2(x) #x
#define TD_STR(x) TD_STR2(x)

const char *td_jpeg_backend_version(void)
{
#ifdef LIBJPEG_TURBO_VERSION
    return TD_STR(LIBJPEG_TURBO_VERSION);
#else
    return "libjpeg " TD_STR(JPEG_LIB_VERSION);
#endif
}

int td_jpeg_available(void) { return 1; }

/* One decode's error manager: libjpeg calls error_exit for fatal errors and emit_message for
 * warnings; both come back here through longjmp with the message kept for td_error. */
typedef struct td_jpeg_errmgr {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    int status;
    char message[JMSG_LENGTH_MAX];
} td_jpeg_errmgr;

static void error_exit(j_common_ptr cinfo)
{
    td_jpeg_errmgr *e = (td_jpeg_errmgr *)cinfo->err;
    int code = e->pub.msg_code;
    e->pub.format_message(cinfo, e->message);
    e->status = (code == JERR_BAD_PRECISION || code == JERR_CONVERSION_NOTIMPL ||
                 code == JERR_NOT_COMPILED)
                    ? TD_E_UNSUPPORTED
                    : (code == JERR_OUT_OF_MEMORY ? TD_E_NOMEM : TD_E_CORRUPT);
    longjmp(e->jump, 1);
}

/* Warnings (msg_level -1) that mean pixels were lost: libjpeg would go on with zeros. */
static int warning_loses_pixels(int code)
{
    return code == JWRN_HIT_MARKER || code == JWRN_HUFF_BAD_CODE || code == JWRN_JPEG_EOF ||
           code == JWRN_MUST_RESYNC;
}

static void emit_message(j_common_ptr cinfo, int msg_level)
{
    td_jpeg_errmgr *e = (td_jpeg_errmgr *)cinfo->err;
    if (msg_level >= 0) return; /* trace messages */
    e->pub.num_warnings++;
    if (warning_loses_pixels(e->pub.msg_code)) {
        e->pub.format_message(cinfo, e->message);
        e->status = e->pub.msg_code == JWRN_JPEG_EOF || e->pub.msg_code == JWRN_HIT_MARKER
                        ? TD_E_TRUNCATED
                        : TD_E_CORRUPT;
        longjmp(e->jump, 1);
    }
}

static void output_message(j_common_ptr cinfo) { (void)cinfo; }

/* libjpeg calls this between passes and rows: stop a progressive stream of too many scans. */
static void progress_monitor(j_common_ptr common)
{
    j_decompress_ptr cinfo = (j_decompress_ptr)common;
    if (cinfo->progressive_mode && cinfo->input_scan_number > TD_JPEG_MAX_SCANS) {
        td_jpeg_errmgr *e = (td_jpeg_errmgr *)cinfo->err;
        snprintf(e->message, sizeof e->message,
                 "progressive stream of more than %d scans refused", TD_JPEG_MAX_SCANS);
        e->status = TD_E_LIMIT;
        longjmp(e->jump, 1);
    }
}

/* Rows decoded per jpeg_read_scanlines call, and converted while still in cache. */
#define TD_JPEG_BAND 16

/* Everything the setjmp-protected part touches lives here, so nothing is a non-volatile local
 * modified between setjmp and longjmp (C11 7.13.2.1). */
typedef struct td_jpeg_job {
    struct jpeg_decompress_struct cinfo;
    td_jpeg_errmgr jerr;
    struct jpeg_progress_mgr progress;
    const uint8_t *src;
    size_t src_len;
    uint32_t rows, columns, components;
    unsigned flags;
    uint8_t *out;
    size_t out_len;
} td_jpeg_job;

static int read_header_job(td_jpeg_job *job, td_error *err)
{
    struct jpeg_decompress_struct *cinfo = &job->cinfo;
    if (job->src_len > (unsigned long)-1)
        return td_fail(err, TD_E_LIMIT, -1, "JPEG frame of %zu bytes is too large", job->src_len);
    jpeg_mem_src(cinfo, job->src, (unsigned long)job->src_len);
    if (jpeg_read_header(cinfo, TRUE) != JPEG_HEADER_OK)
        return td_fail(err, TD_E_CORRUPT, -1, "JPEG: the codestream holds no image");
    return TD_OK;
}

static int decode_job(td_jpeg_job *job, td_error *err)
{
    struct jpeg_decompress_struct *cinfo = &job->cinfo;
    int rc = read_header_job(job, err);
    if (rc != TD_OK) return rc;
    if (cinfo->data_precision != 8)
        return td_fail(err, TD_E_UNSUPPORTED, -1,
                       "JPEG precision %d: libjpeg-turbo decodes 8-bit samples here",
                       cinfo->data_precision);
    if (cinfo->image_height != job->rows || cinfo->image_width != job->columns ||
        (uint32_t)cinfo->num_components != job->components)
        return td_fail(err, TD_E_CORRUPT, -1,
                       "the JPEG frame is %u x %u with %d components, but (0028,0010) 'Rows', "
                       "(0028,0011) 'Columns' and (0028,0002) 'Samples per Pixel' say %u x %u "
                       "with %u",
                       (unsigned)cinfo->image_height, (unsigned)cinfo->image_width,
                       cinfo->num_components, job->rows, job->columns, job->components);
    size_t row_bytes = (size_t)job->columns * job->components;
    if (job->out_len / row_bytes < job->rows)
        return td_fail(err, TD_E_OUTPUT_TOO_SMALL, -1,
                       "output buffer of %zu bytes cannot hold a %u x %u x %u frame", job->out_len,
                       job->rows, job->columns, job->components);
    int three = job->components == 3;
    if (three && ((job->flags & TD_JPEG_RGB) ||
                  ((job->flags & TD_JPEG_ADOBE_RGB) && cinfo->saw_Adobe_marker)))
        cinfo->out_color_space = JCS_RGB;
    else /* no conversion: the coded colour space in, the same out (libjpeg's null convert) */
        cinfo->out_color_space = cinfo->jpeg_color_space;
    int convert_ybr = three && (job->flags & TD_JPEG_YBR_TO_RGB);
    cinfo->dct_method = JDCT_ISLOW;
    cinfo->do_fancy_upsampling = TRUE;
    /* libjpeg's working memory is bounded by the frame size the caller already accepted */
    jpeg_start_decompress(cinfo);
    if ((uint32_t)cinfo->output_components != job->components)
        return td_fail(err, TD_E_UNSUPPORTED, -1, "JPEG: %d output components, expected %u",
                       cinfo->output_components, job->components);
    JSAMPROW band[TD_JPEG_BAND];
    while (cinfo->output_scanline < cinfo->output_height) {
        JDIMENSION first = cinfo->output_scanline;
        JDIMENSION want = cinfo->output_height - first;
        if (want > TD_JPEG_BAND) want = TD_JPEG_BAND;
        for (JDIMENSION k = 0; k < want; k++)
            band[k] = job->out + (size_t)(first + k) * row_bytes;
        JDIMENSION got = jpeg_read_scanlines(cinfo, band, want);
        if (got == 0)
            return td_fail(err, TD_E_TRUNCATED, -1, "JPEG: no scanline after row %u",
                           (unsigned)first);
        if (convert_ybr)
            td_pixels_ybr_full_to_rgb(job->out + (size_t)first * row_bytes,
                                      (size_t)got * job->columns);
    }
    jpeg_finish_decompress(cinfo);
    return TD_OK;
}

/* A zeroed job with libjpeg's error manager routed to this file's handlers. */
static td_jpeg_job *new_job(const uint8_t *src, size_t src_len)
{
    td_jpeg_job *job = (td_jpeg_job *)calloc(1, sizeof *job);
    if (job == NULL) return NULL;
    job->src = src;
    job->src_len = src_len;
    job->cinfo.err = jpeg_std_error(&job->jerr.pub);
    job->jerr.pub.error_exit = error_exit;
    job->jerr.pub.emit_message = emit_message;
    job->jerr.pub.output_message = output_message;
    job->progress.progress_monitor = progress_monitor;
    return job;
}

int td_jpeg_read_header(const uint8_t *src, size_t src_len, td_jpeg_info *info, td_error *err)
{
    if (src == NULL || info == NULL)
        return td_fail(err, TD_E_INVALID_ARGUMENT, -1, "td_jpeg_read_header: NULL argument");
    memset(info, 0, sizeof *info);
    if (src_len < 4)
        return td_fail(err, TD_E_TRUNCATED, 0, "JPEG frame of %zu bytes is too short", src_len);
    td_jpeg_job *job = new_job(src, src_len);
    if (job == NULL) return td_fail(err, TD_E_NOMEM, -1, "out of memory");
    int rc;
    if (setjmp(job->jerr.jump)) {
        rc = td_fail(err, job->jerr.status, -1, "JPEG: %s", job->jerr.message);
    } else {
        jpeg_create_decompress(&job->cinfo);
        rc = read_header_job(job, err);
        if (rc == TD_OK) {
            const struct jpeg_decompress_struct *c = &job->cinfo;
            info->rows = c->image_height;
            info->columns = c->image_width;
            info->components = (uint32_t)c->num_components;
            info->precision = (uint32_t)c->data_precision;
            info->progressive = c->progressive_mode;
            info->jfif = c->saw_JFIF_marker;
            info->adobe = c->saw_Adobe_marker;
            info->adobe_transform = c->Adobe_transform;
        }
    }
    jpeg_destroy_decompress(&job->cinfo);
    free(job);
    return rc;
}

int td_jpeg_decode(const uint8_t *src, size_t src_len, uint32_t rows, uint32_t columns,
                   uint32_t components, unsigned flags, uint8_t *out, size_t out_len, td_error *err)
{
    if (src == NULL || out == NULL || rows == 0 || columns == 0 || components == 0 ||
        components > 4 ||
        (flags & ~(TD_JPEG_ADOBE_RGB | TD_JPEG_YBR_TO_RGB | TD_JPEG_RGB)) != 0)
        return td_fail(err, TD_E_INVALID_ARGUMENT, -1, "td_jpeg_decode: invalid argument");
    if (src_len < 4)
        return td_fail(err, TD_E_TRUNCATED, 0, "JPEG frame of %zu bytes is too short", src_len);
    td_jpeg_job *job = new_job(src, src_len);
    if (job == NULL) return td_fail(err, TD_E_NOMEM, -1, "out of memory");
    job->rows = rows;
    job->columns = columns;
    job->components = components;
    job->flags = flags;
    job->out = out;
    job->out_len = out_len;
    int rc;
    if (setjmp(job->jerr.jump)) {
        rc = td_fail(err, job->jerr.status, -1, "JPEG: %s", job->jerr.message);
    } else {
        jpeg_create_decompress(&job->cinfo);
        job->cinfo.progress = &job->progress;
        rc = decode_job(job, err);
    }
    jpeg_destroy_decompress(&job->cinfo);
    free(job);
    return rc;
}

#else /* built without libjpeg: td_jpegdct decodes every precision */

const char *td_jpeg_backend_version(void) { return ""; }

int td_jpeg_available(void) { return 0; }

int td_jpeg_read_header(const uint8_t *src, size_t src_len, td_jpeg_info *info, td_error *err)
{
    (void)src, (void)src_len, (void)info;
    return td_fail(err, TD_E_UNSUPPORTED, -1, "this build has no libjpeg-turbo");
}

int td_jpeg_decode(const uint8_t *src, size_t src_len, uint32_t rows, uint32_t columns,
                   uint32_t components, unsigned flags, uint8_t *out, size_t out_len, td_error *err)
{
    (void)src, (void)src_len, (void)rows, (void)columns, (void)components, (void)flags;
    (void)out, (void)out_len;
    return td_fail(err, TD_E_UNSUPPORTED, -1, "this build has no libjpeg-turbo");
}
#endif
