/*
 * mq.c - the MQ decoder's probability estimation table (T.800 Table C.2) and initialisation.
 */
#include <string.h>

#include "mq.h"

/* Table C.2 as (Qe, NMPS, NLPS, SWITCH), expanded into the entries of both context values
 * 2 * I + MPS: after an MPS the state is NMPS with the same MPS; after an LPS it is NLPS with
 * the MPS flipped when SWITCH is 1. */
#define E(q, mps, nm, nl)                                                                      \
    ((uint64_t)(q) << 48 | (uint64_t)(mps) | (uint64_t)(nm) << 8 | (uint64_t)(nl) << 16)
#define S(q, nm, nl, sw)                                                                       \
    E(q, 0, (nm) << 1, (nl) << 1 | (sw)), E(q, 1, (nm) << 1 | 1, (nl) << 1 | ((sw) ^ 1))
const j2k_mq_cx j2k_mq_table[94] = {
    S(0x5601, 1, 1, 1),   S(0x3401, 2, 6, 0),   S(0x1801, 3, 9, 0),   S(0x0AC1, 4, 12, 0),
    S(0x0521, 5, 29, 0),  S(0x0221, 38, 33, 0), S(0x5601, 7, 6, 1),   S(0x5401, 8, 14, 0),
    S(0x4801, 9, 14, 0),  S(0x3801, 10, 14, 0), S(0x3001, 11, 17, 0), S(0x2401, 12, 18, 0),
    S(0x1C01, 13, 20, 0), S(0x1601, 29, 21, 0), S(0x5601, 15, 14, 1), S(0x5401, 16, 14, 0),
    S(0x5101, 17, 15, 0), S(0x4801, 18, 16, 0), S(0x3801, 19, 17, 0), S(0x3401, 20, 18, 0),
    S(0x3001, 21, 19, 0), S(0x2801, 22, 19, 0), S(0x2401, 23, 20, 0), S(0x2201, 24, 21, 0),
    S(0x1C01, 25, 22, 0), S(0x1801, 26, 23, 0), S(0x1601, 27, 24, 0), S(0x1401, 28, 25, 0),
    S(0x1201, 29, 26, 0), S(0x1101, 30, 27, 0), S(0x0AC1, 31, 28, 0), S(0x09C1, 32, 29, 0),
    S(0x08A1, 33, 30, 0), S(0x0521, 34, 31, 0), S(0x0441, 35, 32, 0), S(0x02A1, 36, 33, 0),
    S(0x0221, 37, 34, 0), S(0x0141, 38, 35, 0), S(0x0111, 39, 36, 0), S(0x0085, 40, 37, 0),
    S(0x0049, 41, 38, 0), S(0x0025, 42, 39, 0), S(0x0015, 43, 40, 0), S(0x0009, 44, 41, 0),
    S(0x0005, 45, 42, 0), S(0x0001, 45, 43, 0), S(0x5601, 46, 46, 0),
};
#undef S
#undef E

void j2k_mq_reset(j2k_mq *mq)
{
    for (int i = 0; i < 19; i++) mq->cx[i] = j2k_mq_table[0];
    mq->cx[0] = j2k_mq_table[4 << 1];
    mq->cx[17] = j2k_mq_table[3 << 1];
    mq->cx[18] = j2k_mq_table[46 << 1];
}
void j2k_mq_init(j2k_mq *mq, const uint8_t *data)
{
    const uint8_t *bp = data;
    uint64_t c = (uint64_t)data[0] << 48;
    uint32_t ct = 0;
    J2K_MQ_FILL(c, ct, bp);
    mq->bp = bp;
    mq->c = c << 7;
    mq->ct = ct - 7;
    mq->a = 0x8000u << 16;
}

uint32_t j2k_mq_decode(j2k_mq *mq, uint32_t cx)
{
    uint32_t a = mq->a, ct = mq->ct, d;
    uint64_t c = mq->c;
    const uint8_t *bp = mq->bp;
    J2K_MQ_DECODE(d, &mq->cx[cx], a, c, ct, bp);
    mq->a = a;
    mq->c = c;
    mq->ct = ct;
    mq->bp = bp;
    return d;
}
