/*
 * mq.h - the MQ arithmetic decoder of T.800 Annex C (private to csrc/j2k).
 *
 * The decode step is a macro over local copies of the registers (a, c, ct, bp) for the block
 * decoder's inner loops: the compiler keeps them in registers for a whole coding pass, where
 * the struct's fields would be reloaded after every store to the coefficient or flag arrays.
 * A is kept shifted left by 16 (A << 16 fits 32 bits), so "A >= 0x8000" is a sign test; C
 * shifted left by 32 in a 64-bit register (bytes taken in ahead below it, J2K_MQ_FILL), so the
 * comparison of C_high with Qe is one of the whole register with Qe << 48.
 *
 * Every segment handed to the decoder must be followed by two bytes 0xFF in memory: BYTEIN
 * (C.3.4) then sees a marker and feeds 1-bits without advancing, so no bounds test is needed
 * per byte.  Contexts hold their state's entry of Table C.2 (j2k_mq_cx).
 */
#ifndef TD_J2K_MQ_H
#define TD_J2K_MQ_H

#include <stdint.h>

#if defined(__GNUC__)
#define J2K_LIKELY(x) __builtin_expect(!!(x), 1)
#define J2K_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define J2K_LIKELY(x) (x)
#define J2K_UNLIKELY(x) (x)
#endif

static inline int j2k_clz32(uint32_t v) /* v != 0 */
{
#if defined(__GNUC__)
    return __builtin_clz(v);
#else
    int n = 0;
    while (!(v & 0x80000000u)) { v <<= 1; n++; }
    return n;
#endif
}

static inline int j2k_ctz32(uint32_t v) /* v != 0 */
{
#if defined(__GNUC__)
    return __builtin_ctz(v);
#else
    int n = 0;
    while (!(v & 1)) { v >>= 1; n++; }
    return n;
#endif
}

/* A context holds its whole row of Table C.2, so a decision needs one load before Qe is known
 * (not a load of the state, then one of the table): bits 32-63 Qe << 16 (so Qe << 48 is a mask
 * away, to compare with C), bit 0 the MPS, bits 8-15 and 16-23 the context values (state << 1
 * | MPS) after an MPS and after an LPS (the MPS switch folded in); j2k_mq_table maps a context
 * value to its entry. */
typedef uint64_t j2k_mq_cx;
#define J2K_MQ_QE(e) ((uint32_t)((e) >> 32))
#define J2K_MQ_QE64(e) ((e) & ~(uint64_t)0xFFFFFFFFu)
#define J2K_MQ_MPS(e) ((uint32_t)(e) & 1u)
#define J2K_MQ_NMPS(e) j2k_mq_table[((e) >> 8) & 0xFF]
#define J2K_MQ_NLPS(e) j2k_mq_table[((e) >> 16) & 0xFF]

/* Indexed by context value (state << 1 | mps). */
extern const j2k_mq_cx j2k_mq_table[94];

static inline int j2k_ctz64(uint64_t v) /* v != 0 */
{
#if defined(__GNUC__)
    return __builtin_ctzll(v);
#else
    int n = 0;
    while (!(v & 1)) { v >>= 1; n++; }
    return n;
#endif
}

typedef struct j2k_mq {
    const uint8_t *bp;  /* the last byte taken in */
    uint64_t c;         /* C << 32, bytes taken in ahead below it (see J2K_MQ_FILL) */
    uint32_t a, ct;     /* a: A << 16; ct: shifts left before C needs another byte */
    j2k_mq_cx cx[19];
} j2k_mq;

/* C.3.5 INITDEC on data[0..) (followed by 0xFF 0xFF). */
void j2k_mq_init(j2k_mq *mq, const uint8_t *data);
/* The initial context states of D.7 (all 0, UNIFORM 46, RUN 3, context 0 state 4). */
void j2k_mq_reset(j2k_mq *mq);
/* C.3.2 DECODE: one decision in context cx (outside the inner loops). */
uint32_t j2k_mq_decode(j2k_mq *mq, uint32_t cx);

/* C.3.4 BYTEIN, up to four bytes at a time, entered with ct == 0.  C is kept in the top 32
 * bits of a 64-bit register; a byte that BYTEIN would add at bit 8 of C once ct more shifts
 * are done is added now, ct bits lower (bit 40 - ct), and ct grows by 8, so RENORMD takes
 * bytes in once per 32 shifts, not once per 8.  The value is the same: the byte lands on
 * zero bits and carries nothing.  The exception is the byte after a 0xFF (added at bit 9, its
 * top bit a carry into the 0xFF): it is added only at BYTEIN's own time (ct == 0), so a carry
 * never reaches C earlier than C.3.4 lets it.  At a marker (0xFF then > 0x8F) 1-bits are fed
 * without advancing. */
#define J2K_MQ_FILL(c, ct, bp)                                                                 \
    do {                                                                                       \
        for (int i_ = 0; i_ < 4; i_++) {                                                       \
            if (J2K_UNLIKELY((bp)[0] == 0xFF)) {                                               \
                if ((bp)[1] > 0x8F) {                                                          \
                    (c) += (uint64_t)0xFF << (40 - (ct));                                      \
                    (ct) += 8;                                                                 \
                } else {                                                                       \
                    if ((ct) != 0) break;                                                      \
                    (bp)++;                                                                    \
                    (c) += (uint64_t)(bp)[0] << 41;                                            \
                    (ct) = 7;                                                                  \
                }                                                                              \
            } else {                                                                           \
                (bp)++;                                                                        \
                (c) += (uint64_t)(bp)[0] << (40 - (ct));                                       \
                (ct) += 8;                                                                     \
            }                                                                                  \
        }                                                                                      \
    } while (0)

/* C.3.3 RENORMD: shift A and C left until A << 16 >= 0x80000000, n = the leading zeros of A
 * (A >= Qe > 0) at once, taking bytes in when ct runs out. */
#define J2K_MQ_RENORM(a, c, ct, bp)                                                            \
    do {                                                                                       \
        uint32_t n_ = (uint32_t)j2k_clz32(a);                                                  \
        while (J2K_UNLIKELY(n_ > (ct))) {                                                      \
            (a) <<= (ct);                                                                      \
            (c) <<= (ct);                                                                      \
            n_ -= (ct);                                                                        \
            (ct) = 0;                                                                          \
            J2K_MQ_FILL(c, ct, bp);                                                            \
        }                                                                                      \
        (a) <<= n_;                                                                            \
        (c) <<= n_;                                                                            \
        (ct) -= n_;                                                                            \
    } while (0)

/* C.3.2 DECODE into d, context byte at cx.  The common case (C_high >= Qe, then an MPS with
 * A still >= 0x8000) costs a load of the context, one of the table, two subtractions and two
 * tests. */
#define J2K_MQ_DECODE(d, cx, a, c, ct, bp)                                                     \
    do {                                                                                       \
        j2k_mq_cx e_ = *(cx);                                                                  \
        uint32_t qe_ = J2K_MQ_QE(e_);                                                          \
        (a) -= qe_;                                                                            \
        (d) = J2K_MQ_MPS(e_);                                                                  \
        if (J2K_LIKELY((c) >= J2K_MQ_QE64(e_))) {                                              \
            (c) -= J2K_MQ_QE64(e_);                                                            \
            if ((int32_t)(a) >= 0) {                                                           \
                if ((a) < qe_) {                                                               \
                    (d) ^= 1;                                                                  \
                    *(cx) = J2K_MQ_NLPS(e_);                                                   \
                } else {                                                                       \
                    *(cx) = J2K_MQ_NMPS(e_);                                                   \
                }                                                                              \
                J2K_MQ_RENORM(a, c, ct, bp);                                                   \
            }                                                                                  \
        } else {                                                                               \
            if ((a) < qe_) {                                                                   \
                *(cx) = J2K_MQ_NMPS(e_);                                                       \
            } else {                                                                           \
                (d) ^= 1;                                                                      \
                *(cx) = J2K_MQ_NLPS(e_);                                                       \
            }                                                                                  \
            (a) = qe_;                                                                         \
            J2K_MQ_RENORM(a, c, ct, bp);                                                       \
        }                                                                                      \
    } while (0)

/* The same DECODE without a branch on the outcome, for decisions near probability 1/2 (the
 * refinement pass), where a predictor guesses the branches above wrongly about half the time:
 * both exchanges by conditional moves (the decision is MPS ^ (A < Qe) ^ (C < Qe), A < Qe
 * being false whenever no renormalisation follows), the context updated when A falls below
 * 0x8000, and RENORMD as one shift by the leading zeros of A, with bytes taken in only when
 * CT runs out. */
#define J2K_MQ_DECODE_BL(d, cx, a, c, ct, bp)                                                  \
    do {                                                                                       \
        j2k_mq_cx v_ = *(cx);                                                                  \
        J2K_MQ_DECODE_BLV(d, v_, a, c, ct, bp);                                                \
        *(cx) = v_;                                                                            \
    } while (0)

/* Selections for the branch-free decode.  On x86-64 with GCC or Clang a conditional move (the
 * compilers turn ?: on these unpredictable conditions into branches, and the mask versions
 * below into three or four dependent instructions); elsewhere masks. */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(TD_J2K_NO_ASM)
static inline uint64_t j2k_sel_lt(uint64_t p, uint64_t q, uint64_t x, uint64_t y) /* p < q ? x : y */
{
    __asm__("cmp %2, %1\n\tcmovb %3, %0" : "+r"(y) : "r"(p), "r"(q), "r"(x) : "cc");
    return y;
}
static inline uint64_t j2k_sel_nz(uint32_t t, uint64_t x, uint64_t y) /* t ? x : y */
{
    __asm__("test %1, %1\n\tcmovne %2, %0" : "+r"(y) : "r"(t), "r"(x) : "cc");
    return y;
}
static inline uint64_t j2k_sel_neg(uint32_t t, uint64_t x, uint64_t y) /* (int32_t)t < 0 ? x : y */
{
    __asm__("test %1, %1\n\tcmovs %2, %0" : "+r"(y) : "r"(t), "r"(x) : "cc");
    return y;
}
#else
static inline uint64_t j2k_sel_lt(uint64_t p, uint64_t q, uint64_t x, uint64_t y)
{
    return y ^ ((x ^ y) & (0u - (uint64_t)(p < q)));
}
static inline uint64_t j2k_sel_nz(uint32_t t, uint64_t x, uint64_t y)
{
    return y ^ ((x ^ y) & (0u - (uint64_t)(t != 0)));
}
static inline uint64_t j2k_sel_neg(uint32_t t, uint64_t x, uint64_t y)
{
    return y ^ ((x ^ y) & (0u - (uint64_t)(t >> 31)));
}
#endif

/* J2K_MQ_DECODE_BL on a context entry held in a variable v (updated).  The decision is
 * MPS ^ (A - Qe < Qe) ^ (C < Qe); in the LPS interval (C < Qe) A becomes Qe and C stays, else
 * both lose Qe; the context moves to its NLPS or NMPS entry (which one: the decision) unless
 * A still has its top bit, when nothing renormalises. */
#define J2K_MQ_DECODE_BLV(d, v, a, c, ct, bp)                                                  \
    do {                                                                                       \
        j2k_mq_cx e_ = (v);                                                                    \
        uint32_t qe_ = J2K_MQ_QE(e_);                                                          \
        uint64_t qe64_ = J2K_MQ_QE64(e_);                                                      \
        uint32_t a1_ = (a) - qe_;                                                              \
        uint32_t sw_ = (uint32_t)((c) < qe64_) ^ (uint32_t)(a1_ < qe_); /* 1: LPS decoded */   \
        (d) = J2K_MQ_MPS(e_) ^ sw_;                                                            \
        j2k_mq_cx nm_ = J2K_MQ_NMPS(e_), nl_ = J2K_MQ_NLPS(e_); /* loaded beside the tests */   \
        (a) = (uint32_t)j2k_sel_lt((c), qe64_, qe_, a1_);                                      \
        (c) = j2k_sel_lt((c), qe64_, (c), (c) - qe64_);                                        \
        (v) = j2k_sel_neg((a), e_, j2k_sel_nz(sw_, nl_, nm_));                                 \
        J2K_MQ_RENORM(a, c, ct, bp);                                                           \
    } while (0)

/* Raw (bypass) segments, D.6: bits MSB first, a 0 bit stuffed after each 0xFF (of the byte
 * after it only the low seven bits count), 1-bits fed at a marker (0xFF then > 0x8F) without
 * advancing.  The bits are taken in ahead, the stuffing removed, into a 64-bit word (the next
 * bit its top bit), so a pass reads one or two bits with shifts and takes bytes in once per
 * 50-odd bits. */
typedef struct j2k_raw {
    const uint8_t *bp;  /* the next byte */
    uint64_t b;         /* n bits, from the top */
    uint32_t n, last;   /* last: the byte taken in last (0xFF: stuffing or a marker follows) */
} j2k_raw;

static inline void j2k_raw_init(j2k_raw *r, const uint8_t *data)
{
    r->bp = data;
    r->b = 0;
    r->n = 0;
    r->last = 0;
}

/* Take bytes in until more than 56 bits are held. */
static inline void j2k_raw_fill(j2k_raw *r)
{
    while (r->n <= 56) {
        uint32_t v = 0xFF, k = 8;
        if (r->last != 0xFF) {
            v = *r->bp++;
        } else if (r->bp[0] <= 0x8F) {
            v = *r->bp++ & 0x7Fu;
            k = 7;
        }
        r->last = v;
        r->b |= (uint64_t)v << (64 - r->n - k);
        r->n += k;
    }
}

#endif /* TD_J2K_MQ_H */
