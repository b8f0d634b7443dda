/*
 * dwt.c - inverse discrete wavelet transform (T.800 Annex F).
 *
 * 2D_SR (F.3.2) per resolution level: each row (HOR_SR), then each column (VER_SR), through
 * 1D_SR (F.3.6) on an interleaved copy.  5-3 reversible: integer lifting of F.3.8.1, exact.
 * 9-7 irreversible: float lifting of F.3.8.2 with the standard's constants; the high-pass
 * band is scaled by about 2/K instead of 1/K because the band's step size carries no gain (as
 * OpenJPEG does, so results agree with it).  Symmetric extension (F.3.7)
 * is index clamping, which equals it for the one-sample reach of each lifting step.
 */
#include <stdlib.h>
#include <string.h>

#include "j2k_internal.h"

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

static inline uint32_t cl(int64_t i, uint32_t n) { return i < 0 ? 0 : i >= (int64_t)n ? n - 1 : (uint32_t)i; }

/* One line: in = L[0..sn) then H[0..dn); out interleaved (cas: the first sample is odd). */
static void idwt53_1d(const int32_t *in, int32_t *out, uint32_t sn, uint32_t dn, uint32_t cas)
{
    const int32_t *L = in, *H = in + sn;
    if (!cas) {
        if (dn == 0) { if (sn) out[0] = L[0]; return; }
        for (uint32_t i = 0; i < sn; i++)
            out[2 * i] = L[i] - ((H[cl((int64_t)i - 1, dn)] + H[cl(i, dn)] + 2) >> 2);
        for (uint32_t i = 0; i < dn; i++)
            out[2 * i + 1] = H[i] + ((out[2 * cl(i, sn)] + out[2 * cl((int64_t)i + 1, sn)]) >> 1);
    } else {
        if (sn == 0) { if (dn) out[0] = H[0] / 2; return; }
        for (uint32_t i = 0; i < sn; i++)
            out[2 * i + 1] = L[i] - ((H[cl(i, dn)] + H[cl((int64_t)i + 1, dn)] + 2) >> 2);
        for (uint32_t i = 0; i < dn; i++)
            out[2 * i] = H[i] + ((out[2 * cl((int64_t)i - 1, sn) + 1] + out[2 * cl(i, sn) + 1]) >> 1);
    }
}

static void idwt97_1d(const float *in, float *out, uint32_t sn, uint32_t dn, uint32_t cas)
{
    uint32_t n = sn + dn;
    if (n == 0) return;
    if (!cas) {
        if (dn == 0) { out[0] = in[0]; return; }
        for (uint32_t i = 0; i < sn; i++) out[2 * i] = in[i] * KAPPA;
        for (uint32_t i = 0; i < dn; i++) out[2 * i + 1] = in[sn + i] * TWO_INV_K;
    } else {
        if (sn == 0) { out[0] = in[0]; return; }
        for (uint32_t i = 0; i < sn; i++) out[2 * i + 1] = in[i] * KAPPA;
        for (uint32_t i = 0; i < dn; i++) out[2 * i] = in[sn + i] * TWO_INV_K;
    }
    /* lifting on the interleaved line: even-local positions are low when !cas */
    uint32_t lo = cas, hi = 1 - cas; /* parity of low / high samples in out */
    const float c[4] = {DELTA, GAMMA, BETA, ALPHA};
    for (int s = 0; s < 4; s++) {
        uint32_t par = (s & 1) ? hi : lo; /* steps 3,5 update low, 4,6 update high */
        for (uint32_t i = par; i < n; i += 2) {
            float a = out[i == 0 ? 1 : i - 1];
            float b = out[i + 1 < n ? i + 1 : i - 1];
            out[i] -= c[s] * (a + b);
        }
    }
}

int j2k_dwt_decode(j2k_tilecomp *tc)
{
    if (tc->dres <= 1) return TD_OK;
    int rev = tc->tccp->reversible;
    size_t stride = tc->w;
    uint32_t maxn = tc->w > tc->h ? tc->w : tc->h;
    size_t esz = 4;
    uint8_t *tmp = malloc(2 * (size_t)maxn * esz + 16);
    if (!tmp) return TD_E_NOMEM;
    void *a = tmp, *b = tmp + (size_t)maxn * esz;
    for (uint32_t r = 1; r < tc->dres; r++) {
        const j2k_res *rs = &tc->res[r], *lr = &tc->res[r - 1];
        uint32_t rw = (uint32_t)(rs->x1 - rs->x0), rh = (uint32_t)(rs->y1 - rs->y0);
        uint32_t snx = (uint32_t)(lr->x1 - lr->x0), sny = (uint32_t)(lr->y1 - lr->y0);
        uint32_t casx = (uint32_t)rs->x0 & 1, casy = (uint32_t)rs->y0 & 1;
        if (rw == 0 || rh == 0) continue;
        if (rev) {
            int32_t *d = tc->data;
            for (uint32_t y = 0; y < rh; y++) {
                int32_t *row = d + y * stride;
                memcpy(a, row, rw * sizeof *row);
                idwt53_1d(a, b, snx, rw - snx, casx);
                memcpy(row, b, rw * sizeof *row);
            }
            for (uint32_t x = 0; x < rw; x++) {
                int32_t *ia = a, *ib = b;
                for (uint32_t y = 0; y < rh; y++) ia[y] = d[y * stride + x];
                idwt53_1d(ia, ib, sny, rh - sny, casy);
                for (uint32_t y = 0; y < rh; y++) d[y * stride + x] = ib[y];
            }
        } else {
            float *d = tc->data;
            for (uint32_t y = 0; y < rh; y++) {
                float *row = d + y * stride;
                memcpy(a, row, rw * sizeof *row);
                idwt97_1d(a, b, snx, rw - snx, casx);
                memcpy(row, b, rw * sizeof *row);
            }
            for (uint32_t x = 0; x < rw; x++) {
                float *ia = a, *ib = b;
                for (uint32_t y = 0; y < rh; y++) ia[y] = d[y * stride + x];
                idwt97_1d(ia, ib, sny, rh - sny, casy);
                for (uint32_t y = 0; y < rh; y++) d[y * stride + x] = ib[y];
            }
        }
    }
    free(tmp);
    return TD_OK;
}
