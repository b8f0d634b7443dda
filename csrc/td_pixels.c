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

/* Byte masks for _mm_shuffle_epi8 that gather one channel of 16 pixel-interleaved triplets (48
 * bytes in three 16-byte vectors) into one vector, and scatter it back. */
typedef struct ybr_masks {
    uint8_t gather[3][3][16];  /* [channel][source vector][lane] */
    uint8_t scatter[3][3][16]; /* [destination vector][channel][lane] */
} ybr_masks;

static void ybr_make_masks(ybr_masks *m)
{
    memset(m, 0x80, sizeof *m); /* 0x80: the lane becomes zero */
    for (int g = 0; g < 48; g++) {
        int c = g % 3, p = g / 3, v = g / 16, k = g % 16;
        m->gather[c][v][p] = (uint8_t)k;
        m->scatter[v][c][k] = (uint8_t)p;
    }
}

#define TD_SSSE3_INLINE __attribute__((target("ssse3"), always_inline)) static inline

TD_SSSE3_INLINE void ybr_load_masks(__m128i gm[3][3], __m128i sm[3][3])
{
    ybr_masks m;
    ybr_make_masks(&m);
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++) {
            gm[a][b] = _mm_loadu_si128((const __m128i *)m.gather[a][b]);
            sm[a][b] = _mm_loadu_si128((const __m128i *)m.scatter[a][b]);
        }
}

/* 16 pixel-interleaved triplets at p -> one vector per channel. */
TD_SSSE3_INLINE void ybr_gather(const uint8_t *p, __m128i gm[3][3], __m128i ch[3])
{
    __m128i v[3];
    for (int k = 0; k < 3; k++) v[k] = _mm_loadu_si128((const __m128i *)(p + 16 * k));
    for (int c = 0; c < 3; c++)
        ch[c] = _mm_or_si128(_mm_or_si128(_mm_shuffle_epi8(v[0], gm[c][0]),
                                          _mm_shuffle_epi8(v[1], gm[c][1])),
                             _mm_shuffle_epi8(v[2], gm[c][2]));
}

/* One vector per channel -> 16 pixel-interleaved triplets at p. */
TD_SSSE3_INLINE void ybr_scatter(uint8_t *p, __m128i sm[3][3], const __m128i rgb[3])
{
    for (int k = 0; k < 3; k++)
        _mm_storeu_si128((__m128i *)(p + 16 * k),
                         _mm_or_si128(_mm_or_si128(_mm_shuffle_epi8(rgb[0], sm[k][0]),
                                                   _mm_shuffle_epi8(rgb[1], sm[k][1])),
                                      _mm_shuffle_epi8(rgb[2], sm[k][2])));
}

/* 8 pixels: Y, Cb, Cr (bytes in the low 8 lanes) -> R, G, B as int32 lanes. */
#define TD_YBR8(Y8, CB8, CR8, R32, G32, B32)                                                    \
    do {                                                                                       \
        __m256 y_ = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(Y8));                              \
        __m256 cb_ = _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(CB8)), c128);       \
        __m256 cr_ = _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(CR8)), c128);       \
        __m256 r_ = _mm256_fmadd_ps(cr_, r_cr, y_);                                            \
        __m256 g_ = _mm256_fmadd_ps(cr_, g_cr, _mm256_fmadd_ps(cb_, g_cb, y_));                \
        __m256 b_ = _mm256_fmadd_ps(cb_, b_cb, y_);                                            \
        R32 = _mm256_cvttps_epi32(_mm256_floor_ps(_mm256_add_ps(r_, half)));                   \
        G32 = _mm256_cvttps_epi32(_mm256_floor_ps(_mm256_add_ps(g_, half)));                   \
        B32 = _mm256_cvttps_epi32(_mm256_floor_ps(_mm256_add_ps(b_, half)));                   \
    } while (0)

/* 16 int32 lanes (two vectors) -> 16 bytes, saturated to 0..255 (the clip). */
__attribute__((target("avx2,fma"))) static inline __m128i ybr_pack16(__m256i lo, __m256i hi)
{
    __m256i w = _mm256_permute4x64_epi64(_mm256_packus_epi32(lo, hi), 0xD8);
    return _mm_packus_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
}

/* The same arithmetic, 16 pixels at a time with AVX2 + FMA (one rounding per fused step, as
 * fmaf): fma(cb, 0, y) is y exactly and fma(cr, 0, t) is t, so R and B are one fma each.
 * Truncating floor(v + 0.5) to int and saturating to 0..255 equals clip_round. */
__attribute__((target("avx2,fma"))) static size_t ybr_full_to_rgb_avx2(uint8_t *buf,
                                                                       size_t nr_pixels)
{
    const __m256 g_cb = _mm256_set1_ps(TD_G_CB), g_cr = _mm256_set1_ps(TD_G_CR);
    const __m256 r_cr = _mm256_set1_ps(TD_R_CR), b_cb = _mm256_set1_ps(TD_B_CB);
    const __m256 half = _mm256_set1_ps(0.5f), c128 = _mm256_set1_ps(128.0f);
    __m128i gm[3][3], sm[3][3];
    ybr_load_masks(gm, sm);
    size_t i = 0;
    for (; i + 16 <= nr_pixels; i += 16) {
        uint8_t *p = buf + 3 * i;
        __m128i ch[3];
        ybr_gather(p, gm, ch);
        __m256i r0, g0, b0, r1, g1, b1;
        TD_YBR8(ch[0], ch[1], ch[2], r0, g0, b0);
        TD_YBR8(_mm_srli_si128(ch[0], 8), _mm_srli_si128(ch[1], 8), _mm_srli_si128(ch[2], 8),
                r1, g1, b1);
        __m128i rgb[3] = {ybr_pack16(r0, r1), ybr_pack16(g0, g1), ybr_pack16(b0, b1)};
        ybr_scatter(p, sm, rgb);
    }
    return i;
}

/* AVX-512: the same 16 pixels per step, the arithmetic in one 16-lane vector per channel. */
__attribute__((target("avx512f,avx2,fma"))) static size_t ybr_full_to_rgb_avx512(
    uint8_t *buf, size_t nr_pixels)
{
    const __m512 g_cb = _mm512_set1_ps(TD_G_CB), g_cr = _mm512_set1_ps(TD_G_CR);
    const __m512 r_cr = _mm512_set1_ps(TD_R_CR), b_cb = _mm512_set1_ps(TD_B_CB);
    const __m512 half = _mm512_set1_ps(0.5f), c128 = _mm512_set1_ps(128.0f);
    const __m512i zero = _mm512_setzero_si512();
    __m128i gm[3][3], sm[3][3];
    ybr_load_masks(gm, sm);
    size_t i = 0;
    for (; i + 16 <= nr_pixels; i += 16) {
        uint8_t *p = buf + 3 * i;
        __m128i ch[3];
        ybr_gather(p, gm, ch);
        __m512 y = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(ch[0]));
        __m512 cb = _mm512_sub_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(ch[1])), c128);
        __m512 cr = _mm512_sub_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(ch[2])), c128);
        __m512 f[3] = {_mm512_fmadd_ps(cr, r_cr, y),
                       _mm512_fmadd_ps(cr, g_cr, _mm512_fmadd_ps(cb, g_cb, y)),
                       _mm512_fmadd_ps(cb, b_cb, y)};
        __m128i rgb[3];
        for (int c = 0; c < 3; c++) {
            __m512 fl = _mm512_roundscale_ps(_mm512_add_ps(f[c], half),
                                             _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
            /* clip below at 0, then unsigned saturation to 255 */
            rgb[c] = _mm512_cvtusepi32_epi8(_mm512_max_epi32(_mm512_cvttps_epi32(fl), zero));
        }
        ybr_scatter(p, sm, rgb);
    }
    return i;
}
#endif

void td_pixels_ybr_full_to_rgb(uint8_t *buf, size_t nr_pixels)
{
    size_t done = 0;
#ifdef TD_HAVE_YBR_AVX2
    if (__builtin_cpu_supports("avx512f"))
        done = ybr_full_to_rgb_avx512(buf, nr_pixels);
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        done = ybr_full_to_rgb_avx2(buf, nr_pixels);
#endif
    ybr_full_to_rgb_scalar(buf + 3 * done, nr_pixels - done);
}
