/*
 * dwt_lift.h - the lifting kernels of dwt.c for one vector width, included by dwt.c once per
 * instruction set (GCC / Clang vector extensions).  The includer defines
 *   DWT_V          lanes of 32 bits per vector (4: SSE2 / NEON, 8: AVX2)
 *   DWT_ATTR       the functions' attributes (static, the target)
 *   DWT_FN(name)   the name with the instruction set's suffix
 *   DWT_ZIP_LO / DWT_ZIP_HI   __builtin_shufflevector indices interleaving two vectors' first /
 *                  second halves
 *
 * Every step works on flat arrays: X[j] op= f(A[j], A[j + off]) for j in [0, total), a whole
 * vector at a time, on a row copied out of the tile-component (the elements are samples,
 * off = 1).  The last vector may run past `total`: the caller's buffers have DWT_V elements of
 * slack after each array.
 */

typedef int32_t DWT_FN(vi) __attribute__((vector_size(4 * DWT_V), aligned(4), may_alias));
typedef uint32_t DWT_FN(vu) __attribute__((vector_size(4 * DWT_V), aligned(4), may_alias));
typedef float DWT_FN(vf) __attribute__((vector_size(4 * DWT_V), aligned(4), may_alias));
#define VI DWT_FN(vi)
#define VU DWT_FN(vu)
#define VF DWT_FN(vf)

/* 5-3, F.3.8.1 (F-5): X -= (A + A' + 2) >> 2, wrapping (see j2k_wadd) */
DWT_ATTR void DWT_FN(lo53)(int32_t *X, const int32_t *A, size_t off, size_t total)
{
    for (size_t j = 0; j < total; j += DWT_V) {
        VU s = (VU) * (const VI *)(A + j) + (VU) * (const VI *)(A + j + off) + 2;
        *(VI *)(X + j) = (VI)((VU) * (VI *)(X + j) - (VU)((VI)s >> 2));
    }
}

/* 5-3 (F-6): X += (A + A') >> 1 */
DWT_ATTR void DWT_FN(hi53)(int32_t *X, const int32_t *A, size_t off, size_t total)
{
    for (size_t j = 0; j < total; j += DWT_V) {
        VU s = (VU) * (const VI *)(A + j) + (VU) * (const VI *)(A + j + off);
        *(VI *)(X + j) = (VI)((VU) * (VI *)(X + j) + (VU)((VI)s >> 1));
    }
}

/* 9-7, F.3.8.2: X -= cf * (A + A'), the operations in the order of the scalar code */
DWT_ATTR void DWT_FN(step97)(float *X, const float *A, size_t off, size_t total, float cf)
{
    for (size_t j = 0; j < total; j += DWT_V) {
        VF s = *(const VF *)(A + j) + *(const VF *)(A + j + off);
        *(VF *)(X + j) = *(VF *)(X + j) - cf * s;
    }
}

DWT_ATTR void DWT_FN(scale97)(float *X, size_t total, float m)
{
    for (size_t j = 0; j < total; j += DWT_V) *(VF *)(X + j) = *(VF *)(X + j) * m;
}

/* dst[i] = src[i] * m for i < n (exactly n: src may end where its buffer ends) */
DWT_ATTR void DWT_FN(copy_scale)(float *dst, const float *src, size_t n, float m)
{
    size_t i = 0;
    for (; i + DWT_V <= n; i += DWT_V) *(VF *)(dst + i) = *(const VF *)(src + i) * m;
    for (; i < n; i++) dst[i] = src[i] * m;
}

/* The same steps on whole rows of the tile-component (VER_SR, SIMD across the row): X, A and
 * B are rows of n samples, and exactly n are read and written (the rows' neighbours belong to
 * other bands or other threads), so the last partial vector is done one sample at a time with
 * the operations of the vector code. */
DWT_ATTR void DWT_FN(lo53r)(int32_t *X, const int32_t *A, const int32_t *B, size_t n)
{
    size_t j = 0;
    for (; j + DWT_V <= n; j += DWT_V) {
        VU s = (VU) * (const VI *)(A + j) + (VU) * (const VI *)(B + j) + 2;
        *(VI *)(X + j) = (VI)((VU) * (VI *)(X + j) - (VU)((VI)s >> 2));
    }
    for (; j < n; j++) X[j] = j2k_wsub(X[j], j2k_wadd(j2k_wadd(A[j], B[j]), 2) >> 2);
}

DWT_ATTR void DWT_FN(hi53r)(int32_t *X, const int32_t *A, const int32_t *B, size_t n)
{
    size_t j = 0;
    for (; j + DWT_V <= n; j += DWT_V) {
        VU s = (VU) * (const VI *)(A + j) + (VU) * (const VI *)(B + j);
        *(VI *)(X + j) = (VI)((VU) * (VI *)(X + j) + (VU)((VI)s >> 1));
    }
    for (; j < n; j++) X[j] = j2k_wadd(X[j], j2k_wadd(A[j], B[j]) >> 1);
}

DWT_ATTR void DWT_FN(step97r)(float *X, const float *A, const float *B, size_t n, float cf)
{
    size_t j = 0;
    for (; j + DWT_V <= n; j += DWT_V) {
        VF s = *(const VF *)(A + j) + *(const VF *)(B + j);
        *(VF *)(X + j) = *(VF *)(X + j) - cf * s;
    }
    for (; j < n; j++) X[j] = X[j] - cf * (A[j] + B[j]);
}

DWT_ATTR void DWT_FN(scale97r)(float *X, size_t n, float m)
{
    size_t j = 0;
    for (; j + DWT_V <= n; j += DWT_V) *(VF *)(X + j) = *(VF *)(X + j) * m;
    for (; j < n; j++) X[j] = X[j] * m;
}

/* out[2i] = first[i], out[2i + 1] = second[i] for 2i + 1 < n (and out[n - 1] = first[n / 2]
 * when n is odd); writes exactly n elements. */
DWT_ATTR void DWT_FN(zip)(int32_t *out, const int32_t *first, const int32_t *second, uint32_t n)
{
    size_t i = 0;
    for (; 2 * i + 2 * DWT_V <= n; i += DWT_V) {
        VI a = *(const VI *)(first + i), b = *(const VI *)(second + i);
        *(VI *)(out + 2 * i) = __builtin_shufflevector(a, b, DWT_ZIP_LO);
        *(VI *)(out + 2 * i + DWT_V) = __builtin_shufflevector(a, b, DWT_ZIP_HI);
    }
    for (; 2 * i + 1 < n; i++) {
        out[2 * i] = first[i];
        out[2 * i + 1] = second[i];
    }
    if (n & 1) out[n - 1] = first[n / 2];
}

#undef VI
#undef VU
#undef VF
