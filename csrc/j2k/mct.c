/*
 * mct.c - inverse multiple component transformations (T.800 Annex G) and, fused with them,
 * the output of three components as pixel-interleaved samples.
 *
 * The in-place transforms are written for the compiler's vectoriser and compiled twice on
 * x86-64: for the baseline and for AVX2 (chosen at run time).  No FMA: the ICT rounds each
 * product and sum as the plain C expression does (built with -ffp-contract=off, TD_FP_FLAGS,
 * so also on aarch64, s390x or -march=x86-64-v3, where GNU C would fuse them).
 *
 * The fused output (j2k_out3_*) takes one row of each of components 0-2, applies the inverse
 * RCT / ICT or none, the DC level shift and clipping (G.1.2) and stores pixel-interleaved
 * samples of 1 or 2 bytes straight into the output row: one pass instead of a transform, three
 * clipping passes and an interleaving pass.  Its results are those of j2k_rev_value /
 * j2k_irr_value on the transformed samples (the plain C path of decode.c).
 */
#include "j2k_internal.h"

#include <string.h>

#include "td_bytes.h"

/* G.3.2 inverse ICT of one sample, one rounded operation at a time and the constants as floats
 * (a compiler with FLT_EVAL_METHOD 1 or 2 would keep wider intermediates and constants: see
 * j2k_fsub_mul_sum) */
#define J2K_ICT(r, g, b, y, u, v)                                                              \
    do {                                                                                       \
        const float kr_ = 1.402f, kug_ = 0.34413f, kvg_ = 0.71414f, kb_ = 1.772f;              \
        float vr_ = (v) * kr_, ug_ = (u) * kug_, vg_ = (v) * kvg_, ub_ = (u) * kb_;            \
        float yg_ = (y) - ug_;                                                                 \
        (r) = (y) + vr_;                                                                       \
        (g) = yg_ - vg_;                                                                       \
        (b) = (y) + ub_;                                                                       \
    } while (0)

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
            J2K_ICT(c0[i], c1[i], c2[i], y, u, v);                                             \
        }                                                                                      \
    }

MCT_FNS(_base, static)
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(TD_J2K_NO_AVX2)
MCT_FNS(_avx2, __attribute__((target("avx2"))) static)
#define MCT_HAVE_AVX2 1
#include <immintrin.h>
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

/* ---- fused output of three components ---- */

void j2k_out3_init(j2k_out3 *p, const int32_t vlo[3], const int32_t vhi[3],
                   const uint32_t shift[3], uint32_t bps)
{
    int32_t cmin = bps == 1 ? INT8_MIN : INT16_MIN, cmax = bps == 1 ? INT8_MAX : INT16_MAX;
    p->full = 1;
    for (int c = 0; c < 3; c++) {
        p->vlo[c] = vlo[c];
        p->vhi[c] = vhi[c];
        p->shift[c] = shift[c];
        p->flo[c] = (float)vlo[c] - 1.0f;
        p->fhi[c] = (float)vhi[c] + 1.0f;
        p->full &= vlo[c] == cmin && vhi[c] == cmax;
    }
    /* the shifts of 48 output bytes in little-endian order; 48 is a multiple of 3 samples */
    for (uint32_t b = 0; b < 48; b++) {
        uint32_t k = b / bps;
        p->shift_pat[b] = (uint8_t)(p->shift[k % 3] >> (8 * (b % bps)));
    }
}

/* One sample: x of component k after the transform, out as j2k_rev_value / j2k_irr_value. */
#define OUT3_NONE_I(s, x) s[0] = c0[x], s[1] = c1[x], s[2] = c2[x]
#define OUT3_RCT(s, x)                                                                         \
    do {                                                                                       \
        int32_t y_ = c0[x], u_ = c1[x], v_ = c2[x];                                            \
        int32_t g_ = j2k_wsub(y_, j2k_wadd(u_, v_) >> 2);                                      \
        s[0] = j2k_wadd(v_, g_);                                                               \
        s[1] = g_;                                                                             \
        s[2] = j2k_wadd(u_, g_);                                                               \
    } while (0)
#define OUT3_NONE_F OUT3_NONE_I
#define OUT3_ICT(s, x)                                                                         \
    do {                                                                                       \
        float y_ = c0[x], u_ = c1[x], v_ = c2[x];                                              \
        J2K_ICT(s[0], s[1], s[2], y_, u_, v_);                                                 \
    } while (0)
#define OUT3_REV(v, k) j2k_rev_value(v, p->vlo[k], p->vhi[k], p->shift[k])
#define OUT3_IRR(v, k) j2k_irr_value(v, p->flo[k], p->fhi[k], p->vlo[k], p->vhi[k], p->shift[k])
#define OUT3_ST1(o, i, u) (o)[i] = (uint8_t)(u)
#define OUT3_ST2(o, i, u) td_store_le16((o) + 2 * (i), (uint16_t)(u))

/* samples x .. n-1 of a row, any host */
#define OUT3_BASE(NAME, SRC_T, PX, VALUE, STORE)                                               \
    static void NAME(const j2k_out3 *p, const void *a, const void *b, const void *c,           \
                     uint8_t *restrict o, size_t x, size_t n)                                  \
    {                                                                                          \
        const SRC_T *restrict c0 = a, *restrict c1 = b, *restrict c2 = c;                      \
        for (; x < n; x++) {                                                                   \
            SRC_T s[3];                                                                        \
            PX(s, x);                                                                          \
            STORE(o, 3 * x, VALUE(s[0], 0));                                                   \
            STORE(o, 3 * x + 1, VALUE(s[1], 1));                                               \
            STORE(o, 3 * x + 2, VALUE(s[2], 2));                                               \
        }                                                                                      \
    }
OUT3_BASE(out3_none_i1, int32_t, OUT3_NONE_I, OUT3_REV, OUT3_ST1)
OUT3_BASE(out3_rct1, int32_t, OUT3_RCT, OUT3_REV, OUT3_ST1)
OUT3_BASE(out3_none_f1, float, OUT3_NONE_F, OUT3_IRR, OUT3_ST1)
OUT3_BASE(out3_ict1, float, OUT3_ICT, OUT3_IRR, OUT3_ST1)
OUT3_BASE(out3_none_i2, int32_t, OUT3_NONE_I, OUT3_REV, OUT3_ST2)
OUT3_BASE(out3_rct2, int32_t, OUT3_RCT, OUT3_REV, OUT3_ST2)
OUT3_BASE(out3_none_f2, float, OUT3_NONE_F, OUT3_IRR, OUT3_ST2)
OUT3_BASE(out3_ict2, float, OUT3_ICT, OUT3_IRR, OUT3_ST2)

typedef void (*out3_base_fn)(const j2k_out3 *p, const void *a, const void *b, const void *c,
                             uint8_t *restrict o, size_t x, size_t n);
/* [bps - 1][kind]: kind 0 none int32, 1 RCT, 2 none float, 3 ICT */
static const out3_base_fn out3_base[2][4] = {
    {out3_none_i1, out3_rct1, out3_none_f1, out3_ict1},
    {out3_none_i2, out3_rct2, out3_none_f2, out3_ict2}};

/* The eight row functions of one kind of kernel ([bps - 1][kind] as out3_base) and their
 * table P: ROW(name, bytes per sample, kind) defines one. */
#define OUT3_ROWS(ROW, P)                                                                      \
    ROW(P##_10, 1, 0)                                                                          \
    ROW(P##_11, 1, 1)                                                                          \
    ROW(P##_12, 1, 2)                                                                          \
    ROW(P##_13, 1, 3)                                                                          \
    ROW(P##_20, 2, 0)                                                                          \
    ROW(P##_21, 2, 1)                                                                          \
    ROW(P##_22, 2, 2)                                                                          \
    ROW(P##_23, 2, 3)                                                                          \
    static const j2k_out3_fn P[2][4] = {{P##_10, P##_11, P##_12, P##_13},                      \
                                        {P##_20, P##_21, P##_22, P##_23}};

#define OUT3_BASE_ROW(NAME, BPS, K)                                                            \
    static void NAME(const j2k_out3 *p, const void *a, const void *b, const void *c,           \
                     uint8_t *o, size_t n)                                                     \
    {                                                                                          \
        out3_base[(BPS) - 1][K](p, a, b, c, o, 0, n);                                          \
    }
OUT3_ROWS(OUT3_BASE_ROW, out3_row_base)

#ifdef MCT_HAVE_AVX2
#define AVX2_INLINE static inline __attribute__((target("avx2"), always_inline))

/* pshufb masks that interleave 16 samples of each of R, G, B (in lane order) into 48 bytes:
 * [output chunk of 16 bytes][component] for bytes, then for 8 samples of 16 bits */
static const int8_t out3_mask1[3][3][16] = {
    {{0, -1, -1, 1, -1, -1, 2, -1, -1, 3, -1, -1, 4, -1, -1, 5}, {-1, 0, -1, -1, 1, -1, -1, 2, -1, -1, 3, -1, -1, 4, -1, -1}, {-1, -1, 0, -1, -1, 1, -1, -1, 2, -1, -1, 3, -1, -1, 4, -1}},
    {{-1, -1, 6, -1, -1, 7, -1, -1, 8, -1, -1, 9, -1, -1, 10, -1}, {5, -1, -1, 6, -1, -1, 7, -1, -1, 8, -1, -1, 9, -1, -1, 10}, {-1, 5, -1, -1, 6, -1, -1, 7, -1, -1, 8, -1, -1, 9, -1, -1}},
    {{-1, 11, -1, -1, 12, -1, -1, 13, -1, -1, 14, -1, -1, 15, -1, -1}, {-1, -1, 11, -1, -1, 12, -1, -1, 13, -1, -1, 14, -1, -1, 15, -1}, {10, -1, -1, 11, -1, -1, 12, -1, -1, 13, -1, -1, 14, -1, -1, 15}}};
static const int8_t out3_mask2[3][3][16] = {
    {{0, 1, -1, -1, -1, -1, 2, 3, -1, -1, -1, -1, 4, 5, -1, -1}, {-1, -1, 0, 1, -1, -1, -1, -1, 2, 3, -1, -1, -1, -1, 4, 5}, {-1, -1, -1, -1, 0, 1, -1, -1, -1, -1, 2, 3, -1, -1, -1, -1}},
    {{-1, -1, 6, 7, -1, -1, -1, -1, 8, 9, -1, -1, -1, -1, 10, 11}, {-1, -1, -1, -1, 6, 7, -1, -1, -1, -1, 8, 9, -1, -1, -1, -1}, {4, 5, -1, -1, -1, -1, 6, 7, -1, -1, -1, -1, 8, 9, -1, -1}},
    {{-1, -1, -1, -1, 12, 13, -1, -1, -1, -1, 14, 15, -1, -1, -1, -1}, {10, 11, -1, -1, -1, -1, 12, 13, -1, -1, -1, -1, 14, 15, -1, -1}, {-1, -1, 10, 11, -1, -1, -1, -1, 12, 13, -1, -1, -1, -1, 14, 15}}};

typedef struct out3_vec {
    __m256i vlo[3], vhi[3];
    __m256 flo[3], fhi[3];
    __m256i mask[3][3], shift[3];
} out3_vec;

AVX2_INLINE void out3_vec_init(out3_vec *v, const j2k_out3 *p, const int8_t (*mask)[3][16])
{
    for (int k = 0; k < 3; k++) {
        v->vlo[k] = _mm256_set1_epi32(p->vlo[k]);
        v->vhi[k] = _mm256_set1_epi32(p->vhi[k]);
        v->flo[k] = _mm256_set1_ps(p->flo[k]);
        v->fhi[k] = _mm256_set1_ps(p->fhi[k]);
        v->shift[k] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)(p->shift_pat + 16 * k)));
        for (int c = 0; c < 3; c++)
            v->mask[k][c] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)mask[k][c]));
    }
}

/* 8 samples of 4 bytes from i */
AVX2_INLINE __m256i ld8(const void *base, size_t i)
{
    return _mm256_loadu_si256((const __m256i *)(const void *)((const uint8_t *)base + 4 * i));
}

/* Samples i..i+7 of the three components, transformed and rounded (irreversible), clipped to
 * [vlo, vhi] unless the saturating packs clip (full). */
AVX2_INLINE void out3_get(const out3_vec *v, int kind, int full, const void *a, const void *b,
                          const void *c, size_t i, __m256i s[3])
{
    if (kind < 2) {
        __m256i y = ld8(a, i), u = ld8(b, i), w = ld8(c, i);
        if (kind == 1) {
            __m256i g = _mm256_sub_epi32(y, _mm256_srai_epi32(_mm256_add_epi32(u, w), 2));
            s[0] = _mm256_add_epi32(w, g);
            s[1] = g;
            s[2] = _mm256_add_epi32(u, g);
        } else {
            s[0] = y, s[1] = u, s[2] = w;
        }
    } else {
        __m256 y = _mm256_castsi256_ps(ld8(a, i)), u = _mm256_castsi256_ps(ld8(b, i));
        __m256 w = _mm256_castsi256_ps(ld8(c, i)), f[3];
        if (kind == 3) {
            f[0] = _mm256_add_ps(y, _mm256_mul_ps(w, _mm256_set1_ps(1.402f)));
            f[1] = _mm256_sub_ps(_mm256_sub_ps(y, _mm256_mul_ps(u, _mm256_set1_ps(0.34413f))),
                                 _mm256_mul_ps(w, _mm256_set1_ps(0.71414f)));
            f[2] = _mm256_add_ps(y, _mm256_mul_ps(u, _mm256_set1_ps(1.772f)));
        } else {
            f[0] = y, f[1] = u, f[2] = w;
        }
        const __m256 magic = _mm256_set1_ps(J2K_RINT_MAGIC);
        for (int k = 0; k < 3; k++) {
            /* max / min return the second operand on a NaN: f > flo ? f : flo, as C */
            __m256 t = _mm256_min_ps(_mm256_max_ps(f[k], v->flo[k]), v->fhi[k]);
            s[k] = _mm256_cvttps_epi32(_mm256_sub_ps(_mm256_add_ps(t, magic), magic));
        }
    }
    if (!full)
        for (int k = 0; k < 3; k++) s[k] = _mm256_min_epi32(_mm256_max_epi32(s[k], v->vlo[k]), v->vhi[k]);
}

/* 48 interleaved bytes per lane from 16 samples per lane of each component, shifted, out */
AVX2_INLINE void out3_put(const out3_vec *v, int bps, const __m256i s[3], uint8_t *o)
{
    __m256i q[3];
    for (int k = 0; k < 3; k++) {
        q[k] = _mm256_or_si256(_mm256_or_si256(_mm256_shuffle_epi8(s[0], v->mask[k][0]),
                                               _mm256_shuffle_epi8(s[1], v->mask[k][1])),
                               _mm256_shuffle_epi8(s[2], v->mask[k][2]));
        q[k] = bps == 1 ? _mm256_add_epi8(q[k], v->shift[k]) : _mm256_add_epi16(q[k], v->shift[k]);
    }
    for (int k = 0; k < 3; k++) {
        _mm_storeu_si128((__m128i *)(void *)(o + 16 * k), _mm256_castsi256_si128(q[k]));
        _mm_storeu_si128((__m128i *)(void *)(o + 48 + 16 * k), _mm256_extracti128_si256(q[k], 1));
    }
}

/* Before the shift, a clipped sample fits the container as a signed integer (prec <= 8 * bps),
 * so the signed saturating packs narrow it exactly; for a full-range component they are the
 * clipping itself. */
AVX2_INLINE void out3_avx2_row(const j2k_out3 *p, int bps, int kind, int full, const void *a,
                               const void *b, const void *c, uint8_t *o, size_t n)
{
    out3_vec v;
    out3_vec_init(&v, p, bps == 1 ? out3_mask1 : out3_mask2);
    size_t x = 0;
    if (bps == 1) {
        /* the packs leave groups of 4 samples in the order 0 2 4 6 | 1 3 5 7 */
        const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        for (; x + 32 <= n; x += 32) { /* into lanes of samples x..x+15, x+16..x+31 */
            __m256i s0[3], s1[3], s2[3], s3[3], r[3];
            out3_get(&v, kind, full, a, b, c, x, s0);
            out3_get(&v, kind, full, a, b, c, x + 8, s1);
            out3_get(&v, kind, full, a, b, c, x + 16, s2);
            out3_get(&v, kind, full, a, b, c, x + 24, s3);
            for (int k = 0; k < 3; k++)
                r[k] = _mm256_permutevar8x32_epi32(
                    _mm256_packs_epi16(_mm256_packs_epi32(s0[k], s1[k]), _mm256_packs_epi32(s2[k], s3[k])), order);
            out3_put(&v, 1, r, o + 3 * x);
        }
    } else {
        for (; x + 16 <= n; x += 16) { /* into lanes of samples x..x+7, x+8..x+15 */
            __m256i s0[3], s1[3], r[3];
            out3_get(&v, kind, full, a, b, c, x, s0);
            out3_get(&v, kind, full, a, b, c, x + 8, s1);
            for (int k = 0; k < 3; k++) r[k] = _mm256_permute4x64_epi64(_mm256_packs_epi32(s0[k], s1[k]), 0xD8);
            out3_put(&v, 2, r, o + 6 * x);
        }
    }
    if (x < n) out3_base[bps - 1][kind](p, a, b, c, o, x, n);
}

#define OUT3_AVX2_ROW(NAME, BPS, K)                                                            \
    __attribute__((target("avx2"))) static void NAME(const j2k_out3 *p, const void *a,         \
                                                     const void *b, const void *c, uint8_t *o, \
                                                     size_t n)                                 \
    {                                                                                          \
        if (p->full) out3_avx2_row(p, BPS, K, 1, a, b, c, o, n);                               \
        else out3_avx2_row(p, BPS, K, 0, a, b, c, o, n);                                       \
    }
OUT3_ROWS(OUT3_AVX2_ROW, out3_row_avx2)
#endif

j2k_out3_fn j2k_out3_pick(int transform, int reversible, uint32_t bps)
{
    if (bps != 1 && bps != 2) return NULL;
    int kind = (reversible ? 0 : 2) + (transform ? 1 : 0);
#ifdef MCT_HAVE_AVX2
    if (__builtin_cpu_supports("avx2")) return out3_row_avx2[bps - 1][kind];
#endif
    return out3_row_base[bps - 1][kind];
}
