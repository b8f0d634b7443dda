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
#include <pthread.h>
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

/* Columns per vertical strip: rows of STRIP samples are lifted as vectors. */
#define STRIP 32

/* 1D_SR on interleaved data in place (F.3.6-F.3.8): n rows of `w` samples `stride` apart;
 * rows of parity cas are low-pass.  Symmetric extension: X(-1) = X(1), X(n) = X(n-2). */
static void lift53(int32_t *X, size_t stride, uint32_t w, uint32_t n, uint32_t cas)
{
    if (n == 1) {
        if (cas)
            for (uint32_t k = 0; k < w; k++) X[k] /= 2;
        return;
    }
    for (uint32_t i = cas; i < n; i += 2) {
        int32_t *x = X + i * stride;
        const int32_t *l = X + (i ? i - 1 : 1) * stride, *r = X + (i + 1 < n ? i + 1 : i - 1) * stride;
        for (uint32_t k = 0; k < w; k++) x[k] -= (l[k] + r[k] + 2) >> 2;
    }
    for (uint32_t i = 1 - cas; i < n; i += 2) {
        int32_t *x = X + i * stride;
        const int32_t *l = X + (i ? i - 1 : 1) * stride, *r = X + (i + 1 < n ? i + 1 : i - 1) * stride;
        for (uint32_t k = 0; k < w; k++) x[k] += (l[k] + r[k]) >> 1;
    }
}

static void lift97(float *X, size_t stride, uint32_t w, uint32_t n, uint32_t cas)
{
    if (n == 1) return; /* a lone sample passes through (OpenJPEG: no scaling either) */
    for (uint32_t i = 0; i < n; i++) {
        float *x = X + i * stride, m = ((i & 1) == cas) ? KAPPA : TWO_INV_K;
        for (uint32_t k = 0; k < w; k++) x[k] *= m;
    }
    static const float coef[4] = {DELTA, GAMMA, BETA, ALPHA};
    for (uint32_t s = 0; s < 4; s++) {
        float cf = coef[s];
        for (uint32_t i = (s & 1) ? 1 - cas : cas; i < n; i += 2) {
            float *x = X + i * stride;
            const float *l = X + (i ? i - 1 : 1) * stride, *r = X + (i + 1 < n ? i + 1 : i - 1) * stride;
            for (uint32_t k = 0; k < w; k++) x[k] -= cf * (l[k] + r[k]);
        }
    }
}

/* Horizontal lifting on the de-interleaved line: L[0..sn) (low, at parity cas) and H[0..dn)
 * stay apart until the end, so each step is a contiguous loop the compiler vectorises.  The
 * neighbours of L[i] are H[i - 1 + cas] and H[i + cas], those of H[i] are L[i - cas] and
 * L[i + 1 - cas], clamped to the arrays: the symmetric extension of F.3.7.  OP(x, a, b)
 * updates x from its neighbours a and b. */
#define LIFT_LO(L, sn, H, dn, cas, OP)                                                         \
    do {                                                                                       \
        uint32_t i_ = 0;                                                                       \
        if (!(cas)) {                                                                          \
            OP(L[0], H[0], H[0]);                                                              \
            for (i_ = 1; i_ < (sn) && i_ < (dn); i_++) OP(L[i_], H[i_ - 1], H[i_]);            \
            for (; i_ < (sn); i_++) OP(L[i_], H[i_ - 1], H[(dn) - 1]);                         \
        } else {                                                                               \
            for (; i_ + 1 < (dn) && i_ < (sn); i_++) OP(L[i_], H[i_], H[i_ + 1]);              \
            for (; i_ < (sn); i_++) OP(L[i_], H[i_ < (dn) ? i_ : (dn) - 1], H[(dn) - 1]);      \
        }                                                                                      \
    } while (0)

#define LIFT_HI(H, dn, L, sn, cas, OP)                                                         \
    do {                                                                                       \
        uint32_t i_ = 0;                                                                       \
        if (!(cas)) {                                                                          \
            for (; i_ + 1 < (sn) && i_ < (dn); i_++) OP(H[i_], L[i_], L[i_ + 1]);              \
            for (; i_ < (dn); i_++) OP(H[i_], L[i_ < (sn) ? i_ : (sn) - 1], L[(sn) - 1]);      \
        } else {                                                                               \
            OP(H[0], L[0], L[0]);                                                              \
            for (i_ = 1; i_ < (dn) && i_ < (sn); i_++) OP(H[i_], L[i_ - 1], L[i_]);            \
            for (; i_ < (dn); i_++) OP(H[i_], L[i_ - 1], L[(sn) - 1]);                         \
        }                                                                                      \
    } while (0)

#define OP53_LO(x, a, b) ((x) -= ((a) + (b) + 2) >> 2)
#define OP53_HI(x, a, b) ((x) += ((a) + (b)) >> 1)
#define OP97(x, a, b) ((x) -= cf * ((a) + (b)))

/* Horizontal 1D_SR of one row (n >= 2 samples: L = row[0..sn), H = row[sn..n)). */
static void hor53(int32_t *row, int32_t *t, uint32_t n, uint32_t sn, uint32_t cas)
{
    uint32_t dn = n - sn;
    if (n == 1) {
        if (cas) row[0] /= 2;
        return;
    }
    int32_t *L = row, *H = row + sn;
    LIFT_LO(L, sn, H, dn, cas, OP53_LO);
    LIFT_HI(H, dn, L, sn, cas, OP53_HI);
    for (uint32_t i = 0; i < sn; i++) t[2 * i + cas] = L[i];
    for (uint32_t i = 0; i < dn; i++) t[2 * i + 1 - cas] = H[i];
    memcpy(row, t, n * sizeof *row);
}

static void hor97(float *row, float *t, uint32_t n, uint32_t sn, uint32_t cas)
{
    uint32_t dn = n - sn;
    if (n == 1) return;
    float *L = row, *H = row + sn, cf;
    for (uint32_t i = 0; i < sn; i++) L[i] *= KAPPA;
    for (uint32_t i = 0; i < dn; i++) H[i] *= TWO_INV_K;
    cf = DELTA;
    LIFT_LO(L, sn, H, dn, cas, OP97);
    cf = GAMMA;
    LIFT_HI(H, dn, L, sn, cas, OP97);
    cf = BETA;
    LIFT_LO(L, sn, H, dn, cas, OP97);
    cf = ALPHA;
    LIFT_HI(H, dn, L, sn, cas, OP97);
    for (uint32_t i = 0; i < sn; i++) t[2 * i + cas] = L[i];
    for (uint32_t i = 0; i < dn; i++) t[2 * i + 1 - cas] = H[i];
    memcpy(row, t, n * sizeof *row);
}

typedef struct dwt_job {
    j2k_tilecomp *tc;
    uint32_t r;           /* resolution level being synthesised */
    int vertical;         /* 0: rows, 1: column strips */
    uint32_t part, parts; /* this worker's share */
    float *tmp;           /* maxn * STRIP samples */
} dwt_job;

static void *dwt_level(void *arg)
{
    dwt_job *j = arg;
    j2k_tilecomp *tc = j->tc;
    int rev = tc->tccp->reversible;
    size_t stride = tc->w;
    const j2k_res *rs = &tc->res[j->r], *lr = &tc->res[j->r - 1];
    uint32_t rw = (uint32_t)(rs->x1 - rs->x0), rh = (uint32_t)(rs->y1 - rs->y0);
    uint32_t snx = (uint32_t)(lr->x1 - lr->x0), sny = (uint32_t)(lr->y1 - lr->y0);
    uint32_t casx = (uint32_t)rs->x0 & 1, casy = (uint32_t)rs->y0 & 1;
    float *tmp = j->tmp;
    int32_t *itmp = (int32_t *)(void *)tmp;
    if (!j->vertical) {
        uint32_t y0 = (uint32_t)((uint64_t)rh * j->part / j->parts);
        uint32_t y1 = (uint32_t)((uint64_t)rh * (j->part + 1) / j->parts);
        for (uint32_t y = y0; y < y1; y++) {
            if (rev) hor53((int32_t *)tc->data + y * stride, itmp, rw, snx, casx);
            else hor97((float *)tc->data + y * stride, tmp, rw, snx, casx);
        }
        return NULL;
    }
    uint32_t nstrips = (rw + STRIP - 1) / STRIP;
    uint32_t s0 = (uint32_t)((uint64_t)nstrips * j->part / j->parts);
    uint32_t s1 = (uint32_t)((uint64_t)nstrips * (j->part + 1) / j->parts);
    for (uint32_t st = s0; st < s1; st++) {
        uint32_t x0 = st * STRIP, bw = rw - x0 < STRIP ? rw - x0 : STRIP;
        size_t bytes = bw * sizeof(float);
        if (rev) {
            int32_t *d = (int32_t *)tc->data + x0;
            for (uint32_t i = 0; i < sny; i++) memcpy(itmp + (2 * i + casy) * STRIP, d + i * stride, bytes);
            for (uint32_t i = 0; i < rh - sny; i++) memcpy(itmp + (2 * i + 1 - casy) * STRIP, d + (sny + i) * stride, bytes);
            lift53(itmp, STRIP, bw, rh, casy);
            for (uint32_t y = 0; y < rh; y++) memcpy(d + y * stride, itmp + y * STRIP, bytes);
        } else {
            float *d = (float *)tc->data + x0;
            for (uint32_t i = 0; i < sny; i++) memcpy(tmp + (2 * i + casy) * STRIP, d + i * stride, bytes);
            for (uint32_t i = 0; i < rh - sny; i++) memcpy(tmp + (2 * i + 1 - casy) * STRIP, d + (sny + i) * stride, bytes);
            lift97(tmp, STRIP, bw, rh, casy);
            for (uint32_t y = 0; y < rh; y++) memcpy(d + y * stride, tmp + y * STRIP, bytes);
        }
    }
    return NULL;
}

int j2k_dwt_decode(j2k_tilecomp *tc, uint32_t threads)
{
    if (tc->dres <= 1) return TD_OK;
    uint32_t maxn = tc->w > tc->h ? tc->w : tc->h;
    size_t per = (size_t)maxn * STRIP + 16;
    if (threads < 1) threads = 1;
    if (threads > 16) threads = 16;
    /* below ~64K samples a thread costs more than it saves */
    if ((size_t)tc->w * tc->h < ((size_t)threads << 16)) threads = (uint32_t)((size_t)tc->w * tc->h >> 16) + 1;
    float *tmp = malloc(per * threads * sizeof *tmp);
    if (!tmp) return TD_E_NOMEM;
    dwt_job jobs[16];
    pthread_t th[16];
    for (uint32_t r = 1; r < tc->dres; r++) {
        const j2k_res *rs = &tc->res[r];
        if (rs->x1 == rs->x0 || rs->y1 == rs->y0) continue;
        for (int vertical = 0; vertical < 2; vertical++) {
            uint32_t started = 0;
            for (uint32_t i = 0; i < threads; i++)
                jobs[i] = (dwt_job){tc, r, vertical, i, threads, tmp + i * per};
            for (uint32_t i = 1; i < threads; i++) {
                if (pthread_create(&th[i], NULL, dwt_level, &jobs[i]) != 0) break;
                started = i;
            }
            for (uint32_t i = started + 1; i < threads; i++) dwt_level(&jobs[i]);
            dwt_level(&jobs[0]);
            for (uint32_t i = 1; i <= started; i++) pthread_join(th[i], NULL);
        }
    }
    free(tmp);
    return TD_OK;
}
