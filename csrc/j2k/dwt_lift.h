/*
 * dwt_lift.h - the lifting kernels of dwt.c for one vector width, included by dwt.c once per
 * instruction set (GCC / Clang vector extensions).  The includer defines
 *   DWT_V          lanes of 32 bits per vector (4: SSE2 / NEON, 8: AVX2)
 *   DWT_ATTR       the functions' attributes (static, the target)
 *   DWT_FN(name)   the name with the instruction set's suffix
 *   DWT_ZIP_LO / DWT_ZIP_HI   __builtin_shufflevector indices interleaving two vectors' first /
 *                  second halves
 *
 * HOR_SR's steps work on a row's halves copied into padded arrays, a whole vector at a time;
 * the last vector may run past the array's end: the caller's buffers have DWT_V elements of
 * slack after each array.  What they read from or write to the tile-component's rows (the
 * source row S, the output row) is exact.
 */

typedef int32_t DWT_FN(vi) __attribute__((vector_size(4 * DWT_V), aligned(4), may_alias));
typedef uint32_t DWT_FN(vu) __attribute__((vector_size(4 * DWT_V), aligned(4), may_alias));
typedef float DWT_FN(vf) __attribute__((vector_size(4 * DWT_V), aligned(4), may_alias));
#define VI DWT_FN(vi)
#define VU DWT_FN(vu)
#define VF DWT_FN(vf)
/* A float in every lane, by an initialiser (no scalar operand, which ISO C modes on targets
 * with FLT_EVAL_METHOD 1 would widen to double) */
#if DWT_V == 4
#define SPLAT(x) {(x), (x), (x), (x)}
#else
#define SPLAT(x) {(x), (x), (x), (x), (x), (x), (x), (x)}
#endif

/* Whole vectors from j while they fit below lim, two per turn of the loop (half the loop
 * overhead); j ends on the first element left. */
#define DWT_VECTORS(j, lim, AT)                       \
    do {                                              \
        for (; (j) + 2 * DWT_V <= (lim); (j) += 2 * DWT_V) { \
            AT(j);                                    \
            AT((j) + DWT_V);                          \
        }                                             \
        if ((j) + DWT_V <= (lim)) {                   \
            AT(j);                                    \
            (j) += DWT_V;                             \
        }                                             \
    } while (0)

/* HOR_SR's steps (see hor_in / hor_out in dwt.c) work on a row's low-pass and high-pass
 * halves copied into padded arrays, X[j] op= f(A[j], A[j + 1]), except for the first step, which
 * reads its X from the row itself (S), and the last, which writes its result interleaved with
 * the other band straight to the output row. */

/* The vector part of lo53s / sstep97: whole vectors over [0, n), the last one reading on into
 * S's slack (nread) or overlapping the one before; returns unless n and nread are both below
 * a vector, leaving j for the element-by-element loop that follows. */
#define FIRST_STEP_VECTORS(AT)                                                                 \
    size_t j = 0;                                                                              \
    DWT_VECTORS(j, n, AT);                                                                     \
    if (j == n) return;                                                                        \
    if (j + DWT_V <= nread) {                                                                  \
        AT(j);                                                                                 \
        return;                                                                                \
    }                                                                                          \
    if (n >= DWT_V) {                                                                          \
        AT(n - DWT_V);                                                                         \
        return;                                                                                \
    }

/* 5-3, F.3.8.1 (F-5), the first step: X[j] = S[j] - ((A[j] + A[j + 1] + 2) >> 2) for j < n,
 * wrapping (see j2k_wadd).  S has nread >= n readable elements; whole vectors, the last one
 * reading on into S's slack or overlapping the one before (X does not overlap S or A, so the
 * elements done twice get the same values), one element at a time only when n and nread are
 * both below a vector. */
#define LO53S_AT(j)                                                                  \
    do {                                                                             \
        VU s_ = (VU) * (const VI *)(A + (j)) + (VU) * (const VI *)(A + (j) + 1) + 2; \
        *(VI *)(X + (j)) = (VI)((VU) * (const VI *)(S + (j)) - (VU)((VI)s_ >> 2));   \
    } while (0)
DWT_ATTR void DWT_FN(lo53s)(int32_t *X, const int32_t *S, const int32_t *A, size_t n, size_t nread)
{
    FIRST_STEP_VECTORS(LO53S_AT)
    for (; j < n; j++) X[j] = j2k_wsub(S[j], j2k_wadd(j2k_wadd(A[j], A[j + 1]), 2) >> 2);
}
#undef LO53S_AT

/* 5-3 (F-6), the last step and the interleave: the high-pass element h[i] = H[i] +
 * ((P[i] + P[i + 1]) >> 1) lies between the low-pass elements P[i] and P[i + 1]; out gets
 * P[0], h[0], P[1], h[1], ... (cas 0) or h[0], P[1], h[1], P[2], ... (cas 1), exactly n
 * elements (the last whole vector pair overlapping the one before; out does not overlap P
 * or H). */
/* The vector part of zip53 / zip97: the m = n / 2 pairs in whole vectors, the last one
 * overlapping the one before (its outputs do not overlap its inputs), then i = m. */
#define ZIP_VECTORS(LO, HI)                                                                    \
    size_t i = 0, m = n / 2;                                                                   \
    if (m >= DWT_V) {                                                                          \
        if (!cas) {                                                                            \
            DWT_VECTORS(i, m, LO);                                                             \
            if (i < m) LO(m - DWT_V);                                                          \
        } else {                                                                               \
            DWT_VECTORS(i, m, HI);                                                             \
            if (i < m) HI(m - DWT_V);                                                          \
        }                                                                                      \
        i = m;                                                                                 \
    }

#define ZIP53_AT(i, lo, hi)                                                            \
    do {                                                                               \
        VI a = *(const VI *)(P + (i)), b = *(const VI *)(P + (i) + 1);                 \
        VI h = (VI)((VU) * (const VI *)(H + (i)) + (VU)((VI)((VU)a + (VU)b) >> 1));    \
        *(VI *)(out + 2 * (i)) = __builtin_shufflevector(lo, hi, DWT_ZIP_LO);          \
        *(VI *)(out + 2 * (i) + DWT_V) = __builtin_shufflevector(lo, hi, DWT_ZIP_HI);  \
    } while (0)
#define ZIP53_LO(i) ZIP53_AT(i, a, h)
#define ZIP53_HI(i) ZIP53_AT(i, h, b)
DWT_ATTR void DWT_FN(zip53)(int32_t *out, const int32_t *P, const int32_t *H, uint32_t n,
                            uint32_t cas)
{
    ZIP_VECTORS(ZIP53_LO, ZIP53_HI)
    for (; i < m; i++) {
        out[2 * i + cas] = P[i + cas];
        out[2 * i + 1 - cas] = j2k_wadd(H[i], j2k_wadd(P[i], P[i + 1]) >> 1);
    }
    if (n & 1) out[n - 1] = cas ? j2k_wadd(H[i], j2k_wadd(P[i], P[i + 1]) >> 1) : P[i];
}
#undef ZIP53_AT
#undef ZIP53_LO
#undef ZIP53_HI

/* 9-7, F.3.8.2: X -= cf * (A + A'), the operations in the order of the scalar code */
DWT_ATTR void DWT_FN(step97)(float *X, const float *A, size_t off, size_t total, float cf)
{
#define STEP97_AT(j)                                                       \
    do {                                                                   \
        VF s_ = *(const VF *)(A + (j)) + *(const VF *)(A + (j) + off);     \
        *(VF *)(X + (j)) = *(VF *)(X + (j)) - cfv * s_;                    \
    } while (0)
    const VF cfv = SPLAT(cf);
    size_t j = 0;
    for (; j + DWT_V < total; j += 2 * DWT_V) {
        STEP97_AT(j);
        STEP97_AT(j + DWT_V);
    }
    if (j < total) STEP97_AT(j);
#undef STEP97_AT
}

/* 9-7, the first step with the scaling of its X: X[j] = S[j] * m - cf * (A[j] + A[j + 1]) for
 * j < n (the vectors as in lo53s) */
#define SSTEP97_AT(j)                                                                       \
    do {                                                                                    \
        VF s_ = *(const VF *)(A + (j)) + *(const VF *)(A + (j) + 1);                        \
        *(VF *)(X + (j)) = *(const VF *)(S + (j)) * mv - cfv * s_;                          \
    } while (0)
DWT_ATTR void DWT_FN(sstep97)(float *X, const float *S, const float *A, size_t n, size_t nread,
                              float m, float cf)
{
    const VF mv = SPLAT(m), cfv = SPLAT(cf);
    FIRST_STEP_VECTORS(SSTEP97_AT)
    for (; j < n; j++) X[j] = j2k_fmul_sub_mul_sum(S[j], m, cf, A[j], A[j + 1]);
}
#undef SSTEP97_AT
#undef FIRST_STEP_VECTORS

/* 9-7, the last step and the interleave, as zip53 with h[i] = H[i] - cf * (P[i] + P[i + 1]) */
#define ZIP97_AT(i, lo, hi)                                                            \
    do {                                                                               \
        VF a = *(const VF *)(P + (i)), b = *(const VF *)(P + (i) + 1);                 \
        VF h = *(const VF *)(H + (i)) - cfv * (a + b);                                 \
        *(VF *)(out + 2 * (i)) = __builtin_shufflevector(lo, hi, DWT_ZIP_LO);          \
        *(VF *)(out + 2 * (i) + DWT_V) = __builtin_shufflevector(lo, hi, DWT_ZIP_HI);  \
    } while (0)
#define ZIP97_LO(i) ZIP97_AT(i, a, h)
#define ZIP97_HI(i) ZIP97_AT(i, h, b)
DWT_ATTR void DWT_FN(zip97)(float *out, const float *P, const float *H, uint32_t n, uint32_t cas,
                            float cf)
{
    const VF cfv = SPLAT(cf);
    ZIP_VECTORS(ZIP97_LO, ZIP97_HI)
    for (; i < m; i++) {
        out[2 * i + cas] = P[i + cas];
        out[2 * i + 1 - cas] = j2k_fsub_mul_sum(H[i], cf, P[i], P[i + 1]);
    }
    if (n & 1) out[n - 1] = cas ? j2k_fsub_mul_sum(H[i], cf, P[i], P[i + 1]) : P[i];
}
#undef ZIP97_AT
#undef ZIP_VECTORS
#undef ZIP97_LO
#undef ZIP97_HI

/* dst[i] = src[i] * m for i < n (exactly n: src may end where its buffer ends) */
DWT_ATTR void DWT_FN(copy_scale)(float *dst, const float *src, size_t n, float m)
{
#define COPY_SCALE_AT(i) (*(VF *)(dst + (i)) = *(const VF *)(src + (i)) * mv)
    const VF mv = SPLAT(m);
    size_t i = 0;
    DWT_VECTORS(i, n, COPY_SCALE_AT);
    for (; i < n; i++) dst[i] = src[i] * m;
#undef COPY_SCALE_AT
}

/* dst[i] = src[i] for i < n (exactly n: src may end where its buffer ends; dst and src do not
 * overlap), in whole vectors, the last one overlapping the one before. */
DWT_ATTR void DWT_FN(copy32)(int32_t *dst, const int32_t *src, size_t n)
{
#define COPY32_AT(i) (*(VI *)(dst + (i)) = *(const VI *)(src + (i)))
    size_t i = 0;
    for (; i + 4 * DWT_V <= n; i += 4 * DWT_V) {
        COPY32_AT(i);
        COPY32_AT(i + DWT_V);
        COPY32_AT(i + 2 * DWT_V);
        COPY32_AT(i + 3 * DWT_V);
    }
    DWT_VECTORS(i, n, COPY32_AT);
    if (i == n) return;
    if (n >= DWT_V) {
        COPY32_AT(n - DWT_V);
        return;
    }
    for (; i < n; i++) dst[i] = src[i];
#undef COPY32_AT
}

/* The same steps on whole rows of the tile-component (VER_SR, SIMD across the row): X, A and
 * B are rows of n samples, and exactly n are read and written (the rows' neighbours belong to
 * other bands or other threads), so the last partial vector is done one sample at a time with
 * the operations of the vector code. */
#define LO53R_AT(j)                                                                    \
    do {                                                                               \
        VU s_ = (VU) * (const VI *)(A + (j)) + (VU) * (const VI *)(B + (j)) + 2;       \
        *(VI *)(X + (j)) = (VI)((VU) * (VI *)(X + (j)) - (VU)((VI)s_ >> 2));           \
    } while (0)
DWT_ATTR void DWT_FN(lo53r)(int32_t *X, const int32_t *A, const int32_t *B, size_t n)
{
    size_t j = 0;
    DWT_VECTORS(j, n, LO53R_AT);
    for (; j < n; j++) X[j] = j2k_wsub(X[j], j2k_wadd(j2k_wadd(A[j], B[j]), 2) >> 2);
}
#undef LO53R_AT

#define HI53R_AT(j)                                                                    \
    do {                                                                               \
        VU s_ = (VU) * (const VI *)(A + (j)) + (VU) * (const VI *)(B + (j));           \
        *(VI *)(X + (j)) = (VI)((VU) * (VI *)(X + (j)) + (VU)((VI)s_ >> 1));           \
    } while (0)
DWT_ATTR void DWT_FN(hi53r)(int32_t *X, const int32_t *A, const int32_t *B, size_t n)
{
    size_t j = 0;
    DWT_VECTORS(j, n, HI53R_AT);
    for (; j < n; j++) X[j] = j2k_wadd(X[j], j2k_wadd(A[j], B[j]) >> 1);
}
#undef HI53R_AT

#define STEP97R_AT(j)                                                      \
    do {                                                                   \
        VF s_ = *(const VF *)(A + (j)) + *(const VF *)(B + (j));           \
        *(VF *)(X + (j)) = *(VF *)(X + (j)) - cfv * s_;                    \
    } while (0)
DWT_ATTR void DWT_FN(step97r)(float *X, const float *A, const float *B, size_t n, float cf)
{
    const VF cfv = SPLAT(cf);
    size_t j = 0;
    DWT_VECTORS(j, n, STEP97R_AT);
    for (; j < n; j++) X[j] = j2k_fsub_mul_sum(X[j], cf, A[j], B[j]);
}
#undef STEP97R_AT

#define SCALE97R_AT(j) (*(VF *)(X + (j)) = *(VF *)(X + (j)) * mv)
DWT_ATTR void DWT_FN(scale97r)(float *X, size_t n, float m)
{
    const VF mv = SPLAT(m);
    size_t j = 0;
    DWT_VECTORS(j, n, SCALE97R_AT);
    for (; j < n; j++) X[j] = X[j] * m;
}
#undef SCALE97R_AT

/* One step t of the 9-7 VER_SR sweep (dwt.c ver_lift97) away from the edges, its six row
 * operations fused column by column with the values kept in registers.  r = L(t), H(t), then
 * the rows the four lifting steps update in turn, P0..P3 = L(t - cas), H(t - 1),
 * L(t - 1 - cas), H(t - 2), then E = L(t - 2 - cas):
 *   L(t) *= kl, H(t) *= kh,
 *   P0 -= c0 (P1 + H(t)), P1 -= c1 (P2 + P0), P2 -= c2 (P3 + P1), P3 -= c3 (E + P2),
 * each step reading the rows before the next step writes them and after the one before did,
 * as six passes over the rows one after the other would: the same operations in the same
 * order for every column, so the same bits, with 6-7 loads and 5-6 stores a vector instead of
 * 18 and 6.  With cas 0, P0 is L(t) itself (scaled, then lifted). */
#define VER97T_AT(j, cas0)                                                             \
    do {                                                                               \
        VF ht_ = *(VF *)(Ht + (j)) * khv, p0_ = *(VF *)(P0 + (j));                     \
        if (cas0) p0_ = p0_ * klv;                                                     \
        else *(VF *)(Lt + (j)) = *(VF *)(Lt + (j)) * klv;                              \
        VF p1_ = *(VF *)(P1 + (j)), p2_ = *(VF *)(P2 + (j)), p3_ = *(VF *)(P3 + (j));  \
        p0_ = p0_ - c0 * (p1_ + ht_);                                                  \
        p1_ = p1_ - c1 * (p2_ + p0_);                                                  \
        p2_ = p2_ - c2 * (p3_ + p1_);                                                  \
        p3_ = p3_ - c3 * (*(const VF *)(E + (j)) + p2_);                               \
        *(VF *)(Ht + (j)) = ht_, *(VF *)(P0 + (j)) = p0_, *(VF *)(P1 + (j)) = p1_;     \
        *(VF *)(P2 + (j)) = p2_, *(VF *)(P3 + (j)) = p3_;                              \
    } while (0)
DWT_ATTR void DWT_FN(ver97t)(float *const r[7], float kl, float kh, const float cf[4], size_t n,
                             uint32_t cas)
{
    /* (the pointers in locals: the stores, which may alias anything, cannot change them) */
    float *Lt = r[0], *Ht = r[1], *P0 = r[2], *P1 = r[3], *P2 = r[4], *P3 = r[5];
    const float *E = r[6];
    const VF klv = SPLAT(kl), khv = SPLAT(kh);
    const VF c0 = SPLAT(cf[0]), c1 = SPLAT(cf[1]), c2 = SPLAT(cf[2]), c3 = SPLAT(cf[3]);
    size_t j = 0;
    if (!cas)
        for (; j + DWT_V <= n; j += DWT_V) VER97T_AT(j, 1);
    else
        for (; j + DWT_V <= n; j += DWT_V) VER97T_AT(j, 0);
    for (; j < n; j++) {
        float ht = Ht[j] * kh, p0 = P0[j];
        if (!cas) p0 = p0 * kl;
        else Lt[j] = Lt[j] * kl;
        float p1 = P1[j], p2 = P2[j], p3 = P3[j];
        p0 = j2k_fsub_mul_sum(p0, cf[0], p1, ht);
        p1 = j2k_fsub_mul_sum(p1, cf[1], p2, p0);
        p2 = j2k_fsub_mul_sum(p2, cf[2], p3, p1);
        p3 = j2k_fsub_mul_sum(p3, cf[3], E[j], p2);
        Ht[j] = ht, P0[j] = p0, P1[j] = p1, P2[j] = p2, P3[j] = p3;
    }
}
#undef VER97T_AT

#undef DWT_VECTORS
#undef VI
#undef VU
#undef VF
#undef SPLAT
