/* td_frames.c - encapsulated pixel data items and frame boundaries (PS3.5 A.4). */
#include "td_frames.h"
#include "td_bytes.h"

#include <string.h>

#define ITEM 0xFFFEE000u
#define SEQ_END 0xFFFEE0DDu

static uint32_t rd32(const uint8_t *p, int big_endian)
{
    return big_endian ? td_load_be32(p) : td_load_le32(p);
}
static uint64_t rd64(const uint8_t *p, int big_endian)
{
    return big_endian ? td_load_be64(p) : td_load_le64(p);
}
static uint32_t rdtag(const uint8_t *p, int big_endian)
{
    uint32_t g = big_endian ? td_load_be16(p) : td_load_le16(p);
    uint32_t e = big_endian ? td_load_be16(p + 2) : td_load_le16(p + 2);
    return (g << 16) | e;
}

/* Read the item header at pos: 1 = item (value span in *item), 0 = end of items, <0 error. */
static int next_item(const uint8_t *buf, size_t len, size_t pos, int big_endian, td_span *item,
                     td_error *err)
{
    if (pos >= len) return 0; /* missing Sequence Delimitation Item: tolerated */
    if (len - pos < 8)
        return td_fail(err, TD_E_TRUNCATED, (int64_t)pos,
                       "encapsulated pixel data: item header at offset %zu is cut off by the end "
                       "of the data (%zu bytes)",
                       pos, len);
    uint32_t tag = rdtag(buf + pos, big_endian);
    uint32_t length = rd32(buf + pos + 4, big_endian);
    if (tag == SEQ_END) return 0;
    if (tag != ITEM)
        return td_fail(err, TD_E_CORRUPT, (int64_t)pos,
                       "encapsulated pixel data: expected an item tag (FFFE,E000) at offset %zu, "
                       "found (%04X,%04X)",
                       pos, tag >> 16, tag & 0xFFFF);
    if (length == 0xFFFFFFFFu)
        return td_fail(err, TD_E_CORRUPT, (int64_t)pos,
                       "encapsulated pixel data: item at offset %zu has undefined length", pos);
    if ((uint64_t)length > len - pos - 8)
        return td_fail(err, TD_E_TRUNCATED, (int64_t)pos,
                       "encapsulated pixel data: item at offset %zu of %u bytes runs past the end "
                       "of the data (%zu bytes)",
                       pos, length, len);
    item->offset = (int64_t)(pos + 8);
    item->length = (int64_t)length;
    return 1;
}

int td_frames_scan(const uint8_t *buf, size_t len, size_t pixel_offset, int big_endian,
                   td_span *bot, td_span *fragments, size_t cap, size_t *nr_fragments,
                   td_error *err)
{
    td_span item;
    size_t n = 0, pos = pixel_offset;
    int rc;
    if (buf == NULL || bot == NULL || nr_fragments == NULL || (fragments == NULL && cap))
        return td_fail(err, TD_E_INVALID_ARGUMENT, -1, "NULL argument");
    rc = next_item(buf, len, pos, big_endian, &item, err);
    if (rc < 0) return rc;
    if (rc == 0)
        return td_fail(err, TD_E_CORRUPT, (int64_t)pos,
                       "encapsulated pixel data at offset %zu has no Basic Offset Table item",
                       pos);
    *bot = item;
    pos = (size_t)(item.offset + item.length);
    while ((rc = next_item(buf, len, pos, big_endian, &item, err)) == 1) {
        if (n < cap) fragments[n] = item;
        n++;
        pos = (size_t)(item.offset + item.length);
    }
    if (rc < 0) return rc;
    *nr_fragments = n;
    return TD_OK;
}

/* Does the fragment end with a JPEG EOI / J2K EOC marker in its last 10 bytes (pydicom)? */
static int ends_with_eoi(const uint8_t *buf, td_span f)
{
    int64_t start = f.length > 10 ? f.offset + f.length - 10 : f.offset;
    for (int64_t i = start; i + 1 < f.offset + f.length; i++)
        if (buf[i] == 0xFF && buf[i + 1] == 0xD9) return 1;
    return 0;
}

/* Index of the fragment whose item header starts at first_item + rel (binary search), or -1. */
static int64_t fragment_at(const td_span *fragments, size_t n, int64_t first_item, uint64_t rel)
{
    size_t lo = 0, hi = n;
    int64_t want = first_item + (int64_t)rel + 8;
    if (rel > (uint64_t)INT64_MAX / 2) return -1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (fragments[mid].offset < want) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && fragments[lo].offset == want ? (int64_t)lo : -1;
}

int td_frames_assign(const uint8_t *buf, size_t len, int big_endian, td_span bot,
                     const td_span *fragments, size_t nr_fragments, const uint8_t *eot,
                     size_t eot_len, const uint8_t *eotl, size_t eotl_len,
                     int64_t number_of_frames, uint32_t *frame_first, uint32_t *frame_count,
                     size_t cap, size_t *nr_frames, td_error *err)
{
    size_t nf = 0;
    (void)len;
    if (nr_frames == NULL || (cap && (frame_first == NULL || frame_count == NULL)))
        return td_fail(err, TD_E_INVALID_ARGUMENT, -1, "NULL argument");
    if (nr_fragments == 0)
        return td_fail(err, TD_E_CORRUPT, bot.offset,
                       "encapsulated pixel data has no fragments after the Basic Offset Table");
    if (nr_fragments > UINT32_MAX)
        return td_fail(err, TD_E_LIMIT, bot.offset, "more than 2^32 fragments");
    int64_t first_item = fragments[0].offset - 8;

    /* Extended Offset Table (PS3.3 C.7.6.3.1.8): one fragment per frame. */
    if (eot != NULL && eotl != NULL && eot_len == eotl_len && eot_len >= 8 && eot_len % 8 == 0) {
        size_t n = eot_len / 8, i;
        int ok = 1;
        for (i = 0; i < n && ok; i++) {
            int64_t k = fragment_at(fragments, nr_fragments, first_item, rd64(eot + 8 * i, big_endian));
            ok = k >= 0 && (uint64_t)fragments[k].length >= rd64(eotl + 8 * i, big_endian);
            if (ok && i < cap) {
                frame_first[i] = (uint32_t)k;
                frame_count[i] = 1;
            }
        }
        if (ok) {
            *nr_frames = n;
            return TD_OK;
        }
        /* inconsistent EOT: fall through to the Basic Offset Table */
    }

    /* Basic Offset Table: frame i starts at the fragment at offset bot[i]. */
    if (bot.length >= 4 && bot.length % 4 == 0) {
        size_t n = (size_t)bot.length / 4, i;
        int ok = rd32(buf + bot.offset, big_endian) == 0;
        int64_t prev = -1;
        for (i = 0; i < n && ok; i++) {
            int64_t k = fragment_at(fragments, nr_fragments, first_item,
                                    rd32(buf + bot.offset + 4 * (int64_t)i, big_endian));
            ok = k > prev;
            if (ok && i < cap) frame_first[i] = (uint32_t)k;
            prev = k;
        }
        if (ok) {
            for (i = 0; i < n && i < cap; i++) {
                uint32_t next = i + 1 < n ? frame_first[i + 1] : (uint32_t)nr_fragments;
                frame_count[i] = next - frame_first[i];
            }
            *nr_frames = n;
            return TD_OK;
        }
        /* a BOT that does not point at item boundaries is ignored, as if empty */
    }

    if (nr_fragments == 1 || number_of_frames <= 1) {
        if (cap) {
            frame_first[0] = 0;
            frame_count[0] = (uint32_t)nr_fragments;
        }
        *nr_frames = 1;
        return TD_OK;
    }
    if ((uint64_t)number_of_frames == nr_fragments) {
        for (size_t i = 0; i < nr_fragments && i < cap; i++) {
            frame_first[i] = (uint32_t)i;
            frame_count[i] = 1;
        }
        *nr_frames = nr_fragments;
        return TD_OK;
    }
    if ((uint64_t)number_of_frames > nr_fragments)
        return td_fail(err, TD_E_CORRUPT, first_item,
                       "encapsulated pixel data has %zu fragments but (0028,0008) 'Number of "
                       "Frames' is %lld, and there is no offset table to tell where frames start",
                       nr_fragments, (long long)number_of_frames);
    /* More fragments than frames: a frame ends at a fragment carrying an EOI/EOC marker. */
    size_t start = 0;
    for (size_t i = 0; i < nr_fragments; i++) {
        if (ends_with_eoi(buf, fragments[i]) || i + 1 == nr_fragments) {
            if (nf < cap) {
                frame_first[nf] = (uint32_t)start;
                frame_count[nf] = (uint32_t)(i + 1 - start);
            }
            nf++;
            start = i + 1;
        }
    }
    *nr_frames = nf;
    return TD_OK;
}

int td_frames_locate(const uint8_t *buf, size_t len, size_t pixel_offset, int big_endian,
                     const uint8_t *eot, size_t eot_len, const uint8_t *eotl, size_t eotl_len,
                     int64_t number_of_frames, int64_t index, td_span *fragments, size_t cap,
                     size_t *nr_out, td_error *err)
{
    td_span bot, item;
    int rc;
    if (buf == NULL || nr_out == NULL || index < 0)
        return td_fail(err, TD_E_INVALID_ARGUMENT, -1, "bad argument");
    rc = next_item(buf, len, pixel_offset, big_endian, &bot, err);
    if (rc < 0) return rc;
    if (rc == 0)
        return td_fail(err, TD_E_CORRUPT, (int64_t)pixel_offset,
                       "encapsulated pixel data at offset %zu has no Basic Offset Table item",
                       pixel_offset);
    size_t first_item = (size_t)(bot.offset + bot.length);
    uint64_t start, stop = UINT64_MAX;

    if (eot != NULL && eotl != NULL && eot_len == eotl_len && eot_len % 8 == 0 &&
        (uint64_t)index < eot_len / 8) {
        start = rd64(eot + 8 * index, big_endian);
        uint64_t flen = rd64(eotl + 8 * index, big_endian);
        if (start > len - first_item) return TD_E_UNSUPPORTED;
        rc = next_item(buf, len, first_item + (size_t)start, big_endian, &item, err);
        if (rc <= 0 || (uint64_t)item.length < flen) {
            td_error_clear(err);
            return TD_E_UNSUPPORTED;
        }
        item.length = (int64_t)flen;
        if (cap) fragments[0] = item;
        *nr_out = 1;
        return TD_OK;
    }
    if (bot.length < 4 || bot.length % 4 != 0 || (uint64_t)index >= (uint64_t)bot.length / 4)
        return TD_E_UNSUPPORTED;
    if ((uint64_t)(bot.length / 4) != (uint64_t)number_of_frames) return TD_E_UNSUPPORTED;
    start = rd32(buf + bot.offset + 4 * index, big_endian);
    if ((uint64_t)index + 1 < (uint64_t)bot.length / 4)
        stop = rd32(buf + bot.offset + 4 * (index + 1), big_endian);
    if (start >= stop || start > len - first_item) return TD_E_UNSUPPORTED;

    size_t pos = first_item + (size_t)start, n = 0;
    while ((stop == UINT64_MAX || pos < first_item + stop) &&
           (rc = next_item(buf, len, pos, big_endian, &item, err)) == 1) {
        if (n < cap) fragments[n] = item;
        n++;
        pos = (size_t)(item.offset + item.length);
    }
    if (rc < 0 || n == 0 || (stop != UINT64_MAX && pos != first_item + stop)) {
        /* The BOT does not land on item boundaries: not an error in itself (pydicom ignores
         * such a table too); the caller walks every item instead and reports real damage. */
        td_error_clear(err);
        return TD_E_UNSUPPORTED;
    }
    *nr_out = n;
    return TD_OK;
}
