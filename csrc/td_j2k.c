/* td_j2k.c - JPEG 2000 / HTJ2K through OpenJPEG; see td_j2k.h for the contract. */
#include "td_j2k.h"

#include <openjpeg.h>
#include <string.h>

#include "td_bytes.h"

/* ---------------------------------------------------------------------------------------------
 * Main header walk (T.800 Annex A) and JP2 boxes (T.800 Annex I)
 * ------------------------------------------------------------------------------------------- */

#define TD_J2K_SOC 0xFF4Fu
#define TD_J2K_CAP 0xFF50u
#define TD_J2K_SIZ 0xFF51u
#define TD_J2K_COD 0xFF52u
#define TD_J2K_COC 0xFF53u
#define TD_J2K_SOT 0xFF90u
#define TD_J2K_SOD 0xFF93u
#define TD_J2K_EOC 0xFFD9u

#define TD_J2K_CBLK_HT 0x40u             /* T.814 A.3: code-block style bit 6, HT code-blocks */
#define TD_J2K_PCAP_PART15 0x00020000u   /* T.800 A.5.2: Pcap^15, the 15th bit from the MSB */
#define TD_J2K_MAX_COMPONENTS 16384u     /* A.5.1: Csiz 1..16384 */
#define TD_J2K_MAX_TILES 65535u          /* A.4.2: Isot 0..65534 */
#define TD_J2K_MAX_DECOMPOSITIONS 32u    /* A.6.1: SPcod decomposition levels 0..32 */

/* Record one component's SPcod/SPcoc fields (A.6.1 Table A.15: levels, code-block width and
 * height, code-block style, transformation) into *info. */
static int td_j2k_coding_style(const uint8_t *sp, td_j2k_info *info, int64_t offset,
                               td_error *err)
{
    uint32_t levels = sp[0];
    if (levels > TD_J2K_MAX_DECOMPOSITIONS)
        return td_fail(err, TD_E_CORRUPT, offset,
                       "J2K coding style: %u decomposition levels, at most 32 allowed", levels);
    if (sp[4] > 1) /* Table A.20: 0 = 9-7 irreversible, 1 = 5-3 reversible */
        return td_fail(err, TD_E_CORRUPT, offset,
                       "J2K coding style: wavelet transformation %u, must be 0 or 1", sp[4]);
    if (levels < info->decomposition_levels) info->decomposition_levels = levels;
    if (sp[3] & TD_J2K_CBLK_HT) info->htj2k = 1;
    return TD_OK;
}

/* SIZ (A.5.1) at cs[2..]: image and tile geometry, component precisions. */
static int td_j2k_parse_siz(const uint8_t *cs, size_t len, size_t base, td_j2k_info *info,
                            td_error *err)
{
    const int64_t at = (int64_t)base + 2;
    if (len < 4 + 38)
        return td_fail(err, TD_E_TRUNCATED, at, "J2K SIZ marker segment truncated (%zu bytes)",
                       len);
    if (td_load_be16(cs + 2) != TD_J2K_SIZ)
        return td_fail(err, TD_E_CORRUPT, at, "J2K codestream: SIZ (FF51) must follow SOC, got %04X",
                       td_load_be16(cs + 2));
    const uint8_t *p = cs + 4;   /* Lsiz */
    uint32_t lsiz = td_load_be16(p);
    uint32_t rsiz = td_load_be16(p + 2);
    uint32_t xsiz = td_load_be32(p + 4), ysiz = td_load_be32(p + 8);
    uint32_t xosiz = td_load_be32(p + 12), yosiz = td_load_be32(p + 16);
    uint32_t xtsiz = td_load_be32(p + 20), ytsiz = td_load_be32(p + 24);
    uint32_t xtosiz = td_load_be32(p + 28), ytosiz = td_load_be32(p + 32);
    uint32_t csiz = td_load_be16(p + 36);

    if (csiz == 0 || csiz > TD_J2K_MAX_COMPONENTS)
        return td_fail(err, TD_E_CORRUPT, at, "J2K SIZ: Csiz %u components, must be 1..16384", csiz);
    if (lsiz != 38 + 3 * csiz)
        return td_fail(err, TD_E_CORRUPT, at, "J2K SIZ: Lsiz %u does not match Csiz %u (expected %u)",
                       lsiz, csiz, 38 + 3 * csiz);
    if (len < 4 + (size_t)lsiz)
        return td_fail(err, TD_E_TRUNCATED, at, "J2K SIZ: %u bytes announced, %zu present", lsiz,
                       len - 4);
    if (xsiz <= xosiz || ysiz <= yosiz)
        return td_fail(err, TD_E_CORRUPT, at,
                       "J2K SIZ: empty image (Xsiz %u, XOsiz %u, Ysiz %u, YOsiz %u)", xsiz, xosiz,
                       ysiz, yosiz);
    if (xtsiz == 0 || ytsiz == 0 || xtosiz > xosiz || ytosiz > yosiz ||
        (uint64_t)xtosiz + xtsiz <= xosiz || (uint64_t)ytosiz + ytsiz <= yosiz)
        return td_fail(err, TD_E_CORRUPT, at,
                       "J2K SIZ: impossible tiling (XTsiz %u, YTsiz %u, XTOsiz %u, YTOsiz %u)",
                       xtsiz, ytsiz, xtosiz, ytosiz);
    uint64_t tiles_x = ((uint64_t)xsiz - xtosiz + xtsiz - 1) / xtsiz;
    uint64_t tiles_y = ((uint64_t)ysiz - ytosiz + ytsiz - 1) / ytsiz;
    if (tiles_x * tiles_y > TD_J2K_MAX_TILES)
        return td_fail(err, TD_E_CORRUPT, at, "J2K SIZ: %llu x %llu tiles, at most 65535 allowed",
                       (unsigned long long)tiles_x, (unsigned long long)tiles_y);

    info->rows = ysiz - yosiz;
    info->columns = xsiz - xosiz;
    info->x_offset = xosiz;
    info->y_offset = yosiz;
    info->components = csiz;
    info->tiles = (uint32_t)(tiles_x * tiles_y);
    info->uniform = 1;
    if (rsiz & 0x4000u) info->htj2k = 1; /* A.5.1 Table A.10: Rsiz bit 14, CAP marker present */

    const uint8_t *comp = p + 38;
    uint32_t prec0 = (uint32_t)(comp[0] & 0x7F) + 1, sgnd0 = comp[0] >> 7;
    for (uint32_t c = 0; c < csiz; c++, comp += 3) {
        uint32_t prec = (uint32_t)(comp[0] & 0x7F) + 1, sgnd = comp[0] >> 7;
        if (prec > 38)
            return td_fail(err, TD_E_CORRUPT, at + 40 + 3 * (int64_t)c,
                           "J2K SIZ: component %u precision %u, at most 38 allowed", c, prec);
        if (comp[1] == 0 || comp[2] == 0)
            return td_fail(err, TD_E_CORRUPT, at + 40 + 3 * (int64_t)c,
                           "J2K SIZ: component %u subsampling XRsiz %u YRsiz %u must be >= 1", c,
                           comp[1], comp[2]);
        if (comp[1] != 1 || comp[2] != 1) info->subsampled = 1;
        if (prec != prec0 || sgnd != sgnd0 || comp[1] != 1 || comp[2] != 1) info->uniform = 0;
        if (prec > info->precision) info->precision = prec;
        if (c < TD_J2K_INFO_COMPONENTS) {
            info->component_precision[c] = (uint8_t)prec;
            info->component_signed[c] = (uint8_t)sgnd;
        }
    }
    info->is_signed = (int)sgnd0;
    info->bytes_per_sample = info->precision <= 8 ? 1 : info->precision <= 16 ? 2
                           : info->precision <= 32 ? 4 : 0;
    return TD_OK;
}

/* Follow the tile-part chain from the first SOT (A.4.2: Psot counts from the SOT marker to the
 * end of the tile-part's data; 0 = the last tile-part, running to EOC).  Records the count and
 * whether a tile-part runs past the end of the data; stops quietly at anything unexpected
 * (decoders have their own views on damaged chains). */
static void td_j2k_walk_tile_parts(const uint8_t *cs, size_t len, size_t pos, size_t base,
                                   td_j2k_info *info)
{
    while (len - pos >= 12 && td_load_be16(cs + pos) == TD_J2K_SOT) {
        uint32_t psot = td_load_be32(cs + pos + 6);
        info->tile_parts++;
        if (psot == 0) return; /* runs to EOC: nothing to check */
        if (psot > len - pos) {
            info->truncated = 1;
            info->truncated_offset = base + pos;
            return;
        }
        if (psot < 14) return; /* SOT segment + SOD at least; let the decoder complain */
        pos += psot;
    }
    if (len - pos < 12 && len - pos >= 2 && td_load_be16(cs + pos) == TD_J2K_SOT) {
        info->tile_parts++;
        info->truncated = 1;
        info->truncated_offset = base + pos;
    }
}

/* Walk the codestream main header from SOC to the first SOT (A.4, A.5, A.6). */
static int td_j2k_parse_codestream(const uint8_t *cs, size_t len, size_t base, td_j2k_info *info,
                                   td_error *err)
{
    if (len < 2)
        return td_fail(err, TD_E_TRUNCATED, (int64_t)base, "J2K codestream of %zu bytes", len);
    if (td_load_be16(cs) != TD_J2K_SOC)
        return td_fail(err, TD_E_CORRUPT, (int64_t)base,
                       "not a JPEG 2000 codestream or JP2 file: starts with %02X %02X", cs[0], cs[1]);
    int st = td_j2k_parse_siz(cs, len, base, info, err);
    if (st != TD_OK) return st;

    info->decomposition_levels = UINT32_MAX;
    int have_cod = 0;
    size_t pos = 4 + (size_t)td_load_be16(cs + 4);
    const size_t ccoc_size = info->components < 257 ? 1 : 2;
    for (;;) {
        const int64_t at = (int64_t)(base + pos);
        if (len - pos < 2)
            return td_fail(err, TD_E_TRUNCATED, at, "J2K main header ends at byte %zu before SOT",
                           pos);
        uint32_t marker = td_load_be16(cs + pos);
        if (marker == TD_J2K_SOT) break;
        if ((marker >> 8) != 0xFF)
            return td_fail(err, TD_E_CORRUPT, at, "J2K main header: expected a marker, found %02X %02X",
                           cs[pos], cs[pos + 1]);
        if (marker == TD_J2K_SOD || marker == TD_J2K_EOC || marker == TD_J2K_SOC ||
            marker == TD_J2K_SIZ)
            return td_fail(err, TD_E_CORRUPT, at, "J2K main header: unexpected marker %04X", marker);
        if (marker >= 0xFF30u && marker <= 0xFF3Fu) { /* A.1.3: reserved, no segment */
            pos += 2;
            continue;
        }
        if (len - pos < 4)
            return td_fail(err, TD_E_TRUNCATED, at, "J2K marker %04X: length field truncated", marker);
        size_t seg = td_load_be16(cs + pos + 2);
        if (seg < 2)
            return td_fail(err, TD_E_CORRUPT, at, "J2K marker %04X: segment length %zu", marker, seg);
        if (len - pos - 2 < seg)
            return td_fail(err, TD_E_TRUNCATED, at,
                           "J2K marker %04X: segment of %zu bytes runs past the end (%zu left)",
                           marker, seg, len - pos - 2);
        const uint8_t *p = cs + pos + 4; /* first byte after Lxxx */
        switch (marker) {
        case TD_J2K_COD: /* A.6.1: Scod, SGcod (order, layers, MCT), SPcod (levels, ...) */
            if (seg < 12)
                return td_fail(err, TD_E_CORRUPT, at, "J2K COD: Lcod %zu, at least 12 required", seg);
            if (have_cod)
                return td_fail(err, TD_E_CORRUPT, at, "J2K main header: second COD marker");
            have_cod = 1;
            info->progression_order = p[1];
            info->layers = td_load_be16(p + 2);
            info->mct = p[4] != 0;
            info->reversible = p[9] == 1;
            st = td_j2k_coding_style(p + 5, info, at, err);
            if (st != TD_OK) return st;
            break;
        case TD_J2K_COC: /* A.6.2: Ccoc (1 or 2 bytes), Scoc, SPcoc */
            if (seg < 2 + ccoc_size + 1 + 5)
                return td_fail(err, TD_E_CORRUPT, at, "J2K COC: Lcoc %zu too small", seg);
            st = td_j2k_coding_style(p + ccoc_size + 1, info, at, err);
            if (st != TD_OK) return st;
            break;
        case TD_J2K_CAP: /* T.800 (2019) A.5.2: Pcap, Ccap^i */
            if (seg < 6)
                return td_fail(err, TD_E_CORRUPT, at, "J2K CAP: Lcap %zu too small", seg);
            if (td_load_be32(p) & TD_J2K_PCAP_PART15) info->htj2k = 1;
            break;
        default:
            break;
        }
        pos += 2 + seg;
    }
    if (!have_cod)
        return td_fail(err, TD_E_CORRUPT, (int64_t)base, "J2K main header has no COD marker");
    info->resolution_levels = info->decomposition_levels + 1;
    td_j2k_walk_tile_parts(cs, len, pos, base, info);
    return TD_OK;
}

/* JP2 (Annex I): signature box, then top-level boxes until the contiguous codestream box. */
static int td_j2k_find_jp2c(const uint8_t *src, size_t len, size_t *off, size_t *cs_len,
                            td_error *err)
{
    size_t pos = 0;
    while (pos < len) {
        if (len - pos < 8)
            return td_fail(err, TD_E_TRUNCATED, (int64_t)pos, "JP2 box header truncated");
        uint64_t lbox = td_load_be32(src + pos);
        uint32_t tbox = td_load_be32(src + pos + 4);
        size_t header = 8;
        if (lbox == 1) {
            if (len - pos < 16)
                return td_fail(err, TD_E_TRUNCATED, (int64_t)pos, "JP2 XLBox truncated");
            lbox = td_load_be64(src + pos + 8);
            header = 16;
        } else if (lbox == 0) {
            lbox = len - pos; /* I.4: the box runs to the end of the file */
        }
        if (lbox < header)
            return td_fail(err, TD_E_CORRUPT, (int64_t)pos, "JP2 box length %llu below its header",
                           (unsigned long long)lbox);
        if (tbox == 0x6A703263u) { /* 'jp2c' */
            /* A truncated file keeps whatever codestream bytes are present. */
            size_t avail = len - pos - header;
            *off = pos + header;
            *cs_len = lbox - header < avail ? (size_t)(lbox - header) : avail;
            return TD_OK;
        }
        if (lbox > len - pos)
            return td_fail(err, TD_E_TRUNCATED, (int64_t)pos,
                           "JP2 box %08X of %llu bytes runs past the end", tbox,
                           (unsigned long long)lbox);
        pos += (size_t)lbox;
    }
    return td_fail(err, TD_E_CORRUPT, (int64_t)len, "JP2 file without a codestream (jp2c) box");
}

int td_j2k_read_header(const uint8_t *src, size_t len, td_j2k_info *info, td_error *err)
{
    static const uint8_t jp2_signature[12] = {0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50,
                                              0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A};
    td_error_clear(err);
    if ((src == NULL && len != 0) || info == NULL)
        return td_fail(err, TD_E_INVALID_ARGUMENT, -1, "td_j2k_read_header: NULL argument");
    memset(info, 0, sizeof *info);
    size_t off = 0, cs_len = len;
    if (len >= 12 && memcmp(src, jp2_signature, 12) == 0) {
        info->format = TD_J2K_FORMAT_JP2;
        int st = td_j2k_find_jp2c(src, len, &off, &cs_len, err);
        if (st != TD_OK) return st;
    }
    info->codestream_offset = off;
    info->codestream_length = cs_len;
    return td_j2k_parse_codestream(src + off, cs_len, off, info, err);
}

int td_j2k_reduced_dims(const td_j2k_info *info, uint32_t reduce, uint32_t *rows,
                        uint32_t *columns, td_error *err)
{
    if (info == NULL || rows == NULL || columns == NULL)
        return td_fail(err, TD_E_INVALID_ARGUMENT, -1, "td_j2k_reduced_dims: NULL argument");
    if (reduce > info->decomposition_levels)
        return td_fail(err, TD_E_UNSUPPORTED, -1,
                       "J2K reduce %u: the codestream has only %u decomposition levels", reduce,
                       info->decomposition_levels);
    /* B.5: a reduced image spans ceil(x1 / 2^r) - ceil(x0 / 2^r); x1 < 2^32, r <= 32. */
    uint64_t d = (uint64_t)1 << reduce;
    uint64_t x1 = (uint64_t)info->x_offset + info->columns, y1 = (uint64_t)info->y_offset + info->rows;
    *columns = (uint32_t)((x1 + d - 1) / d - ((uint64_t)info->x_offset + d - 1) / d);
    *rows = (uint32_t)((y1 + d - 1) / d - ((uint64_t)info->y_offset + d - 1) / d);
    return TD_OK;
}

/* Container for these options, or a status. */
static int td_j2k_container(const td_j2k_info *info, const td_j2k_options *opt, uint32_t *bps,
                            td_error *err)
{
    uint32_t want = opt != NULL ? opt->bytes_per_sample : 0;
    if (want != 0 && want != 1 && want != 2 && want != 4)
        return td_fail(err, TD_E_INVALID_ARGUMENT, -1,
                       "bytes_per_sample must be 0, 1, 2 or 4, got %u", want);
    if (info->bytes_per_sample == 0)
        return td_fail(err, TD_E_UNSUPPORTED, -1,
                       "J2K precision %u bits: more than 32 bits per sample is not supported",
                       info->precision);
    if (want != 0 && want < info->bytes_per_sample)
        return td_fail(err, TD_E_UNSUPPORTED, -1,
                       "J2K precision %u bits does not fit a %u-byte sample", info->precision, want);
    *bps = want != 0 ? want : info->bytes_per_sample;
    return TD_OK;
}

int td_j2k_decoded_size(const td_j2k_info *info, const td_j2k_options *opt, size_t *size,
                        td_error *err)
{
    if (info == NULL || size == NULL)
        return td_fail(err, TD_E_INVALID_ARGUMENT, -1, "td_j2k_decoded_size: NULL argument");
    uint32_t rows = 0, columns = 0, bps = 0;
    int st = td_j2k_reduced_dims(info, opt != NULL ? opt->reduce : 0, &rows, &columns, err);
    if (st == TD_OK) st = td_j2k_container(info, opt, &bps, err);
    if (st != TD_OK) return st;
    size_t n;
    if (td_mul_overflow(rows, columns, &n) || td_mul_overflow(n, info->components, &n) ||
        td_mul_overflow(n, bps, &n))
        return td_fail(err, TD_E_LIMIT, -1, "J2K image %u x %u x %u x %u bytes overflows size_t",
                       rows, columns, info->components, bps);
    *size = n;
    return TD_OK;
}

const char *td_j2k_backend_version(void) { return opj_version(); }

/* ---------------------------------------------------------------------------------------------
 * OpenJPEG plumbing: a read-only memory stream and per-call message capture
 * ------------------------------------------------------------------------------------------- */

/* The caller's codestream bytes, optionally followed by a virtual EOC marker (FF D9) when the
 * codestream lacks one: OpenJPEG fails a complete codestream without EOC ("Stream too short"),
 * which some DICOM writers produce.  len counts the virtual bytes; data holds len - extra. */
typedef struct td_j2k_source {
    const uint8_t *data;
    size_t len;
    size_t pos;
    size_t extra;
} td_j2k_source;

static OPJ_SIZE_T td_j2k_stream_read(void *buffer, OPJ_SIZE_T n, void *user)
{
    static const uint8_t eoc[2] = {0xFF, 0xD9};
    td_j2k_source *s = (td_j2k_source *)user;
    if (s->pos >= s->len) return (OPJ_SIZE_T)-1; /* OpenJPEG's end-of-stream convention */
    size_t avail = s->len - s->pos, real = s->len - s->extra;
    if (n > avail) n = avail;
    size_t from_data = s->pos < real ? (n < real - s->pos ? n : real - s->pos) : 0;
    memcpy(buffer, s->data + s->pos, from_data);
    if (from_data < n) /* the rest comes from the virtual EOC */
        memcpy((uint8_t *)buffer + from_data, eoc + (s->pos + from_data - real), n - from_data);
    s->pos += n;
    return n;
}

/* Does the codestream end with EOC, allowing for the padding DICOM items add (trailing 00 bytes,
 * or one FF after EOC as some writers emit)? */
static int td_j2k_has_eoc(const uint8_t *cs, size_t len)
{
    while (len > 0 && cs[len - 1] == 0x00) len--;
    if (len >= 2 && cs[len - 2] == 0xFF && cs[len - 1] == 0xD9) return 1;
    return len >= 3 && cs[len - 3] == 0xFF && cs[len - 2] == 0xD9 && cs[len - 1] == 0xFF;
}

static OPJ_OFF_T td_j2k_stream_skip(OPJ_OFF_T n, void *user)
{
    td_j2k_source *s = (td_j2k_source *)user;
    if (n < 0) {
        uint64_t back = (uint64_t)0 - (uint64_t)n;
        if (back > s->pos) return -1;
        s->pos -= (size_t)back;
        return n;
    }
    if ((uint64_t)n > s->len - s->pos) {
        s->pos = s->len;
        return -1;
    }
    s->pos += (size_t)n;
    return n;
}

static OPJ_BOOL td_j2k_stream_seek(OPJ_OFF_T offset, void *user)
{
    td_j2k_source *s = (td_j2k_source *)user;
    if (offset < 0 || (uint64_t)offset > s->len) return OPJ_FALSE;
    s->pos = (size_t)offset;
    return OPJ_TRUE;
}

/* OpenJPEG's messages for one call: errors and warnings, "; "-joined, newlines dropped. */
typedef struct td_j2k_log {
    char errors[TD_ERROR_MESSAGE_SIZE];
    char warnings[TD_ERROR_MESSAGE_SIZE];
    size_t nerrors, nwarnings;
} td_j2k_log;

static void td_j2k_append(char *buf, size_t *used, const char *msg)
{
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' ')) n--;
    if (n == 0) return;
    if (*used != 0 && *used + 2 < TD_ERROR_MESSAGE_SIZE) {
        memcpy(buf + *used, "; ", 2);
        *used += 2;
    }
    size_t room = TD_ERROR_MESSAGE_SIZE - 1 - *used;
    if (n > room) n = room;
    memcpy(buf + *used, msg, n);
    *used += n;
    buf[*used] = '\0';
}

static void td_j2k_on_error(const char *msg, void *user)
{
    td_j2k_log *log = (td_j2k_log *)user;
    td_j2k_append(log->errors, &log->nerrors, msg);
}

static void td_j2k_on_warning(const char *msg, void *user)
{
    td_j2k_log *log = (td_j2k_log *)user;
    td_j2k_append(log->warnings, &log->nwarnings, msg);
}

/* Status for an OpenJPEG failure, from what it said. */
static int td_j2k_backend_fail(td_error *err, const td_j2k_log *log, const td_j2k_info *info,
                               const char *step)
{
    int status = TD_E_BACKEND;
    if (info->truncated)
        status = TD_E_TRUNCATED;
    else if (strstr(log->errors, "too short") != NULL || strstr(log->errors, "runcated") != NULL ||
        strstr(log->errors, "inconsistent with stream length") != NULL)
        status = TD_E_TRUNCATED;
    else if (strstr(log->errors, "allocate") != NULL || strstr(log->errors, "memory") != NULL)
        status = TD_E_NOMEM;
    return td_fail(err, status, -1, "OpenJPEG %s failed: %s", step,
                   log->nerrors != 0 ? log->errors
                   : log->nwarnings != 0 ? log->warnings : "no message");
}

/* ---------------------------------------------------------------------------------------------
 * int32 component planes -> little-endian container
 * ------------------------------------------------------------------------------------------- */

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define TD_J2K_LE16(v) ((uint16_t)(((v) >> 8) | ((v) << 8)))
#define TD_J2K_LE32(v) __builtin_bswap32(v)
#else
#define TD_J2K_LE16(v) (v)
#define TD_J2K_LE32(v) (v)
#endif

/* One component, `stride` bytes between output samples (bps for a plane, bps*ncomp for
 * interleaved output).  Casting to the container's unsigned type keeps the low bits: two's
 * complement for signed values, the value itself for unsigned ones (OpenJPEG clamps decoded
 * samples to the component's range in its DC level shift). */
static void td_j2k_put_component(const int32_t *restrict s, size_t n, uint32_t bps, size_t stride,
                                 uint8_t *restrict d)
{
    size_t i;
    switch (bps) {
    case 1:
        if (stride == 1)
            for (i = 0; i < n; i++) d[i] = (uint8_t)s[i];
        else
            for (i = 0; i < n; i++) d[i * stride] = (uint8_t)s[i];
        break;
    case 2:
        if (stride == 2) {
            for (i = 0; i < n; i++) {
                uint16_t v = (uint16_t)s[i];
                v = TD_J2K_LE16(v);
                memcpy(d + 2 * i, &v, 2);
            }
        } else {
            for (i = 0; i < n; i++) {
                uint16_t v = (uint16_t)s[i];
                v = TD_J2K_LE16(v);
                memcpy(d + i * stride, &v, 2);
            }
        }
        break;
    default:
        for (i = 0; i < n; i++) {
            uint32_t v = (uint32_t)s[i];
            v = TD_J2K_LE32(v);
            memcpy(d + i * stride, &v, 4);
        }
        break;
    }
}

/* Three components pixel-interleaved in one pass (RGB, the common colour case). */
static void td_j2k_put_rgb(const int32_t *restrict r, const int32_t *restrict g,
                           const int32_t *restrict b, size_t n, uint32_t bps, uint8_t *restrict d)
{
    size_t i;
    if (bps == 1) {
        for (i = 0; i < n; i++) {
            d[3 * i] = (uint8_t)r[i];
            d[3 * i + 1] = (uint8_t)g[i];
            d[3 * i + 2] = (uint8_t)b[i];
        }
    } else if (bps == 2) {
        for (i = 0; i < n; i++) {
            uint16_t v[3] = {(uint16_t)r[i], (uint16_t)g[i], (uint16_t)b[i]};
            v[0] = TD_J2K_LE16(v[0]);
            v[1] = TD_J2K_LE16(v[1]);
            v[2] = TD_J2K_LE16(v[2]);
            memcpy(d + 6 * i, v, 6);
        }
    } else {
        td_j2k_put_component(r, n, bps, 3 * (size_t)bps, d);
        td_j2k_put_component(g, n, bps, 3 * (size_t)bps, d + bps);
        td_j2k_put_component(b, n, bps, 3 * (size_t)bps, d + 2 * (size_t)bps);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Decode
 * ------------------------------------------------------------------------------------------- */

/* Check OpenJPEG's image description against our own reading of the main header. */
static int td_j2k_check_image(const opj_image_t *image, const td_j2k_info *info, uint32_t rows,
                              uint32_t columns, int decoded, td_error *err)
{
    if (image == NULL || image->comps == NULL || image->numcomps != info->components)
        return td_fail(err, TD_E_BACKEND, -1, "OpenJPEG reports %u components, SIZ says %u",
                       image != NULL ? image->numcomps : 0, info->components);
    if (image->x0 != info->x_offset || image->y0 != info->y_offset ||
        image->x1 - image->x0 != info->columns || image->y1 - image->y0 != info->rows)
        return td_fail(err, TD_E_BACKEND, -1,
                       "OpenJPEG image area (%u,%u)-(%u,%u) differs from SIZ %u x %u at (%u,%u)",
                       image->x0, image->y0, image->x1, image->y1, info->columns, info->rows,
                       info->x_offset, info->y_offset);
    for (uint32_t c = 0; c < image->numcomps; c++) {
        const opj_image_comp_t *comp = &image->comps[c];
        if (comp->dx != 1 || comp->dy != 1)
            return td_fail(err, TD_E_UNSUPPORTED, -1,
                           "J2K component %u is subsampled (%u x %u): not supported", c, comp->dx,
                           comp->dy);
        if (comp->prec == 0 || comp->prec > info->precision || comp->prec > 32 ||
            (c < TD_J2K_INFO_COMPONENTS && (comp->prec != info->component_precision[c] ||
                                            comp->sgnd != info->component_signed[c])))
            return td_fail(err, TD_E_BACKEND, -1,
                           "OpenJPEG component %u precision %u signed %u differs from SIZ", c,
                           comp->prec, comp->sgnd);
        if (!decoded) continue;
        if (comp->data == NULL)
            return td_fail(err, TD_E_BACKEND, -1, "OpenJPEG decoded no data for component %u", c);
        if (comp->w != columns || comp->h != rows)
            return td_fail(err, TD_E_BACKEND, -1,
                           "OpenJPEG component %u is %u x %u, expected %u x %u", c, comp->w,
                           comp->h, columns, rows);
    }
    return TD_OK;
}

int td_j2k_decode(const uint8_t *src, size_t len, uint8_t *out, size_t out_len,
                  const td_j2k_options *opt, td_error *err)
{
    static const td_j2k_options defaults = {0, 0, 0, 0, 0};
    td_error_clear(err);
    if (src == NULL || (out == NULL && out_len != 0))
        return td_fail(err, TD_E_INVALID_ARGUMENT, -1, "td_j2k_decode: NULL argument");
    if (opt == NULL) opt = &defaults;
    if (opt->planar > 1)
        return td_fail(err, TD_E_INVALID_ARGUMENT, -1, "planar must be 0 or 1, got %u", opt->planar);

    td_j2k_info info;
    int st = td_j2k_read_header(src, len, &info, err);
    if (st != TD_OK) return st;
    if (info.truncated && (opt->flags & TD_J2K_STRICT))
        return td_fail(err, TD_E_TRUNCATED, (int64_t)info.truncated_offset,
                       "J2K tile-part %u (SOT at byte %zu) runs past the end of the %zu-byte frame",
                       info.tile_parts, info.truncated_offset, len);
    if (info.subsampled)
        return td_fail(err, TD_E_UNSUPPORTED, -1,
                       "J2K components with different sizes (XRsiz/YRsiz subsampling) are not "
                       "supported");
    if ((uint64_t)info.tiles * info.components > TD_J2K_MAX_TILE_COMPONENTS)
        return td_fail(err, TD_E_LIMIT, -1,
                       "J2K codestream with %u tiles x %u components exceeds the limit of %u",
                       info.tiles, info.components, TD_J2K_MAX_TILE_COMPONENTS);
    size_t need;
    uint32_t rows = 0, columns = 0, bps = 0;
    st = td_j2k_decoded_size(&info, opt, &need, err);
    if (st == TD_OK) st = td_j2k_reduced_dims(&info, opt->reduce, &rows, &columns, err);
    if (st == TD_OK) st = td_j2k_container(&info, opt, &bps, err);
    if (st != TD_OK) return st;
    if (out_len < need)
        return td_fail(err, TD_E_OUTPUT_TOO_SMALL, -1,
                       "J2K frame needs %zu output bytes, buffer has %zu", need, out_len);

    td_j2k_source source = {src + info.codestream_offset, info.codestream_length, 0, 0};
    if (!(opt->flags & TD_J2K_STRICT) && !td_j2k_has_eoc(source.data, source.len)) {
        source.extra = 2;
        source.len += 2;
    }
    td_j2k_log log;
    memset(&log, 0, sizeof log);
    opj_stream_t *stream = NULL;
    opj_codec_t *codec = NULL;
    opj_image_t *image = NULL;
    opj_dparameters_t params;

    size_t chunk = source.len < OPJ_J2K_STREAM_CHUNK_SIZE ? source.len : OPJ_J2K_STREAM_CHUNK_SIZE;
    stream = opj_stream_create(chunk < 4096 ? 4096 : chunk, OPJ_TRUE);
    codec = opj_create_decompress(OPJ_CODEC_J2K);
    if (stream == NULL || codec == NULL) {
        st = td_fail(err, TD_E_NOMEM, -1, "OpenJPEG could not create its stream or codec");
        goto done;
    }
    opj_stream_set_read_function(stream, td_j2k_stream_read);
    opj_stream_set_skip_function(stream, td_j2k_stream_skip);
    opj_stream_set_seek_function(stream, td_j2k_stream_seek);
    opj_stream_set_user_data(stream, &source, NULL);
    opj_stream_set_user_data_length(stream, (OPJ_UINT64)source.len);
    opj_set_error_handler(codec, td_j2k_on_error, &log);
    opj_set_warning_handler(codec, td_j2k_on_warning, &log);

    opj_set_default_decoder_parameters(&params);
    params.cp_reduce = opt->reduce;
    if (!opj_setup_decoder(codec, &params)) {
        st = td_j2k_backend_fail(err, &log, &info, "decoder setup");
        goto done;
    }
    if ((opt->flags & TD_J2K_STRICT) && !opj_decoder_set_strict_mode(codec, OPJ_TRUE)) {
        st = td_j2k_backend_fail(err, &log, &info, "strict mode");
        goto done;
    }
    /* Always set: 0 threads overrides an OPJ_NUM_THREADS environment variable. */
    if (opj_has_thread_support())
        (void)opj_codec_set_threads(codec, opt->num_threads > 1 ? (int)opt->num_threads : 0);

    if (!opj_read_header(stream, codec, &image)) {
        st = td_j2k_backend_fail(err, &log, &info, "header");
        goto done;
    }
    st = td_j2k_check_image(image, &info, rows, columns, 0, err);
    if (st != TD_OK) goto done;
    if (!opj_decode(codec, stream, image) || !opj_end_decompress(codec, stream)) {
        st = td_j2k_backend_fail(err, &log, &info, "decode");
        goto done;
    }
    st = td_j2k_check_image(image, &info, rows, columns, 1, err);
    if (st != TD_OK) goto done;

    const size_t npix = (size_t)rows * columns;
    const uint32_t ncomp = info.components;
    if (ncomp == 3 && !opt->planar) {
        td_j2k_put_rgb(image->comps[0].data, image->comps[1].data, image->comps[2].data, npix,
                       bps, out);
    } else {
        for (uint32_t c = 0; c < ncomp; c++) {
            const int32_t *s = image->comps[c].data;
            if (opt->planar || ncomp == 1)
                td_j2k_put_component(s, npix, bps, bps, out + (size_t)c * npix * bps);
            else
                td_j2k_put_component(s, npix, bps, (size_t)bps * ncomp, out + (size_t)c * bps);
        }
    }
    if (log.nwarnings != 0) td_fail(err, TD_OK, -1, "OpenJPEG warning: %s", log.warnings);

done:
    if (image != NULL) opj_image_destroy(image);
    if (codec != NULL) opj_destroy_codec(codec);
    if (stream != NULL) opj_stream_destroy(stream);
    return st;
}
