/* td_parse.c - the DICOM element walker declared in td_parse.h (PS3.5 Section 7, PS3.10 7.1). */
#include "td_parse.h"
#include "td_bytes.h"
#include "td_walk.h"

#include <string.h>

typedef struct walker {
    const uint8_t *buf;
    size_t len;
    int big_endian;
    int explicit_vr;
} walker;

typedef td_walk_element element;

#define TAG TD_TAG
#define TAG_ITEM TD_TAG_ITEM
#define TAG_ITEM_END TD_TAG_ITEM_END
#define TAG_SEQ_END TD_TAG_SEQ_END

static uint16_t w16(const walker *w, size_t pos)
{
    return w->big_endian ? td_load_be16(w->buf + pos) : td_load_le16(w->buf + pos);
}


/* Read the element header at pos (PS3.5 7.1.1-7.1.3, 7.5); see td_walk_header(). */
static int read_element(const walker *w, size_t pos, element *el, td_error *err)
{
    if (pos > w->len || w->len - pos < 8)
        return td_fail(err, TD_E_TRUNCATED, (int64_t)pos,
                       "element header at offset %zu runs past the end of the data (%zu bytes)",
                       pos, w->len);
    if (td_walk_header(w->buf + pos, w->len - pos, w->big_endian, w->explicit_vr, el) != 0)
        return td_fail(err, TD_E_TRUNCATED, (int64_t)pos,
                       "element (%04X,%04X) header at offset %zu is truncated", el->tag >> 16,
                       el->tag & 0xFFFF, pos);
    return TD_OK;
}

/* pydicom's check at the start of a dataset or item (filereader._is_implicit_vr). */
static void detect_vr_style(walker *w, size_t pos)
{
    if (pos > w->len) return;
    w->explicit_vr = td_walk_detect_explicit(w->buf + pos, w->len - pos, w->big_endian,
                                             w->explicit_vr);
}

static int skip_sequence(const walker *w, size_t pos, int depth, size_t *end, td_error *err);

/* Skip an item's dataset of undefined length starting at pos, up to and including its Item
 * Delimitation Item (PS3.5 7.5.2). */
static int skip_item_dataset(const walker *parent, size_t pos, int depth, size_t *end,
                             td_error *err)
{
    walker w = *parent;
    element el = {0}; /* set by read_element; {0} for gcc -Wmaybe-uninitialized */
    int rc;
    detect_vr_style(&w, pos);
    for (;;) {
        if ((rc = read_element(&w, pos, &el, err)) != TD_OK) return rc;
        if (el.tag == TAG_ITEM_END) {
            *end = pos + 8;
            return TD_OK;
        }
        if (el.tag == TAG_SEQ_END) { /* missing item delimiter: let the sequence end here */
            *end = pos;
            return TD_OK;
        }
        pos += el.header;
        if (el.length < 0) {
            walker inner = w;
            if (el.vr[0] == 'U' && el.vr[1] == 'N') inner.explicit_vr = 0; /* PS3.5 6.2.2 */
            if ((rc = skip_sequence(&inner, pos, depth + 1, &pos, err)) != TD_OK) return rc;
        } else {
            if ((uint64_t)el.length > w.len - pos)
                return td_fail(err, TD_E_TRUNCATED, (int64_t)(pos - el.header),
                               "element (%04X,%04X) at offset %zu: value length %lld runs past "
                               "the end of the data (%zu bytes)",
                               el.tag >> 16, el.tag & 0xFFFF, pos - el.header,
                               (long long)el.length, w.len);
            pos += (size_t)el.length;
        }
    }
}

/* Skip the items of an undefined-length value (a sequence, or encapsulated pixel data) starting
 * at pos, up to and including the Sequence Delimitation Item (PS3.5 7.5.2, A.4). */
static int skip_sequence(const walker *w, size_t pos, int depth, size_t *end, td_error *err)
{
    element el;
    int rc;
    if (depth > TD_PARSE_MAX_DEPTH)
        return td_fail(err, TD_E_CORRUPT, (int64_t)pos,
                       "sequences nested deeper than %d levels at offset %zu", TD_PARSE_MAX_DEPTH,
                       pos);
    for (;;) {
        if ((rc = read_element(w, pos, &el, err)) != TD_OK) return rc;
        if (el.tag == TAG_SEQ_END) {
            *end = pos + 8;
            return TD_OK;
        }
        if (el.tag != TAG_ITEM)
            return td_fail(err, TD_E_CORRUPT, (int64_t)pos,
                           "expected an item tag (FFFE,E000) at offset %zu in an undefined-length "
                           "sequence, found (%04X,%04X)",
                           pos, el.tag >> 16, el.tag & 0xFFFF);
        pos += 8;
        if (el.length < 0) {
            if ((rc = skip_item_dataset(w, pos, depth + 1, &pos, err)) != TD_OK) return rc;
        } else {
            if ((uint64_t)el.length > w->len - pos)
                return td_fail(err, TD_E_TRUNCATED, (int64_t)(pos - 8),
                               "item at offset %zu: length %lld runs past the end of the data "
                               "(%zu bytes)",
                               pos - 8, (long long)el.length, w->len);
            pos += (size_t)el.length;
        }
    }
}

/* (0028,0008) Number of Frames is IS: leading/trailing spaces, optional sign; first value only. */
static int64_t parse_is(const uint8_t *p, size_t n)
{
    size_t i = 0;
    int64_t v = 0;
    int neg = 0;
    while (i < n && p[i] == ' ') i++;
    if (i < n && (p[i] == '+' || p[i] == '-')) neg = p[i++] == '-';
    for (; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
        v = v * 10 + (p[i] - '0');
        if (v > ((int64_t)1 << 40)) break;
    }
    return neg ? -v : v;
}

int td_parse_encoding_for_syntax(const char *uid)
{
    if (uid == NULL || uid[0] == '\0') return TD_ENC_UNKNOWN;
    if (strcmp(uid, "1.2.840.10008.1.2") == 0) return TD_ENC_IMPLICIT_LE;
    if (strcmp(uid, "1.2.840.10008.1.2.2") == 0) return TD_ENC_EXPLICIT_BE;
    if (strcmp(uid, "1.2.840.10008.1.2.1.99") == 0) return TD_ENC_DEFLATED;
    return TD_ENC_EXPLICIT_LE;
}

static uint32_t us_value(const walker *w, size_t pos, int64_t length)
{
    return length >= 2 ? w16(w, pos) : 0;
}

int td_parse_dataset(const uint8_t *buf, size_t len, size_t offset, int encoding,
                     td_image_info *info, td_error *err)
{
    walker w = {buf, len, encoding == TD_ENC_EXPLICIT_BE, encoding != TD_ENC_IMPLICIT_LE};
    element el = {0}; /* set by read_element; {0} for gcc -Wmaybe-uninitialized */
    size_t pos = offset;
    int rc;

    if (buf == NULL || info == NULL)
        return td_fail(err, TD_E_INVALID_ARGUMENT, -1, "buf and info must not be NULL");
    if (encoding != TD_ENC_IMPLICIT_LE && encoding != TD_ENC_EXPLICIT_LE &&
        encoding != TD_ENC_EXPLICIT_BE)
        return td_fail(err, TD_E_INVALID_ARGUMENT, -1, "encoding %d cannot be walked", encoding);
    info->encoding = encoding;
    info->dataset_offset = (int64_t)offset;
    detect_vr_style(&w, pos);

    while (pos < len) {
        if (len - pos < 8) break; /* trailing bytes too short for an element: ignored */
        if ((rc = read_element(&w, pos, &el, err)) != TD_OK) return rc;
        size_t value = pos + el.header;
        uint32_t tag = el.tag;
        int defined = el.length >= 0;
        if (value > len || (defined && (uint64_t)el.length > len - value)) {
            if (tag == TAG(0x7FE0, 0x0010) || tag == TAG(0x7FE0, 0x0008) ||
                tag == TAG(0x7FE0, 0x0009)) {
                /* Truncated native pixel data: record it; the frame reader reports the
                 * shortfall in terms of frames. */
            } else {
                return td_fail(err, TD_E_TRUNCATED, (int64_t)pos,
                               "element (%04X,%04X) at offset %zu: value length %lld runs past "
                               "the end of the file (%zu bytes)",
                               tag >> 16, tag & 0xFFFF, pos, (long long)el.length, len);
            }
        }
        const uint8_t *v = buf + value;
        switch (tag) {
        case TAG(0x0028, 0x0002):
            if (defined && el.length >= 2) {
                info->samples_per_pixel = us_value(&w, value, el.length);
                info->present |= TD_HAVE_SAMPLES_PER_PIXEL;
            }
            break;
        case TAG(0x0028, 0x0004):
            if (defined && el.length > 0) {
                td_walk_copy_text(info->photometric_interpretation,
                          sizeof info->photometric_interpretation, v, (size_t)el.length);
                info->present |= TD_HAVE_PHOTOMETRIC;
            }
            break;
        case TAG(0x0028, 0x0006):
            if (defined && el.length >= 2) {
                info->planar_configuration = us_value(&w, value, el.length);
                info->present |= TD_HAVE_PLANAR_CONFIGURATION;
            }
            break;
        case TAG(0x0028, 0x0008):
            if (defined && el.length > 0) {
                int64_t n = parse_is(v, (size_t)el.length);
                info->number_of_frames = n > 0 ? n : 1;
                info->present |= TD_HAVE_NUMBER_OF_FRAMES;
            }
            break;
        case TAG(0x0028, 0x0010):
            if (defined && el.length >= 2) {
                info->rows = us_value(&w, value, el.length);
                info->present |= TD_HAVE_ROWS;
            }
            break;
        case TAG(0x0028, 0x0011):
            if (defined && el.length >= 2) {
                info->columns = us_value(&w, value, el.length);
                info->present |= TD_HAVE_COLUMNS;
            }
            break;
        case TAG(0x0028, 0x0100):
            if (defined && el.length >= 2) {
                info->bits_allocated = us_value(&w, value, el.length);
                info->present |= TD_HAVE_BITS_ALLOCATED;
            }
            break;
        case TAG(0x0028, 0x0101):
            if (defined && el.length >= 2) {
                info->bits_stored = us_value(&w, value, el.length);
                info->present |= TD_HAVE_BITS_STORED;
            }
            break;
        case TAG(0x0028, 0x0102):
            if (defined && el.length >= 2) {
                info->high_bit = us_value(&w, value, el.length);
                info->present |= TD_HAVE_HIGH_BIT;
            }
            break;
        case TAG(0x0028, 0x0103):
            if (defined && el.length >= 2) {
                info->pixel_representation = us_value(&w, value, el.length);
                info->present |= TD_HAVE_PIXEL_REPRESENTATION;
            }
            break;
        case TAG(0x7FE0, 0x0001):
            if (defined) {
                info->eot_offset = (int64_t)value;
                info->eot_length = el.length;
                info->present |= TD_HAVE_EXTENDED_OFFSETS;
            }
            break;
        case TAG(0x7FE0, 0x0002):
            if (defined) {
                info->eotl_offset = (int64_t)value;
                info->eotl_length = el.length;
            }
            break;
        case TAG(0x7FE0, 0x0008):
        case TAG(0x7FE0, 0x0009):
        case TAG(0x7FE0, 0x0010):
            info->pixel_tag = tag;
            memcpy(info->pixel_vr, el.vr, sizeof info->pixel_vr);
            info->pixel_offset = (int64_t)value;
            info->pixel_length = el.length;
            info->present |= TD_HAVE_PIXEL_DATA;
            return TD_OK; /* nothing after the pixel data matters here */
        default:
            /* Past (7FE0,0010) there is no pixel data; a stray item tag (group FFFE) at the top
             * level, left by a writer that got a sequence length wrong, is stepped over as
             * pydicom does. */
            if (tag > TAG(0x7FE0, 0x0010) && (tag >> 16) != 0xFFFE) return TD_OK;
            break;
        }
        if (defined) {
            pos = value + (size_t)el.length;
        } else {
            walker inner = w;
            if (el.vr[0] == 'U' && el.vr[1] == 'N') inner.explicit_vr = 0; /* PS3.5 6.2.2 */
            if ((rc = skip_sequence(&inner, value, 1, &pos, err)) != TD_OK) return rc;
        }
    }
    return TD_OK;
}

/* PS3.10 7.1: File Meta Information, always explicit VR little endian, group 0002. */
static int parse_file_meta(const uint8_t *buf, size_t len, size_t pos, td_image_info *info,
                           size_t *end, td_error *err)
{
    walker w = {buf, len, 0, 1};
    element el;
    int rc;
    detect_vr_style(&w, pos);
    while (pos < len && len - pos >= 8 && td_load_le16(buf + pos) == 0x0002) {
        if ((rc = read_element(&w, pos, &el, err)) != TD_OK) return rc;
        size_t value = pos + el.header;
        if (el.length < 0 || (uint64_t)el.length > len - value)
            return td_fail(err, TD_E_TRUNCATED, (int64_t)pos,
                           "file meta element (0002,%04X) at offset %zu: value length %lld runs "
                           "past the end of the file (%zu bytes)",
                           el.tag & 0xFFFF, pos, (long long)el.length, len);
        if (el.tag == TAG(0x0002, 0x0010)) {
            td_walk_copy_text(info->transfer_syntax_uid, sizeof info->transfer_syntax_uid,
                              buf + value, (size_t)el.length);
            info->present |= TD_HAVE_TRANSFER_SYNTAX;
        }
        pos = value + (size_t)el.length;
    }
    info->present |= TD_HAVE_FILE_META;
    *end = pos;
    return TD_OK;
}

int td_parse_image(const uint8_t *buf, size_t len, td_image_info *info, td_error *err)
{
    size_t pos = 0;
    int rc, encoding;

    if (buf == NULL || info == NULL)
        return td_fail(err, TD_E_INVALID_ARGUMENT, -1, "buf and info must not be NULL");
    memset(info, 0, sizeof *info);
    info->number_of_frames = 1;
    info->pixel_offset = info->eot_offset = info->eotl_offset = -1;
    info->eot_length = info->eotl_length = -1;
    info->pixel_length = 0;

    if (len >= 132 && memcmp(buf + 128, "DICM", 4) == 0) pos = 132;
    if (len - pos >= 8 && td_load_le16(buf + pos) == 0x0002) {
        if ((rc = parse_file_meta(buf, len, pos, info, &pos, err)) != TD_OK) return rc;
    }

    if (info->present & TD_HAVE_TRANSFER_SYNTAX) {
        encoding = td_parse_encoding_for_syntax(info->transfer_syntax_uid);
    } else {
        /* No transfer syntax: infer the encoding from the first element as pydicom does
         * (filereader.read_partial): a VR-like pair of letters means explicit VR; a tag group
         * that only makes sense byte-swapped means big endian. */
        if (len - pos < 8)
            return td_fail(err, TD_E_TRUNCATED, (int64_t)pos,
                           "no DICOM dataset: only %zu bytes after the file meta", len - pos);
        if ((rc = td_walk_check_dataset_start(buf + pos, (int64_t)pos, err)) != TD_OK)
            return rc;
        encoding = td_walk_infer_encoding(buf + pos, info->transfer_syntax_uid);
    }
    info->dataset_offset = (int64_t)pos;
    if (encoding == TD_ENC_DEFLATED) {
        info->encoding = TD_ENC_DEFLATED;
        return TD_OK;
    }
    return td_parse_dataset(buf, len, pos, encoding, info, err);
}
