/* td_pixels.c - in-place pixel post-processing (see td_pixels.h). */
#include "td_pixels.h"

#include <math.h>
#include <string.h>

/* One shift pair per container width, written so compilers vectorise the loops.  Shifting a
 * signed value right is arithmetic on every compiler we build with (gcc, clang, MSVC). */
#define TD_FIX_LOOP(UT, ST)                                                                    \
    do {                                                                                       \
        unsigned shift = (unsigned)(8 * sizeof(UT)) - bits_stored;                             \
        if (is_signed) {                                                                       \
            for (size_t i = 0; i < nr_samples; i++) {                                          \
                UT u;                                                                          \
                memcpy(&u, buf + i * sizeof(UT), sizeof u);                                    \
                ST s = (ST)(UT)(u << shift);                                                   \
                s = (ST)(s >> shift);                                                          \
                memcpy(buf + i * sizeof(UT), &s, sizeof s);                                    \
            }                                                                                  \
        } else {                                                                               \
            UT mask = (UT)(((UT)~(UT)0) >> shift);                                             \
            for (size_t i = 0; i < nr_samples; i++) {                                          \
                UT u;                                                                          \
                memcpy(&u, buf + i * sizeof(UT), sizeof u);                                    \
                u = (UT)(u & mask);                                                            \
                memcpy(buf + i * sizeof(UT), &u, sizeof u);                                    \
            }                                                                                  \
        }                                                                                      \
    } while (0)

void td_pixels_fix_unused_bits(uint8_t *buf, size_t nr_samples, uint32_t bytes_per_sample,
                               uint32_t bits_stored, int is_signed)
{
    if (buf == NULL || bits_stored == 0 || bits_stored >= 8 * bytes_per_sample) return;
    switch (bytes_per_sample) {
    case 1: TD_FIX_LOOP(uint8_t, int8_t); break;
    case 2: TD_FIX_LOOP(uint16_t, int16_t); break;
    case 4: TD_FIX_LOOP(uint32_t, int32_t); break;
    case 8: TD_FIX_LOOP(uint64_t, int64_t); break;
    default: break;
    }
}

static uint8_t clip_round(float v)
{
    v = floorf(v + 0.5f);
    if (v < 0.0f) return 0;
    if (v > 255.0f) return 255;
    return (uint8_t)v;
}

void td_pixels_ybr_full_to_rgb(uint8_t *buf, size_t nr_pixels)
{
    /* pydicom's float32 matrix, rows = (Y, Cb, Cr) inputs, columns = (R, G, B) outputs. */
    const float g_cb = (float)(-0.114 * 1.772 / 0.587);
    const float g_cr = (float)(-0.299 * 1.402 / 0.587);
    const float r_cr = 1.402f, b_cb = 1.772f;
    for (size_t i = 0; i < nr_pixels; i++) {
        uint8_t *p = buf + 3 * i;
        float y = (float)p[0], cb = (float)p[1] - 128.0f, cr = (float)p[2] - 128.0f;
        /* numpy's float32 matmul accumulates k = 0, 1, 2 with fused multiply-adds; fmaf gives
         * that rounding on every machine (checked exhaustively over all 2^24 inputs in tests). */
        float r = fmaf(cr, r_cr, fmaf(cb, 0.0f, y));
        float g = fmaf(cr, g_cr, fmaf(cb, g_cb, y));
        float b = fmaf(cr, 0.0f, fmaf(cb, b_cb, y));
        p[0] = clip_round(r);
        p[1] = clip_round(g);
        p[2] = clip_round(b);
    }
}
