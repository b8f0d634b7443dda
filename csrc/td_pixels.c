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

/* pydicom's float32 matrix, rows = (Y, Cb, Cr) inputs, columns = (R, G, B) outputs. */
#define TD_G_CB ((float)(-0.114 * 1.772 / 0.587))
#define TD_G_CR ((float)(-0.299 * 1.402 / 0.587))
#define TD_R_CR 1.402f
#define TD_B_CB 1.772f

static void ybr_full_to_rgb_scalar(uint8_t *buf, size_t nr_pixels)
{
    for (size_t i = 0; i < nr_pixels; i++) {
        uint8_t *p = buf + 3 * i;
        float y = (float)p[0], cb = (float)p[1] - 128.0f, cr = (float)p[2] - 128.0f;
        /* numpy's float32 matmul accumulates k = 0, 1, 2 with fused multiply-adds; fmaf gives
         * that rounding on every machine (checked exhaustively over all 2^24 inputs in tests). */
        float r = fmaf(cr, TD_R_CR, fmaf(cb, 0.0f, y));
        float g = fmaf(cr, TD_G_CR, fmaf(cb, TD_G_CB, y));
        float b = fmaf(cr, 0.0f, fmaf(cb, TD_B_CB, y));
        p[0] = clip_round(r);
        p[1] = clip_round(g);
        p[2] = clip_round(b);
    }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define TD_HAVE_YBR_AVX2 1

/* The same arithmetic, 8 pixels at a time with AVX2 + FMA (one rounding per fused step, as
 * fmaf): fma(cb, 0, y) is y exactly and fma(cr, 0, t) is t, so R and B are one fma each. */
__attribute__((target("avx2,fma"))) static size_t ybr_full_to_rgb_avx2(uint8_t *buf,
                                                                       size_t nr_pixels)
{
    /* byte shuffles that pull Y, Cb, Cr of 8 pixels (24 bytes) into 8 32-bit lanes */
    const __m256 g_cb = _mm256_set1_ps(TD_G_CB), g_cr = _mm256_set1_ps(TD_G_CR);
    const __m256 r_cr = _mm256_set1_ps(TD_R_CR), b_cb = _mm256_set1_ps(TD_B_CB);
    const __m256 half = _mm256_set1_ps(0.5f), c128 = _mm256_set1_ps(128.0f);
    const __m256i lo = _mm256_setzero_si256(), hi = _mm256_set1_epi32(255);
    size_t i = 0;
    for (; i + 8 <= nr_pixels; i += 8) {
        uint8_t *p = buf + 3 * i;
        int32_t ys[8], cbs[8], crs[8];
        for (int k = 0; k < 8; k++) {
            ys[k] = p[3 * k];
            cbs[k] = p[3 * k + 1];
            crs[k] = p[3 * k + 2];
        }
        __m256 y = _mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)ys));
        __m256 cb = _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)cbs)), c128);
        __m256 cr = _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)crs)), c128);
        __m256 r = _mm256_fmadd_ps(cr, r_cr, y);
        __m256 g = _mm256_fmadd_ps(cr, g_cr, _mm256_fmadd_ps(cb, g_cb, y));
        __m256 b = _mm256_fmadd_ps(cb, b_cb, y);
        __m256i ri = _mm256_cvttps_epi32(_mm256_floor_ps(_mm256_add_ps(r, half)));
        __m256i gi = _mm256_cvttps_epi32(_mm256_floor_ps(_mm256_add_ps(g, half)));
        __m256i bi = _mm256_cvttps_epi32(_mm256_floor_ps(_mm256_add_ps(b, half)));
        ri = _mm256_min_epi32(_mm256_max_epi32(ri, lo), hi);
        gi = _mm256_min_epi32(_mm256_max_epi32(gi, lo), hi);
        bi = _mm256_min_epi32(_mm256_max_epi32(bi, lo), hi);
        _mm256_storeu_si256((__m256i *)ys, ri);
        _mm256_storeu_si256((__m256i *)cbs, gi);
        _mm256_storeu_si256((__m256i *)crs, bi);
        for (int k = 0; k < 8; k++) {
            p[3 * k] = (uint8_t)ys[k];
            p[3 * k + 1] = (uint8_t)cbs[k];
            p[3 * k + 2] = (uint8_t)crs[k];
        }
    }
    return i;
}
#endif

void td_pixels_ybr_full_to_rgb(uint8_t *buf, size_t nr_pixels)
{
    size_t done = 0;
#ifdef TD_HAVE_YBR_AVX2
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        done = ybr_full_to_rgb_avx2(buf, nr_pixels);
#endif
    ybr_full_to_rgb_scalar(buf + 3 * done, nr_pixels - done);
}
