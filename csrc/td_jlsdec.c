/*
 * td_jlsdec.c - JPEG-LS decoder (ITU-T T.87); see td_jlsdec.h for the contract.
 *
 * Layout: bit reader (A.1 bit stuffing after 0xFF) -> Golomb codes (A.5.3, limited length)
 * -> regular mode (A.3 gradients and contexts, A.4 prediction, A.5 error, A.6 update) -> run
 * mode (A.7 run lengths, run interruption) -> line drivers per interleave mode (B.3) ->
 * marker parsing (Annex C) -> entry points.
 *
 * Results equal CharLS 2.4's on every conforming stream, including the points where T.87
 * leaves a choice to the decoder: after a restart marker the line above is taken as zero and
 * the contexts and run indices are reset; in sample-interleaved mode the run interruption
 * sample of every component uses the RItype 0 context with Rb as prediction.
 */
#include "td_jlsdec.h"

#include <stdlib.h>
#include <string.h>

#include "td_bytes.h"
#include "td_cpu.h"
#include "td_pixels.h"

#if defined(__GNUC__) || defined(__clang__)
#define TD_LIKELY(x) __builtin_expect(!!(x), 1)
#define TD_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define TD_ALWAYS_INLINE inline __attribute__((always_inline))
#define TD_NOINLINE __attribute__((noinline))
static inline int td_jlsd_clz64(uint64_t v) { return __builtin_clzll(v); }
#else
#define TD_LIKELY(x) (x)
#define TD_UNLIKELY(x) (x)
#define TD_ALWAYS_INLINE inline
#define TD_NOINLINE
static inline int td_jlsd_clz64(uint64_t v)
{
    int n = 0;
    while (!(v & 0x8000000000000000ull)) { v <<= 1; n++; }
    return n;
}
#endif

#if (defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) &&                              \
     __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__) ||                                               \
    defined(_M_X64) || defined(_M_IX86) || defined(_M_ARM64)
#define TD_JLSD_HOST_LE 1
#else
#define TD_JLSD_HOST_LE 0
#endif

#define TD_JLSD_MAX_SCAN_COMPONENTS 4

/* Marker codes (T.87 Table C.1, T.81 Table B.1). */
enum {
    TD_JLSD_SOF55 = 0xF7,
    TD_JLSD_LSE = 0xF8,
    TD_JLSD_SOS = 0xDA,
    TD_JLSD_EOI = 0xD9,
    TD_JLSD_SOI = 0xD8,
    TD_JLSD_DRI = 0xDD,
    TD_JLSD_DNL = 0xDC,
    TD_JLSD_RST0 = 0xD0,
    TD_JLSD_APP8 = 0xE8
};

/* A.7.1.2 Table A.2: run-length order J[RUNindex]. */
static const uint8_t td_jlsd_J[32] = {0, 0, 0, 0, 1, 1, 1, 1, 2,  2,  2,  2,  3,  3,  3,  3,
                                      4, 4, 5, 5, 6, 6, 7, 7, 8, 9, 10, 11, 12, 13, 14, 15};

/* ---------------------------------------------------------------------------------------------
 * Bit reader (A.1): MSB first; after a 0xFF byte the next byte carries 7 bits (its top bit is a
 * stuffed 0).  The reader covers [p, end): end is the first marker (FF followed by a byte
 * >= 0x80) after the scan data, so no marker test is needed per byte.  Past end it feeds zero
 * bits and counts them in `padded`; consuming any of them means the data was truncated.
 * ------------------------------------------------------------------------------------------- */

typedef struct td_jlsd_reader {
    uint64_t cache;     /* next bits, left-aligned */
    int64_t bits;       /* valid bits in cache (int64_t: never aliases the int32 contexts) */
    uint64_t padded;    /* zero bits appended past end */
    const uint8_t *p;
    const uint8_t *end;
} td_jlsd_reader;

static TD_NOINLINE void td_jlsd_refill_slow(td_jlsd_reader *r)
{
    while (r->bits <= 55) { /* at most 63 bits: every shift stays below 64 */
        if (r->p >= r->end) {
            r->bits += 8;
            r->padded += 8;
            continue;
        }
        uint32_t b = *r->p;
        if (b == 0xFF) {
            if (r->bits > 48) break; /* FF and its 7-bit follower go in together */
            r->cache |= (uint64_t)0xFF << (56 - r->bits);
            r->bits += 8;
            r->p++;
            if (r->p < r->end) {
                r->cache |= (uint64_t)(*r->p & 0x7Fu) << (57 - r->bits);
                r->bits += 7;
                r->p++;
            } else {
                r->bits += 7;
                r->padded += 7;
            }
            continue;
        }
        r->cache |= (uint64_t)b << (56 - r->bits);
        r->bits += 8;
        r->p++;
    }
}

/* Afterwards 49 <= bits <= 63. */
static TD_ALWAYS_INLINE void td_jlsd_refill(td_jlsd_reader *r)
{
    if (TD_LIKELY(r->end - r->p >= 8)) {
        const uint64_t w = td_load_be64(r->p), v = ~w;
        if (!((v - 0x0101010101010101ull) & ~v & 0x8080808080808080ull)) { /* no FF byte */
            const int64_t n = (63 - r->bits) >> 3;
            if (n == 0) return;
            r->cache |= (w >> (64 - 8 * n)) << (64 - r->bits - 8 * n);
            r->bits += 8 * n;
            r->p += n;
            return;
        }
    }
    /* through a copy: the caller's reader never has its address taken, so it stays in
     * registers on the fast paths */
    td_jlsd_reader t = *r;
    td_jlsd_refill_slow(&t);
    *r = t;
}

static TD_ALWAYS_INLINE void td_jlsd_skip(td_jlsd_reader *r, int64_t n)
{
    r->cache <<= n;
    r->bits -= n;
}

/* n in 1..32 bits; the caller made sure bits >= n. */
static TD_ALWAYS_INLINE uint32_t td_jlsd_peek(const td_jlsd_reader *r, int32_t n)
{
    return (uint32_t)(r->cache >> (64 - n));
}

static TD_ALWAYS_INLINE uint32_t td_jlsd_read(td_jlsd_reader *r, int32_t n)
{
    if (n == 0) return 0;
    if (r->bits < n) td_jlsd_refill(r);
    uint32_t v = td_jlsd_peek(r, n);
    td_jlsd_skip(r, n);
    return v;
}

static TD_ALWAYS_INLINE int td_jlsd_truncated(const td_jlsd_reader *r)
{
    return r->padded > (uint64_t)r->bits;
}

/* A.5.3 limited-length Golomb code: value (MErrval) or -1 for an invalid code.  An escape is
 * exactly max_prefix = limit - qbpp - 1 zeros, a one and qbpp bits of MErrval - 1. */
static TD_NOINLINE int64_t td_jlsd_golomb_slow(td_jlsd_reader *r, int32_t k, int32_t max_prefix,
                                               int32_t qbpp)
{
    int32_t q = 0;
    for (;;) {
        td_jlsd_refill(r);
        const uint64_t c = r->cache;
        const int64_t z = c ? td_jlsd_clz64(c) : 64;
        if (z < r->bits) {
            q += (int32_t)z;
            td_jlsd_skip(r, z + 1);
            break;
        }
        q += (int32_t)r->bits;
        r->cache = 0;
        r->bits = 0;
        if (q > max_prefix) return -1;
    }
    if (q < max_prefix) return ((int64_t)q << k) | (int64_t)td_jlsd_read(r, k);
    if (q == max_prefix) return (int64_t)td_jlsd_read(r, qbpp) + 1;
    return -1;
}

static TD_ALWAYS_INLINE int64_t td_jlsd_golomb(td_jlsd_reader *r, int32_t k, int32_t max_prefix,
                                               int32_t qbpp)
{
    if (r->bits < 49) td_jlsd_refill(r);
    const uint64_t c = r->cache;
    if (TD_LIKELY(c != 0)) {
        const int32_t q = td_jlsd_clz64(c);
        if (TD_LIKELY(q < max_prefix && q + 1 + k <= r->bits)) {
            const uint64_t rest = c << (q + 1);
            td_jlsd_skip(r, q + 1 + k);
            return ((int64_t)q << k) | (int64_t)((rest >> 1) >> (63 - k));
        }
    }
    td_jlsd_reader t = *r;
    const int64_t v = td_jlsd_golomb_slow(&t, k, max_prefix, qbpp);
    *r = t;
    return v;
}

/* ---------------------------------------------------------------------------------------------
 * Coding parameters and contexts (A.2, C.2.4.1.1)
 * ------------------------------------------------------------------------------------------- */

typedef struct td_jlsd_ctx { /* A.2.1 regular-mode context */
    uint32_t A;
    int32_t B, C, N;
} td_jlsd_ctx;

typedef struct td_jlsd_rictx { /* A.7.2 run interruption context (365 + RItype) */
    uint32_t A;
    int32_t N, Nn;
} td_jlsd_rictx;

typedef struct td_jlsd_preset { /* LSE id 1 values; 0 = default */
    int32_t maxval, t1, t2, t3, reset;
} td_jlsd_preset;

typedef struct td_jlsd_params {
    int32_t near, maxval, range, qbpp, limit, reset, t1, t2, t3;
    int32_t a_init;
} td_jlsd_params;

typedef struct td_jlsd_state {
    td_jlsd_params pm;
    td_jlsd_reader r;
    td_jlsd_ctx ctx[365];
    td_jlsd_rictx ri[2];
    const int8_t *qlut;   /* quantised gradient for d in [-T3, T3], centred */
    int32_t run_index[TD_JLSD_MAX_SCAN_COMPONENTS];
    int status;           /* first failure while decoding a line */
} td_jlsd_state;

static int32_t td_jlsd_clamp_t(int32_t i, int32_t j, int32_t maxval)
{
    return (i > maxval || i < j) ? j : i;
}

static int32_t td_jlsd_log2_ceil(int32_t n) /* smallest x with 2^x >= n */
{
    int32_t x = 0;
    while (x < 31 && n > (1 << x)) x++;
    return x;
}

/* C.2.4.1.1 defaults and validation; -1 when the preset values are invalid. */
static int td_jlsd_set_params(td_jlsd_params *pm, int32_t precision, int32_t near,
                              const td_jlsd_preset *ps)
{
    const int32_t pmax = (1 << precision) - 1;
    int32_t maxval = ps->maxval ? ps->maxval : pmax;
    if (maxval < 1 || maxval > pmax) return -1;
    if (near < 0 || near > (maxval / 2 < 255 ? maxval / 2 : 255)) return -1;
    int32_t t1, t2, t3;
    if (maxval >= 128) {
        const int32_t factor = ((maxval < 4095 ? maxval : 4095) + 128) / 256;
        t1 = td_jlsd_clamp_t(factor * (3 - 2) + 2 + 3 * near, near + 1, maxval);
        t2 = td_jlsd_clamp_t(factor * (7 - 3) + 3 + 5 * near, t1, maxval);
        t3 = td_jlsd_clamp_t(factor * (21 - 4) + 4 + 7 * near, t2, maxval);
    } else {
        const int32_t factor = 256 / (maxval + 1);
        int32_t v = 3 / factor + 3 * near;
        t1 = td_jlsd_clamp_t(v < 2 ? 2 : v, near + 1, maxval);
        v = 7 / factor + 5 * near;
        t2 = td_jlsd_clamp_t(v < 3 ? 3 : v, t1, maxval);
        v = 21 / factor + 7 * near;
        t3 = td_jlsd_clamp_t(v < 4 ? 4 : v, t2, maxval);
    }
    if (ps->t1) t1 = ps->t1;
    if (ps->t2) t2 = ps->t2;
    if (ps->t3) t3 = ps->t3;
    const int32_t reset = ps->reset ? ps->reset : 64;
    if (t1 < near + 1 || t1 > maxval || t2 < t1 || t2 > maxval || t3 < t2 || t3 > maxval)
        return -1;
    if (reset < 3 || reset > (maxval > 255 ? maxval : 255)) return -1;
    pm->near = near;
    pm->maxval = maxval;
    pm->range = (maxval + 2 * near) / (2 * near + 1) + 1;
    pm->qbpp = td_jlsd_log2_ceil(pm->range);
    /* CharLS: bits_per_sample = log2_ceil(MAXVAL) (T.87 writes ceil(log2(MAXVAL + 1)), the
     * same except when MAXVAL is a power of two). */
    int32_t bpp = td_jlsd_log2_ceil(maxval);
    if (bpp < 2) bpp = 2;
    pm->limit = 2 * (bpp + (bpp > 8 ? bpp : 8));
    pm->reset = reset;
    pm->t1 = t1;
    pm->t2 = t2;
    pm->t3 = t3;
    pm->a_init = (pm->range + 32) / 64 > 2 ? (pm->range + 32) / 64 : 2;
    return 0;
}

/* A.2.1 initialisation of the contexts and run indices. */
static void td_jlsd_reset_contexts(td_jlsd_state *s)
{
    for (int i = 0; i < 365; i++) {
        s->ctx[i].A = (uint32_t)s->pm.a_init;
        s->ctx[i].B = 0;
        s->ctx[i].C = 0;
        s->ctx[i].N = 1;
    }
    for (int i = 0; i < 2; i++) {
        s->ri[i].A = (uint32_t)s->pm.a_init;
        s->ri[i].N = 1;
        s->ri[i].Nn = 0;
    }
    for (int i = 0; i < TD_JLSD_MAX_SCAN_COMPONENTS; i++) s->run_index[i] = 0;
}

/* A.3.3 quantisation of one gradient, for the table. */
static int8_t td_jlsd_quantize(int32_t d, const td_jlsd_params *pm)
{
    if (d <= -pm->t3) return -4;
    if (d <= -pm->t2) return -3;
    if (d <= -pm->t1) return -2;
    if (d < -pm->near) return -1;
    if (d <= pm->near) return 0;
    if (d < pm->t1) return 1;
    if (d < pm->t2) return 2;
    if (d < pm->t3) return 3;
    return 4;
}

/* ---------------------------------------------------------------------------------------------
 * Sample decoding
 * ------------------------------------------------------------------------------------------- */

static TD_ALWAYS_INLINE int32_t td_jlsd_k(uint32_t A, int32_t N)
{
    /* smallest k with N << k >= A (A.5.1) */
    if (A <= (uint32_t)N) return 0;
    int32_t k = td_jlsd_clz64((uint64_t)(uint32_t)N) - td_jlsd_clz64((uint64_t)A);
    if (((uint64_t)(uint32_t)N << k) < A) k++;
    return k;
}

static TD_ALWAYS_INLINE int32_t td_jlsd_clamp(int32_t v, int32_t maxval)
{
    if (TD_UNLIKELY((uint32_t)v > (uint32_t)maxval)) v = v < 0 ? 0 : maxval;
    return v;
}

static TD_ALWAYS_INLINE int32_t td_jlsd_fix(int32_t rx, int32_t near, int32_t maxval,
                                            int32_t range)
{
    /* A.4.2: the encoder's modulo reduction undone (one unsigned test covers both sides),
     * then clamped to 0..MAXVAL */
    if (TD_UNLIKELY((uint32_t)(rx + near) > (uint32_t)(maxval + 2 * near)))
        rx += rx < -near ? range * (2 * near + 1) : -range * (2 * near + 1);
    return td_jlsd_clamp(rx, maxval);
}

/* Regular mode (A.3-A.6) for one sample; returns Rx or -1 on corrupt data. */
static TD_ALWAYS_INLINE int32_t td_jlsd_regular(td_jlsd_state *s, const td_jlsd_params *pm,
                                                td_jlsd_reader *r, int32_t qs, int32_t ra,
                                                int32_t rb, int32_t rc, const int32_t near,
                                                const int mask)
{
    const int32_t sign = qs >> 31;
    td_jlsd_ctx *cx = &s->ctx[(qs ^ sign) - sign];
    /* A.4.1 median edge detector */
    int32_t px;
    const int32_t mx = ra > rb ? ra : rb, mn = ra > rb ? rb : ra;
    if (rc >= mx) px = mn;
    else if (rc <= mn) px = mx;
    else px = ra + rb - rc;
    /* A.4.2 prediction correction */
    px += (cx->C ^ sign) - sign;
    px = td_jlsd_clamp(px, pm->maxval);
    const int32_t k = td_jlsd_k(cx->A, cx->N);
    const int64_t m = td_jlsd_golomb(r, k, pm->limit - pm->qbpp - 1, pm->qbpp);
    if (TD_UNLIKELY((uint64_t)m > (uint64_t)(2 * pm->range))) return -1;
    int32_t err = (int32_t)(m >> 1) ^ -(int32_t)(m & 1);
    if (near == 0 && k == 0 && 2 * cx->B + cx->N - 1 < 0) err = ~err;
    /* A.6.1 update, A.6.2 bias */
    cx->A += (uint32_t)(err < 0 ? -err : err);
    cx->B += err * (2 * near + 1);
    if (cx->N == pm->reset) {
        cx->A >>= 1;
        cx->B >>= 1; /* arithmetic: floor, as T.87's -((1 - B) >> 1) */
        cx->N >>= 1;
    }
    cx->N++;
    if (cx->B + cx->N <= 0) {
        cx->B += cx->N;
        if (cx->B <= -cx->N) cx->B = -cx->N + 1;
        if (cx->C > -128) cx->C--;
    } else if (cx->B > 0) {
        cx->B -= cx->N;
        if (cx->B > 0) cx->B = 0;
        if (cx->C < 127) cx->C++;
    }
    const int32_t e = (err ^ sign) - sign;
    if (near == 0 && mask) /* RANGE = MAXVAL + 1 = 2^P: modulo is a mask (|Errval| <= RANGE) */
        return (px + e) & pm->maxval;
    if (near == 0) {
        return td_jlsd_fix(px + e, 0, pm->maxval, pm->range);
    }
    return td_jlsd_fix(px + e * (2 * near + 1), near, pm->maxval, pm->range);
}

/* A.7.2 run interruption error (RItype = ritype); *err_out gets Errval; -1 on corrupt data. */
static TD_ALWAYS_INLINE int td_jlsd_ri_error(td_jlsd_state *s, td_jlsd_reader *r, int32_t ritype,
                            int32_t run_index, int32_t *err_out)
{
    const td_jlsd_params *pm = &s->pm;
    td_jlsd_rictx *cx = &s->ri[ritype];
    const uint32_t temp = cx->A + (uint32_t)((cx->N >> 1) * ritype);
    const int32_t k = td_jlsd_k(temp, cx->N);
    const int32_t glimit = pm->limit - td_jlsd_J[run_index] - 1;
    const int64_t m = td_jlsd_golomb(r, k, glimit - pm->qbpp - 1, pm->qbpp);
    if (m < 0 || m > 2 * (int64_t)pm->range) return -1;
    const int32_t em = (int32_t)m;
    const int32_t t = em + ritype;
    const int32_t map = t & 1;
    const int32_t abs_err = (t + map) >> 1;
    int32_t err = ((k != 0 || 2 * cx->Nn >= cx->N) == map) ? -abs_err : abs_err;
    /* the encoder's map bit (A.7.2.1) must match what the sign implies */
    int32_t expect = 0;
    if (k == 0 && err > 0 && 2 * cx->Nn < cx->N) expect = 1;
    else if (err < 0 && 2 * cx->Nn >= cx->N) expect = 1;
    else if (err < 0 && k != 0) expect = 1;
    if (expect != map) return -1;
    if (err < 0) cx->Nn++;
    cx->A += (uint32_t)((em + 1 - ritype) >> 1);
    if (cx->N == pm->reset) {
        cx->A >>= 1;
        cx->N >>= 1;
        cx->Nn >>= 1;
    }
    cx->N++;
    *err_out = err;
    return 0;
}

/* A.7.1 run length: how many samples (of `remaining`) repeat Ra; -1 on corrupt data. */
static TD_ALWAYS_INLINE int32_t td_jlsd_run_length(td_jlsd_reader *r, int32_t *run_index,
                                                   int32_t remaining)
{
    int32_t index = 0;
    for (;;) {
        if (r->bits < 1) td_jlsd_refill(r);
        const int bit = (int)(r->cache >> 63);
        td_jlsd_skip(r, 1);
        if (!bit) break;
        const int32_t full = 1 << td_jlsd_J[*run_index];
        const int32_t count = full < remaining - index ? full : remaining - index;
        index += count;
        if (count == full && *run_index < 31) (*run_index)++;
        if (index == remaining) return index;
        if (TD_UNLIKELY(td_jlsd_truncated(r))) return -1;
    }
    index += (int32_t)td_jlsd_read(r, td_jlsd_J[*run_index]);
    if (index > remaining) return -1;
    return index;
}

static TD_ALWAYS_INLINE int32_t td_jlsd_sign(int32_t v) { return (v >> 31) | 1; }

/* One line of one component (interleave modes 0 and 1).  prev/cur point at sample 0 of lines
 * with one spare sample on each side.  Returns 0 or -1 (s->status set). */
static TD_ALWAYS_INLINE int td_jlsd_line1_impl(td_jlsd_state *restrict s, const uint16_t *prev,
                                               uint16_t *cur, int32_t width, int32_t *run_index,
                                               const int32_t near, const int mask)
{
    td_jlsd_reader r = s->r;
    const td_jlsd_params pm = s->pm; /* locals: context stores cannot alias them */
    const int8_t *q = s->qlut;
    int32_t x = 0;
    int32_t rb = prev[-1], rd = prev[0];
    while (x < width) {
        const int32_t ra = cur[x - 1];
        const int32_t rc = rb;
        rb = rd;
        rd = prev[x + 1];
        const int32_t qs = (q[rd - rb] * 9 + q[rb - rc]) * 9 + q[rc - ra];
        if (qs != 0) {
            const int32_t rx = td_jlsd_regular(s, &pm, &r, qs, ra, rb, rc, near, mask);
            if (TD_UNLIKELY(rx < 0)) goto corrupt;
            cur[x++] = (uint16_t)rx;
            continue;
        }
        /* run mode */
        const int32_t n = td_jlsd_run_length(&r, run_index, width - x);
        if (TD_UNLIKELY(n < 0)) goto corrupt;
        for (int32_t i = 0; i < n; i++) cur[x + i] = (uint16_t)ra;
        x += n;
        if (x < width) {
            const int32_t rbx = prev[x];
            int32_t err, rx;
            if ((ra > rbx ? ra - rbx : rbx - ra) <= near) {
                if (td_jlsd_ri_error(s, &r, 1, *run_index, &err)) goto corrupt;
                rx = td_jlsd_fix(ra + err * (2 * near + 1), near, s->pm.maxval, s->pm.range);
            } else {
                if (td_jlsd_ri_error(s, &r, 0, *run_index, &err)) goto corrupt;
                rx = td_jlsd_fix(rbx + td_jlsd_sign(rbx - ra) * err * (2 * near + 1), near,
                                 s->pm.maxval, s->pm.range);
            }
            cur[x++] = (uint16_t)rx;
            if (*run_index > 0) (*run_index)--;
        }
        rb = prev[x - 1];
        rd = prev[x];
    }
    s->r = r;
    if (td_jlsd_truncated(&r)) {
        s->status = TD_E_TRUNCATED;
        return -1;
    }
    return 0;
corrupt:
    s->r = r;
    s->status = td_jlsd_truncated(&r) ? TD_E_TRUNCATED : TD_E_CORRUPT;
    return -1;
}

/* One line of nc (2..4) sample-interleaved components (interleave mode 2): prev/cur point at
 * pixel 0, pixels of nc samples, one spare pixel each side. */
static TD_ALWAYS_INLINE int td_jlsd_line_ilv2_impl(td_jlsd_state *s, const uint16_t *prev,
                                                    uint16_t *cur, int32_t width, int32_t nc)
{
    td_jlsd_reader r = s->r;
    const td_jlsd_params pm = s->pm;
    const int8_t *q = s->qlut;
    const int32_t near = pm.near;
    int32_t *run_index = &s->run_index[0];
    int32_t x = 0;
    while (x < width) {
        int32_t qs[TD_JLSD_MAX_SCAN_COMPONENTS], any = 0;
        const uint16_t *pa = cur + (x - 1) * nc, *pb = prev + x * nc, *pc = prev + (x - 1) * nc,
                       *pd = prev + (x + 1) * nc;
        for (int32_t c = 0; c < nc; c++) {
            qs[c] = (q[pd[c] - pb[c]] * 9 + q[pb[c] - pc[c]]) * 9 + q[pc[c] - pa[c]];
            any |= qs[c];
        }
        if (any) {
            uint16_t *px = cur + x * nc;
            for (int32_t c = 0; c < nc; c++) {
                const int32_t rx = td_jlsd_regular(s, &pm, &r, qs[c], pa[c], pb[c], pc[c], near, 0);
                if (rx < 0) goto corrupt;
                px[c] = (uint16_t)rx;
            }
            x++;
            continue;
        }
        const int32_t n = td_jlsd_run_length(&r, run_index, width - x);
        if (n < 0) goto corrupt;
        for (int32_t i = 0; i < n; i++)
            for (int32_t c = 0; c < nc; c++) cur[(x + i) * nc + c] = pa[c];
        x += n;
        if (x < width) {
            const uint16_t *rbp = prev + x * nc;
            uint16_t *px = cur + x * nc;
            for (int32_t c = 0; c < nc; c++) {
                int32_t err;
                if (td_jlsd_ri_error(s, &r, 0, *run_index, &err)) goto corrupt;
                const int32_t rbx = rbp[c], rax = pa[c];
                px[c] = (uint16_t)td_jlsd_fix(rbx + td_jlsd_sign(rbx - rax) * err * (2 * near + 1),
                                              near, s->pm.maxval, s->pm.range);
            }
            x++;
            if (*run_index > 0) (*run_index)--;
        }
    }
    s->r = r;
    if (td_jlsd_truncated(&r)) {
        s->status = TD_E_TRUNCATED;
        return -1;
    }
    return 0;
corrupt:
    s->r = r;
    s->status = td_jlsd_truncated(&r) ? TD_E_TRUNCATED : TD_E_CORRUPT;
    return -1;
}

/* The line decoders, as one set per instruction set: the one the library is built for, and on
 * x86-64 the same code with LZCNT (td_cpu.h), which the Golomb codes' prefix and k count with:
 * 9.5-13% faster on the WG04 JPEG-LS frames on AMD Zen 1. */
typedef struct td_jlsd_line_fns {
    int (*lossless)(td_jlsd_state *s, const uint16_t *prev, uint16_t *cur, int32_t width,
                    int32_t *run_index);
    int (*lossless_pow2)(td_jlsd_state *s, const uint16_t *prev, uint16_t *cur, int32_t width,
                         int32_t *run_index);
    int (*near)(td_jlsd_state *s, const uint16_t *prev, uint16_t *cur, int32_t width,
                int32_t *run_index);
    int (*ilv2)(td_jlsd_state *s, const uint16_t *prev, uint16_t *cur, int32_t width, int32_t nc);
} td_jlsd_line_fns;

#define TD_JLSD_LINES(SFX, ATTR)                                                               \
    static ATTR int td_jlsd_line1_lossless##SFX(td_jlsd_state *s, const uint16_t *prev,        \
                                                uint16_t *cur, int32_t width,                  \
                                                int32_t *run_index)                            \
    {                                                                                          \
        return td_jlsd_line1_impl(s, prev, cur, width, run_index, 0, 0);                       \
    }                                                                                          \
    static ATTR int td_jlsd_line1_lossless_pow2##SFX(td_jlsd_state *s, const uint16_t *prev,   \
                                                     uint16_t *cur, int32_t width,             \
                                                     int32_t *run_index)                       \
    {                                                                                          \
        return td_jlsd_line1_impl(s, prev, cur, width, run_index, 0, 1);                       \
    }                                                                                          \
    static ATTR int td_jlsd_line1_near##SFX(td_jlsd_state *s, const uint16_t *prev,            \
                                            uint16_t *cur, int32_t width, int32_t *run_index)  \
    {                                                                                          \
        return td_jlsd_line1_impl(s, prev, cur, width, run_index, s->pm.near, 0);              \
    }                                                                                          \
    static ATTR int td_jlsd_line_ilv2##SFX(td_jlsd_state *s, const uint16_t *prev,             \
                                           uint16_t *cur, int32_t width, int32_t nc)           \
    {                                                                                          \
        return td_jlsd_line_ilv2_impl(s, prev, cur, width, nc);                                \
    }                                                                                          \
    static const td_jlsd_line_fns td_jlsd_lines##SFX = {                                       \
        td_jlsd_line1_lossless##SFX, td_jlsd_line1_lossless_pow2##SFX,                         \
        td_jlsd_line1_near##SFX, td_jlsd_line_ilv2##SFX};

TD_JLSD_LINES(, TD_NOINLINE)
#if TD_LZCNT_TARGET
TD_JLSD_LINES(_lzcnt, TD_NOINLINE __attribute__((target("lzcnt"))))
#endif
#undef TD_JLSD_LINES

/* ---------------------------------------------------------------------------------------------
 * Output: one decoded line into the caller's pixel-interleaved buffer
 * ------------------------------------------------------------------------------------------- */

static void td_jlsd_store_line(const uint16_t *line, int32_t step, int32_t width, uint8_t *dst,
                               size_t pixel_bytes, uint32_t bps)
{
    if (bps == 1) {
        for (int32_t x = 0; x < width; x++) dst[(size_t)x * pixel_bytes] = (uint8_t)line[x * step];
    } else if (bps == 2) {
        if (TD_JLSD_HOST_LE && step == 1 && pixel_bytes == 2) {
            memcpy(dst, line, (size_t)width * 2);
            return;
        }
        for (int32_t x = 0; x < width; x++)
            td_store_le16(dst + (size_t)x * pixel_bytes, line[x * step]);
    } else {
        for (int32_t x = 0; x < width; x++)
            td_store_le32(dst + (size_t)x * pixel_bytes, line[x * step]);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Marker parsing (Annex C)
 * ------------------------------------------------------------------------------------------- */

typedef struct td_jlsd_frame {
    int32_t precision, rows, columns, nf;
    uint8_t comp_id[256];
    int32_t restart_interval;
    td_jlsd_preset preset;
    int32_t color_transform;
    /* the scan just read */
    int32_t ns, near, ilv;
    int32_t scan_comp[TD_JLSD_MAX_SCAN_COMPONENTS];
    int have_sof;
} td_jlsd_frame;

/* The first marker (FF followed by a byte >= 0x80) at or after p; end when there is none. */
static const uint8_t *td_jlsd_next_marker(const uint8_t *p, const uint8_t *end)
{
    while (p < end) {
        const uint8_t *f = memchr(p, 0xFF, (size_t)(end - p));
        if (f == NULL || f + 1 >= end) return end;
        if (f[1] >= 0x80) return f;
        p = f + 2;
    }
    return end;
}

/* Read markers from *pos until SOS (whose header is read), EOI, or an error.  *marker gets
 * the marker that stopped the loop (SOS or EOI). */
static int td_jlsd_read_markers(const uint8_t *src, size_t len, size_t *pos, td_jlsd_frame *f,
                                int *marker, td_error *err)
{
    size_t p = *pos;
    for (;;) {
        if (p + 2 > len)
            return td_fail(err, TD_E_TRUNCATED, (int64_t)p,
                           "JPEG-LS stream ends at byte %zu before EOI", len);
        if (src[p] != 0xFF)
            return td_fail(err, TD_E_CORRUPT, (int64_t)p,
                           "JPEG-LS: expected a marker at byte %zu, found %02X", p, src[p]);
        while (p + 1 < len && src[p + 1] == 0xFF) p++; /* fill bytes (B.1.1.2) */
        if (p + 2 > len)
            return td_fail(err, TD_E_TRUNCATED, (int64_t)p, "JPEG-LS stream ends in fill bytes");
        const int m = src[p + 1];
        const size_t at = p;
        p += 2;
        if (m == TD_JLSD_EOI) {
            *pos = p;
            *marker = m;
            return TD_OK;
        }
        if (m == TD_JLSD_SOI || (m >= TD_JLSD_RST0 && m <= TD_JLSD_RST0 + 7) || m == 0x01)
            return td_fail(err, TD_E_CORRUPT, (int64_t)at,
                           "JPEG-LS: unexpected marker FF %02X at byte %zu", m, at);
        if (p + 2 > len)
            return td_fail(err, TD_E_TRUNCATED, (int64_t)p,
                           "JPEG-LS: segment FF %02X at byte %zu has no length", m, at);
        const size_t seglen = td_load_be16(src + p);
        if (seglen < 2)
            return td_fail(err, TD_E_CORRUPT, (int64_t)p,
                           "JPEG-LS: segment FF %02X at byte %zu has length %zu", m, at, seglen);
        if (p + seglen > len)
            return td_fail(err, TD_E_TRUNCATED, (int64_t)p,
                           "JPEG-LS: segment FF %02X at byte %zu (%zu bytes) runs past the end "
                           "(%zu bytes)", m, at, seglen, len);
        const uint8_t *b = src + p + 2;
        const size_t n = seglen - 2;
        p += seglen;
        if (m == TD_JLSD_SOF55) {
            if (f->have_sof)
                return td_fail(err, TD_E_CORRUPT, (int64_t)at, "JPEG-LS: second SOF55 at byte %zu",
                               at);
            if (n < 6)
                return td_fail(err, TD_E_CORRUPT, (int64_t)at, "JPEG-LS: SOF55 of %zu bytes",
                               seglen);
            f->precision = b[0];
            f->rows = td_load_be16(b + 1);
            f->columns = td_load_be16(b + 3);
            f->nf = b[5];
            if (n != 6 + 3 * (size_t)f->nf)
                return td_fail(err, TD_E_CORRUPT, (int64_t)at,
                               "JPEG-LS: SOF55 length %zu does not fit %d components", seglen,
                               f->nf);
            if (f->precision < 2 || f->precision > 16 || f->nf < 1 || f->columns == 0)
                return td_fail(err, TD_E_CORRUPT, (int64_t)at,
                               "JPEG-LS SOF55: P %d, X %d, Nf %d", f->precision, f->columns,
                               f->nf);
            if (f->rows == 0)
                return td_fail(err, TD_E_UNSUPPORTED, (int64_t)at,
                               "JPEG-LS SOF55 with Y = 0 (height in a DNL segment) is not "
                               "supported");
            for (int i = 0; i < f->nf; i++) {
                f->comp_id[i] = b[6 + 3 * i];
                for (int j = 0; j < i; j++)
                    if (f->comp_id[j] == f->comp_id[i])
                        return td_fail(err, TD_E_CORRUPT, (int64_t)at,
                                       "JPEG-LS SOF55: component id %d twice", f->comp_id[i]);
            }
            f->have_sof = 1;
        } else if (m == TD_JLSD_LSE) {
            if (n < 1)
                return td_fail(err, TD_E_CORRUPT, (int64_t)at, "JPEG-LS: empty LSE at byte %zu",
                               at);
            if (b[0] == 1) {
                if (n != 11)
                    return td_fail(err, TD_E_CORRUPT, (int64_t)at,
                                   "JPEG-LS: LSE preset parameters of %zu bytes", seglen);
                f->preset.maxval = td_load_be16(b + 1);
                f->preset.t1 = td_load_be16(b + 3);
                f->preset.t2 = td_load_be16(b + 5);
                f->preset.t3 = td_load_be16(b + 7);
                f->preset.reset = td_load_be16(b + 9);
            } else if (b[0] == 2 || b[0] == 3) {
                return td_fail(err, TD_E_UNSUPPORTED, (int64_t)at,
                               "JPEG-LS mapping tables (LSE id %d at byte %zu) are not supported",
                               b[0], at);
            } else {
                return td_fail(err, TD_E_UNSUPPORTED, (int64_t)at,
                               "JPEG-LS LSE id %d at byte %zu is not supported", b[0], at);
            }
        } else if (m == TD_JLSD_DRI) {
            if (n < 1 || n > 4)
                return td_fail(err, TD_E_CORRUPT, (int64_t)at, "JPEG-LS: DRI of %zu bytes",
                               seglen);
            uint32_t ri = 0;
            for (size_t i = 0; i < n; i++) ri = (ri << 8) | b[i];
            f->restart_interval = ri > 0x7FFFFFFFu ? 0x7FFFFFFF : (int32_t)ri;
        } else if (m == TD_JLSD_SOS) {
            if (!f->have_sof)
                return td_fail(err, TD_E_CORRUPT, (int64_t)at, "JPEG-LS: SOS before SOF55");
            if (n < 1 || b[0] < 1 || b[0] > TD_JLSD_MAX_SCAN_COMPONENTS ||
                n != 4 + 2 * (size_t)b[0])
                return td_fail(err, TD_E_CORRUPT, (int64_t)at,
                               "JPEG-LS: SOS at byte %zu: %zu bytes, Ns %d", at, seglen,
                               n ? b[0] : 0);
            f->ns = b[0];
            for (int i = 0; i < f->ns; i++) {
                int c = -1;
                for (int j = 0; j < f->nf; j++)
                    if (f->comp_id[j] == b[1 + 2 * i]) c = j;
                if (c < 0)
                    return td_fail(err, TD_E_CORRUPT, (int64_t)at,
                                   "JPEG-LS SOS: component id %d not in SOF55", b[1 + 2 * i]);
                if (b[2 + 2 * i] != 0)
                    return td_fail(err, TD_E_UNSUPPORTED, (int64_t)at,
                                   "JPEG-LS mapping table %d (SOS at byte %zu) is not supported",
                                   b[2 + 2 * i], at);
                f->scan_comp[i] = c;
            }
            f->near = b[1 + 2 * f->ns];
            f->ilv = b[2 + 2 * f->ns];
            if (f->ilv > 2 || (f->ilv == 0 && f->ns != 1))
                return td_fail(err, TD_E_CORRUPT, (int64_t)at,
                               "JPEG-LS SOS: interleave mode %d with %d components", f->ilv,
                               f->ns);
            if ((b[3 + 2 * f->ns] & 0x0F) != 0)
                return td_fail(err, TD_E_UNSUPPORTED, (int64_t)at,
                               "JPEG-LS point transform %d is not supported",
                               b[3 + 2 * f->ns] & 0x0F);
            *pos = p;
            *marker = m;
            return TD_OK;
        } else if (m == TD_JLSD_APP8 && n >= 5 && memcmp(b, "mrfx", 4) == 0) {
            f->color_transform = b[4];
            if (b[4] != 0)
                return td_fail(err, TD_E_UNSUPPORTED, (int64_t)at,
                               "JPEG-LS HP colour transform %d (APP8 mrfx) is not supported",
                               b[4]);
        } else if (m == TD_JLSD_DNL) {
            /* ignored: Y is never 0 here */
        } else if ((m >= 0xE0 && m <= 0xEF) || m == 0xFE) {
            /* APPn (SPIFF), COM: skipped */
        } else if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
            return td_fail(err, TD_E_CORRUPT, (int64_t)at,
                           "not a JPEG-LS stream: SOF marker FF %02X (T.81) at byte %zu", m, at);
        } else {
            /* other segments with a length: skipped */
        }
    }
}

/* SOI and the markers up to the first SOS; info filled. */
static int td_jlsd_open(const uint8_t *src, size_t len, td_jlsd_frame *f, size_t *pos,
                        td_jls_info *info, td_error *err)
{
    memset(f, 0, sizeof *f);
    if (len < 4) return td_fail(err, TD_E_TRUNCATED, 0, "JPEG-LS stream of %zu bytes", len);
    if (src[0] != 0xFF || src[1] != 0xD8)
        return td_fail(err, TD_E_CORRUPT, 0,
                       "not a JPEG-LS stream: starts with %02X %02X, not SOI (FF D8)", src[0],
                       src[1]);
    *pos = 2;
    int marker = 0;
    int st = td_jlsd_read_markers(src, len, pos, f, &marker, err);
    if (st != TD_OK) return st;
    if (marker != TD_JLSD_SOS)
        return td_fail(err, TD_E_CORRUPT, (int64_t)*pos, "JPEG-LS: EOI before any scan");
    td_jlsd_params pm;
    if (td_jlsd_set_params(&pm, f->precision, f->near, &f->preset) != 0)
        return td_fail(err, TD_E_CORRUPT, (int64_t)*pos,
                       "JPEG-LS: invalid coding parameters (P %d, NEAR %d, MAXVAL %d, T %d %d "
                       "%d, RESET %d)", f->precision, f->near, f->preset.maxval, f->preset.t1,
                       f->preset.t2, f->preset.t3, f->preset.reset);
    if (f->ilv != 0 && f->nf > TD_JLSD_MAX_SCAN_COMPONENTS)
        return td_fail(err, TD_E_UNSUPPORTED, (int64_t)*pos,
                       "JPEG-LS: %d components interleaved", f->nf);
    info->rows = (uint32_t)f->rows;
    info->columns = (uint32_t)f->columns;
    info->components = (uint32_t)f->nf;
    info->bits_per_sample = (uint32_t)f->precision;
    info->near = (uint32_t)f->near;
    info->interleave_mode = (uint32_t)f->ilv;
    info->color_transformation = 0;
    info->bytes_per_sample = f->precision <= 8 ? 1 : 2;
    return TD_OK;
}

int td_jlsdec_read_header(const uint8_t *src, size_t len, td_jls_info *info, td_error *err)
{
    td_error_clear(err);
    if ((src == NULL && len != 0) || info == NULL)
        return td_fail(err, TD_E_INVALID_ARGUMENT, -1, "td_jlsdec_read_header: NULL argument");
    memset(info, 0, sizeof *info);
    td_jlsd_frame f;
    size_t pos;
    return td_jlsd_open(src, len, &f, &pos, info, err);
}

int td_jlsdec_container(const td_jls_info *info, const td_jls_options *opt, uint32_t *bps,
                        td_error *err)
{
    uint32_t want = opt != NULL ? opt->bytes_per_sample : 0;
    if (want != 0 && want != 1 && want != 2 && want != 4)
        return td_fail(err, TD_E_INVALID_ARGUMENT, -1,
                       "bytes_per_sample must be 0, 1, 2 or 4, got %u", want);
    if (want == 0) want = info->bytes_per_sample;
    if (want < info->bytes_per_sample)
        return td_fail(err, TD_E_UNSUPPORTED, -1,
                       "JPEG-LS precision %u does not fit a %u-byte container",
                       info->bits_per_sample, want);
    *bps = want;
    return TD_OK;
}

int td_jlsdec_decoded_size(const td_jls_info *info, const td_jls_options *opt, size_t *size,
                           td_error *err)
{
    if (info == NULL || size == NULL)
        return td_fail(err, TD_E_INVALID_ARGUMENT, -1, "td_jlsdec_decoded_size: NULL argument");
    uint32_t bps = 0;
    int st = td_jlsdec_container(info, opt, &bps, err);
    if (st != TD_OK) return st;
    size_t n;
    if (td_mul_overflow(info->rows, info->columns, &n) ||
        td_mul_overflow(n, info->components, &n) || td_mul_overflow(n, bps, &n))
        return td_fail(err, TD_E_LIMIT, -1,
                       "JPEG-LS image %u x %u x %u x %u bytes overflows size_t", info->rows,
                       info->columns, info->components, bps);
    *size = n;
    return TD_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Scan decoding
 * ------------------------------------------------------------------------------------------- */

/* Start the bit reader at p (scan data or the byte after RSTm). */
static void td_jlsd_start(td_jlsd_reader *r, const uint8_t *p, const uint8_t *end)
{
    r->cache = 0;
    r->bits = 0;
    r->padded = 0;
    r->p = p;
    r->end = td_jlsd_next_marker(p, end);
}

/* Decode one scan whose data starts at src[*pos]; *pos ends at the marker after it. */
static int td_jlsd_scan(const uint8_t *src, size_t len, size_t *pos, const td_jlsd_frame *f,
                        uint8_t *out, uint32_t bps, td_error *err)
{
    td_jlsd_state *s = NULL;
    uint16_t *lines = NULL;
    int8_t *qtab = NULL;
    int st = TD_OK;
    s = malloc(sizeof *s);
    if (s == NULL) return td_fail(err, TD_E_NOMEM, -1, "JPEG-LS: no memory for the decoder");
    if (td_jlsd_set_params(&s->pm, f->precision, f->near, &f->preset) != 0) {
        free(s);
        return td_fail(err, TD_E_CORRUPT, (int64_t)*pos,
                       "JPEG-LS: invalid coding parameters for the scan before byte %zu (NEAR "
                       "%d)", *pos, f->near);
    }
    const int32_t t3 = s->pm.t3, maxval = s->pm.maxval;
    qtab = malloc((size_t)(2 * maxval + 1)); /* every gradient of samples in 0..MAXVAL */
    const int32_t width = f->columns, height = f->rows;
    const int32_t ns = f->ns;
    const int32_t ilv2 = f->ilv == 2 && ns > 1;
    const int32_t nlines = ilv2 ? 1 : ns;           /* line buffers per row */
    const int32_t pstride = ilv2 ? ns : 1;          /* samples per pixel in a buffer */
    const size_t line_len = ((size_t)width + 2) * (size_t)pstride;
    lines = calloc(2 * (size_t)nlines * line_len, sizeof *lines);
    if (qtab == NULL || lines == NULL) {
        st = td_fail(err, TD_E_NOMEM, -1, "JPEG-LS: no memory for %d lines of %d samples",
                     2 * nlines, width);
        goto done;
    }
    memset(qtab, -4, (size_t)(maxval - t3 + 1));
    for (int32_t d = -t3 + 1; d < t3; d++) qtab[d + maxval] = td_jlsd_quantize(d, &s->pm);
    memset(qtab + maxval + t3, 4, (size_t)(maxval - t3 + 1));
    s->qlut = qtab + maxval;
    s->status = TD_OK;
    td_jlsd_reset_contexts(s);
    td_jlsd_start(&s->r, src + *pos, src + len);

    const size_t pixel_bytes = (size_t)f->nf * bps;
    const size_t row_bytes = (size_t)width * pixel_bytes;
    const int32_t interval = f->restart_interval > 0 ? f->restart_interval : height;
    const int pow2 = (s->pm.maxval & (s->pm.maxval + 1)) == 0 && s->pm.range == s->pm.maxval + 1;
    const td_jlsd_line_fns *ln = TD_LZCNT_PICK(td_jlsd_lines);
    int32_t rst = 0;
    for (int32_t line = 0; line < height;) {
        const int32_t todo = height - line < interval ? height - line : interval;
        for (int32_t i = 0; i < todo; i++, line++) {
            uint16_t *bufs = lines + (size_t)nlines * line_len * (size_t)(line & 1);
            uint16_t *prevs = lines + (size_t)nlines * line_len * (size_t)((line & 1) ^ 1);
            for (int32_t c = 0; c < nlines; c++) {
                uint16_t *cur = bufs + (size_t)c * line_len + pstride;
                uint16_t *prev = prevs + (size_t)c * line_len + pstride;
                /* edges (A.2.1): Rd past the end repeats the last sample above; Ra before the
                 * start is the sample above */
                for (int32_t k = 0; k < pstride; k++) {
                    prev[(size_t)width * (size_t)pstride + (size_t)k] =
                        prev[(size_t)(width - 1) * (size_t)pstride + (size_t)k];
                    cur[k - pstride] = prev[k];
                }
                int rc;
                if (ilv2) rc = ln->ilv2(s, prev, cur, width, ns);
                else if (s->pm.near == 0 && pow2)
                    rc = ln->lossless_pow2(s, prev, cur, width, &s->run_index[c]);
                else if (s->pm.near == 0)
                    rc = ln->lossless(s, prev, cur, width, &s->run_index[c]);
                else rc = ln->near(s, prev, cur, width, &s->run_index[c]);
                if (rc != 0) {
                    const size_t at = (size_t)(s->r.p - src);
                    st = td_fail(err, s->status, (int64_t)at,
                                 s->status == TD_E_TRUNCATED
                                     ? "JPEG-LS scan data ends (byte %zu) before line %d of %d "
                                       "(component %d) is complete"
                                     : "JPEG-LS: invalid code near byte %zu in line %d of %d "
                                       "(component %d)",
                                 at, line, height, f->scan_comp[c]);
                    goto done;
                }
                if (ilv2) {
                    for (int32_t k = 0; k < ns; k++)
                        td_jlsd_store_line(cur + k, ns, width,
                                           out + (size_t)line * row_bytes +
                                               (size_t)f->scan_comp[k] * bps,
                                           pixel_bytes, bps);
                } else {
                    td_jlsd_store_line(cur, 1, width,
                                       out + (size_t)line * row_bytes +
                                           (size_t)f->scan_comp[c] * bps,
                                       pixel_bytes, bps);
                }
            }
        }
        if (line >= height) break;
        /* restart marker (C.2.5): RSTm with m counting modulo 8, then a fresh start */
        const uint8_t *m = s->r.end;
        while (m + 1 < src + len && m[0] == 0xFF && m[1] == 0xFF) m++;
        if (m + 2 > src + len) {
            st = td_fail(err, TD_E_TRUNCATED, (int64_t)len,
                         "JPEG-LS stream ends before restart marker %d", rst);
            goto done;
        }
        if (m[0] != 0xFF || m[1] != TD_JLSD_RST0 + rst) {
            st = td_fail(err, TD_E_CORRUPT, (int64_t)(m - src),
                         "JPEG-LS: expected RST%d at byte %zu, found %02X %02X", rst,
                         (size_t)(m - src), m[0], m[1]);
            goto done;
        }
        rst = (rst + 1) & 7;
        td_jlsd_reset_contexts(s);
        memset(lines, 0, 2 * (size_t)nlines * line_len * sizeof *lines);
        td_jlsd_start(&s->r, m + 2, src + len);
    }
    *pos = (size_t)(s->r.end - src);
done:
    free(lines);
    free(qtab);
    free(s);
    return st;
}

int td_jlsdec_decode(const uint8_t *src, size_t len, uint8_t *out, size_t out_len,
                     const td_jls_options *opt, td_error *err)
{
    static const td_jls_options defaults = {0, 0};
    td_error_clear(err);
    if (src == NULL || (out == NULL && out_len != 0))
        return td_fail(err, TD_E_INVALID_ARGUMENT, -1, "td_jlsdec_decode: NULL argument");
    if (opt == NULL) opt = &defaults;
    td_jlsd_frame f;
    td_jls_info info;
    size_t pos;
    int st = td_jlsd_open(src, len, &f, &pos, &info, err);
    if (st != TD_OK) return st;
    uint32_t bps = 0;
    size_t need = 0;
    st = td_jlsdec_container(&info, opt, &bps, err);
    if (st == TD_OK) st = td_jlsdec_decoded_size(&info, opt, &need, err);
    if (st != TD_OK) return st;
    if (out_len < need)
        return td_fail(err, TD_E_OUTPUT_TOO_SMALL, -1,
                       "JPEG-LS frame needs %zu output bytes, buffer has %zu", need, out_len);
    uint8_t done[256];
    memset(done, 0, sizeof done);
    int scans = 0;
    for (;;) {
        /* pos is just past an SOS header */
        for (int i = 0; i < f.ns; i++) {
            if (done[f.scan_comp[i]])
                return td_fail(err, TD_E_CORRUPT, (int64_t)pos,
                               "JPEG-LS: component %d coded twice (scan at byte %zu)",
                               f.scan_comp[i], pos);
            done[f.scan_comp[i]] = 1;
        }
        st = td_jlsd_scan(src, len, &pos, &f, out, bps, err);
        if (st != TD_OK) return st;
        scans++;
        int marker = 0;
        st = td_jlsd_read_markers(src, len, &pos, &f, &marker, err);
        if (st != TD_OK) return st;
        if (marker == TD_JLSD_EOI) break;
    }
    for (int i = 0; i < f.nf; i++)
        if (!done[i])
            return td_fail(err, TD_E_CORRUPT, (int64_t)pos,
                           "JPEG-LS: component %d has no scan before EOI", i);
    if ((opt->flags & TD_JLS_SIGN_EXTEND) && info.bits_per_sample < 8 * bps)
        td_pixels_fix_unused_bits(out, need / bps, bps, info.bits_per_sample, 1);
    return TD_OK;
}
