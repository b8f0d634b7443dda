/*
 * mct.c - inverse multiple component transformations (T.800 Annex G).
 *
 * The loops are written for the compiler's vectoriser and compiled twice on x86-64: for the
 * baseline and for AVX2 (chosen at run time).  No FMA: the ICT rounds each product and sum
 * as the plain C expression does.
 */
#include "j2k_internal.h"

/* G.2.2 inverse RCT and G.3.2 inverse ICT over n samples of three different arrays. */
#define MCT_FNS(SFX, ATTR)                                                                     \
    ATTR void rct##SFX(int32_t *restrict c0, int32_t *restrict c1, int32_t *restrict c2,       \
                       size_t n)                                                               \
    {                                                                                          \
        for (size_t i = 0; i < n; i++) {                                                       \
            int32_t y = c0[i], u = c1[i], v = c2[i];                                           \
            int32_t g = j2k_wsub(y, j2k_wadd(u, v) >> 2);                                      \
            c0[i] = j2k_wadd(v, g);                                                            \
            c1[i] = g;                                                                         \
            c2[i] = j2k_wadd(u, g);                                                            \
        }                                                                                      \
    }                                                                                          \
    ATTR void ict##SFX(float *restrict c0, float *restrict c1, float *restrict c2, size_t n)   \
    {                                                                                          \
        for (size_t i = 0; i < n; i++) {                                                       \
            float y = c0[i], u = c1[i], v = c2[i];                                             \
            c0[i] = y + v * 1.402f;                                                            \
            c1[i] = y - u * 0.34413f - v * 0.71414f;                                           \
            c2[i] = y + u * 1.772f;                                                            \
        }                                                                                      \
    }

MCT_FNS(_base, static)
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(TD_J2K_NO_AVX2)
MCT_FNS(_avx2, __attribute__((target("avx2"))) static)
#define MCT_HAVE_AVX2 1
#endif

void j2k_mct_rct_inverse(int32_t *c0, int32_t *c1, int32_t *c2, size_t n)
{
#ifdef MCT_HAVE_AVX2
    if (__builtin_cpu_supports("avx2")) { rct_avx2(c0, c1, c2, n); return; }
#endif
    rct_base(c0, c1, c2, n);
}

void j2k_mct_ict_inverse(float *c0, float *c1, float *c2, size_t n)
{
#ifdef MCT_HAVE_AVX2
    if (__builtin_cpu_supports("avx2")) { ict_avx2(c0, c1, c2, n); return; }
#endif
    ict_base(c0, c1, c2, n);
}
