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
 * vector at a time.  Horizontally the elements are samples (off = 1); vertically they are rows
 * of a strip of STRIP columns (off = STRIP).  The last vector may run past `total`: the caller's
 * buffers have DWT_V elements of slack after each array (never past the tile-component).
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

/* n rows of STRIP samples from src (row stride ss) to dst (row stride ds) */
DWT_ATTR void DWT_FN(rows)(int32_t *dst, size_t ds, const int32_t *src, size_t ss, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++, dst += ds, src += ss)
        for (uint32_t k = 0; k < STRIP; k += DWT_V) *(VI *)(dst + k) = *(const VI *)(src + k);
}

/* the same, each sample times m */
DWT_ATTR void DWT_FN(rows_scale)(float *dst, size_t ds, const float *src, size_t ss, uint32_t n,
                                 float m)
{
    for (uint32_t i = 0; i < n; i++, dst += ds, src += ss)
        for (uint32_t k = 0; k < STRIP; k += DWT_V) *(VF *)(dst + k) = *(const VF *)(src + k) * m;
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
