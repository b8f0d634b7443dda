/*
 * td_jpegseg.h - ITU-T T.81 B.1.1.2 / B.1.1.3 marker-segment framing, shared by the JPEG
 * kernels that parse codestreams themselves (td_ljpeg, td_jpegdct).
 */
#ifndef TD_JPEGSEG_H
#define TD_JPEGSEG_H

#include "td.h"
#include "td_bytes.h"

/* td_jpeg_next_segment: EOI or the end of the data came before another marker segment. */
#define TD_JPEG_SEGMENT_END 1

/* From *q (at a marker; fill bytes allowed) to the next marker segment, skipping the markers
 * without a length (TEM, RSTm).  On TD_OK *marker is its code, *length its Lp (checked to fit
 * in the data) and *q the offset of Lp.  TD_JPEG_SEGMENT_END: EOI (*q = its offset) or the end
 * of the data (*q = len).  Otherwise a TD_E_* status for a missing marker, a stuffed 0xFF00,
 * an SOI inside the frame or a truncated segment. */
static inline int td_jpeg_next_segment(const uint8_t *src, size_t len, size_t *q,
                                       uint32_t *marker, uint32_t *length, td_error *err)
{
    size_t at = *q;
    for (;;) {
        if (at >= len) {
            *q = len;
            return TD_JPEG_SEGMENT_END;
        }
        if (src[at] != 0xFF)
            return td_fail(err, TD_E_CORRUPT, (int64_t)at,
                           "expected a marker at offset %zu, found byte 0x%02X", at, src[at]);
        while (at < len && src[at] == 0xFF) /* B.1.1.2 fill bytes */
            at++;
        if (at >= len) {
            *q = len;
            return TD_JPEG_SEGMENT_END;
        }
        uint32_t m = src[at++];
        if (m == 0xD9) { /* EOI */
            *q = at - 2;
            return TD_JPEG_SEGMENT_END;
        }
        if (m == 0x00)
            return td_fail(err, TD_E_CORRUPT, (int64_t)at - 2,
                           "stuffed byte 0xFF00 outside entropy-coded data");
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) /* B.1.1.3: TEM, RSTm have no length */
            continue;
        if (m == 0xD8)
            return td_fail(err, TD_E_CORRUPT, (int64_t)at - 2, "SOI marker inside the frame");
        if (len - at < 2)
            return td_fail(err, TD_E_TRUNCATED, (int64_t)at,
                           "marker 0xFF%02X at offset %zu has no length", m, at - 2);
        uint32_t lp = td_load_be16(src + at);
        if (lp < 2)
            return td_fail(err, TD_E_CORRUPT, (int64_t)at, "marker 0xFF%02X has length %u", m,
                           lp);
        if (len - at < lp)
            return td_fail(err, TD_E_TRUNCATED, (int64_t)at,
                           "marker 0xFF%02X segment of %u bytes runs past the end (%zu bytes)",
                           m, lp, len);
        *q = at;
        *marker = m;
        *length = lp;
        return TD_OK;
    }
}

#endif /* TD_JPEGSEG_H */
