/*
 * dwt.c - inverse discrete wavelet transform (T.800 Annex F).
 *
 * 2D_SR (F.3.2) per resolution level: each row (HOR_SR), then each column (VER_SR), through
 * 1D_SR (F.3.6).  5-3 reversible: integer lifting of F.3.8.1, exact.  9-7 irreversible: float
 * lifting of F.3.8.2 with the standard's constants; the high-pass band is scaled by about 2/K
 * instead of 1/K because the band's step size carries no gain (as OpenJPEG does, so results
 * agree with it).
 *
 * Layout: HOR_SR lifts a row in a low-pass and a high-pass array, each with one element of
 * padding at both ends that holds the symmetric extension (F.3.7; one sample of reach per
 * lifting step), so each lifting step is one flat loop X[j] op= f(A[j], A[j + 1]) without bound
 * tests; the first step reads the low-pass band from the row itself, and the last writes its
 * result interleaved with the other band into the row where VER_SR wants it (2D_INTERLEAVE of
 * the rows, see dest_row).  VER_SR then lifts whole rows where they lie (SIMD across the row,
 * contiguous loads and stores, one sweep; a column range per work item).  Vector kernels
 * (dwt_lift.h) for 4 lanes (SSE2, NEON) and AVX2 (runtime dispatch), plain C elsewhere.  The
 * operations and their order are those of the scalar definition, so every instruction set gives
 * the same bits.
 *
 * Threads: the passes of all components of a tile form one queue of work items (see
 * dwt_queue), followed by the caller's output stage.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "j2k_internal.h"
#include "td_threads.h"

#define ALPHA (-1.586134342059924f)
#define BETA (-0.052980118572961f)
#define GAMMA (0.882911075530934f)
#define DELTA (0.443506852043971f)
#define KAPPA (1.230174104914001f)
/* The high-pass synthesis scale.  2/K would be 1.6257862; OpenJPEG has always used this
 * historic fixed-point value (13318 / 8192), and the irreversible DICOM frames in the wild are
 * checked against OpenJPEG's output, so we use it too (the difference is far below the
 * quantisation step; the conformance tolerances hold either way). */
#define TWO_INV_K 1.625732422f

/* VER_SR work items are column ranges of whole multiples of STRIP columns (a multiple of
 * every vector width). */
#define STRIP 16

/* ---- the lifting steps, as flat array operations (see dwt_lift.h) ---- */

/* The portable versions, for compilers without vector extensions (or built with
 * -DTD_J2K_NO_SIMD; -DTD_J2K_NO_AVX2 leaves out the AVX2 kernels: both to test the paths this
 * machine would not take). */
#if defined(TD_J2K_NO_SIMD) || !(defined(__GNUC__) || defined(__clang__))
static void lo53s_c(int32_t *X, const int32_t *S, const int32_t *A, size_t n, size_t nread)
{
    (void)nread;
    for (size_t j = 0; j < n; j++)
        X[j] = j2k_wsub(S[j], j2k_wadd(j2k_wadd(A[j], A[j + 1]), 2) >> 2);
}
static void zip53_c(int32_t *out, const int32_t *P, const int32_t *H, uint32_t n, uint32_t cas)
{
    uint32_t i = 0;
    for (; 2 * i + 1 < n; i++) {
        out[2 * i + cas] = P[i + cas];
        out[2 * i + 1 - cas] = j2k_wadd(H[i], j2k_wadd(P[i], P[i + 1]) >> 1);
    }
    if (n & 1) out[n - 1] = cas ? j2k_wadd(H[i], j2k_wadd(P[i], P[i + 1]) >> 1) : P[i];
}
static void step97_c(float *X, const float *A, size_t off, size_t total, float cf)
{
    for (size_t j = 0; j < total; j++) X[j] = j2k_fsub_mul_sum(X[j], cf, A[j], A[j + off]);
}
static void sstep97_c(float *X, const float *S, const float *A, size_t n, size_t nread, float m,
                      float cf)
{
    (void)nread;
    for (size_t j = 0; j < n; j++) X[j] = j2k_fmul_sub_mul_sum(S[j], m, cf, A[j], A[j + 1]);
}
static void zip97_c(float *out, const float *P, const float *H, uint32_t n, uint32_t cas, float cf)
{
    uint32_t i = 0;
    for (; 2 * i + 1 < n; i++) {
        out[2 * i + cas] = P[i + cas];
        out[2 * i + 1 - cas] = j2k_fsub_mul_sum(H[i], cf, P[i], P[i + 1]);
    }
    if (n & 1) out[n - 1] = cas ? j2k_fsub_mul_sum(H[i], cf, P[i], P[i + 1]) : P[i];
}
static void scale97_c(float *X, size_t total, float m)
{
    for (size_t j = 0; j < total; j++) X[j] *= m;
}
static void ver97t_c(float *const r[7], float kl, float kh, const float cf[4], size_t n,
                     uint32_t cas)
{
    /* (the lifting steps in ver_lift97's order, each column on its own: dwt_lift.h ver97t) */
    float *Lt = r[0], *Ht = r[1], *P0 = r[2], *P1 = r[3], *P2 = r[4], *P3 = r[5], *E = r[6];
    for (size_t j = 0; j < n; j++) {
        Lt[j] *= kl;
        Ht[j] *= kh;
        P0[j] = j2k_fsub_mul_sum(P0[j], cf[0], P1[j], Ht[j]);
        P1[j] = j2k_fsub_mul_sum(P1[j], cf[1], P2[j], P0[j]);
        P2[j] = j2k_fsub_mul_sum(P2[j], cf[2], P3[j], P1[j]);
        P3[j] = j2k_fsub_mul_sum(P3[j], cf[3], E[j], P2[j]);
    }
    (void)cas; /* (with cas 0, P0 is Lt: scaled above, then lifted) */
}

static void copy_scale_c(float *dst, const float *src, size_t n, float m)
{
    for (size_t i = 0; i < n; i++) dst[i] = src[i] * m;
}
static void copy32_c(int32_t *dst, const int32_t *src, size_t n)
{
    memcpy(dst, src, n * sizeof *dst);
}
static void lo53r_c(int32_t *X, const int32_t *A, const int32_t *B, size_t n)
{
    for (size_t j = 0; j < n; j++) X[j] = j2k_wsub(X[j], j2k_wadd(j2k_wadd(A[j], B[j]), 2) >> 2);
}
static void hi53r_c(int32_t *X, const int32_t *A, const int32_t *B, size_t n)
{
    for (size_t j = 0; j < n; j++) X[j] = j2k_wadd(X[j], j2k_wadd(A[j], B[j]) >> 1);
}
static void step97r_c(float *X, const float *A, const float *B, size_t n, float cf)
{
    for (size_t j = 0; j < n; j++) X[j] = j2k_fsub_mul_sum(X[j], cf, A[j], B[j]);
}
#define DWT_HAVE_C 1
#else
#define DWT_V 4
#define DWT_ATTR static
#define DWT_FN(name) name##_v4
#define DWT_ZIP_LO 0, 4, 1, 5
#define DWT_ZIP_HI 2, 6, 3, 7
#include "dwt_lift.h"
#undef DWT_V
#undef DWT_ATTR
#undef DWT_FN
#undef DWT_ZIP_LO
#undef DWT_ZIP_HI
#define DWT_HAVE_V4 1
#endif

#if defined(__x86_64__) && !defined(DWT_HAVE_C) && !defined(TD_J2K_NO_AVX2)
#define DWT_V 8
#define DWT_ATTR __attribute__((target("avx2"))) static
#define DWT_FN(name) name##_avx2
#define DWT_ZIP_LO 0, 8, 1, 9, 2, 10, 3, 11
#define DWT_ZIP_HI 4, 12, 5, 13, 6, 14, 7, 15
#include "dwt_lift.h"
#undef DWT_V
#undef DWT_ATTR
#undef DWT_FN
#undef DWT_ZIP_LO
#undef DWT_ZIP_HI
#define DWT_HAVE_AVX2 1
#endif

/* The kernels of one instruction set. */
typedef struct dwt_ops {
    void (*lo53s)(int32_t *X, const int32_t *S, const int32_t *A, size_t n, size_t nread);
    void (*zip53)(int32_t *out, const int32_t *P, const int32_t *H, uint32_t n, uint32_t cas);
    void (*step97)(float *X, const float *A, size_t off, size_t total, float cf);
    void (*sstep97)(float *X, const float *S, const float *A, size_t n, size_t nread, float m,
                    float cf);
    void (*zip97)(float *out, const float *P, const float *H, uint32_t n, uint32_t cas, float cf);
    void (*copy_scale)(float *dst, const float *src, size_t n, float m);
    void (*copy32)(int32_t *dst, const int32_t *src, size_t n);
    void (*lo53r)(int32_t *X, const int32_t *A, const int32_t *B, size_t n);
    void (*hi53r)(int32_t *X, const int32_t *A, const int32_t *B, size_t n);
    void (*step97r)(float *X, const float *A, const float *B, size_t n, float cf);
    void (*scale97r)(float *X, size_t n, float m);
    void (*ver97t)(float *const r[7], float kl, float kh, const float cf[4], size_t n, uint32_t cas);
    uint32_t v;  /* lanes: the slack every array needs after its end */
} dwt_ops;

#define DWT_OPS(sfx, scale97r, v) \
    {lo53s##sfx, zip53##sfx, step97##sfx, sstep97##sfx, zip97##sfx, copy_scale##sfx, copy32##sfx, \
     lo53r##sfx, hi53r##sfx, step97r##sfx, scale97r, ver97t##sfx, v}
#ifdef DWT_HAVE_C
static const dwt_ops ops_c = DWT_OPS(_c, scale97_c, 1);
#endif
#ifdef DWT_HAVE_V4
static const dwt_ops ops_v4 = DWT_OPS(_v4, scale97r_v4, 4);
#endif
#ifdef DWT_HAVE_AVX2
static const dwt_ops ops_avx2 = DWT_OPS(_avx2, scale97r_avx2, 8);
#endif

static const dwt_ops *dwt_pick_ops(void)
{
#ifdef DWT_HAVE_AVX2
    if (__builtin_cpu_supports("avx2")) return &ops_avx2;
#endif
#ifdef DWT_HAVE_V4
    return &ops_v4;
#else
    return &ops_c;
#endif
}

/* HOR_SR (F.3.4) of one row of n samples, 1D_SR (F.3.6) with the low-pass elements
 * L = row[0..sn) and the high-pass H = row[sn..n) (dn = n - sn), low-pass at parity cas, in two
 * halves so that the result can go to another row: hor_in lifts the row into T (hor_tmp(n)
 * samples) up to the last step, hor_out does that step and writes the result interleaved to
 * out (n samples; may be the row itself, read only by hor_in).
 *
 * T holds L and H (n >= 2) in padded arrays L[1..sn], H[1..dn] (each with op->v elements of
 * slack after it, for the vector kernels), whose padding holds the symmetric extension (F.3.7):
 * X(-1) = X(1) and X(n) = X(n - 2) are the neighbour band's first and last elements, so every
 * step reads L[i + k] / H[i + k] without a bound test.  With cas = 0 the low element i (X(2i))
 * sits between H[i - 1] and H[i] (padded: H[i], H[i + 1]) and the high element i between L[i]
 * and L[i + 1] (padded: L[i + 1], L[i + 2]); with cas = 1 each is one element further on.  The
 * first step reads its low-pass elements from the row (scaling them, 9-7) and writes L; the last
 * (zip53, zip97) reads L and H and writes the row out. */
static void pad(int32_t *X, uint32_t n)
{
    X[0] = X[1];
    X[n + 1] = X[n];
}

static size_t hor_tmp(const dwt_ops *op, uint32_t n)
{
    return (size_t)n + 4 + 2 * op->v;
}

static void hor_in(const dwt_ops *op, int rev, const int32_t *row, int32_t *T, uint32_t n,
                   uint32_t sn, uint32_t cas)
{
    uint32_t dn = n - sn;
    if (n == 1) {
        T[0] = rev && cas ? row[0] / 2 : row[0];
        return;
    }
    int32_t *L = T, *H = T + sn + 2 + op->v;
    if (rev) {
        op->copy32(H + 1, row + sn, dn);
        pad(H, dn);
        op->lo53s(L + 1, row, H + cas, sn, n);
        pad(L, sn);
    } else {
        /* the low-pass band scaled by KAPPA, the high-pass by TWO_INV_K, then F.3.8.2's steps
         * delta, gamma, beta here and alpha in hor_out */
        float *fL = (float *)(void *)L, *fH = (float *)(void *)H;
        const float *frow = (const float *)(const void *)row;
        op->copy_scale(fH + 1, frow + sn, dn, TWO_INV_K);
        pad(H, dn);
        op->sstep97(fL + 1, frow, fH + cas, sn, n, KAPPA, DELTA);
        pad(L, sn);
        op->step97(fH + 1, fL + 1 - cas, 1, dn, GAMMA);
        pad(H, dn);
        op->step97(fL + 1, fH + cas, 1, sn, BETA);
        pad(L, sn);
    }
}

static void hor_out(const dwt_ops *op, int rev, int32_t *out, const int32_t *T, uint32_t n,
                    uint32_t sn, uint32_t cas)
{
    if (n == 1) {
        out[0] = T[0];
        return;
    }
    const int32_t *L = T, *H = T + sn + 2 + op->v;
    if (rev) op->zip53(out, L + 1 - cas, H + 1, n, cas);
    else
        op->zip97((float *)(void *)out, (const float *)(const void *)(L + 1 - cas),
                  (const float *)(const void *)(H + 1), n, cas, ALPHA);
}

/* VER_SR of the columns [x0, x0 + nw) of n rows, lifting whole rows in place: the low-pass
 * rows L(i) = rows[2i + cas] (i < sn) and the high-pass rows H(j) = rows[2j + 1 - cas]
 * (j < dn) of the tile-component (its row table, see dwt_queue: the rows need not be equally
 * spaced), HOR_SR put them there.  A
 * neighbour index past either end is clamped, which is the symmetric extension (F.3.7).
 *
 * All the lifting steps go in one sweep down the rows, each step a row or two behind the one it
 * depends on, so the few rows in flight stay in cache: at time t, 5-3 updates L(t - cas) (from
 * H(t - 1), H(t) at most, untouched so far) then H(t - 1) (from L(t - 1 - cas), L(t - cas), just
 * updated); 9-7 scales L(t) and H(t), then the steps delta, gamma, beta, alpha on L(t - cas),
 * H(t - 1), L(t - cas - 1), H(t - 2).  Each step reads its neighbours after the step before
 * wrote them and before the step after overwrites them (a clamped neighbour is one of those),
 * so every sample sees the operations of F.3.8 in the standard's order. */
static inline size_t clampi(int64_t i, uint32_t n)
{
    return i < 0 ? 0 : i >= n ? n - 1 : (size_t)i;
}

/* Ask early for a row that is not next to the last one (the next row of a cycle; the rows
 * a sweep reaches soon, one row stride apart). */
#define DWT_AHEAD 2 /* rows */
static inline void prefetch_row(const void *row, uint32_t n)
{
#if defined(__GNUC__) || defined(__clang__)
    for (uint32_t i = 0; i < n; i += 16) __builtin_prefetch((const int32_t *)row + i);
#else
    (void)row, (void)n;
#endif
}

#define LROW(i) (rows[2 * (size_t)(i) + cas] + x0)
#define HROW(j) (rows[2 * (size_t)(j) + 1 - cas] + x0)
#define FROW(p) ((float *)(void *)(p))

/* The sweep's steps t in [t0, t1) (all of them: [0, ver_steps(...))), so that a sweep can stop
 * after the rows that exist and go on when more have arrived (decode.c's strips). */
static inline uint32_t ver_steps(int rev, uint32_t sn, uint32_t dn, uint32_t cas)
{
    if (rev) return (sn - 1 + cas > dn ? sn - 1 + cas : dn) + 1;
    return (sn + cas > dn + 1 ? sn + cas : dn + 1) + 1;
}

static void ver_lift53(const dwt_ops *op, int32_t *const *rows, uint32_t x0, uint32_t nw,
                       uint32_t sn, uint32_t dn, uint32_t cas, uint32_t t0, uint32_t t1)
{
    for (uint32_t t = t0; t < t1; t++) {
        int64_t i = (int64_t)t - cas, j = (int64_t)t - 1;
        if (t + DWT_AHEAD < t1 && t + DWT_AHEAD < sn) prefetch_row(LROW(t + DWT_AHEAD), nw);
        if (t + DWT_AHEAD < t1 && t + DWT_AHEAD < dn) prefetch_row(HROW(t + DWT_AHEAD), nw);
        if (i >= 0 && i < sn)
            op->lo53r(LROW(i), HROW(clampi(i - 1 + cas, dn)), HROW(clampi(i + cas, dn)), nw);
        if (j >= 0 && j < dn)
            op->hi53r(HROW(j), LROW(clampi(j - cas, sn)), LROW(clampi(j + 1 - cas, sn)), nw);
    }
}

static void ver_lift97(const dwt_ops *op, int32_t *const *rows, uint32_t x0, uint32_t nw,
                       uint32_t sn, uint32_t dn, uint32_t cas, uint32_t t0, uint32_t t1)
{
    static const float cf[4] = {DELTA, GAMMA, BETA, ALPHA};
    for (uint32_t t = t0; t < t1; t++) {
        if (t + DWT_AHEAD < t1 && t + DWT_AHEAD < sn) prefetch_row(LROW(t + DWT_AHEAD), nw);
        if (t + DWT_AHEAD < t1 && t + DWT_AHEAD < dn) prefetch_row(HROW(t + DWT_AHEAD), nw);
        if (t >= 2 + cas && t < sn && t < dn) { /* away from the edges: one pass (ver97t) */
            float *r[7] = {FROW(LROW(t)), FROW(HROW(t)), FROW(LROW(t - cas)), FROW(HROW(t - 1)),
                           FROW(LROW(t - 1 - cas)), FROW(HROW(t - 2)), FROW(LROW(t - 2 - cas))};
            op->ver97t(r, KAPPA, TWO_INV_K, cf, nw, cas);
            continue;
        }
        if (t < sn) op->scale97r(FROW(LROW(t)), nw, KAPPA);
        if (t < dn) op->scale97r(FROW(HROW(t)), nw, TWO_INV_K);
        for (uint32_t k = 0; k < 4; k++) {
            int64_t x = (int64_t)t - (k & 1 ? 1 : cas) - k / 2;  /* the row this step updates */
            if (!(k & 1) && x >= 0 && x < sn)
                op->step97r(FROW(LROW(x)), FROW(HROW(clampi(x - 1 + cas, dn))),
                            FROW(HROW(clampi(x + cas, dn))), nw, cf[k]);
            if ((k & 1) && x >= 0 && x < dn)
                op->step97r(FROW(HROW(x)), FROW(LROW(clampi(x - cas, sn))),
                            FROW(LROW(clampi(x + 1 - cas, sn))), nw, cf[k]);
        }
    }
}
#undef LROW
#undef HROW
#undef FROW

/* VER_SR of the columns [x0, x0 + nw) of the n interleaved rows rows[0 .. n). */
static void ver(const dwt_ops *op, int rev, int32_t *const *rows, uint32_t x0, uint32_t nw,
                uint32_t n, uint32_t sn, uint32_t cas)
{
    if (n == 1) {
        int32_t *d = rows[0] + x0;
        if (rev && cas)
            for (uint32_t k = 0; k < nw; k++) d[k] /= 2;
        return;
    }
    uint32_t t1 = ver_steps(rev, sn, n - sn, cas);
    if (rev) ver_lift53(op, rows, x0, nw, sn, n - sn, cas, 0, t1);
    else ver_lift97(op, rows, x0, nw, sn, n - sn, cas, 0, t1);
}

/* ---- one level row by row (decode.c's strips) ---- */

size_t j2k_dwt_row_tmp(uint32_t n)
{
    return (size_t)n + 4 + 2 * STRIP;
}

void j2k_dwt_hor_row(int rev, int32_t *row, int32_t *T, uint32_t n, uint32_t sn, uint32_t cas)
{
    const dwt_ops *op = dwt_pick_ops();
    hor_in(op, rev, row, T, n, sn, cas);
    hor_out(op, rev, row, T, n, sn, cas);
}

uint32_t j2k_dwt_ver_steps(int rev, uint32_t n, uint32_t sn, uint32_t cas)
{
    return n < 2 ? 0 : ver_steps(rev, sn, n - sn, cas);
}

void j2k_dwt_ver_part(int rev, int32_t *const *rows, uint32_t x0, uint32_t nw, uint32_t n,
                      uint32_t sn, uint32_t cas, uint32_t t0, uint32_t t1)
{
    const dwt_ops *op = dwt_pick_ops();
    if (n < 2 || sn == 0 || sn >= n) return; /* (the strip path needs both bands) */
    if (rev) ver_lift53(op, rows, x0, nw, sn, n - sn, cas, t0, t1);
    else ver_lift97(op, rows, x0, nw, sn, n - sn, cas, t0, t1);
}

/* The interleave of VER_SR's input (2D_INTERLEAVE, F.3.3) is a permutation of the rows: at
 * level start the low-pass row i lies at i and the high-pass row j at sn + j; VER_SR wants them
 * at 2i + cas and 2j + 1 - cas.  HOR_SR, which reads and writes every row anyway, moves them
 * there: it follows each cycle of the permutation a, dest(a), dest(dest(a)), ..., lifting row
 * dest(p) into a second buffer before it writes row p's result over it.  A cycle longer than a
 * work item's share (when threads share the pass) is cut into segments; each segment's last
 * result goes to a carry row, which the level's VER_SR items copy into place first (each its
 * own columns), after every segment has read the row it replaces. */
static inline uint32_t dest_row(uint32_t p, uint32_t sn, uint32_t cas)
{
    return p < sn ? 2 * p + cas : 2 * (p - sn) + 1 - cas;
}

typedef struct dwt_seg {
    uint32_t a, len;      /* first row, rows */
    uint32_t carry;       /* carry index in its pass, or UINT32_MAX: the cycle is whole */
} dwt_seg;


/* The passes of the inverse DWT of a group of tile-components as one queue of work items:
 * level r's HOR_SR (cycle segments of rows in groups) then its VER_SR (column ranges), level
 * after level, the components' passes interleaved (their transforms are independent).  Each
 * thread takes the next item; an item starts only after every item of its component's earlier
 * passes is done (HOR_SR of a level before its VER_SR, that before the next level).  A thread
 * that starts late finds less left to do, so nobody waits for a fixed share.  The caller's
 * `then` items (the output stage) follow in the same queue, after the last transform item. */
#define DWT_ITEM ((size_t)1 << 14) /* samples per HOR_SR work item, about */
#define DWT_TEAM_PASSES 256        /* passes per queue (components beyond go in another) */

typedef struct dwt_pass {
    uint32_t comp;        /* index into the group */
    uint32_t p;           /* level p / 2 + 1; HOR_SR for even p, VER_SR for odd p */
    uint32_t per;         /* VER_SR: strips per item */
    size_t start, count;  /* its items */
    size_t prereq;        /* items of its component in earlier passes */
    size_t seg0, ib0;     /* HOR_SR: its segments (q->segs) and item bounds (q->ib, count + 1) */
    size_t carry0;        /* both passes of the level: its carries (q->carry_dst), */
    uint32_t ncarry;      /* rows of rw samples from q->carry_buf + cbuf0 */
    size_t cbuf0;
} dwt_pass;

typedef struct dwt_queue {
    j2k_tilecomp *tcs;
    const dwt_ops *op;
    dwt_pass *pass;                    /* (allocated as needed: a fixed table was 24 KB) */
    uint32_t npasses;
    size_t ndwt;                       /* transform items; `then` items follow */
    const j2k_dwt_then *then;
    dwt_seg *segs;
    uint32_t *ib;                      /* first segment of each item, relative to seg0 */
    uint32_t *carry_dst;               /* the row each carry goes to */
    int32_t *carry_buf;
    int32_t **rowtab;                  /* every row of every component (j2k_row), */
    size_t *row0;                      /* component c's from rowtab + row0[c] */
    atomic_size_t next, all_done;
    atomic_size_t *done;               /* per component of the group (at most one pass each) */
    j2k_waitq wq;
} dwt_queue;

typedef struct dwt_job {
    dwt_queue *q;
    uint32_t slot;
    int32_t *tmp;         /* 2 hor_tmp(maxn) samples */
} dwt_job;

static void dwt_level_size(const j2k_tilecomp *tc, uint32_t r, uint32_t *rw, uint32_t *rh)
{
    const j2k_res *rs = &tc->res[r];
    *rw = (uint32_t)(rs->x1 - rs->x0);
    *rh = (uint32_t)(rs->y1 - rs->y0);
}

/* The segments and items of the HOR_SR pass ps of rh rows (sn low-pass, parity cas): cycles of
 * dest_row longer than lmax cut into segments of lmax rows, items of about `per` rows.  seen:
 * (rh + 31) / 32 words. */
static void dwt_segments(dwt_queue *q, dwt_pass *ps, size_t *ncarries, uint32_t rh, uint32_t sn,
                         uint32_t cas, uint32_t lmax, uint32_t per, uint32_t *seen)
{
    dwt_seg *segs = q->segs + ps->seg0;
    uint32_t *ib = q->ib + ps->ib0, nseg = 0, nitems = 0, rows = 0;
    memset(seen, 0, ((rh + 31) / 32) * sizeof *seen);
    ps->carry0 = *ncarries;
    ps->ncarry = 0;
    ib[0] = 0;
    for (uint32_t y = 0; y < rh; y++) {
        if (seen[y / 32] >> (y % 32) & 1) continue;
        uint32_t len = 0, p = y;
        do {
            seen[p / 32] |= 1u << (p % 32);
            len++;
            p = dest_row(p, sn, cas);
        } while (p != y);
        for (uint32_t s = 0; s < len; s += lmax) {
            uint32_t n = len - s < lmax ? len - s : lmax;
            dwt_seg *sg = &segs[nseg++];
            sg->a = p;
            sg->len = n;
            sg->carry = UINT32_MAX;
            for (uint32_t k = 0; k < n; k++) p = dest_row(p, sn, cas);
            if (len > lmax) {  /* p: the next segment's first row, where this one's carry goes */
                sg->carry = ps->ncarry++;
                q->carry_dst[(*ncarries)++] = p;
            }
            rows += n;
            if (rows >= per) ib[++nitems] = nseg, rows = 0;
        }
    }
    if (rows) ib[++nitems] = nseg;
    ps->count = nitems;
}

/* Queue the passes of components [0, n) of tcs (their passes fit DWT_TEAM_PASSES). */
static int dwt_queue_init(dwt_queue *q, j2k_tilecomp *tcs, uint32_t n, uint32_t threads,
                          const dwt_ops *op, const j2k_dwt_then *then)
{
    size_t prereq[DWT_TEAM_PASSES] = {0}, items = 0, nsegs = 0, ncarries = 0, cbuf = 0;
    uint32_t lasthor[DWT_TEAM_PASSES] = {0};
    uint32_t maxp = 0, maxrh = 1;
    q->tcs = tcs;
    q->op = op;
    q->npasses = 0;
    q->then = then;
    q->segs = NULL;
    q->ib = NULL;
    q->carry_dst = NULL;
    q->carry_buf = NULL;
    q->rowtab = NULL;
    size_t npass = 0;
    for (uint32_t c = 0; c < n; c++)
        if (tcs[c].dres > 1) npass += 2 * (size_t)(tcs[c].dres - 1);
    q->pass = malloc((npass + 1) * sizeof *q->pass);
    q->row0 = malloc(((size_t)n + 1) * sizeof *q->row0);
    q->done = malloc(((size_t)n + 1) * sizeof *q->done);
    if (!q->pass || !q->row0 || !q->done) return TD_E_NOMEM;
    size_t nrows = 0;
    for (uint32_t c = 0; c < n; c++) {
        q->row0[c] = nrows;
        nrows += tcs[c].h;
    }
    q->rowtab = malloc((nrows + 1) * sizeof *q->rowtab);
    if (!q->rowtab) return TD_E_NOMEM;
    for (uint32_t c = 0; c < n; c++)
        for (uint32_t y = 0; y < tcs[c].h; y++) q->rowtab[q->row0[c] + y] = j2k_row(&tcs[c], y);
    for (uint32_t c = 0; c < n; c++) {
        j2k_tilecomp *tc = &tcs[c];
        if (tc->dres <= 1) continue;
        if (2 * (tc->dres - 1) > maxp) maxp = 2 * (tc->dres - 1);
        for (uint32_t r = 1; r < tc->dres; r++) {
            uint32_t rw, rh;
            dwt_level_size(tc, r, &rw, &rh);
            nsegs += 2 * (size_t)rh + 2;
            if (rh > maxrh) maxrh = rh;
        }
    }
    q->segs = malloc((nsegs + 1) * sizeof *q->segs);  /* (+ 1: never malloc(0)) */
    q->ib = malloc((nsegs + 1) * sizeof *q->ib);
    q->carry_dst = malloc((nsegs + 1) * sizeof *q->carry_dst);
    uint32_t *seen = malloc(((maxrh + 31) / 32) * sizeof *seen);
    if (!q->segs || !q->ib || !q->carry_dst || !seen) {
        free(seen);
        return TD_E_NOMEM;
    }
    nsegs = 0;
    for (uint32_t p = 0; p < maxp; p++)
        for (uint32_t c = 0; c < n; c++) {
            j2k_tilecomp *tc = &tcs[c];
            if (tc->dres <= 1 || p >= 2 * (tc->dres - 1)) continue;
            uint32_t rw, rh, r = p / 2 + 1;
            dwt_level_size(tc, r, &rw, &rh);
            if (rw == 0 || rh == 0) continue;
            dwt_pass *ps = &q->pass[q->npasses];
            ps->comp = c;
            ps->p = p;
            if (!(p & 1)) {
                /* whole cycles when one thread does them all; else segments of at most a
                 * quarter of a thread's share (at most about 8 threads carries) */
                uint32_t per = (uint32_t)(DWT_ITEM / rw) + 1, lmax = UINT32_MAX;
                if (threads > 1) {
                    lmax = (uint32_t)(((uint64_t)rh + 4 * threads - 1) / (4 * threads));
                    if (lmax < per) lmax = per;
                }
                const j2k_res *lr = &tc->res[r - 1];
                ps->seg0 = nsegs;
                ps->ib0 = nsegs;
                dwt_segments(q, ps, &ncarries, rh, (uint32_t)(lr->y1 - lr->y0),
                             (uint32_t)tc->res[r].y0 & 1, lmax, per, seen);
                nsegs += 2 * (size_t)rh + 2;
                ps->cbuf0 = cbuf;
                cbuf += (size_t)ps->ncarry * rw;
                lasthor[c] = q->npasses;
            } else {
                /* column ranges as wide as the threads allow (longer rows, fewer sweeps):
                 * about two per thread, from 4 to 64 strips */
                uint32_t units = (rw + STRIP - 1) / STRIP;
                uint32_t per = (units + 2 * threads - 1) / (2 * threads);
                ps->per = per < 4 ? 4 : per > 64 ? 64 : per;
                ps->count = (units + ps->per - 1) / ps->per;
                const dwt_pass *hp = &q->pass[lasthor[c]];
                ps->carry0 = hp->carry0;
                ps->ncarry = hp->ncarry;
                ps->cbuf0 = hp->cbuf0;
            }
            ps->start = items;
            ps->prereq = prereq[c];
            prereq[c] += ps->count;
            items += ps->count;
            q->npasses++;
        }
    free(seen);
    if (cbuf) {
        q->carry_buf = malloc(cbuf * sizeof *q->carry_buf);
        if (!q->carry_buf) return TD_E_NOMEM;
    }
    q->ndwt = items;
    atomic_init(&q->next, 0);
    atomic_init(&q->all_done, 0);
    for (uint32_t c = 0; c < n; c++) atomic_init(&q->done[c], 0);
    return TD_OK;
}

static void dwt_queue_free(dwt_queue *q)
{
    free(q->pass);
    free(q->row0);
    free((void *)q->done);
    free(q->segs);
    free(q->ib);
    free(q->carry_dst);
    free(q->carry_buf);
    free(q->rowtab);
}

/* Item k of pass ps. */
static void dwt_item(dwt_queue *q, int32_t *tmp, const dwt_pass *ps, size_t k)
{
    const dwt_ops *op = q->op;
    j2k_tilecomp *tc = &q->tcs[ps->comp];
    uint32_t p = ps->p, r = p / 2 + 1, rw, rh;
    dwt_level_size(tc, r, &rw, &rh);
    const j2k_res *rs = &tc->res[r], *lr = &tc->res[r - 1];
    uint32_t snx = (uint32_t)(lr->x1 - lr->x0), sny = (uint32_t)(lr->y1 - lr->y0);
    uint32_t casx = (uint32_t)rs->x0 & 1, casy = (uint32_t)rs->y0 & 1;
    int rev = tc->tccp->reversible;
    int32_t *const *rows = q->rowtab + q->row0[ps->comp];
    int32_t *carry = ps->ncarry ? q->carry_buf + ps->cbuf0 : NULL;
    if (!(p & 1)) {
        int32_t *T0 = tmp, *T1 = tmp + hor_tmp(op, rw);
        /* the rows of a cycle are far apart: ask for the next ones early, about 1 KiB ahead */
        uint32_t depth = rw >= 256 ? 1 : rw >= 16 ? 256 / rw : 16;
        const uint32_t *ib = q->ib + ps->ib0;
        for (uint32_t s = ib[k]; s < ib[k + 1]; s++) {
            const dwt_seg *sg = &q->segs[ps->seg0 + s];
            uint32_t y = sg->a, ahead = y, ia = 0;
            hor_in(op, rev, rows[y], T0, rw, snx, casx);
            for (uint32_t i = 1; i < sg->len; i++) {
                y = dest_row(y, sny, casy);
                for (; ia < i + depth && ia + 1 < sg->len; ia++) {
                    ahead = dest_row(ahead, sny, casy);
                    if (ia >= i) prefetch_row(rows[ahead], rw);
                }
                hor_in(op, rev, rows[y], T1, rw, snx, casx);
                hor_out(op, rev, rows[y], T0, rw, snx, casx);
                int32_t *t = T0;
                T0 = T1, T1 = t;
            }
            int32_t *out = sg->carry == UINT32_MAX ? rows[dest_row(y, sny, casy)]
                                                   : carry + (size_t)sg->carry * rw;
            hor_out(op, rev, out, T0, rw, snx, casx);
        }
        return;
    }
    uint32_t nstrips = (rw + STRIP - 1) / STRIP, u0 = (uint32_t)(k * ps->per);
    uint32_t u1 = nstrips - u0 < ps->per ? nstrips : u0 + ps->per;
    uint32_t x0 = u0 * STRIP, x1 = u1 * STRIP < rw ? u1 * STRIP : rw;
    for (uint32_t c = 0; c < ps->ncarry; c++)
        memcpy(rows[q->carry_dst[ps->carry0 + c]] + x0, carry + (size_t)c * rw + x0,
               (x1 - x0) * sizeof *carry);
    ver(op, rev, rows, x0, x1 - x0, rh, sny, casy);
}

/* A thread waits awake, for up to SPIN_NS, before it sleeps: the waits inside a decode are
 * mostly of a microsecond or two (another thread's item), while a sleep and its wake-up took
 * 20-50 us here (on a virtual machine, with a halted virtual CPU, at times milliseconds).
 * US1 J2KI on 2 threads: 11 sleeps per decode (3% of its time) became 0.  With more threads
 * than cores the bound caps what a waiter takes from the thread it waits for. */
#define SPIN_NS 200000
void j2k_waitq_init(j2k_waitq *w)
{
    pthread_mutex_init(&w->mutex, NULL);
    pthread_cond_init(&w->cond, NULL);
    atomic_init(&w->sleepers, 0);
}

void j2k_waitq_destroy(j2k_waitq *w)
{
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->mutex);
}

/* A sleeper counts itself (sequentially consistent) before it tests the counter, a waker
 * tests for sleepers after it raised the counter: a waker that sees none comes before the
 * sleeper's count, so the sleeper's test sees the counter raised.  A waker that sees one takes
 * the mutex, which the sleeper holds from its count until cond_wait releases it.  (A lock and
 * broadcast at every completed phase, with no sleeper, moved the mutex's cache line from core
 * to core for nothing; decode.c's strip_count has what it was worth.) */
void j2k_wait_count(atomic_size_t *counter, size_t target, j2k_waitq *w)
{
    if (atomic_load(counter) >= target) return;
    td_spin spin;
    td_spin_start(&spin, SPIN_NS);
    while (atomic_load_explicit(counter, memory_order_acquire) < target && td_spin_turn(&spin))
        ;
    if (atomic_load(counter) >= target) return;
    pthread_mutex_lock(&w->mutex);
    atomic_fetch_add(&w->sleepers, 1);
    while (atomic_load(counter) < target) pthread_cond_wait(&w->cond, &w->mutex);
    atomic_fetch_sub(&w->sleepers, 1);
    pthread_mutex_unlock(&w->mutex);
}

void j2k_wake_all(j2k_waitq *w)
{
    if (!atomic_load(&w->sleepers)) return;
    pthread_mutex_lock(&w->mutex);
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->mutex);
}

/* Until *counter >= target. */
static void dwt_wait(dwt_queue *q, atomic_size_t *counter, size_t target)
{
    j2k_wait_count(counter, target, &q->wq);
}

static void dwt_worker(dwt_job *j)
{
    dwt_queue *q = j->q;
    size_t total = q->ndwt + (q->then ? q->then->nitems : 0);
    uint32_t g = 0;
    for (;;) {
        size_t i = atomic_fetch_add(&q->next, 1);
        if (i >= total) break;
        if (i >= q->ndwt) {
            dwt_wait(q, &q->all_done, q->ndwt);
            q->then->fn(q->then->arg, i - q->ndwt, j->slot);
            continue;
        }
        while (i >= q->pass[g].start + q->pass[g].count) g++;
        const dwt_pass *ps = &q->pass[g];
        atomic_size_t *done = &q->done[ps->comp];
        dwt_wait(q, done, ps->prereq);
        dwt_item(q, j->tmp, ps, i - ps->start);
        atomic_fetch_add(&q->all_done, 1);
        if (atomic_fetch_add(done, 1) + 1 == ps->prereq + ps->count)
            j2k_wake_all(&q->wq); /* the pass is complete: wake its waiters */
    }
}

/* The members of a team on the decoder's threads (td_parallel_run): each takes the next
 * slot and its scratch rows.  Helpers may join late or not at all: items go in order and an
 * item waits only for earlier ones, so whoever runs finishes the queue. */
typedef struct dwt_team_run {
    dwt_queue *q;
    int32_t *tmp;
    size_t per;
    uint32_t threads;
    atomic_uint slot;
} dwt_team_run;

static void dwt_team_member(void *arg)
{
    dwt_team_run *tr = arg;
    uint32_t slot = atomic_fetch_add(&tr->slot, 1);
    if (slot >= tr->threads) return;
    dwt_job j = {tr->q, slot, tr->tmp + slot * tr->per};
    dwt_worker(&j);
}

/* One queue over components [0, n) (passes within DWT_TEAM_PASSES) and `then`. */
static int dwt_team(j2k_tilecomp *tcs, uint32_t n, uint32_t threads, const j2k_dwt_then *then)
{
    uint32_t maxn = 1;
    size_t samples = 0;
    for (uint32_t c = 0; c < n; c++) {
        if (tcs[c].w > maxn) maxn = tcs[c].w;
        if (tcs[c].h > maxn) maxn = tcs[c].h;
        samples += (size_t)tcs[c].w * tcs[c].h;
    }
    /* two rows for HOR_SR: 2 (n + 4 + 2 * lanes), lanes <= STRIP */
    size_t per = 2 * ((size_t)maxn + 4 + 2 * STRIP);
    /* a thread per 512K samples at most: each level's HOR_SR rows and VER_SR columns cross
     * the threads' cores twice (every row one thread wrote, the other reads), which below
     * that costs more than it saves.  2026-12-06, 2 vCPUs, the whole-tile path on 2 threads
     * (TURBODICOM_J2K_STRIPS=0 for the full-size 512x512 and 640x480 frames),
     * speed-up over one thread with the DWT on one thread / on both: CT1 J2KI at reduce 1
     * (65K samples) 1.74 / 1.46x; 512x512 grey (262K) CT1 J2KI 1.57 / 1.33x, 693_J2KI 0.99 /
     * 0.83x; 640x480 RGB (921K) US1 J2KI 1.68 / 1.69x; from 1M the team is faster: a
     * 4096x256 9/7 frame 1.67 / 1.80x, MG1 J2KI 1.75 / 1.96x. */
    if (samples < ((size_t)threads << 19)) threads = (uint32_t)(samples >> 19) + 1;
    /* zeroed: the vector tails read the slack after each array before anything is written
     * there (their lanes are discarded) */
    int32_t *tmp = calloc(per * threads, sizeof *tmp);
    if (!tmp) return TD_E_NOMEM;
    dwt_queue *q = malloc(sizeof *q);
    if (!q) { free(tmp); return TD_E_NOMEM; }
    int rc = dwt_queue_init(q, tcs, n, threads, dwt_pick_ops(), then);
    if (rc != TD_OK) {
        dwt_queue_free(q);
        free(q);
        free(tmp);
        return rc;
    }
    j2k_waitq_init(&q->wq);
    dwt_team_run tr = {.q = q, .tmp = tmp, .per = per, .threads = threads};
    atomic_init(&tr.slot, 0);
    td_parallel_run(threads, dwt_team_member, &tr);
    j2k_waitq_destroy(&q->wq);
    dwt_queue_free(q);
    free(q);
    free(tmp);
    return TD_OK;
}

int j2k_dwt_decode_tile(j2k_tilecomp *tcs, uint32_t ncomps, uint32_t threads,
                        const j2k_dwt_then *then)
{
    if (threads < 1) threads = 1;
    if (threads > J2K_DWT_MAX_THREADS) threads = J2K_DWT_MAX_THREADS;
    uint32_t c0 = 0;
    while (c0 < ncomps) {
        /* as many components as fit one queue (at least one: 2 * 32 passes; at most
         * DWT_TEAM_PASSES components) */
        uint32_t c1 = c0, npasses = 0;
        while (c1 < ncomps) {
            uint32_t np = tcs[c1].dres > 1 ? 2 * (tcs[c1].dres - 1) : 0;
            if (c1 > c0 && (npasses + np > DWT_TEAM_PASSES || c1 - c0 >= DWT_TEAM_PASSES)) break;
            npasses += np;
            c1++;
        }
        int rc = dwt_team(tcs + c0, c1 - c0, threads, c1 == ncomps ? then : NULL);
        if (rc != TD_OK) return rc;
        c0 = c1;
    }
    if (ncomps == 0 && then)
        for (size_t i = 0; i < then->nitems; i++) then->fn(then->arg, i, 0);
    return TD_OK;
}
