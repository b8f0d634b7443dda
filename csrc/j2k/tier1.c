/*
 * tier1.c - the EBCOT code-block decoder (T.800 Annex D).
 *
 * Three coding passes per bit-plane in stripes of four rows (D.3): significance propagation
 * (D.3.1), magnitude refinement (D.3.3), cleanup with run-length mode (D.3.4); the sign
 * contexts of D.3.2.  Code-block styles: BYPASS (D.6 raw segments), RESET (D.7 contexts reset
 * after each pass), TERMALL (a segment per pass: the segments come from tier-2), VCAUSAL
 * (D.7 stripe-causal contexts), PTERM (nothing to do when decoding), SEGSYM (D.5 four
 * UNIFORM decisions after each cleanup pass, read and ignored).
 *
 * State: one 32-bit flag word per sample with a one-sample border, carrying the significance
 * and sign of the eight neighbours so a context is one table lookup.  Coefficients are written
 * as OpenJPEG writes them: two's complement, magnitude times 2 plus the half bit of the
 * reconstruction point r = 1/2 (D.7 and E.1.1.2), so reversible values are exact after a /2.
 */
#include <stdlib.h>
#include <string.h>

#include "j2k_internal.h"
#include "mq.h"
#include "tier1_tables.h"

#define F_SIG_N 0x0001u
#define F_SIG_S 0x0002u
#define F_SIG_W 0x0004u
#define F_SIG_E 0x0008u
#define F_SIG_NW 0x0010u
#define F_SIG_NE 0x0020u
#define F_SIG_SW 0x0040u
#define F_SIG_SE 0x0080u
#define F_SGN_N 0x0100u
#define F_SGN_S 0x0200u
#define F_SGN_W 0x0400u
#define F_SGN_E 0x0800u
#define F_SIG 0x1000u
#define F_PI 0x2000u
#define F_MU 0x4000u

#define CX_RL 17
#define CX_UNI 18

void j2k_t1_free(j2k_t1 *t1)
{
    free(t1->flags);
    free(t1->buf);
    free(t1->segs);
    memset(t1, 0, sizeof *t1);
}

/* Flag layout: stripe-major.  The four rows of a stripe column are four consecutive 16-bit
 * words (one 64-bit load tests a whole column); columns follow each other, with one border
 * column each side and one border stripe above and below.  Sample (x, y) is at
 * f[((y >> 2) * cw + x) * 4 + (y & 3)] from the origin s->f, cw = w + 2. */
typedef uint16_t flag_t;

typedef struct t1_state {
    flag_t *f;          /* origin: stripe 0, column 0, row 0 (inside the borders) */
    size_t cs;          /* flag words per stripe: (w + 2) * 4 */
    int32_t *out;
    size_t os;
    uint32_t w, h;
    const uint8_t *zc;  /* lut_zc[orient] */
    uint32_t vcausal;
    j2k_mq mq;
    j2k_raw raw;
} t1_state;

/* VCAUSAL (D.7): the last row of a stripe ignores the stripe below. */
#define VC_MASK ((uint32_t)~(F_SIG_S | F_SIG_SW | F_SIG_SE | F_SGN_S))

#define REP4(v) ((uint64_t)(v) * 0x0001000100010001ull)

static inline uint64_t col_load(const flag_t *f)
{
    uint64_t v;
    memcpy(&v, f, sizeof v);
    return v;
}

static inline void col_store(flag_t *f, uint64_t v) { memcpy(f, &v, sizeof v); }

/* Sample g (row k of its stripe column) became significant: tell its eight neighbours. */
static inline void set_sig(flag_t *g, uint32_t k, size_t cs, uint32_t neg)
{
    flag_t *up = k ? g - 1 : g - cs + 3, *dn = k < 3 ? g + 1 : g + cs - 3;
    g[0] = (flag_t)(g[0] | F_SIG);
    up[0] = (flag_t)(up[0] | F_SIG_S | (neg ? F_SGN_S : 0));
    dn[0] = (flag_t)(dn[0] | F_SIG_N | (neg ? F_SGN_N : 0));
    g[-4] = (flag_t)(g[-4] | F_SIG_E | (neg ? F_SGN_E : 0));
    g[4] = (flag_t)(g[4] | F_SIG_W | (neg ? F_SGN_W : 0));
    up[-4] = (flag_t)(up[-4] | F_SIG_SE);
    up[4] = (flag_t)(up[4] | F_SIG_SW);
    dn[-4] = (flag_t)(dn[-4] | F_SIG_NE);
    dn[4] = (flag_t)(dn[4] | F_SIG_NW);
}

#define MQ_LOAD(s) uint32_t a = (s)->mq.a, c = (s)->mq.c, ct = (s)->mq.ct; \
    const uint8_t *bp = (s)->mq.bp; uint8_t *cxs = (s)->mq.cx
#define MQ_SAVE(s) do { (s)->mq.a = a; (s)->mq.c = c; (s)->mq.ct = ct; (s)->mq.bp = bp; } while (0)
#define DEC(d, cxno) J2K_MQ_DECODE(d, &cxs[cxno], a, c, ct, bp)

/* D.3.1 significance propagation, MQ-coded. */
static void sigpass_mq(t1_state *s, int32_t bp_)
{
    int32_t oph = (int32_t)((1u << bp_) | ((1u << bp_) >> 1));
    const size_t cs = s->cs, os = s->os;
    const uint8_t *zc = s->zc;
    uint32_t mask3 = s->vcausal ? VC_MASK : ~0u;
    MQ_LOAD(s);
    for (uint32_t y0 = 0; y0 < s->h; y0 += 4) {
        uint32_t n = s->h - y0 < 4 ? s->h - y0 : 4;
        flag_t *fcol = s->f + (y0 >> 2) * cs;
        int32_t *ocol = s->out + y0 * os;
        for (uint32_t x = 0; x < s->w; x++) {
            flag_t *f = fcol + 4 * x;
            uint64_t v = col_load(f);
            if (!(v & REP4(0xFF)) || (v & REP4(F_SIG)) == REP4(F_SIG)) continue;
            for (uint32_t k = 0; k < n; k++) {
                flag_t *g = f + k;
                uint32_t fl = (uint32_t)*g & (k == 3 ? mask3 : ~0u);
                if ((fl & F_SIG) || !(fl & 0xFF)) continue;
                uint32_t bit;
                DEC(bit, zc[fl & 0xFF]);
                if (bit) {
                    uint32_t lut = lut_sc[(fl & 0xF) | ((fl >> 4) & 0xF0)], neg;
                    DEC(neg, lut & 0x1F);
                    neg ^= lut >> 7;
                    set_sig(g, k, cs, neg);
                    ocol[k * os + x] = neg ? -oph : oph;
                }
                *g = (flag_t)(*g | F_PI);
            }
        }
    }
    MQ_SAVE(s);
}

/* D.3.1 in a raw (bypass) segment, D.6. */
static void sigpass_raw(t1_state *s, int32_t bp_)
{
    int32_t oph = (int32_t)((1u << bp_) | ((1u << bp_) >> 1));
    const size_t cs = s->cs, os = s->os;
    uint32_t mask3 = s->vcausal ? VC_MASK : ~0u;
    for (uint32_t y0 = 0; y0 < s->h; y0 += 4) {
        uint32_t n = s->h - y0 < 4 ? s->h - y0 : 4;
        for (uint32_t x = 0; x < s->w; x++) {
            for (uint32_t k = 0; k < n; k++) {
                flag_t *g = s->f + (y0 >> 2) * cs + 4 * x + k;
                uint32_t fl = (uint32_t)*g & (k == 3 ? mask3 : ~0u);
                if ((fl & F_SIG) || !(fl & 0xFF)) continue;
                if (j2k_raw_decode(&s->raw)) {
                    uint32_t neg = j2k_raw_decode(&s->raw);
                    set_sig(g, k, cs, neg);
                    s->out[(y0 + k) * os + x] = neg ? -oph : oph;
                }
                *g = (flag_t)(*g | F_PI);
            }
        }
    }
}

/* D.3.3 magnitude refinement; raw: bypass segment. */
static void refpass(t1_state *s, int32_t bp_, int raw)
{
    int32_t half = (int32_t)((1u << bp_) >> 1);
    const size_t cs = s->cs, os = s->os;
    uint32_t mask3 = s->vcausal ? VC_MASK : ~0u;
    MQ_LOAD(s);
    for (uint32_t y0 = 0; y0 < s->h; y0 += 4) {
        uint32_t n = s->h - y0 < 4 ? s->h - y0 : 4;
        flag_t *fcol = s->f + (y0 >> 2) * cs;
        int32_t *ocol = s->out + y0 * os;
        for (uint32_t x = 0; x < s->w; x++) {
            flag_t *f = fcol + 4 * x;
            if (!(col_load(f) & REP4(F_SIG))) continue;
            for (uint32_t k = 0; k < n; k++) {
                flag_t *g = f + k;
                if ((*g & (F_SIG | F_PI)) != F_SIG) continue;
                uint32_t bit;
                if (raw) {
                    bit = j2k_raw_decode(&s->raw);
                } else {
                    uint32_t fl = (uint32_t)*g & (k == 3 ? mask3 : ~0u);
                    DEC(bit, (fl & F_MU) ? 16u : (fl & 0xFF) ? 15u : 14u);
                }
                int32_t *v = &ocol[k * os + x];
                int32_t t = bit ? half : -half;
                *v += *v < 0 ? -t : t;
                *g = (flag_t)(*g | F_MU);
            }
        }
    }
    MQ_SAVE(s);
}

/* D.3.4 cleanup with run-length coding. */
static void clnpass(t1_state *s, int32_t bp_)
{
    int32_t oph = (int32_t)((1u << bp_) | ((1u << bp_) >> 1));
    const size_t cs = s->cs, os = s->os;
    const uint8_t *zc = s->zc;
    uint32_t mask3 = s->vcausal ? VC_MASK : ~0u;
    /* run mode needs rows 0-3 insignificant, not coded, with insignificant neighbours */
    const flag_t rm = (flag_t)(F_SIG | F_PI | 0xFF);
    const flag_t rows[4] = {rm, rm, rm, (flag_t)(s->vcausal ? rm & ~(F_SIG_S | F_SIG_SW | F_SIG_SE) : rm)};
    uint64_t runmask = col_load(rows);
    MQ_LOAD(s);
    for (uint32_t y0 = 0; y0 < s->h; y0 += 4) {
        uint32_t n = s->h - y0 < 4 ? s->h - y0 : 4;
        flag_t *fcol = s->f + (y0 >> 2) * cs;
        int32_t *ocol = s->out + y0 * os;
        for (uint32_t x = 0; x < s->w; x++) {
            flag_t *f = fcol + 4 * x;
            uint64_t v = col_load(f);
            uint32_t k = 0;
            if (((v | (v >> 1)) & REP4(F_SIG)) == REP4(F_SIG)) { /* every row SIG or PI */
                col_store(f, v & ~REP4(F_PI));
                continue;
            }
            if (n == 4 && !(v & runmask)) {
                uint32_t bit;
                DEC(bit, CX_RL);
                if (!bit) continue;
                uint32_t r0, r1;
                DEC(r0, CX_UNI);
                DEC(r1, CX_UNI);
                k = (r0 << 1) | r1;
                flag_t *g = f + k;
                uint32_t fl = (uint32_t)*g & (k == 3 ? mask3 : ~0u);
                uint32_t lut = lut_sc[(fl & 0xF) | ((fl >> 4) & 0xF0)], neg;
                DEC(neg, lut & 0x1F);
                neg ^= lut >> 7;
                set_sig(g, k, cs, neg);
                ocol[k * os + x] = neg ? -oph : oph;
                k++;
            }
            for (; k < n; k++) {
                flag_t *g = f + k;
                uint32_t fl = (uint32_t)*g & (k == 3 ? mask3 : ~0u);
                *g = (flag_t)(*g & ~F_PI);
                if (fl & (F_SIG | F_PI)) continue;
                uint32_t bit;
                DEC(bit, zc[fl & 0xFF]);
                if (bit) {
                    uint32_t lut = lut_sc[(fl & 0xF) | ((fl >> 4) & 0xF0)], neg;
                    DEC(neg, lut & 0x1F);
                    neg ^= lut >> 7;
                    set_sig(g, k, cs, neg);
                    ocol[k * os + x] = neg ? -oph : oph;
                }
            }
        }
    }
    MQ_SAVE(s);
}

int j2k_t1_decode(j2k_t1 *t1, const j2k_block_job *job)
{
    t1_state s;
    s.w = job->w;
    s.h = job->h;
    s.os = job->w;
    s.out = t1->coef;
    if ((size_t)s.w * s.h > 4096) return TD_E_CORRUPT;
    memset(s.out, 0, (size_t)s.w * s.h * sizeof *s.out);
    int32_t bp = job->numbps + (int32_t)job->roishift;
    if (job->nsegs == 0 || bp <= 0) return TD_OK; /* P may exceed Mb under ROI */
    if (bp >= 31) return TD_E_UNSUPPORTED;
    s.cs = ((size_t)s.w + 2) * 4;
    size_t nf = s.cs * ((s.h + 3) / 4 + 2); /* flag words, border stripes included */
    if (nf > t1->flags_cap) {
        free(t1->flags);
        t1->flags = malloc(nf * sizeof(flag_t));
        if (!t1->flags) { t1->flags_cap = 0; return TD_E_NOMEM; }
        t1->flags_cap = nf;
    }
    memset(t1->flags, 0, nf * sizeof(flag_t));
    s.f = (flag_t *)t1->flags + s.cs + 4;
    s.zc = lut_zc[job->orient & 3];
    s.vcausal = job->style & J2K_CBLK_VCAUSAL;
    j2k_mq_reset(&s.mq);
    uint32_t passtype = 2;
    for (uint32_t sg = 0; sg < job->nsegs && bp >= 1; sg++) {
        const j2k_segment *seg = &job->segs[sg];
        const uint8_t *data = job->data + seg->offset;
        /* D.6: raw once four bit-planes are coded (counted from numbps, as OpenJPEG does, so
         * a ROI shift delays it) */
        int raw = (job->style & J2K_CBLK_BYPASS) && passtype < 2 && bp <= job->numbps - 4;
        if (raw) j2k_raw_init(&s.raw, data);
        else j2k_mq_init(&s.mq, data);
        for (uint32_t k = 0; k < seg->passes && bp >= 1; k++) {
            if (passtype == 0) {
                if (raw) sigpass_raw(&s, bp);
                else sigpass_mq(&s, bp);
            } else if (passtype == 1) {
                refpass(&s, bp, raw);
            }
            else {
                clnpass(&s, bp);
                if (job->style & J2K_CBLK_SEGSYM)
                    for (int i = 0; i < 4; i++) (void)j2k_mq_decode(&s.mq, CX_UNI);
            }
            if ((job->style & J2K_CBLK_RESET) && !raw) j2k_mq_reset(&s.mq);
            if (++passtype == 3) {
                passtype = 0;
                bp--;
            }
        }
    }
    if (job->roishift) {
        int32_t thresh = (int32_t)1 << job->roishift;
        for (uint32_t y = 0; y < s.h; y++)
            for (uint32_t x = 0; x < s.w; x++) {
                int32_t *v = &s.out[y * s.os + x];
                int32_t mag = *v < 0 ? -*v : *v;
                if (mag >= thresh) {
                    mag >>= job->roishift;
                    *v = *v < 0 ? -mag : mag;
                }
            }
    }
    return TD_OK;
}
