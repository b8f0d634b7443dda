/*
 * mq.h - the MQ arithmetic decoder of T.800 Annex C (private to csrc/j2k).
 *
 * The decode step is inline for the block decoder's inner loops; the state table and the
 * initialisations are in mq.c.  Every segment handed to the decoder must be followed by two
 * bytes 0xFF in memory: BYTEIN (C.3.4) then sees a marker and feeds 1-bits without advancing,
 * so no bounds test is needed per byte.  Contexts hold (state << 1) | MPS.
 */
#ifndef TD_J2K_MQ_H
#define TD_J2K_MQ_H

#include <stdint.h>

typedef struct j2k_mq_state {
    uint16_t qe;
    uint8_t nmps, nlps; /* next state indices, times 2, with the MPS switch folded into nlps's
                         * low bit (see mq.c) */
} j2k_mq_state;

/* Indexed by context value (state << 1 | mps): Qe, next context after an MPS and after an LPS. */
extern const j2k_mq_state j2k_mq_table[94];

typedef struct j2k_mq {
    const uint8_t *bp;
    uint32_t a, c, ct;
    uint8_t cx[19];
} j2k_mq;

/* C.3.5 INITDEC on data[0..) (followed by 0xFF 0xFF). */
void j2k_mq_init(j2k_mq *mq, const uint8_t *data);
/* The initial context states of D.7 (all 0, UNIFORM 46, RUN 3, context 0 state 4). */
void j2k_mq_reset(j2k_mq *mq);

static inline void j2k_mq_bytein(j2k_mq *mq)
{
    if (mq->bp[0] == 0xFF) {
        if (mq->bp[1] > 0x8F) {
            mq->c += 0xFF00;
            mq->ct = 8;
        } else {
            mq->bp++;
            mq->c += (uint32_t)mq->bp[0] << 9;
            mq->ct = 7;
        }
    } else {
        mq->bp++;
        mq->c += (uint32_t)mq->bp[0] << 8;
        mq->ct = 8;
    }
}

/* C.3.2 DECODE: one decision in context cx. */
static inline uint32_t j2k_mq_decode(j2k_mq *mq, uint32_t cx)
{
    uint32_t s = mq->cx[cx];
    const j2k_mq_state *st = &j2k_mq_table[s];
    uint32_t qe = st->qe, d;
    mq->a -= qe;
    if ((mq->c >> 16) < qe) {
        if (mq->a < qe) {
            d = s & 1;
            mq->cx[cx] = st->nmps;
        } else {
            d = (s & 1) ^ 1;
            mq->cx[cx] = st->nlps;
        }
        mq->a = qe;
    } else {
        mq->c -= qe << 16;
        if (mq->a & 0x8000) return s & 1;
        if (mq->a < qe) {
            d = (s & 1) ^ 1;
            mq->cx[cx] = st->nlps;
        } else {
            d = s & 1;
            mq->cx[cx] = st->nmps;
        }
    }
    do {
        if (mq->ct == 0) j2k_mq_bytein(mq);
        mq->a <<= 1;
        mq->c <<= 1;
        mq->ct--;
    } while (mq->a < 0x8000);
    return d;
}

/* Raw (bypass) segments, D.6: bits MSB first, a 0 bit stuffed after each 0xFF. */
typedef struct j2k_raw {
    const uint8_t *bp;
    uint32_t c, ct;
} j2k_raw;

static inline void j2k_raw_init(j2k_raw *r, const uint8_t *data)
{
    r->bp = data;
    r->c = 0;
    r->ct = 0;
}

static inline uint32_t j2k_raw_decode(j2k_raw *r)
{
    if (r->ct == 0) {
        if (r->c == 0xFF) {
            if (r->bp[0] > 0x8F) {
                r->c = 0xFF;
                r->ct = 8;
            } else {
                r->c = r->bp[0];
                r->bp++;
                r->ct = 7;
            }
        } else {
            r->c = r->bp[0];
            r->bp++;
            r->ct = 8;
        }
    }
    r->ct--;
    return (r->c >> r->ct) & 1;
}



/* The same DECODE and RAW steps on local copies of the registers (a, c, ct, bp), for inner
 * loops: the compiler keeps them in registers, where the struct's fields would be reloaded
 * after every store to the coefficient or flag arrays.  `cx` points at the context byte. */
#define J2K_MQ_BYTEIN(c, ct, bp)                                                               \
    do {                                                                                       \
        if ((bp)[0] == 0xFF) {                                                                 \
            if ((bp)[1] > 0x8F) {                                                              \
                (c) += 0xFF00;                                                                 \
                (ct) = 8;                                                                      \
            } else {                                                                           \
                (bp)++;                                                                        \
                (c) += (uint32_t)(bp)[0] << 9;                                                 \
                (ct) = 7;                                                                      \
            }                                                                                  \
        } else {                                                                               \
            (bp)++;                                                                            \
            (c) += (uint32_t)(bp)[0] << 8;                                                     \
            (ct) = 8;                                                                          \
        }                                                                                      \
    } while (0)

#define J2K_MQ_RENORM(a, c, ct, bp)                                                            \
    do {                                                                                       \
        if ((ct) == 0) J2K_MQ_BYTEIN(c, ct, bp);                                               \
        (a) <<= 1;                                                                             \
        (c) <<= 1;                                                                             \
        (ct)--;                                                                                \
    } while ((a) < 0x8000)

#define J2K_MQ_DECODE(d, cx, a, c, ct, bp)                                                     \
    do {                                                                                       \
        uint32_t s_ = *(cx);                                                                   \
        const j2k_mq_state *st_ = &j2k_mq_table[s_];                                           \
        uint32_t qe_ = st_->qe;                                                                \
        (a) -= qe_;                                                                            \
        if (((c) >> 16) < qe_) {                                                               \
            if ((a) < qe_) {                                                                   \
                (d) = s_ & 1;                                                                  \
                *(cx) = st_->nmps;                                                             \
            } else {                                                                           \
                (d) = (s_ & 1) ^ 1;                                                            \
                *(cx) = st_->nlps;                                                             \
            }                                                                                  \
            (a) = qe_;                                                                         \
            J2K_MQ_RENORM(a, c, ct, bp);                                                       \
        } else {                                                                               \
            (c) -= qe_ << 16;                                                                  \
            if ((a) & 0x8000) {                                                                \
                (d) = s_ & 1;                                                                  \
            } else {                                                                           \
                if ((a) < qe_) {                                                               \
                    (d) = (s_ & 1) ^ 1;                                                        \
                    *(cx) = st_->nlps;                                                         \
                } else {                                                                       \
                    (d) = s_ & 1;                                                              \
                    *(cx) = st_->nmps;                                                         \
                }                                                                              \
                J2K_MQ_RENORM(a, c, ct, bp);                                                   \
            }                                                                                  \
        }                                                                                      \
    } while (0)
#endif /* TD_J2K_MQ_H */
