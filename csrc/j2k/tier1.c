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
 * State: one 32-bit word per column of a stripe (below), so a context is a shift, a mask and
 * a table lookup, and a column with nothing to do in a pass is passed over with one test.
 *
 * Coefficients: in stripe-column order, so a column's values are adjacent: sample (x, y) at
 * y0 * w + n * x + (y - y0) for its stripe's first row y0 and n = 4 rows (fewer in a last
 * partial stripe); w * h values in all.  Sign-magnitude: bit 31 the sign, bits 0-30 the
 * magnitude times 2 plus the half bit of the reconstruction point r = 1/2 (D.7 and E.1.1.2):
 * a refinement is an XOR and an OR of two bits whatever the sign.  decode_cblk (decode.c)
 * converts while dequantising; the values equal OpenJPEG's (two's complement of the same
 * magnitude), so reversible values are exact after a /2.
 *
 * MQ decisions: the refinement and significance passes and the sign decisions use the
 * branch-free decode (mq.h J2K_MQ_DECODE_BL): their outcomes are near 1/2 in lossless
 * frames, so the branches of the usual decode are mispredicted about half the time, which
 * costs more than the extra instructions (callgrind counts go up, time goes down).  So do
 * the zero-coding decisions of the cleanup pass (a branch on the decision itself is enough);
 * only its run-length and UNIFORM decisions, mostly the likely symbol, keep the branches.
 * Except in a code-block whose zero-coding decisions are almost all the likely symbol (flat
 * synthetic images): once its passes have taken under 0.2 bits per zero-coding decision of
 * its cleanup passes, the significance and cleanup passes take them with the branches of
 * J2K_MQ_DECODE, which a predictor then guesses right (j2k_t1_decode; both passes built both
 * ways).
 * The refinement pass takes four columns per 64-bit mask of the rows to refine (one loop end
 * per four columns), and keeps context 16 (most of its decisions) in a register.  The
 * cleanup pass takes a run of run-mode columns whose decisions are the MPS 0 without
 * renormalisation (empty regions: most of a lossy frame's columns) in a loop of its own that
 * only takes Qe from A and C: 2-17% fewer instructions per WG04 frame, 3-8% less time.
 *
 * Tried and slower here (wall time, interleaved A/B on CT1/MR1/US1_J2KR): the significance
 * pass over the candidate rows by count-trailing-zeros (one loop end per column instead of
 * the tests per row), or with one test per row of a candidate mask; its sign decision made
 * without a branch and kept by conditional moves; the three refinement contexts all in
 * registers (spills); a run of run-mode columns as one subtraction of m Qe (a division to
 * find m); passing over a run of columns without significant neighbours in the significance
 * pass in a loop of its own (more instructions: the runs are short).
 */
#include <stdlib.h>
#include <string.h>

#include "j2k_internal.h"
#include "mq.h"
#include "td_cpu.h"
#include "tier1_tables.h"

/* The flag word of stripe column x.  Bits 0-17: significance of the 3 x 6 samples around the
 * column's four rows, bit 3 * (r + 1) + (c + 1) for row r = -1..4 of the stripe (-1: the last
 * row of the stripe above, 4: the first of the stripe below) and column c = -1..1 (x - 1 ..
 * x + 1).  Per row k = 0..3 of the column: its sign (1 = negative) at bit 19 + 3k, MU (refined
 * at least once) at 20 + 3k, PI (coded in this bit-plane's significance pass) at 21 + 3k.
 * The signs of rows -1 and 4 are at bits 18 and 31.  So, shifted right by 3k, the word holds
 * row k's 3 x 3 significance window in bits 0-8 (the sample itself at bit 4), its sign, MU
 * and PI at bits 19, 20, 21, the sign of the sample below at 22 and (k > 0) of the sample
 * above at 16.  The signs of the samples left and right are in the neighbour columns' words.
 * VCAUSAL (D.7): the first row of a stripe never marks the stripe above, so the last row of
 * that stripe sees the stripe below as insignificant. */
#define T1_SIG 0x10u            /* row 0 significant */
#define T1_NBH 0x1EFu           /* its eight neighbours */
#define T1_WIN 0x1FFu
#define T1_SIG4 0x2490u         /* rows 0-3 significant */
#define T1_CHI (1u << 19)
#define T1_MU (1u << 20)
#define T1_PI (1u << 21)
#define T1_PI4 (T1_PI * 0x249u) /* PI of rows 0-3; >> 17 lines them up with T1_SIG4 */

#if defined(__GNUC__)
#define T1_PASS_ATTR __attribute__((noinline)) /* one register allocation per pass */
#else
#define T1_PASS_ATTR
#endif
#define T1_PASS T1_PASS_ATTR static void

#define CX_RL 17
#define CX_UNI 18

void j2k_t1_free(j2k_t1 *t1)
{
    free(t1->flags);
    free(t1->buf);
    free(t1->segs);
    memset(t1, 0, sizeof *t1);
}

/* Layout: stripe-major, w + 2 words per stripe (a border column each side), a border stripe
 * above and below; the border words take neighbour bits and are never coded. */
typedef struct t1_state {
    uint32_t *f;        /* stripe 0, column 0 */
    size_t fs;          /* words per stripe: w + 2 */
    int32_t *coef;      /* w x h, row stride w */
    uint32_t w, h;
    const uint8_t *zc;  /* lut_zc[orient] */
    int vcausal;
    uint16_t (*rng)[2]; /* per full stripe, the columns [lo, hi) holding its significant
                         * samples as the last cleanup pass left them: the refinement pass
                         * codes no other (those significant since are PI) */
    j2k_mq mq;
    j2k_raw raw;
    uint32_t nzc;       /* zero-coding decisions of the cleanup passes so far */
} t1_state;

/* Row k of column p became significant with sign neg: mark it in its own word (returned: the
 * caller keeps it in a register) and in the six or nine neighbouring words. */
static inline uint32_t t1_set_sig(uint32_t *p, uint32_t f, uint32_t k, uint32_t neg, size_t fs,
                                  int vcausal)
{
    p[-1] |= 0x20u << (3 * k);
    p[1] |= 0x08u << (3 * k);
    if (k == 0 && !vcausal) {
        uint32_t *u = p - fs;
        u[-1] |= 1u << 17;
        u[0] |= (1u << 16) | (neg << 31);
        u[1] |= 1u << 15;
    }
    if (k == 3) {
        uint32_t *d = p + fs;
        d[-1] |= 1u << 2;
        d[0] |= (1u << 1) | (neg << 18);
        d[1] |= 1u;
    }
    return f | ((T1_SIG | (neg << 19)) << (3 * k));
}

/* The lut_sc entry (D.3.2) of row k of column p with word f. */
static inline uint32_t t1_sc(const uint32_t *p, uint32_t f, uint32_t k)
{
    uint32_t t = f >> (3 * k);
    uint32_t i = (t >> 1) & 0x55u;                 /* significance of N, W, E, S */
    i |= (k == 0 ? f >> 17 : t >> 15) & 0x02u;    /* sign N: bit 18, or 16 of t */
    i |= (t >> 15) & 0x80u;                        /* sign S: bit 22 of t */
    i |= (p[-1] >> (3 * k + 16)) & 0x08u;          /* sign W */
    i |= (p[1] >> (3 * k + 14)) & 0x20u;           /* sign E */
    return lut_sc[i];
}

/* The MQ registers and the contexts in locals for a whole pass (the contexts in the pass's
 * own frame: addressed from the stack pointer, no register held for them). */
#define MQ_LOAD(s) uint32_t a = (s)->mq.a, ct = (s)->mq.ct; uint64_t c = (s)->mq.c; \
    const uint8_t *bp = (s)->mq.bp; j2k_mq_cx cxs[20]; /* [19]: a spare slot */ \
    memcpy(cxs, (s)->mq.cx, sizeof (s)->mq.cx)
#define MQ_SAVE(s) do { (s)->mq.a = a; (s)->mq.c = c; (s)->mq.ct = ct; (s)->mq.bp = bp; \
    memcpy((s)->mq.cx, cxs, sizeof (s)->mq.cx); } while (0)
#define DEC(d, cxno) J2K_MQ_DECODE(d, &cxs[cxno], a, c, ct, bp)
#define DEC_BL(d, cxno) J2K_MQ_DECODE_BL(d, &cxs[cxno], a, c, ct, bp)
/* A zero-coding decision: branch-free, or (zb, a constant in each pass instance) with the
 * branches of J2K_MQ_DECODE (j2k_t1_decode picks) */
#define DEC_ZC(d, cxno) do { if (zb) DEC(d, cxno); else DEC_BL(d, cxno); } while (0)

/* Row k of column p (word f, coefficient cp[k]) turns significant if the decision says
 * so: the sign decision, the flags, the value 1.5 * 2^bp (times 2). */
#define NEW_SIG(k)                                                                             \
    do {                                                                                       \
        uint32_t l_ = t1_sc(p, f, (k)), neg_;                                                  \
        DEC_BL(neg_, l_ & 0x1F);                                                               \
        neg_ ^= l_ >> 7;                                                                       \
        f = t1_set_sig(p, f, (k), neg_, fs, vc);                                               \
        cp[k] = (int32_t)(oph | (neg_ << 31));                                           \
    } while (0)

#if defined(__GNUC__)
#define T1_INLINE static inline __attribute__((always_inline))
#else
#define T1_INLINE static inline
#endif

/* The significance pass's walk (D.3.1) over the stripes of a code-block: ROW(k) for each row
 * k of each stripe column that is neither all significant nor without neighbours, in scan
 * order; ROW sees p (the flag word), f (its value, stored back) and cp (the column's
 * coefficients).  Needs s, fs and w in scope. */
#define SIG_STRIPES(ROW)                                                                       \
    do {                                                                                       \
        uint32_t y0 = 0;                                                                       \
        for (; y0 + 4 <= s->h; y0 += 4) {                                                      \
            uint32_t *p = s->f + (y0 >> 2) * fs, *pe = p + w;                                  \
            int32_t *cp = s->coef + (size_t)y0 * w;                                            \
            for (; p < pe; p++, cp += 4) {                                                     \
                uint32_t f = *p;                                                               \
                if (!f || (f & T1_SIG4) == T1_SIG4) continue;                                  \
                ROW(0);                                                                        \
                ROW(1);                                                                        \
                ROW(2);                                                                        \
                ROW(3);                                                                        \
                *p = f;                                                                        \
            }                                                                                  \
        }                                                                                      \
        if (y0 < s->h) {                                                                       \
            uint32_t n = s->h - y0;                                                            \
            uint32_t *p = s->f + (y0 >> 2) * fs, *pe = p + w;                                  \
            int32_t *cp = s->coef + (size_t)y0 * w;                                            \
            for (; p < pe; p++, cp += n) {                                                     \
                uint32_t f = *p;                                                               \
                if (!f) continue;                                                              \
                for (uint32_t k = 0; k < n; k++) ROW(k);                                       \
                *p = f;                                                                        \
            }                                                                                  \
        }                                                                                      \
    } while (0)

/* D.3.1 significance propagation, MQ-coded; vc (VCAUSAL) a constant in each instance.  Full
 * stripes first (four rows, a constant), then a last partial one. */
T1_INLINE void sigpass_mq_body(t1_state *s, uint32_t pl, const int vc, const int zb)
{
    const uint32_t oph = (1u << pl) | (1u << (pl - 1));
    const size_t fs = s->fs, w = s->w;
    const uint8_t *zc = s->zc;
    MQ_LOAD(s);
#define SIG_ROW(k)                                                                             \
    do {                                                                                       \
        if ((f & (T1_SIG << 3 * (k))) || !(f & (T1_NBH << 3 * (k)))) break;                    \
        uint32_t bit_;                                                                         \
        DEC_ZC(bit_, zc[(f >> 3 * (k)) & T1_WIN]);                                             \
        if (bit_) NEW_SIG(k);                                                                  \
        f |= T1_PI << 3 * (k);                                                                 \
    } while (0)
    SIG_STRIPES(SIG_ROW);
#undef SIG_ROW
    MQ_SAVE(s);
}

/* D.3.1 in a raw (bypass) segment, D.6: the significance bit and the sign read together (two
 * bits peeked, one or two used), the reader in locals for the pass. */
T1_PASS sigpass_raw(t1_state *s, uint32_t pl)
{
    const uint32_t oph = (1u << pl) | (1u << (pl - 1));
    const size_t fs = s->fs, w = s->w;
    const int vc = s->vcausal;
    j2k_raw r = s->raw;
#define RAW_ROW(k)                                                                             \
    do {                                                                                       \
        if ((f & (T1_SIG << 3 * (k))) || !(f & (T1_NBH << 3 * (k)))) break;                    \
        if (r.n < 2) j2k_raw_fill(&r);                                                         \
        uint32_t bit_ = (uint32_t)(r.b >> 63), neg_ = (uint32_t)(r.b >> 62) & 1;               \
        r.b <<= 1 + bit_;                                                                      \
        r.n -= 1 + bit_;                                                                       \
        if (bit_) {                                                                            \
            f = t1_set_sig(p, f, (k), neg_, fs, vc);                                           \
            cp[k] = (int32_t)(oph | (neg_ << 31));                                             \
        }                                                                                      \
        f |= T1_PI << 3 * (k);                                                                 \
    } while (0)
    SIG_STRIPES(RAW_ROW);
#undef RAW_ROW
    s->raw = r;
}

/* Row k's MU at bit 3k + 4 (where its significance is). */
static inline uint32_t t1_mu(uint32_t f) { return (f >> 16) & T1_SIG4; }

/* Bit 3k + 4 set when row k of a full stripe column has a significant neighbour (as
 * t1_cand). */
static inline uint32_t t1_nb(uint32_t f)
{
    uint32_t a = (f | (f >> 1) | (f >> 2)) & 0x9249u;
    uint32_t s = (f | (f >> 2)) & 0x1248u;
    return (((a << 3) | (a >> 3) | s) & 0x1248u) << 1;
}

/* Bit 16 i + 3k + 4 of a four-column mask -> the offset 4 i + k of the coefficient. */
static const uint8_t t1_refpos[64] = {
    0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 3, 0, 0,
    0, 0, 0, 0, 4, 0, 0, 5, 0, 0, 6, 0, 0, 7, 0, 0,
    0, 0, 0, 0, 8, 0, 0, 9, 0, 0, 10, 0, 0, 11, 0, 0,
    0, 0, 0, 0, 12, 0, 0, 13, 0, 0, 14, 0, 0, 15, 0, 0,
};

/* D.3.3 magnitude refinement.  The value's bit pl (the half bit so far) becomes the decoded
 * bit, and the new half bit is set. */
T1_INLINE void refpass_mq_body(t1_state *s, uint32_t pl)
{
    const uint32_t one = 1u << pl, half = one >> 1;
    const size_t fs = s->fs, w = s->w;
    MQ_LOAD(s);
    /* only the rows to be refined, lowest first, found from the mask (ctz): one loop branch
     * per row, not a test per row whose outcome is not predictable; context 16 after a
     * first refinement (MU), else 15 or 14 (significant neighbours or not), computed
     * without a branch */
#define REF_CX(k) (14u + 2u * ((f >> (20 + 3 * (k))) & 1) +                                     \
                   (((f & (T1_NBH << 3 * (k))) != 0) & ~(f >> (20 + 3 * (k)))))
#define REF_COL()                                                                              \
    do {                                                                                       \
        uint32_t f = *p;                                                                       \
        uint32_t todo = f & ~(f >> 17) & T1_SIG4; /* significant, not coded in pass 1 */       \
        if (!todo) break;                                                                      \
        uint32_t t_ = todo;                                                                    \
        do {                                                                                   \
            uint32_t k_ = ((uint32_t)j2k_ctz32(t_) - 4) * 11 >> 5; /* 4, 7, 10, 13: 0-3 */   \
            uint32_t bit_;                                                                     \
            t_ &= t_ - 1;                                                                      \
            DEC_BL(bit_, REF_CX(k_));                                                          \
            cp[k_] = (cp[k_] ^ (one & (bit_ - 1))) | half;                                     \
        } while (t_);                                                                          \
        *p = f | (todo << 16);                                                                 \
    } while (0)
    uint32_t y0 = 0;
    for (; y0 + 4 <= s->h; y0 += 4) {
        j2k_mq_cx v16 = cxs[16];
        uint32_t lo = s->rng[y0 >> 2][0], hi = s->rng[y0 >> 2][1];
        uint32_t *p = s->f + (y0 >> 2) * fs + lo, *pe = p + (hi - lo);
        uint32_t *cp = (uint32_t *)s->coef + (size_t)y0 * w + 4 * (size_t)lo;
        /* four columns at a time: their rows to refine in one 64-bit mask (column i's at
         * bits 16 i + 4, 7, 10, 13), so the loop ends once per four columns */
        for (; pe - p >= 4; p += 4, cp += 16) {
            uint32_t d0 = p[0] & ~(p[0] >> 17) & T1_SIG4, d1 = p[1] & ~(p[1] >> 17) & T1_SIG4;
            uint32_t d2 = p[2] & ~(p[2] >> 17) & T1_SIG4, d3 = p[3] & ~(p[3] >> 17) & T1_SIG4;
            uint64_t t_ = d0 | (uint64_t)d1 << 16 | (uint64_t)d2 << 32 | (uint64_t)d3 << 48;
            if (!t_) continue;
            /* the context of each row at the same bit: 16 after a first refinement (MU),
             * else 15 with a significant neighbour, else 14 */
            uint64_t mu_ = (uint64_t)(t1_mu(p[0]) | (uint64_t)t1_mu(p[1]) << 16 |
                                      (uint64_t)t1_mu(p[2]) << 32 | (uint64_t)t1_mu(p[3]) << 48);
            if (!(t_ & ~mu_)) { /* every row refined before (most groups): context 16 */
                do {
                    uint32_t pos_ = (uint32_t)j2k_ctz64(t_), bit_;
                    t_ &= t_ - 1;
                    J2K_MQ_DECODE_BLV(bit_, v16, a, c, ct, bp);
                    uint32_t *q_ = cp + t1_refpos[pos_];
                    *q_ = (*q_ ^ (one & (bit_ - 1))) | half;
                } while (t_);
            } else {
                uint64_t nb_ = (uint64_t)(t1_nb(p[0]) | (uint64_t)t1_nb(p[1]) << 16 |
                                          (uint64_t)t1_nb(p[2]) << 32 | (uint64_t)t1_nb(p[3]) << 48);
                nb_ &= ~mu_;
                do {
                    uint32_t pos_ = (uint32_t)j2k_ctz64(t_), bit_;
                    t_ &= t_ - 1;
                    /* context 16 in a register, so a run of decisions in it does not pass
                     * each new state through memory; 14 and 15 in cxs, written to a spare
                     * slot when 16 is used */
                    uint32_t mu1_ = (uint32_t)(mu_ >> pos_) & 1;
                    uint32_t ix_ = 14u + ((uint32_t)(nb_ >> pos_) & 1);
                    uint64_t m_ = 0u - (uint64_t)mu1_;
                    j2k_mq_cx v_ = cxs[ix_];
                    v_ ^= (v_ ^ v16) & m_;
                    J2K_MQ_DECODE_BLV(bit_, v_, a, c, ct, bp);
                    v16 ^= (v16 ^ v_) & m_;
                    cxs[ix_ + mu1_ * (19 - ix_)] = v_;
                    uint32_t *q_ = cp + t1_refpos[pos_];
                    *q_ = (*q_ ^ (one & (bit_ - 1))) | half;
                } while (t_);
            }
            p[0] |= d0 << 16;
            p[1] |= d1 << 16;
            p[2] |= d2 << 16;
            p[3] |= d3 << 16;
        }
        cxs[16] = v16;
        for (; p < pe; p++, cp += 4) REF_COL();
    }
    if (y0 < s->h) { /* rows past h are never significant */
        uint32_t n = s->h - y0;
        uint32_t *p = s->f + (y0 >> 2) * fs, *pe = p + w;
        uint32_t *cp = (uint32_t *)s->coef + (size_t)y0 * w;
        for (; p < pe; p++, cp += n) REF_COL();
    }
#undef REF_COL
#undef REF_CX
    MQ_SAVE(s);
}

/* D.3.3 in a raw (bypass) segment, D.6: only the rows to refine (as refpass_mq); bytes taken
 * in before a column when fewer than its four bits are held. */
T1_PASS refpass_raw(t1_state *s, uint32_t pl)
{
    const uint32_t one = 1u << pl, half = one >> 1;
    const size_t fs = s->fs, w = s->w;
    j2k_raw r = s->raw;
    for (uint32_t y0 = 0; y0 < s->h; y0 += 4) {
        uint32_t n = s->h - y0 < 4 ? s->h - y0 : 4, lo = 0, hi = (uint32_t)w;
        if (n == 4) { /* rows past h are never significant */
            lo = s->rng[y0 >> 2][0];
            hi = s->rng[y0 >> 2][1];
        }
        uint32_t *p = s->f + (y0 >> 2) * fs + lo, *pe = p + (hi - lo);
        uint32_t *cp = (uint32_t *)s->coef + (size_t)y0 * w + n * (size_t)lo;
        for (; p < pe; p++, cp += n) {
            uint32_t f = *p;
            uint32_t todo = f & ~(f >> 17) & T1_SIG4;
            if (!todo) continue;
            if (r.n < 4) j2k_raw_fill(&r);
            uint32_t t = todo;
            do {
                uint32_t k = ((uint32_t)j2k_ctz32(t) - 4) * 11 >> 5; /* 4, 7, 10, 13: 0-3 */
                uint32_t bit = (uint32_t)(r.b >> 63);
                t &= t - 1;
                r.b <<= 1;
                r.n--;
                cp[k] = (cp[k] ^ (one & (bit - 1))) | half;
            } while (t);
            *p = f | (todo << 16);
        }
    }
    s->raw = r;
}

/* D.3.4 cleanup with run-length coding; clears PI for the next bit-plane. */
T1_INLINE void clnpass_body(t1_state *s, uint32_t pl, const int vc, const int zb)
{
    const uint32_t oph = (1u << pl) | (1u << (pl - 1));
    const size_t fs = s->fs, w = s->w;
    const uint8_t *zc = s->zc;
    uint32_t nzc_ = s->nzc;
    MQ_LOAD(s);
#define CLN_ROW(k)                                                                             \
    do {                                                                                       \
        if (f & ((T1_SIG | T1_PI) << 3 * (k))) break;                                          \
        uint32_t bit_;                                                                         \
        nzc_++;                                                                                \
        DEC_ZC(bit_, zc[(f >> 3 * (k)) & T1_WIN]);                                             \
        if (bit_) NEW_SIG(k);                                                                  \
    } while (0)
    uint32_t y0 = 0;
    for (; y0 + 4 <= s->h; y0 += 4) {
        uint32_t *p0 = s->f + (y0 >> 2) * fs, *p = p0, *pe = p + w;
        uint32_t *first = pe, *last = p0; /* columns with a significant sample: [first, last) */
        int32_t *cp = s->coef + (size_t)y0 * w;
        for (; p < pe; p++, cp += 4) {
            uint32_t f = *p;
            if (((f | (f >> 17)) & T1_SIG4) == T1_SIG4) { /* every row significant or coded */
                *p = f & ~T1_PI4;
                if (f & T1_SIG4) {
                    if (first == pe) first = p;
                    last = p + 1;
                }
                continue;
            }
            uint32_t k0 = 0;
            if (!f) { /* run mode: no row or neighbour significant, none coded */
                /* In an empty region nearly every run-mode decision is the MPS 0 of CX_RL
                 * without renormalisation (C.3.2: C_high >= Qe, A - Qe >= 0x8000), which
                 * leaves the context as it is: only A and C lose Qe.  Such columns are taken
                 * in a loop of their own, up to the first column that is not in run mode or
                 * whose decision needs the full decode. */
                j2k_mq_cx rl = cxs[CX_RL];
                if (!J2K_MQ_MPS(rl)) {
                    const uint32_t qe = J2K_MQ_QE(rl);
                    const uint64_t qe64 = J2K_MQ_QE64(rl);
                    uint32_t *run0 = p;
                    while (c >= qe64 && (int32_t)(a - qe) < 0) {
                        a -= qe;
                        c -= qe64;
                        if (++p == pe || *p) break;
                    }
                    if (p != run0) { /* the loop's p++ takes the next column */
                        cp += 4 * (p - run0 - 1);
                        p--;
                        continue;
                    }
                }
                uint32_t bit;
                DEC(bit, CX_RL);
                if (!bit) continue;
                uint32_t r0, r1;
                DEC(r0, CX_UNI);
                DEC(r1, CX_UNI);
                k0 = (r0 << 1) | r1;
                NEW_SIG(k0);
                k0++;
            }
            switch (k0) {
            case 0: CLN_ROW(0); /* fall through */
            case 1: CLN_ROW(1); /* fall through */
            case 2: CLN_ROW(2); /* fall through */
            case 3: CLN_ROW(3); /* fall through */
            default: break;
            }
            *p = f & ~T1_PI4;
            if (f & T1_SIG4) {
                if (first == pe) first = p;
                last = p + 1;
            }
        }
        if (first == pe) first = last = p0;
        s->rng[y0 >> 2][0] = (uint16_t)(first - p0);
        s->rng[y0 >> 2][1] = (uint16_t)(last - p0);
    }
    if (y0 < s->h) { /* no run mode in a partial stripe */
        uint32_t n = s->h - y0;
        uint32_t *p = s->f + (y0 >> 2) * fs, *pe = p + w;
        int32_t *cp = s->coef + (size_t)y0 * w;
        for (; p < pe; p++, cp += n) {
            uint32_t f = *p;
            for (uint32_t k = 0; k < n; k++) CLN_ROW(k);
            *p = f & ~T1_PI4;
        }
    }
#undef CLN_ROW
    MQ_SAVE(s);
    s->nzc = nzc_;
}

/* The MQ-coded passes, as one set per instruction set: the one the library is built for, and
 * on x86-64 the same code with LZCNT (td_cpu.h): every decision's RENORMD counts the leading
 * zeros of A (J2K_MQ_RENORM).  With LZCNT the lossless WG04 frames decode 5-8% faster on
 * AMD Zen 1. */
typedef struct t1_mq_passes {
    void (*sig)(t1_state *s, uint32_t pl), (*sig_vc)(t1_state *s, uint32_t pl);
    void (*ref)(t1_state *s, uint32_t pl);
    void (*cln)(t1_state *s, uint32_t pl), (*cln_vc)(t1_state *s, uint32_t pl);
} t1_mq_passes;

/* [0]: zero coding branch-free, [1]: with branches (the refinement pass is the same) */
#define T1_MQ_PASSES(SFX, ATTR)                                                                \
    ATTR void sigpass_mq##SFX(t1_state *s, uint32_t pl) { sigpass_mq_body(s, pl, 0, 0); }     \
    ATTR void sigpass_mq_vc##SFX(t1_state *s, uint32_t pl) { sigpass_mq_body(s, pl, 1, 0); }  \
    ATTR void sigpass_mqz##SFX(t1_state *s, uint32_t pl) { sigpass_mq_body(s, pl, 0, 1); }    \
    ATTR void sigpass_mqz_vc##SFX(t1_state *s, uint32_t pl) { sigpass_mq_body(s, pl, 1, 1); } \
    ATTR void refpass_mq##SFX(t1_state *s, uint32_t pl) { refpass_mq_body(s, pl); }           \
    ATTR void clnpass##SFX(t1_state *s, uint32_t pl) { clnpass_body(s, pl, 0, 0); }           \
    ATTR void clnpass_vc##SFX(t1_state *s, uint32_t pl) { clnpass_body(s, pl, 1, 0); }        \
    ATTR void clnpassz##SFX(t1_state *s, uint32_t pl) { clnpass_body(s, pl, 0, 1); }          \
    ATTR void clnpassz_vc##SFX(t1_state *s, uint32_t pl) { clnpass_body(s, pl, 1, 1); }       \
    static const t1_mq_passes t1_mq##SFX[2] = {                                                \
        {sigpass_mq##SFX, sigpass_mq_vc##SFX, refpass_mq##SFX, clnpass##SFX, clnpass_vc##SFX},  \
        {sigpass_mqz##SFX, sigpass_mqz_vc##SFX, refpass_mq##SFX, clnpassz##SFX,                 \
         clnpassz_vc##SFX}};

T1_MQ_PASSES(, T1_PASS_ATTR static)
#if TD_LZCNT_TARGET
T1_MQ_PASSES(_lzcnt, T1_PASS_ATTR __attribute__((target("lzcnt"))) static)
#endif
#undef T1_MQ_PASSES

int j2k_t1_decode(j2k_t1 *t1, const j2k_block_job *job)
{
    t1_state s;
    s.w = job->w;
    s.h = job->h;
    s.coef = t1->coef;
    if ((size_t)s.w * s.h > 4096) return TD_E_CORRUPT;
    memset(s.coef, 0, (size_t)s.w * s.h * sizeof *s.coef);
    int32_t bp = job->numbps + (int32_t)job->roishift;
    if (job->nsegs == 0 || bp <= 0) return TD_OK; /* P may exceed Mb under ROI */
    if (bp >= 31) return TD_E_UNSUPPORTED;
    s.fs = (size_t)s.w + 2;
    size_t nf = s.fs * ((s.h + 3) / 4 + 2); /* flag words, border stripes included */
    if (nf > t1->flags_cap) {
        free(t1->flags);
        t1->flags = malloc(nf * sizeof *t1->flags);
        if (!t1->flags) { t1->flags_cap = 0; return TD_E_NOMEM; }
        t1->flags_cap = nf;
    }
    memset(t1->flags, 0, nf * sizeof *t1->flags);
    s.f = t1->flags + s.fs + 1;
    uint16_t rng[256][2]; /* h <= 1024: at most 256 stripes */
    if ((s.h + 3) / 4 > 256) return TD_E_CORRUPT;
    memset(rng, 0, sizeof rng);
    s.rng = rng;
    s.zc = lut_zc[job->orient & 3];
    s.vcausal = (job->style & J2K_CBLK_VCAUSAL) != 0;
    j2k_mq_reset(&s.mq);
    const t1_mq_passes *mqs = *TD_LZCNT_PICK(t1_mq);
    s.nzc = 0;
    uint64_t used = 0; /* bytes of the MQ segments before this one */
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
            /* the next pass's zero coding with branches once the block's passes so far took
             * under 0.2 bits per zero-coding decision of its cleanup passes (and these made
             * 256): then nearly every decision is the likely one.  pydicom's
             * SC_rgb_gdcm_KY.dcm: one LPS in 11,000 zero-coding decisions of a 50x50 block
             * (0.07 bits each), half the cycles with branches; CT1 J2KI's sparse blocks: an
             * LPS in eight (a bit each), 5-30% slower with them.  Counted in the cleanup pass
             * alone (where a flat block makes most of them): counted in both, CT1 J2KI took
             * 1.6% more instructions than before, against 1.4% */
            uint64_t bits = 8 * (used + (uint64_t)(raw ? 0 : s.mq.bp - data));
            const t1_mq_passes *mqp = &mqs[s.nzc >= 256 && bits * 5 < s.nzc];
            if (passtype == 0) {
                if (raw) sigpass_raw(&s, (uint32_t)bp);
                else if (s.vcausal) mqp->sig_vc(&s, (uint32_t)bp);
                else mqp->sig(&s, (uint32_t)bp);
            } else if (passtype == 1) {
                if (raw) refpass_raw(&s, (uint32_t)bp);
                else mqp->ref(&s, (uint32_t)bp);
            }
            else {
                if (s.vcausal) mqp->cln_vc(&s, (uint32_t)bp);
                else mqp->cln(&s, (uint32_t)bp);
                if (job->style & J2K_CBLK_SEGSYM)
                    for (int i = 0; i < 4; i++) (void)j2k_mq_decode(&s.mq, CX_UNI);
            }
            if ((job->style & J2K_CBLK_RESET) && !raw) j2k_mq_reset(&s.mq);
            if (++passtype == 3) {
                passtype = 0;
                bp--;
            }
        }
        if (!raw) used += seg->len;
    }
    if (job->roishift) {
        uint32_t thresh = 1u << job->roishift;
        for (size_t i = 0; i < (size_t)s.w * s.h; i++) {
            uint32_t v = (uint32_t)s.coef[i], mag = v & 0x7FFFFFFFu;
            if (mag >= thresh) s.coef[i] = (int32_t)((v & 0x80000000u) | (mag >> job->roishift));
        }
    }
    return TD_OK;
}
