/* td_scan.c - the tag scanner declared in td_scan.h (PS3.5 Section 7 and A.5, PS3.10 7.1). */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif
#include "td_scan.h"
#include "td_bytes.h"
#include "td_walk.h"

#include <errno.h>
#include <string.h>
#include <zlib.h>

#ifdef _WIN32
#include <fcntl.h>
#include <io.h>
#include <sys/stat.h>
#else
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

/* ------------------------------------------------------------------------------------------ */
/* The source: a forward sliding window over the file, a buffer, or the inflated dataset.      */
/* Positions are stream positions: file offsets, continued past the file meta into the         */
/* inflated bytes for a deflated dataset.                                                     */
/* ------------------------------------------------------------------------------------------ */
typedef struct source {
    int fd;                /* >= 0: read from this file; else from mem */
    const uint8_t *mem;
    uint64_t size;         /* raw size of the file or buffer */
    const uint8_t *win;    /* stream bytes [win_pos, win_pos + win_len) */
    size_t win_len;
    uint64_t win_pos;
    uint8_t *work;
    size_t work_len;       /* window capacity (half the work buffer once inflating) */
    size_t next_read;
    int64_t bytes_read;
    int sys_errno;
    /* inflating (PS3.5 A.5: raw deflate of the dataset after the file meta) */
    int inflating, z_init, z_end;
    z_stream zs;
    uint8_t *zin;
    size_t zin_cap;
    uint64_t raw_pos;      /* next compressed byte to read */
} source;

static int64_t read_at(source *s, uint8_t *dst, size_t n, uint64_t pos)
{
    size_t done = 0;
    while (done < n) {
#ifdef _WIN32
        if (_lseeki64(s->fd, (__int64)(pos + done), SEEK_SET) < 0) return -1;
        int r = _read(s->fd, dst + done, (unsigned)(n - done > 1u << 30 ? 1u << 30 : n - done));
#else
        ssize_t r = pread(s->fd, dst + done, n - done, (off_t)(pos + done));
#endif
        if (r < 0) {
            if (errno == EINTR) continue;
            s->sys_errno = errno;
            return -1;
        }
        if (r == 0) break;
        done += (size_t)r;
    }
    s->bytes_read += (int64_t)done;
    return (int64_t)done;
}

static int io_fail(source *s, td_error *err, uint64_t pos)
{
    return td_fail(err, TD_E_BACKEND, (int64_t)pos, "read error at offset %llu (errno %d)",
                   (unsigned long long)pos, s->sys_errno);
}

/* Inflate more of the dataset into dst[0:cap]; *produced may be 0 only when the stream ends. */
static int inflate_more(source *s, uint8_t *dst, size_t cap, size_t *produced, td_error *err)
{
    *produced = 0;
    s->zs.next_out = dst;
    s->zs.avail_out = (uInt)cap;
    while (s->zs.avail_out > 0 && !s->z_end) {
        if (s->zs.avail_in == 0) {
            if (s->raw_pos >= s->size) { /* compressed data ended early: truncated stream */
                s->z_end = 1;
                break;
            }
            uint64_t left = s->size - s->raw_pos;
            if (s->fd >= 0) {
                size_t n = left < s->zin_cap ? (size_t)left : s->zin_cap;
                int64_t r = read_at(s, s->zin, n, s->raw_pos);
                if (r < 0) return io_fail(s, err, s->raw_pos);
                if (r == 0) { s->z_end = 1; break; }
                s->zs.next_in = s->zin;
                s->zs.avail_in = (uInt)r;
                s->raw_pos += (uint64_t)r;
            } else {
                size_t n = left < (1u << 30) ? (size_t)left : (1u << 30);
                s->zs.next_in = (Bytef *)(uintptr_t)(s->mem + s->raw_pos);
                s->zs.avail_in = (uInt)n;
                s->raw_pos += n;
            }
        }
        int zrc = inflate(&s->zs, Z_NO_FLUSH);
        if (zrc == Z_STREAM_END) {
            s->z_end = 1;
        } else if (zrc == Z_NEED_DICT || zrc == Z_DATA_ERROR || zrc == Z_STREAM_ERROR) {
            return td_fail(err, TD_E_CORRUPT, (int64_t)s->raw_pos,
                           "deflated dataset: zlib reports '%s' near file offset %llu",
                           s->zs.msg ? s->zs.msg : "data error",
                           (unsigned long long)s->raw_pos);
        } else if (zrc == Z_MEM_ERROR) {
            return td_fail(err, TD_E_NOMEM, -1, "deflated dataset: zlib is out of memory");
        }
        if (cap - s->zs.avail_out > 0) break; /* some output: enough for this call */
    }
    *produced = cap - s->zs.avail_out;
    s->bytes_read += (int64_t)*produced;
    return TD_OK;
}

/* Make stream bytes [pos, pos + n) readable at *p (n <= 16); *got < n only at the end of the
 * data (0 when pos is at or past the end). */
static int src_fill(source *s, uint64_t pos, size_t n, const uint8_t **p, size_t *got,
                    td_error *err)
{
    if (pos >= s->win_pos && pos - s->win_pos <= s->win_len &&
        s->win_len - (pos - s->win_pos) >= n) {
        *p = s->win + (pos - s->win_pos);
        *got = n;
        return TD_OK;
    }
    if (!s->inflating) {
        if (s->fd < 0 || pos >= s->size) { /* a buffer is one window; past the end */
            size_t avail = pos < s->size ? (size_t)(s->size - pos) : 0;
            *p = s->fd < 0 && avail ? s->mem + pos : s->work;
            *got = avail < n ? avail : n;
            return TD_OK;
        }
        size_t want = s->next_read > n ? s->next_read : n;
        if (want > s->work_len) want = s->work_len;
        if (s->next_read < s->work_len) s->next_read *= 2;
        int64_t r = read_at(s, s->work, want, pos);
        if (r < 0) return io_fail(s, err, pos);
        s->win = s->work;
        s->win_pos = pos;
        s->win_len = (size_t)r;
        *p = s->work;
        *got = (size_t)r < n ? (size_t)r : n;
        return TD_OK;
    }
    for (;;) {
        uint64_t end = s->win_pos + s->win_len;
        if (pos >= s->win_pos && pos + n <= end) {
            *p = s->win + (pos - s->win_pos);
            *got = n;
            return TD_OK;
        }
        if (pos < s->win_pos)
            return td_fail(err, TD_E_CORRUPT, (int64_t)pos,
                           "deflated dataset: the walk went back to offset %llu",
                           (unsigned long long)pos);
        if (s->z_end) {
            size_t avail = pos < end ? (size_t)(end - pos) : 0;
            *p = avail ? s->win + (pos - s->win_pos) : s->work;
            *got = avail < n ? avail : n;
            return TD_OK;
        }
        if (pos >= end) { /* discard the window */
            s->win_pos = end;
            s->win_len = 0;
        } else if (pos > s->win_pos) { /* keep the tail from pos */
            size_t keep = (size_t)(end - pos);
            memmove(s->work, s->work + (pos - s->win_pos), keep);
            s->win_pos = pos;
            s->win_len = keep;
        }
        size_t produced;
        int rc = inflate_more(s, s->work + s->win_len, s->work_len - s->win_len, &produced, err);
        if (rc != TD_OK) return rc;
        s->win_len += produced;
    }
}

/* Copy stream bytes [pos, pos + n) to dst; the caller has checked they exist (raw) or will get
 * TD_E_TRUNCATED (inflated). */
static int src_copy(source *s, uint64_t pos, size_t n, uint8_t *dst, td_error *err)
{
    if (!s->inflating && s->fd < 0) {
        memcpy(dst, s->mem + pos, n);
        return TD_OK;
    }
    if (!s->inflating) {
        if (pos >= s->win_pos && pos - s->win_pos < s->win_len) {
            size_t in_win = s->win_len - (size_t)(pos - s->win_pos);
            size_t k = in_win < n ? in_win : n;
            memcpy(dst, s->win + (pos - s->win_pos), k);
            dst += k;
            pos += k;
            n -= k;
        }
        if (n == 0) return TD_OK;
        int64_t r = read_at(s, dst, n, pos);
        if (r < 0) return io_fail(s, err, pos);
        if ((size_t)r < n)
            return td_fail(err, TD_E_TRUNCATED, (int64_t)pos, "file shrank while being read");
        return TD_OK;
    }
    size_t chunk = s->work_len / 2;
    while (n > 0) {
        const uint8_t *p;
        size_t got, k = n < chunk ? n : chunk;
        int rc = src_fill(s, pos, k, &p, &got, err);
        if (rc != TD_OK) return rc;
        if (got < k)
            return td_fail(err, TD_E_TRUNCATED, (int64_t)(pos + got),
                           "deflated dataset ends at offset %llu inside a value",
                           (unsigned long long)(pos + got));
        memcpy(dst, p, k);
        dst += k;
        pos += k;
        n -= k;
    }
    return TD_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* The walk                                                                                   */
/* ------------------------------------------------------------------------------------------ */
typedef struct style {
    int big_endian;
    int explicit_vr;
} style;

typedef struct scan {
    source *s;
    td_scan_value *values;
    size_t nr, next;
    uint8_t *arena;
    size_t cap, used;
    td_error *err;
} scan;

/* Read the element header at pos.  *got_bytes is how many bytes were there (< 8: none). */
static int read_header(scan *sc, style st, uint64_t pos, td_walk_element *el, size_t *got_bytes)
{
    const uint8_t *p;
    size_t got;
    int rc = src_fill(sc->s, pos, 12, &p, &got, sc->err);
    if (rc != TD_OK) return rc;
    *got_bytes = got;
    if (got < 8) return TD_OK;
    if (td_walk_header(p, got, st.big_endian, st.explicit_vr, el) != 0)
        return td_fail(sc->err, TD_E_TRUNCATED, (int64_t)pos,
                       "element (%04X,%04X) header at offset %llu is truncated", el->tag >> 16,
                       el->tag & 0xFFFF, (unsigned long long)pos);
    return TD_OK;
}

static int need_header(scan *sc, style st, uint64_t pos, td_walk_element *el)
{
    size_t got;
    int rc = read_header(sc, st, pos, el, &got);
    if (rc != TD_OK) return rc;
    if (got < 8)
        return td_fail(sc->err, TD_E_TRUNCATED, (int64_t)pos,
                       "element header at offset %llu runs past the end of the data",
                       (unsigned long long)pos);
    return TD_OK;
}

static style detect_style(scan *sc, style st, uint64_t pos)
{
    const uint8_t *p;
    size_t got;
    if (src_fill(sc->s, pos, 6, &p, &got, NULL) != TD_OK) return st;
    st.explicit_vr = td_walk_detect_explicit(p, got, st.big_endian, st.explicit_vr);
    return st;
}

/* A defined length must end within the file (known size); inflated data is checked as read. */
static int check_length(scan *sc, uint64_t header_pos, uint64_t value, int64_t length,
                        uint32_t tag, const char *what)
{
    if (sc->s->inflating) return TD_OK;
    if (value <= sc->s->size && (uint64_t)length <= sc->s->size - value) return TD_OK;
    return td_fail(sc->err, TD_E_TRUNCATED, (int64_t)header_pos,
                   "%s (%04X,%04X) at offset %llu: value length %lld runs past the end of the "
                   "file (%llu bytes)",
                   what, tag >> 16, tag & 0xFFFF, (unsigned long long)header_pos,
                   (long long)length, (unsigned long long)sc->s->size);
}

static int skip_sequence(scan *sc, style st, uint64_t pos, int depth, uint64_t *end);

/* Skip an item's dataset of undefined length, up to and including its Item Delimitation Item
 * (PS3.5 7.5.2). */
static int skip_item_dataset(scan *sc, style st, uint64_t pos, int depth, uint64_t *end)
{
    td_walk_element el = {0}; /* set by need_header; {0} for gcc -Wmaybe-uninitialized */
    int rc;
    st = detect_style(sc, st, pos);
    for (;;) {
        if ((rc = need_header(sc, st, pos, &el)) != TD_OK) return rc;
        if (el.tag == TD_TAG_ITEM_END) {
            *end = pos + 8;
            return TD_OK;
        }
        if (el.tag == TD_TAG_SEQ_END) { /* missing item delimiter: let the sequence end here */
            *end = pos;
            return TD_OK;
        }
        uint64_t value = pos + el.header;
        if (el.length < 0) {
            style inner = st;
            if (el.vr[0] == 'U' && el.vr[1] == 'N') /* PS3.5 6.2.2: implicit VR little endian */
                inner.explicit_vr = inner.big_endian = 0;
            if ((rc = skip_sequence(sc, inner, value, depth + 1, &pos)) != TD_OK) return rc;
        } else {
            if ((rc = check_length(sc, pos, value, el.length, el.tag, "element")) != TD_OK)
                return rc;
            pos = value + (uint64_t)el.length;
        }
    }
}

/* Skip the items of an undefined-length value (a sequence, or encapsulated pixel data), up to
 * and including the Sequence Delimitation Item (PS3.5 7.5.2, A.4). */
static int skip_sequence(scan *sc, style st, uint64_t pos, int depth, uint64_t *end)
{
    td_walk_element el;
    int rc;
    if (depth > TD_PARSE_MAX_DEPTH)
        return td_fail(sc->err, TD_E_CORRUPT, (int64_t)pos,
                       "sequences nested deeper than %d levels at offset %llu",
                       TD_PARSE_MAX_DEPTH, (unsigned long long)pos);
    for (;;) {
        if ((rc = need_header(sc, st, pos, &el)) != TD_OK) return rc;
        if (el.tag == TD_TAG_SEQ_END) {
            *end = pos + 8;
            return TD_OK;
        }
        if (el.tag != TD_TAG_ITEM)
            return td_fail(sc->err, TD_E_CORRUPT, (int64_t)pos,
                           "expected an item tag (FFFE,E000) at offset %llu in an "
                           "undefined-length sequence, found (%04X,%04X)",
                           (unsigned long long)pos, el.tag >> 16, el.tag & 0xFFFF);
        pos += 8;
        if (el.length < 0) {
            if ((rc = skip_item_dataset(sc, st, pos, depth + 1, &pos)) != TD_OK) return rc;
        } else {
            if ((rc = check_length(sc, pos - 8, pos, el.length, el.tag, "item")) != TD_OK)
                return rc;
            pos += (uint64_t)el.length;
        }
    }
}

/* If el is the next requested tag, record it (copying a defined-length value into the arena).
 * Requested tags smaller than el.tag were absent. */
static int offer(scan *sc, const td_walk_element *el, uint64_t value)
{
    while (sc->next < sc->nr && sc->values[sc->next].tag < el->tag) sc->next++;
    if (sc->next >= sc->nr || sc->values[sc->next].tag != el->tag) return TD_OK;
    td_scan_value *v = &sc->values[sc->next++];
    v->found = 1;
    memcpy(v->vr, el->vr, sizeof v->vr);
    v->length = el->length;
    v->offset = -1;
    if (el->length <= 0) {
        if (el->length == 0) v->offset = (int64_t)sc->used;
        return TD_OK;
    }
    size_t n = (size_t)el->length, after;
    if (td_add_overflow(sc->used, n, &after))
        return td_fail(sc->err, TD_E_LIMIT, -1, "requested values exceed the address space");
    if (after <= sc->cap) {
        int rc = src_copy(sc->s, value, n, sc->arena + sc->used, sc->err);
        if (rc != TD_OK) return rc;
        v->offset = (int64_t)sc->used;
    }
    sc->used = after;
    return TD_OK;
}

/* PS3.10 7.1: File Meta Information, explicit VR little endian, group 0002. */
static int scan_file_meta(scan *sc, uint64_t pos, td_scan_info *info, uint64_t *end)
{
    style st = {0, 1};
    td_walk_element el;
    const uint8_t *p;
    size_t got;
    int rc;
    st = detect_style(sc, st, pos);
    for (;;) {
        if ((rc = src_fill(sc->s, pos, 12, &p, &got, sc->err)) != TD_OK) return rc;
        if (got < 8 || td_load_le16(p) != 0x0002) break;
        if ((rc = read_header(sc, st, pos, &el, &got)) != TD_OK) return rc;
        uint64_t value = pos + el.header;
        if (el.length < 0 || value > sc->s->size ||
            (uint64_t)el.length > sc->s->size - value)
            return td_fail(sc->err, TD_E_TRUNCATED, (int64_t)pos,
                           "file meta element (0002,%04X) at offset %llu: value length %lld runs "
                           "past the end of the file (%llu bytes)",
                           el.tag & 0xFFFF, (unsigned long long)pos, (long long)el.length,
                           (unsigned long long)sc->s->size);
        if (el.tag == TD_TAG(0x0002, 0x0010)) {
            uint8_t uid[64];
            size_t n = el.length > 64 ? 64 : (size_t)el.length;
            if ((rc = src_copy(sc->s, value, n, uid, sc->err)) != TD_OK) return rc;
            td_walk_copy_text(info->transfer_syntax_uid, sizeof info->transfer_syntax_uid, uid, n);
        }
        if ((rc = offer(sc, &el, value)) != TD_OK) return rc;
        info->has_file_meta = 1;
        pos = value + (uint64_t)el.length;
    }
    *end = pos;
    return TD_OK;
}

static int scan_dataset(scan *sc, style st, uint64_t pos)
{
    td_walk_element el;
    size_t got;
    int rc;
    st = detect_style(sc, st, pos);
    while (sc->next < sc->nr) {
        if ((rc = read_header(sc, st, pos, &el, &got)) != TD_OK) return rc;
        if (got < 8) {
            if (got == 0 && sc->s->inflating && sc->s->z_end &&
                pos > sc->s->win_pos + sc->s->win_len)
                return td_fail(sc->err, TD_E_TRUNCATED, (int64_t)pos,
                               "a value runs past the end of the deflated dataset (%llu bytes)",
                               (unsigned long long)(sc->s->win_pos + sc->s->win_len));
            break; /* end of data; trailing bytes too short for an element are ignored */
        }
        uint64_t value = pos + el.header;
        /* A stray item tag (group FFFE) at the top level, left by a writer that got a sequence
         * length wrong, is stepped over as pydicom does. */
        /* The length is checked before the value is offered: a value that runs past the end
         * of the data must never be copied (found by fuzz_scan). */
        if (el.length >= 0 &&
            (rc = check_length(sc, pos, value, el.length, el.tag, "element")) != TD_OK)
            return rc;
        if ((el.tag >> 16) != 0xFFFE) {
            if ((rc = offer(sc, &el, value)) != TD_OK) return rc;
            if (sc->next >= sc->nr) break; /* every requested tag is passed */
        }
        if (el.length >= 0) {
            pos = value + (uint64_t)el.length;
        } else {
            style inner = st;
            if (el.vr[0] == 'U' && el.vr[1] == 'N') /* PS3.5 6.2.2: implicit VR little endian */
                inner.explicit_vr = inner.big_endian = 0;
            if ((rc = skip_sequence(sc, inner, value, 1, &pos)) != TD_OK) return rc;
        }
    }
    return TD_OK;
}

static int scan_walk(scan *sc_, source *s, td_scan_info *info, td_error *err)
{
    const uint8_t *p;
    size_t got;
    uint64_t pos = 0;
    int rc, encoding;

    if ((rc = src_fill(s, 0, 16, &p, &got, err)) != TD_OK) return rc;
    if (got == 0) return td_fail(err, TD_E_TRUNCATED, 0, "empty file: no DICOM data");
    if ((rc = src_fill(s, 128, 4, &p, &got, err)) != TD_OK) return rc;
    if (got == 4 && memcmp(p, "DICM", 4) == 0) pos = 132;
    scan *const scp = sc_;
    if ((rc = scan_file_meta(scp, pos, info, &pos)) != TD_OK) return rc;

    if (info->transfer_syntax_uid[0] != '\0') {
        encoding = td_parse_encoding_for_syntax(info->transfer_syntax_uid);
    } else {
        /* infer the encoding from the first element as pydicom does (see td_parse_image) */
        if ((rc = src_fill(s, pos, 8, &p, &got, err)) != TD_OK) return rc;
        if (got < 8)
            return td_fail(err, TD_E_TRUNCATED, (int64_t)pos,
                           "no DICOM dataset: only %zu bytes after the file meta", got);
        /* a text file or an image in a scanned folder is reported as not DICOM instead of
         * yielding a row of empty values */
        if ((rc = td_walk_check_dataset_start(p, (int64_t)pos, err)) != TD_OK) return rc;
        encoding = td_walk_infer_encoding(p, info->transfer_syntax_uid);
    }
    info->encoding = encoding;
    info->big_endian = encoding == TD_ENC_EXPLICIT_BE;
    style st = {encoding == TD_ENC_EXPLICIT_BE, encoding != TD_ENC_IMPLICIT_LE};

    if (encoding == TD_ENC_DEFLATED) {
        if (s->work == NULL || s->work_len < TD_SCAN_WORK_MIN)
            return td_fail(err, TD_E_INVALID_ARGUMENT, -1,
                           "a work buffer of at least %d bytes is needed", TD_SCAN_WORK_MIN);
        memset(&s->zs, 0, sizeof s->zs);
        if (inflateInit2(&s->zs, -MAX_WBITS) != Z_OK)
            return td_fail(err, TD_E_NOMEM, -1, "deflated dataset: zlib initialisation failed");
        s->z_init = 1;
        s->inflating = 1;
        s->raw_pos = pos;
        s->zin_cap = s->work_len / 2;
        s->zin = s->work + s->zin_cap;
        s->work_len = s->zin_cap;
        s->win = s->work;
        s->win_pos = pos;
        s->win_len = 0;
    }
    return scan_dataset(scp, st, pos);
}

/* Walk, and report the arena space used even when the walk fails (values found before the
 * problem are valid). */
static int scan_source(source *s, td_scan_value *values, size_t nr_tags, uint8_t *arena,
                       size_t arena_cap, td_scan_info *info, td_error *err)
{
    scan sc = {s, values, nr_tags, 0, arena, arena_cap, 0, err};
    int rc = scan_walk(&sc, s, info, err);
    info->arena_needed = sc.used;
    if (rc != TD_OK) return rc;
    if (sc.used > arena_cap)
        return td_fail(err, TD_E_OUTPUT_TOO_SMALL, -1,
                       "the requested values need %zu bytes, the arena has %zu", sc.used,
                       arena_cap);
    return TD_OK;
}

static int prepare(td_scan_value *values, size_t nr_tags, uint8_t *arena, size_t arena_cap,
                   td_scan_info *info, td_error *err)
{
    if (info == NULL || (nr_tags > 0 && values == NULL) || (arena_cap > 0 && arena == NULL))
        return td_fail(err, TD_E_INVALID_ARGUMENT, -1, "NULL argument");
    memset(info, 0, sizeof *info);
    for (size_t i = 0; i < nr_tags; i++) {
        if (i > 0 && values[i].tag <= values[i - 1].tag)
            return td_fail(err, TD_E_INVALID_ARGUMENT, -1,
                           "requested tags must be sorted and unique");
        values[i].found = 0;
        values[i].vr[0] = values[i].vr[1] = values[i].vr[2] = '\0';
        values[i].offset = -1;
        values[i].length = 0;
    }
    return TD_OK;
}

static void finish(source *s, td_scan_info *info)
{
    if (s->z_init) inflateEnd(&s->zs);
    info->bytes_read = s->bytes_read;
}

int td_scan_buffer(const uint8_t *buf, size_t len, td_scan_value *values, size_t nr_tags,
                   uint8_t *work, size_t work_len, uint8_t *arena, size_t arena_cap,
                   td_scan_info *info, td_error *err)
{
    int rc = prepare(values, nr_tags, arena, arena_cap, info, err);
    if (rc != TD_OK) return rc;
    if (buf == NULL && len > 0) return td_fail(err, TD_E_INVALID_ARGUMENT, -1, "NULL buffer");
    source s;
    memset(&s, 0, sizeof s);
    s.fd = -1;
    s.mem = buf;
    s.size = len;
    s.win = buf;
    s.win_len = len;
    s.work = work;
    s.work_len = work_len;
    rc = scan_source(&s, values, nr_tags, arena, arena_cap, info, err);
    s.bytes_read = (int64_t)len;
    finish(&s, info);
    return rc;
}

int td_scan_file(const char *path, td_scan_value *values, size_t nr_tags, uint8_t *work,
                 size_t work_len, uint8_t *arena, size_t arena_cap, td_scan_info *info,
                 td_error *err)
{
    int rc = prepare(values, nr_tags, arena, arena_cap, info, err);
    if (rc != TD_OK) return rc;
    if (path == NULL || work == NULL || work_len < TD_SCAN_WORK_MIN)
        return td_fail(err, TD_E_INVALID_ARGUMENT, -1,
                       "path and a work buffer of at least %d bytes are needed",
                       TD_SCAN_WORK_MIN);
    source s;
    memset(&s, 0, sizeof s);
#ifdef _WIN32
    s.fd = _open(path, _O_RDONLY | _O_BINARY);
#else
    s.fd = open(path, O_RDONLY | O_CLOEXEC);
#endif
    if (s.fd < 0) {
        int e = errno;
        return td_fail(err, TD_E_BACKEND, -1, "cannot open the file (errno %d)", e);
    }
#ifdef _WIN32
    struct _stat64 st;
    if (_fstat64(s.fd, &st) != 0) {
#else
    struct stat st;
    if (fstat(s.fd, &st) != 0) {
#endif
        int e = errno;
#ifdef _WIN32
        _close(s.fd);
#else
        close(s.fd);
#endif
        return td_fail(err, TD_E_BACKEND, -1, "cannot stat the file (errno %d)", e);
    }
    if ((st.st_mode & S_IFMT) == S_IFDIR) {
#ifdef _WIN32
        _close(s.fd);
#else
        close(s.fd);
#endif
        return td_fail(err, TD_E_BACKEND, -1, "is a directory (errno %d)", EISDIR);
    }
    s.size = st.st_size > 0 ? (uint64_t)st.st_size : 0;
    s.work = work;
    s.work_len = work_len;
    s.win = work;
    s.next_read = TD_SCAN_FIRST_READ;
    rc = scan_source(&s, values, nr_tags, arena, arena_cap, info, err);
    finish(&s, info);
#ifdef _WIN32
    _close(s.fd);
#else
    close(s.fd);
#endif
    return rc;
}
