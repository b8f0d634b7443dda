/*
 * td_ljpeg.c - JPEG Lossless decoder (ITU-T T.81 Annex H, Huffman coding); see td_ljpeg.h.
 *
 * Layout: Huffman tables (Annex C, F.2.2.3) -> bit reader (F.2.2.5, B.1.1.5) -> row decoders
 * with the predictor fused in (H.1.2) -> marker parsing (Annex B) -> scan driver (H.2, restart
 * intervals E.2.4) -> public entry points.
 *
 * Decoding speed is bounded by one serial chain per Huffman lookup: peek the next bits, load
 * the table entry, shift the bits it used out of the buffer.  Everything else is arranged so
 * that nothing else sits on that chain:
 *   - each Huffman table gets a lookup table indexed by the next TD_LJPEG_LOOKUP_BITS bits;
 *     when the code and its SSSS additional bits fit, the entry holds the finished difference
 *     and the bit count, so one load decodes one sample (~97% of CT/MR samples);
 *   - for predictor 1 (and the first row of every scan or restart interval) with one Huffman
 *     table for all components of the scan, sample k of an interleaved row is predicted by
 *     sample k - Ns, so the row is one run of differences and a second, multi-symbol table
 *     decodes up to three of them per lookup (the common SV1 case: CT, MR, RGB);
 *   - the 64-bit bit buffer is refilled unconditionally once per group of lookups, eight bytes
 *     at a time when none of them is 0xFF; a group never needs more bits than a refill
 *     guarantees, so there is no per-sample bit-count test;
 *   - the row decoders are instantiated for every (Ns, predictor) pair, so the prediction is a
 *     couple of register operations, and 16-bit output is written in place.
 */
#include "td_ljpeg.h"
#include "td_bytes.h"
#include "td_jpegseg.h"

#include <stdlib.h>
#include <string.h>

/* Internal invariants, checked only in debug/fuzzing builds (-DTD_LJPEG_DEBUG). */
#ifdef TD_LJPEG_DEBUG
#include <assert.h>
#define TD_LJPEG_ASSERT(x) assert(x)
#else
#define TD_LJPEG_ASSERT(x) ((void)0)
#endif

#if defined(__GNUC__) || defined(__clang__)
#define TD_LIKELY(x) __builtin_expect(!!(x), 1)
#define TD_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define TD_ALWAYS_INLINE inline __attribute__((always_inline))
#define TD_NOINLINE __attribute__((noinline))
#elif defined(_MSC_VER)
#define TD_LIKELY(x) (x)
#define TD_UNLIKELY(x) (x)
#define TD_ALWAYS_INLINE __forceinline
#define TD_NOINLINE __declspec(noinline)
#else
#define TD_LIKELY(x) (x)
#define TD_UNLIKELY(x) (x)
#define TD_ALWAYS_INLINE inline
#define TD_NOINLINE
#endif

#if (defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) &&                              \
     __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__) ||                                               \
    defined(_M_X64) || defined(_M_IX86) || defined(_M_ARM64)
#define TD_LJPEG_HOST_LE 1
#else
#define TD_LJPEG_HOST_LE 0
#endif

/* Lookup width.  12 bits (16 KiB single / 32 KiB multi-symbol table) decodes ~97% of CT/MR
 * samples in one load and stays in L1.  A refill leaves >= 56 bits; a group of three lookups
 * of at most 12 bits each then still leaves 12 for the next group's peek, and an MCU of four
 * samples fits in one refill. */
#define TD_LJPEG_LOOKUP_BITS 12
#define TD_LJPEG_LOOKUP_SIZE (1u << TD_LJPEG_LOOKUP_BITS)
#if TD_LJPEG_LOOKUP_BITS * 4 > 56
#error "a refill must cover a group of lookups plus the next peek, and an MCU of 4 samples"
#endif

/* Scans with fewer samples than this skip the multi-symbol table (building it costs about as
 * much as decoding this many samples the plain way). */
#define TD_LJPEG_MULTI_MIN_SAMPLES 8192u

/* Single-symbol lookup entry (uint32):
 *   fast  (bits 6-7 clear): bits 0-4 = code length + SSSS, bits 16-31 = difference mod 2^16;
 *   extra (bit 6 set):      the code fits, its SSSS additional bits do not: bits 0-4 = code
 *                           length, bits 8-11 = SSSS (1..15);
 *   slow  (bit 7 set):      bits 0-4 = code length (0 when the code is longer than the
 *                           lookup), bits 8-12 = SSSS (TD_LJPEG_BAD_SSSS for a symbol > 16).
 * Multi-symbol entry (uint64), built from the single table:
 *   fast (bits 6-7 clear):  bits 0-5 = bits used by all its differences, bits 8-9 = how many
 *                           (1..3), bits 10-14 = bits used by the first alone, bits 16-31,
 *                           32-47, 48-63 = the differences mod 2^16 (0 beyond the count);
 *   otherwise:              the single entry of the first symbol. */
#define TD_LJPEG_EXTRA 0x40u
#define TD_LJPEG_SLOW 0x80u
#define TD_LJPEG_BAD_SSSS 31u

/* ---------------------------------------------------------------------------------------------
 * Huffman tables: Annex C (code generation from BITS/HUFFVAL) and F.2.2.3 (DECODE).
 * ------------------------------------------------------------------------------------------- */

typedef struct td_ljpeg_htable {
    int32_t maxcode[17];   /* F.2.2.3 MAXCODE(I); -1 when no code has length I */
    int32_t valoffset[17]; /* VALPTR(I) - MINCODE(I) */
    uint8_t bits[17];      /* BITS: bits[l] codes of length l (B.2.4.2 Li) */
    uint8_t huffval[256];  /* HUFFVAL (Vi,j) */
    int built;             /* lookup and maxcode/valoffset match bits/huffval */
    int built_multi;       /* multi matches lookup */
    uint32_t *lookup;      /* [TD_LJPEG_LOOKUP_SIZE], allocated on first use */
    uint64_t *multi;       /* [TD_LJPEG_LOOKUP_SIZE], allocated on first use */
} td_ljpeg_htable;

/* F.2.2.1 EXTEND (Figure F.12): additional bits v of category ssss (1..15) -> difference,
 * returned modulo 2^16 (H.1.2.1: reconstruction is modulo 2^16). */
static inline uint32_t td_ljpeg_extend(uint32_t v, uint32_t ssss)
{
    if (v < (1u << (ssss - 1)))
        v = v + 1u - (1u << ssss);
    return v & 0xFFFFu;
}

/* C.2 (Figures C.1-C.3) and F.2.2.3 (Figure F.15, MAXCODE/MINCODE/VALPTR), plus the lookup table
 * that replaces DECODE for codes of at most TD_LJPEG_LOOKUP_BITS bits.  The table was validated
 * when its DHT was parsed (td_ljpeg_parse_dht), so the code space cannot overflow here.
 * Returns 0, or -1 when the lookup cannot be allocated. */
static int td_ljpeg_build_table(td_ljpeg_htable *t)
{
    uint32_t code = 0, k = 0, i;
    uint32_t *lookup = t->lookup;
    if (lookup == NULL) {
        lookup = t->lookup = malloc(TD_LJPEG_LOOKUP_SIZE * sizeof *lookup);
        if (lookup == NULL)
            return -1;
    }
    for (i = 0; i < TD_LJPEG_LOOKUP_SIZE; i++)
        lookup[i] = TD_LJPEG_SLOW; /* code longer than the lookup: DECODE */
    for (uint32_t l = 1; l <= 16; l++) {
        uint32_t n = t->bits[l];
        if (n == 0) {
            t->maxcode[l] = -1;
            t->valoffset[l] = 0;
        } else {
            t->valoffset[l] = (int32_t)k - (int32_t)code;
            t->maxcode[l] = (int32_t)(code + n - 1);
        }
        for (uint32_t j = 0; j < n; j++, k++, code++) {
            uint32_t ssss = t->huffval[k];
            if (l > TD_LJPEG_LOOKUP_BITS)
                continue;
            uint32_t spare = TD_LJPEG_LOOKUP_BITS - l; /* index bits after the code */
            uint32_t *e = lookup + (code << spare);
            uint32_t r, count = 1u << spare;
            if (ssss > 16) {
                for (r = 0; r < count; r++)
                    e[r] = TD_LJPEG_SLOW | (TD_LJPEG_BAD_SSSS << 8) | l;
            } else if (ssss == 16) { /* H.1.2.2: difference 32768, no additional bits */
                for (r = 0; r < count; r++)
                    e[r] = (0x8000u << 16) | l;
            } else if (ssss == 0) {
                for (r = 0; r < count; r++)
                    e[r] = l;
            } else if (ssss <= spare) {
                for (r = 0; r < count; r++)
                    e[r] = (td_ljpeg_extend(r >> (spare - ssss), ssss) << 16) | (l + ssss);
            } else {
                for (r = 0; r < count; r++)
                    e[r] = TD_LJPEG_EXTRA | (ssss << 8) | l;
            }
        }
        code <<= 1;
    }
    t->built = 1;
    t->built_multi = 0;
    return 0;
}

/* The multi-symbol table (see TD_LJPEG_EXTRA): for every index, as many fast single entries as
 * follow one another inside the index bits, up to three.  Returns 0, or -1 on allocation
 * failure. */
static int td_ljpeg_build_multi(td_ljpeg_htable *t)
{
    const uint32_t *single = t->lookup;
    const uint32_t mask = TD_LJPEG_LOOKUP_SIZE - 1;
    uint64_t *multi = t->multi;
    if (multi == NULL) {
        multi = t->multi = malloc(TD_LJPEG_LOOKUP_SIZE * sizeof *multi);
        if (multi == NULL)
            return -1;
    }
    for (uint32_t idx = 0; idx < TD_LJPEG_LOOKUP_SIZE; idx++) {
        uint32_t e1 = single[idx], used, len, count = 1, e;
        uint64_t m;
        if (e1 & (TD_LJPEG_SLOW | TD_LJPEG_EXTRA)) {
            multi[idx] = e1;
            continue;
        }
        used = e1 & 31u;
        m = (uint64_t)(e1 & 0xFFFF0000u) | ((uint64_t)used << 10);
        while (count < 3 && used < TD_LJPEG_LOOKUP_BITS) {
            e = single[(idx << used) & mask];
            len = e & 31u;
            if ((e & (TD_LJPEG_SLOW | TD_LJPEG_EXTRA)) || len > TD_LJPEG_LOOKUP_BITS - used)
                break;
            m |= (uint64_t)(e >> 16) << (16 + 16 * count);
            used += len;
            count++;
        }
        multi[idx] = m | ((uint64_t)count << 8) | used;
    }
    t->built_multi = 1;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Bit reader over entropy-coded data: F.2.2.5 (NEXTBIT) with B.1.1.5 byte stuffing.
 * ------------------------------------------------------------------------------------------- */

/* The reader's hot state, copied into locals by the row decoders so it lives in registers. */
typedef struct td_ljpeg_bits {
    uint64_t bitbuf;    /* next bits of the stream, most significant first */
    const uint8_t *ptr; /* next byte to insert */
    uint32_t bitcnt;    /* valid bits in bitbuf (0..63); bits below them are either zero or
                           the true prefix of the byte at ptr (the fast refill overlaps) */
} td_ljpeg_bits;

/* The reader's cold state, touched only by the slow paths. */
typedef struct td_ljpeg_stream {
    const uint8_t *end; /* end of the data */
    uint32_t padded;    /* zero bits appended after a marker or the end of the data */
    uint32_t at_marker; /* the reader stopped at a marker (ptr points at its 0xFF) */
    uint32_t bad;       /* an invalid Huffman code was met */
} td_ljpeg_stream;

static void td_ljpeg_bits_init(td_ljpeg_bits *b, td_ljpeg_stream *s, const uint8_t *ptr,
                               const uint8_t *end)
{
    b->bitbuf = 0;
    b->bitcnt = 0;
    b->ptr = ptr;
    s->end = end;
    s->padded = 0;
    s->at_marker = 0;
    s->bad = 0;
}

/* B.1.1.5 / F.2.2.5: byte-wise refill to >= 56 bits.  0xFF00 is a stuffed 0xFF; 0xFF followed by
 * anything else starts a marker (fill bytes included), where the entropy-coded segment ends:
 * from there, and at the end of the data, zero bits are appended and counted in padded, so a
 * decoder that needs them is caught by td_ljpeg_check_bits. */
static TD_NOINLINE void td_ljpeg_refill_slow(td_ljpeg_bits *b, td_ljpeg_stream *s)
{
    TD_LJPEG_ASSERT(b->bitcnt < 64 && b->ptr <= s->end);
    while (b->bitcnt < 56) {
        uint32_t byte = 0;
        if (!s->at_marker && b->ptr < s->end) {
            byte = b->ptr[0];
            if (byte != 0xFF) {
                b->ptr++;
            } else if (s->end - b->ptr >= 2 && b->ptr[1] == 0x00) {
                b->ptr += 2;
            } else {
                s->at_marker = 1;
                byte = 0;
                s->padded += 8;
            }
        } else {
            s->padded += 8;
        }
        b->bitbuf |= (uint64_t)byte << (56 - b->bitcnt);
        b->bitcnt += 8;
    }
}

/* Refill to >= 56 bits.  Fast path: none of the bytes that reach the buffer is 0xFF, so eight
 * are loaded at once ("variant 4" of the branchless 64-bit refill: the buffer takes as many
 * whole bytes as fit, and the bits of the next byte that also land in it are its true prefix,
 * inserted again, identically, by the next refill). */
static TD_ALWAYS_INLINE void td_ljpeg_refill(td_ljpeg_bits *b, td_ljpeg_stream *s,
                                             const uint8_t *end)
{
    TD_LJPEG_ASSERT(b->bitcnt < 64 && b->ptr <= end);
    if (TD_LIKELY(end - b->ptr >= 8)) {
        uint64_t w = td_load_be64(b->ptr);
        /* bit 7 of a byte of ff is set iff that byte is 0xFF; a byte reaches the buffer
         * (wholly or its prefix) iff its bit 7 survives the shift by bitcnt */
        uint64_t ff = ((w & 0x7F7F7F7F7F7F7F7Full) + 0x0101010101010101ull) & w &
                      0x8080808080808080ull;
        if (TD_LIKELY((ff >> b->bitcnt) == 0)) {
            b->bitbuf |= w >> b->bitcnt;
            b->ptr += (63u - b->bitcnt) >> 3;
            b->bitcnt |= 56u;
            return;
        }
    }
    td_ljpeg_bits t = *b; /* a copy keeps *b's fields in registers in the callers */
    td_ljpeg_refill_slow(&t, s);
    *b = t;
}

/* F.2.2.3 DECODE and F.2.2.1 (receive SSSS bits, EXTEND) for codes longer than the lookup and
 * invalid symbols.  Always leaves >= 56 bits in the buffer, so the caller's group can go on
 * (also after an invalid code).  Returns the difference modulo 2^16; sets s->bad (and returns
 * 0, consuming nothing) for a code that no table entry has or a symbol above 16. */
static TD_NOINLINE uint32_t td_ljpeg_decode_slow(td_ljpeg_bits *b, td_ljpeg_stream *s,
                                                 const td_ljpeg_htable *t, uint32_t e)
{
    uint32_t len = e & 31u, ssss = TD_LJPEG_BAD_SSSS, diff = 0;
    if (b->bitcnt < 32)
        td_ljpeg_refill_slow(b, s);
    if (len == 0) {
        int32_t code = 0;
        for (len = TD_LJPEG_LOOKUP_BITS + 1; len <= 16; len++) {
            code = (int32_t)(b->bitbuf >> (64 - len));
            if (code <= t->maxcode[len])
                break;
        }
        if (len <= 16)
            ssss = t->huffval[t->valoffset[len] + code];
    } else {
        ssss = (e >> 8) & 31u;
    }
    if (ssss > 16) {
        s->bad = 1;
    } else {
        b->bitbuf <<= len;
        b->bitcnt -= len;
        if (ssss == 16) {
            diff = 0x8000u;
        } else if (ssss != 0) {
            diff = td_ljpeg_extend((uint32_t)(b->bitbuf >> (64 - ssss)), ssss);
            b->bitbuf <<= ssss;
            b->bitcnt -= ssss;
        }
    }
    td_ljpeg_refill_slow(b, s);
    return diff;
}

/* H.1.2.2 difference for a lookup entry e that is not fast: extra entries (short code, many
 * additional bits, ~3% of CT samples) inline, the rest in td_ljpeg_decode_slow.  Needs the
 * code's bits in the buffer; leaves >= 36, enough for the rest of a group. */
static TD_ALWAYS_INLINE uint32_t td_ljpeg_decode_other(td_ljpeg_bits *b, td_ljpeg_stream *s,
                                                       const td_ljpeg_htable *t, uint32_t e,
                                                       const uint8_t *end)
{
    if (e & TD_LJPEG_EXTRA) {
        const uint32_t len = e & 31u, ssss = (e >> 8) & 15u;
        uint32_t v;
        b->bitbuf <<= len;
        b->bitcnt -= len;
        if (b->bitcnt < 16)
            td_ljpeg_refill(b, s, end);
        v = (uint32_t)(b->bitbuf >> (64 - ssss));
        b->bitbuf <<= ssss;
        b->bitcnt -= ssss;
        if (b->bitcnt < 36)
            td_ljpeg_refill(b, s, end);
        return td_ljpeg_extend(v, ssss);
    }
    td_ljpeg_bits c = *b;
    uint32_t d = td_ljpeg_decode_slow(&c, s, t, e);
    *b = c;
    return d;
}

/* One H.1.2.2 difference from the single-symbol table.  With refill (a constant), the buffer
 * is refilled between the table load and the shift, off the dependency chain (see
 * td_ljpeg_decode_row_flat); the peek then needs TD_LJPEG_LOOKUP_BITS valid bits. */
static TD_ALWAYS_INLINE uint32_t td_ljpeg_decode_diff(td_ljpeg_bits *b, td_ljpeg_stream *s,
                                                      const td_ljpeg_htable *t,
                                                      const uint8_t *end, const int refill)
{
    uint32_t e = t->lookup[b->bitbuf >> (64 - TD_LJPEG_LOOKUP_BITS)];
    TD_LJPEG_ASSERT(b->bitcnt >= TD_LJPEG_LOOKUP_BITS);
    if (refill)
        td_ljpeg_refill(b, s, end);
    if (TD_LIKELY(!(e & (TD_LJPEG_SLOW | TD_LJPEG_EXTRA)))) {
        b->bitbuf <<= (e & 63u);
        b->bitcnt -= e & 31u;
        return e >> 16;
    }
    return td_ljpeg_decode_other(b, s, t, e, end);
}

/* One H.1.2.2 difference from the multi-symbol table, using only its first symbol. */
static TD_ALWAYS_INLINE uint32_t td_ljpeg_decode_first(td_ljpeg_bits *b, td_ljpeg_stream *s,
                                                       const td_ljpeg_htable *t,
                                                       const uint8_t *end)
{
    uint64_t e = t->multi[b->bitbuf >> (64 - TD_LJPEG_LOOKUP_BITS)];
    TD_LJPEG_ASSERT(b->bitcnt >= TD_LJPEG_LOOKUP_BITS);
    if (TD_LIKELY(!(e & (TD_LJPEG_SLOW | TD_LJPEG_EXTRA)))) {
        const uint32_t len = (uint32_t)(e >> 10) & 31u;
        b->bitbuf <<= len;
        b->bitcnt -= len;
        return (uint32_t)(e >> 16) & 0xFFFFu;
    }
    return td_ljpeg_decode_other(b, s, t, (uint32_t)e, end);
}

/* ---------------------------------------------------------------------------------------------
 * Row decoders: H.1.2.1 prediction (Table H.1) fused with H.1.2.2 difference decoding.
 * ------------------------------------------------------------------------------------------- */

/* Table H.1 prediction for x > 0 from Ra (left), Rb (above), Rc (above left), all 16-bit.
 * Predictors 5 and 6 halve a signed difference with an arithmetic shift; it is done on a biased
 * unsigned value so the result does not depend on how the compiler shifts negative numbers
 * (floor((b - c) / 2) = ((b - c + 2^16) >> 1) - 2^15, and -2^15 = +2^15 modulo 2^16). */
static TD_ALWAYS_INLINE uint32_t td_ljpeg_predict(int predictor, uint32_t ra, uint32_t rb,
                                                  uint32_t rc)
{
    switch (predictor) {
    case 1: return ra;
    case 2: return rb;
    case 3: return rc;
    case 4: return ra + rb - rc;
    case 5: return ra + ((rb + 0x10000u - rc) >> 1) + 0x8000u;
    case 6: return rb + ((ra + 0x10000u - rc) >> 1) + 0x8000u;
    default: return (ra + rb) >> 1;
    }
}

/* Decode one row of `columns` MCUs of ns samples each (H.1.1: in an interleaved lossless scan
 * an MCU is one sample of each component) into cur[x * ns + j], j < ns, as 16-bit
 * reconstructed values (before the point transform).  prev is the previous row in the same
 * layout (unused when predictor is 1).  Sample 0 of component j is predicted by first_pred[j]:
 * 2^(P-Pt-1) on the first row of a scan or restart interval, Rb otherwise (H.1.2.1).  ns and
 * predictor are compile-time constants at each instantiation.  Errors are left in *st (bad,
 * padded) for the caller to check after the row. */
static TD_ALWAYS_INLINE void td_ljpeg_decode_row(td_ljpeg_bits *bs, td_ljpeg_stream *st,
                                                 const td_ljpeg_htable *const *tab, uint16_t *cur,
                                                 const uint16_t *prev, uint32_t columns,
                                                 const uint32_t *first_pred, const int ns,
                                                 const int predictor)
{
    td_ljpeg_bits br = *bs;
    const uint8_t *const end = st->end;
    uint32_t ra[TD_LJPEG_MAX_COMPONENTS] = {0, 0, 0, 0};
    uint32_t x;
    int j;

    td_ljpeg_refill(&br, st, end);
    for (j = 0; j < ns; j++) { /* ns is a constant: the compiler unrolls this */
        ra[j] = (first_pred[j] + td_ljpeg_decode_diff(&br, st, tab[j], end, 0)) & 0xFFFFu;
        cur[j] = (uint16_t)ra[j];
    }
    cur += ns;
    if (predictor != 1)
        prev += ns;
    td_ljpeg_refill(&br, st, end); /* a group must start with TD_LJPEG_LOOKUP_BITS bits */
    /* sample j of MCU k of the current group: cur[k * ns + j]; Rb = prev[k * ns + j],
     * Rc = prev[(k - 1) * ns + j].  refill: the group's first lookup refills (Ns <= 3: a group
     * uses at most 3 * 12 bits, leaving 12 for the next group's peek). */
#define TD_LJPEG_SAMPLE(k, j, refill)                                                            \
    do {                                                                                         \
        uint32_t d_ = td_ljpeg_decode_diff(&br, st, tab[j], end, refill);                        \
        uint32_t px_ = predictor == 1 ? ra[j]                                                    \
                                      : td_ljpeg_predict(predictor, ra[j], prev[(k) * ns + (j)], \
                                                         prev[((k) - 1) * ns + (j)]);            \
        ra[j] = (px_ + d_) & 0xFFFFu;                                                            \
        cur[(k) * ns + (j)] = (uint16_t)ra[j];                                                   \
    } while (0)

    x = 1;
    if (ns == 1) {
        for (; x + 3 <= columns; x += 3) {
            TD_LJPEG_SAMPLE(0, 0, 1);
            TD_LJPEG_SAMPLE(1, 0, 0);
            TD_LJPEG_SAMPLE(2, 0, 0);
            cur += 3;
            if (predictor != 1)
                prev += 3;
        }
    }
    for (; x < columns; x++) {
        if (ns > 3) /* 4 * 12 bits would leave too few for a merged refill: refill first */
            td_ljpeg_refill(&br, st, end);
        TD_LJPEG_SAMPLE(0, 0, ns <= 3); /* unrolled by hand: ra[] must stay in registers */
        if (ns > 1)
            TD_LJPEG_SAMPLE(0, 1, 0);
        if (ns > 2)
            TD_LJPEG_SAMPLE(0, 2, 0);
        if (ns > 3)
            TD_LJPEG_SAMPLE(0, 3, 0);
        cur += ns;
        if (predictor != 1)
            prev += ns;
    }
#undef TD_LJPEG_SAMPLE
    *bs = br;
}

/* Row element access for td_ljpeg_decode_row_flat: 16-bit samples, or (out8) 8-bit ones. */
static TD_ALWAYS_INLINE uint32_t td_ljpeg_get(const void *row, size_t k, const int out8)
{
    return out8 ? ((const uint8_t *)row)[k] : ((const uint16_t *)row)[k];
}
static TD_ALWAYS_INLINE void td_ljpeg_put(void *row, size_t k, uint32_t v, const int out8)
{
    if (out8)
        ((uint8_t *)row)[k] = (uint8_t)v;
    else
        ((uint16_t *)row)[k] = (uint16_t)v;
}

/* Predictor 1, or the first row of a scan or restart interval (H.1.2.1), when every component
 * of the scan uses table t: sample k of the row cur[0 .. columns * ns) is predicted by sample
 * k - ns, so the multi-symbol table decodes up to three differences per lookup.  Same
 * contract as td_ljpeg_decode_row, except that with out8 (a constant) cur holds 8-bit samples:
 * the low 8 bits of a sum modulo 2^16 depend only on the low 8 bits of its terms, so this
 * predictor gives exact 8-bit output from 8-bit neighbours. */
static TD_ALWAYS_INLINE void td_ljpeg_decode_row_flat(td_ljpeg_bits *bs, td_ljpeg_stream *st,
                                                      const td_ljpeg_htable *t, void *cur,
                                                      uint32_t columns,
                                                      const uint32_t *first_pred, const int ns,
                                                      const int out8)
{
    td_ljpeg_bits br = *bs;
    const uint8_t *const end = st->end;
    const uint64_t *const multi = t->multi;
    const size_t n = (size_t)columns * (size_t)ns;
    uint32_t ra = 0; /* ns == 1: the previous sample, kept in a register */
    size_t k;
    int j;

    td_ljpeg_refill(&br, st, end);
    for (j = 0; j < ns; j++) {
        ra = first_pred[j] + td_ljpeg_decode_first(&br, st, t, end);
        td_ljpeg_put(cur, (size_t)j, ra, out8);
    }
    /* Up to three differences d1..d3 per lookup; beyond the entry's count they are 0, so the
     * extra samples written are overwritten by the next lookup and, for ns == 1, the third
     * running sum is always the last sample.  Needs three samples of room. */
#define TD_LJPEG_MULTI(refill)                                                                   \
    do {                                                                                         \
        const uint64_t e_ = multi[br.bitbuf >> (64 - TD_LJPEG_LOOKUP_BITS)];                     \
        TD_LJPEG_ASSERT(br.bitcnt >= TD_LJPEG_LOOKUP_BITS);                                      \
        if (refill)                                                                              \
            td_ljpeg_refill(&br, st, end);                                                       \
        if (TD_LIKELY(!(e_ & (TD_LJPEG_SLOW | TD_LJPEG_EXTRA)))) {                               \
            const uint32_t d1_ = (uint32_t)(e_ >> 16) & 0xFFFFu;                                 \
            const uint32_t d2_ = (uint32_t)(e_ >> 32) & 0xFFFFu;                                 \
            const uint32_t d3_ = (uint32_t)(e_ >> 48);                                           \
            br.bitbuf <<= (e_ & 63u);                                                            \
            br.bitcnt -= (uint32_t)e_ & 63u;                                                     \
            if (ns == 1) {                                                                       \
                const uint32_t v1_ = ra + d1_, v2_ = v1_ + d2_;                                  \
                ra = v2_ + d3_;                                                                  \
                td_ljpeg_put(cur, k, v1_, out8);                                                 \
                td_ljpeg_put(cur, k + 1, v2_, out8);                                             \
                td_ljpeg_put(cur, k + 2, ra, out8);                                              \
            } else if (ns == 2) {                                                                \
                const uint32_t v1_ = td_ljpeg_get(cur, k - 2, out8) + d1_;                       \
                td_ljpeg_put(cur, k, v1_, out8);                                                 \
                td_ljpeg_put(cur, k + 1, td_ljpeg_get(cur, k - 1, out8) + d2_, out8);            \
                td_ljpeg_put(cur, k + 2, v1_ + d3_, out8);                                       \
            } else {                                                                             \
                td_ljpeg_put(cur, k, td_ljpeg_get(cur, k - ns, out8) + d1_, out8);               \
                td_ljpeg_put(cur, k + 1, td_ljpeg_get(cur, k + 1 - ns, out8) + d2_, out8);       \
                td_ljpeg_put(cur, k + 2, td_ljpeg_get(cur, k + 2 - ns, out8) + d3_, out8);       \
            }                                                                                    \
            k += (size_t)(e_ >> 8) & 3u;                                                         \
        } else {                                                                                 \
            const uint32_t v_ = (ns == 1 ? ra : td_ljpeg_get(cur, k - ns, out8)) +               \
                                td_ljpeg_decode_other(&br, st, t, (uint32_t)e_, end);            \
            td_ljpeg_put(cur, k, v_, out8);                                                      \
            ra = v_;                                                                             \
            k++;                                                                                 \
        }                                                                                        \
    } while (0)

    /* Groups of three lookups, the first of which refills between its table load and its
     * shift: the peek only needs TD_LJPEG_LOOKUP_BITS valid bits, which a group leaves
     * (56 - 3 * 12 >= 12), and the refill then runs in the shadow of the load instead of
     * lengthening the bit buffer's dependency chain. */
    k = (size_t)ns;
    td_ljpeg_refill(&br, st, end);
    while (k + 3 * 3 <= n) {
        TD_LJPEG_MULTI(1);
        TD_LJPEG_MULTI(0);
        TD_LJPEG_MULTI(0);
    }
    while (k + 3 <= n)
        TD_LJPEG_MULTI(1);
#undef TD_LJPEG_MULTI
    for (; k < n; k++) {
        uint32_t v;
        td_ljpeg_refill(&br, st, end);
        v = (ns == 1 ? ra : td_ljpeg_get(cur, k - ns, out8)) +
            td_ljpeg_decode_first(&br, st, t, end);
        td_ljpeg_put(cur, k, v, out8);
        ra = v;
    }
    *bs = br;
}

/* Instantiations: td_ljpeg_row_fns[Ns - 1][predictor - 1] and
 * td_ljpeg_flat_fns[8-bit output][Ns - 1]. */
typedef void (*td_ljpeg_row_fn)(td_ljpeg_bits *, td_ljpeg_stream *,
                                const td_ljpeg_htable *const *, uint16_t *, const uint16_t *,
                                uint32_t, const uint32_t *);
typedef void (*td_ljpeg_flat_fn)(td_ljpeg_bits *, td_ljpeg_stream *, const td_ljpeg_htable *,
                                 void *, uint32_t, const uint32_t *);

#define TD_LJPEG_ROW_FN(ns, predictor)                                                           \
    static void td_ljpeg_row_##ns##_##predictor(                                                 \
        td_ljpeg_bits *bs, td_ljpeg_stream *st, const td_ljpeg_htable *const *tab,               \
        uint16_t *cur, const uint16_t *prev, uint32_t columns, const uint32_t *first_pred)       \
    {                                                                                            \
        td_ljpeg_decode_row(bs, st, tab, cur, prev, columns, first_pred, ns, predictor);         \
    }
#define TD_LJPEG_ROW_FNS(ns)                                                                     \
    TD_LJPEG_ROW_FN(ns, 1)                                                                       \
    TD_LJPEG_ROW_FN(ns, 2)                                                                       \
    TD_LJPEG_ROW_FN(ns, 3)                                                                       \
    TD_LJPEG_ROW_FN(ns, 4)                                                                       \
    TD_LJPEG_ROW_FN(ns, 5)                                                                       \
    TD_LJPEG_ROW_FN(ns, 6)                                                                       \
    TD_LJPEG_ROW_FN(ns, 7)                                                                       \
    static void td_ljpeg_flat_##ns(td_ljpeg_bits *bs, td_ljpeg_stream *st,                       \
                                   const td_ljpeg_htable *t, void *cur, uint32_t columns,        \
                                   const uint32_t *first_pred)                                   \
    {                                                                                            \
        td_ljpeg_decode_row_flat(bs, st, t, cur, columns, first_pred, ns, 0);                    \
    }                                                                                            \
    static void td_ljpeg_flat8_##ns(td_ljpeg_bits *bs, td_ljpeg_stream *st,                      \
                                    const td_ljpeg_htable *t, void *cur, uint32_t columns,       \
                                    const uint32_t *first_pred)                                  \
    {                                                                                            \
        td_ljpeg_decode_row_flat(bs, st, t, cur, columns, first_pred, ns, 1);                    \
    }
TD_LJPEG_ROW_FNS(1)
TD_LJPEG_ROW_FNS(2)
TD_LJPEG_ROW_FNS(3)
TD_LJPEG_ROW_FNS(4)

#define TD_LJPEG_ROW_ENTRY(ns)                                                                   \
    {td_ljpeg_row_##ns##_1, td_ljpeg_row_##ns##_2, td_ljpeg_row_##ns##_3,                        \
     td_ljpeg_row_##ns##_4, td_ljpeg_row_##ns##_5, td_ljpeg_row_##ns##_6,                        \
     td_ljpeg_row_##ns##_7}
static const td_ljpeg_row_fn td_ljpeg_row_fns[4][7] = {
    TD_LJPEG_ROW_ENTRY(1), TD_LJPEG_ROW_ENTRY(2), TD_LJPEG_ROW_ENTRY(3), TD_LJPEG_ROW_ENTRY(4)};
static const td_ljpeg_flat_fn td_ljpeg_flat_fns[2][4] = {
    {td_ljpeg_flat_1, td_ljpeg_flat_2, td_ljpeg_flat_3, td_ljpeg_flat_4},
    {td_ljpeg_flat8_1, td_ljpeg_flat8_2, td_ljpeg_flat8_3, td_ljpeg_flat8_4}};

/* ---------------------------------------------------------------------------------------------
 * Marker parsing: Annex B.
 * ------------------------------------------------------------------------------------------- */

/* Marker codes, T.81 Table B.1 (second byte). */
enum {
    TD_LJPEG_SOF0 = 0xC0,
    TD_LJPEG_SOF3 = 0xC3,
    TD_LJPEG_DHT = 0xC4,
    TD_LJPEG_JPG = 0xC8,
    TD_LJPEG_DAC = 0xCC,
    TD_LJPEG_SOF15 = 0xCF,
    TD_LJPEG_RST0 = 0xD0,
    TD_LJPEG_RST7 = 0xD7,
    TD_LJPEG_SOI = 0xD8,
    TD_LJPEG_EOI = 0xD9,
    TD_LJPEG_SOS = 0xDA,
    TD_LJPEG_DNL = 0xDC,
    TD_LJPEG_DRI = 0xDD,
    TD_LJPEG_DHP = 0xDE,
    TD_LJPEG_SOF55 = 0xF7 /* JPEG-LS (ITU-T T.87), not T.81 */
};

typedef struct td_ljpeg_scan {
    uint32_t ns;                                /* Ns */
    uint32_t comp[TD_LJPEG_MAX_COMPONENTS];     /* frame index of scan component j (from Csj) */
    uint32_t table[TD_LJPEG_MAX_COMPONENTS];    /* Tdj */
    uint32_t predictor;                         /* Ss */
    uint32_t point_transform;                   /* Al */
    size_t data_offset;                         /* first byte of the entropy-coded segment */
} td_ljpeg_scan;

typedef struct td_ljpeg_parser {
    const uint8_t *src;
    size_t len;
    td_error *err;
    td_ljpeg_htable *tables;    /* [4] when decoding; NULL when only reading the header */
    uint32_t defined_tables;    /* bit Th set once a DHT defined table Th */
    int have_frame;
    uint32_t precision, rows, columns, nf;
    uint8_t id[TD_LJPEG_MAX_COMPONENTS], h[TD_LJPEG_MAX_COMPONENTS], v[TD_LJPEG_MAX_COMPONENTS];
    uint32_t restart_interval;
} td_ljpeg_parser;

/* Result of td_ljpeg_next_scan when the codestream has no further scan. */
#define TD_LJPEG_NO_SCAN 1

static const char *td_ljpeg_sof_name(uint32_t n)
{
    switch (n) {
    case 0: return "baseline DCT";
    case 1: return "extended sequential DCT";
    case 2: return "progressive DCT";
    case 5: return "hierarchical, differential sequential DCT";
    case 6: return "hierarchical, differential progressive DCT";
    case 7: return "hierarchical, differential lossless";
    case 9: return "arithmetic coding";
    case 10: return "arithmetic coding, progressive DCT";
    case 11: return "arithmetic coding, lossless";
    case 13: return "hierarchical, arithmetic coding, differential sequential DCT";
    case 14: return "hierarchical, arithmetic coding, differential progressive DCT";
    default: return "hierarchical, arithmetic coding, differential lossless";
    }
}

/* B.2.2 frame header (SOF3). pos is the first byte after the marker. */
static int td_ljpeg_parse_sof(td_ljpeg_parser *p, size_t pos, uint32_t length)
{
    const uint8_t *s = p->src + pos + 2;
    uint32_t i, k;
    if (p->have_frame)
        return td_fail(p->err, TD_E_CORRUPT, (int64_t)pos - 2,
                       "second SOF marker: only one frame is allowed outside hierarchical mode");
    if (length < 8)
        return td_fail(p->err, TD_E_CORRUPT, (int64_t)pos, "SOF3 length %u is shorter than 8",
                       length);
    p->precision = s[0];
    p->rows = td_load_be16(s + 1);
    p->columns = td_load_be16(s + 3);
    p->nf = s[5];
    if (p->precision < 2 || p->precision > 16)
        return td_fail(p->err, TD_E_CORRUPT, (int64_t)pos + 2,
                       "SOF3 precision %u is outside 2..16", p->precision);
    if (p->columns == 0)
        return td_fail(p->err, TD_E_CORRUPT, (int64_t)pos + 5, "SOF3 has 0 samples per line");
    if (p->nf == 0)
        return td_fail(p->err, TD_E_CORRUPT, (int64_t)pos + 7, "SOF3 has 0 components");
    if (p->nf > TD_LJPEG_MAX_COMPONENTS)
        return td_fail(p->err, TD_E_UNSUPPORTED, (int64_t)pos + 7,
                       "SOF3 has %u components; at most %d are supported", p->nf,
                       TD_LJPEG_MAX_COMPONENTS);
    if (length != 8 + 3 * p->nf)
        return td_fail(p->err, TD_E_CORRUPT, (int64_t)pos,
                       "SOF3 length %u does not match %u components (expected %u)", length,
                       p->nf, 8 + 3 * p->nf);
    for (i = 0; i < p->nf; i++) {
        const uint8_t *c = s + 6 + 3 * i;
        p->id[i] = c[0];
        p->h[i] = (uint8_t)(c[1] >> 4);
        p->v[i] = (uint8_t)(c[1] & 15);
        if (p->h[i] < 1 || p->h[i] > 4 || p->v[i] < 1 || p->v[i] > 4)
            return td_fail(p->err, TD_E_CORRUPT, (int64_t)(pos + 9 + 3 * i),
                           "SOF3 component %u has sampling factors %ux%u outside 1..4", i,
                           p->h[i], p->v[i]);
        for (k = 0; k < i; k++)
            if (p->id[k] == p->id[i])
                return td_fail(p->err, TD_E_CORRUPT, (int64_t)(pos + 8 + 3 * i),
                               "SOF3 component identifier %u appears twice", p->id[i]);
        if (p->nf > 1 && (p->h[i] != p->h[0] || p->v[i] != p->v[0]))
            return td_fail(p->err, TD_E_UNSUPPORTED, (int64_t)(pos + 9 + 3 * i),
                           "SOF3 components with different sampling factors (%ux%u, %ux%u)",
                           p->h[0], p->v[0], p->h[i], p->v[i]);
    }
    p->have_frame = 1;
    return TD_OK;
}

/* B.2.4.2 Huffman table specification (one DHT segment, any number of tables); C.2 validity:
 * the BITS counts must fit their code space (no length l has more than 2^l codes left).
 * Lossless coding uses only DC-class (Tc = 0) tables; AC-class tables are skipped. */
static int td_ljpeg_parse_dht(td_ljpeg_parser *p, size_t pos, uint32_t length)
{
    size_t q = pos + 2, end = pos + length;
    while (q < end) {
        uint32_t tc, th, total = 0, code = 0, l;
        uint8_t bits[17];
        if (end - q < 17)
            return td_fail(p->err, TD_E_CORRUPT, (int64_t)q, "DHT segment ends inside a table");
        tc = p->src[q] >> 4;
        th = p->src[q] & 15u;
        if (tc > 1 || th > 3)
            return td_fail(p->err, TD_E_CORRUPT, (int64_t)q,
                           "DHT table class %u / destination %u is invalid", tc, th);
        bits[0] = 0;
        for (l = 1; l <= 16; l++) {
            /* C.2 Figure C.2: codes of length l run from code to code + bits[l] - 1 */
            bits[l] = p->src[q + l];
            total += bits[l];
            code += bits[l];
            if (code > (1u << l))
                return td_fail(p->err, TD_E_CORRUPT, (int64_t)(q + l),
                               "DHT table %u has more codes of length <= %u than fit", th, l);
            code <<= 1;
        }
        if (total > 256 || (size_t)(end - q - 17) < total)
            return td_fail(p->err, TD_E_CORRUPT, (int64_t)q,
                           "DHT table %u declares %u values but the segment holds %zu", th,
                           total, (size_t)(end - q - 17));
        if (tc == 0) {
            if (p->tables != NULL) {
                td_ljpeg_htable *t = &p->tables[th];
                memcpy(t->bits, bits, sizeof bits);
                memcpy(t->huffval, p->src + q + 17, total);
                t->built = 0;
            }
            p->defined_tables |= 1u << th;
        }
        q += 17 + total;
    }
    return TD_OK;
}

/* B.2.3 scan header. pos is the first byte after the marker. */
static int td_ljpeg_parse_sos(td_ljpeg_parser *p, size_t pos, uint32_t length, td_ljpeg_scan *sc)
{
    const uint8_t *s = p->src + pos + 2;
    uint32_t j, k;
    if (!p->have_frame)
        return td_fail(p->err, TD_E_CORRUPT, (int64_t)pos - 2, "SOS before any SOF marker");
    if (length < 3)
        return td_fail(p->err, TD_E_CORRUPT, (int64_t)pos, "SOS length %u is too short", length);
    sc->ns = s[0];
    if (sc->ns < 1 || sc->ns > p->nf)
        return td_fail(p->err, TD_E_CORRUPT, (int64_t)pos + 2,
                       "SOS has %u components; the frame has %u", sc->ns, p->nf);
    if (length != 6 + 2 * sc->ns)
        return td_fail(p->err, TD_E_CORRUPT, (int64_t)pos,
                       "SOS length %u does not match %u components (expected %u)", length,
                       sc->ns, 6 + 2 * sc->ns);
    for (j = 0; j < sc->ns; j++) {
        uint32_t cs = s[1 + 2 * j], td = s[2 + 2 * j] >> 4;
        for (k = 0; k < p->nf && p->id[k] != cs; k++)
            ;
        if (k == p->nf)
            return td_fail(p->err, TD_E_CORRUPT, (int64_t)(pos + 3 + 2 * j),
                           "SOS component selector %u is not a frame component", cs);
        for (uint32_t i = 0; i < j; i++)
            if (sc->comp[i] == k)
                return td_fail(p->err, TD_E_CORRUPT, (int64_t)(pos + 3 + 2 * j),
                               "SOS selects component %u twice", cs);
        if (td > 3 || !(p->defined_tables & (1u << td)))
            return td_fail(p->err, TD_E_CORRUPT, (int64_t)(pos + 4 + 2 * j),
                           "SOS component %u uses Huffman table %u, which no DHT defined", cs,
                           td);
        if (sc->ns > 1 && (p->h[k] != 1 || p->v[k] != 1))
            return td_fail(p->err, TD_E_UNSUPPORTED, (int64_t)(pos + 3 + 2 * j),
                           "interleaved lossless scan with sampling factors %ux%u",
                           p->h[k], p->v[k]);
        sc->comp[j] = k;
        sc->table[j] = td;
    }
    sc->predictor = s[1 + 2 * sc->ns];
    /* Se (s[2 + 2Ns]) and Ah (high nibble of s[3 + 2Ns]) have no meaning in lossless mode and
     * are ignored; some encoders write non-zero values. */
    sc->point_transform = s[3 + 2 * sc->ns] & 15u;
    if (sc->predictor < 1 || sc->predictor > 7)
        return td_fail(p->err, TD_E_CORRUPT, (int64_t)(pos + 3 + 2 * sc->ns),
                       "SOS predictor selection value %u is outside 1..7", sc->predictor);
    if (sc->point_transform >= p->precision)
        return td_fail(p->err, TD_E_CORRUPT, (int64_t)(pos + 5 + 2 * sc->ns),
                       "SOS point transform %u is not below the precision %u",
                       sc->point_transform, p->precision);
    sc->data_offset = pos + length;
    return TD_OK;
}

/* B.1.1.2 / B.1.1.3: process markers from *pos (which must point at a marker, fill bytes
 * allowed) up to and including the next SOS.  On TD_OK, *sc is the scan and *pos its first
 * entropy-coded byte; TD_LJPEG_NO_SCAN means EOI (*pos < len: its offset) or the end of the
 * data (*pos == len) came first. */
static int td_ljpeg_next_scan(td_ljpeg_parser *p, size_t *pos, td_ljpeg_scan *sc)
{
    const uint8_t *src = p->src;
    size_t q = *pos;
    for (;;) {
        uint32_t marker = 0, length = 0;
        int seg = td_jpeg_next_segment(src, p->len, &q, &marker, &length, p->err);
        if (seg == TD_JPEG_SEGMENT_END) {
            *pos = q;
            return TD_LJPEG_NO_SCAN;
        }
        if (seg != TD_OK)
            return seg;
        if (marker >= TD_LJPEG_SOF0 && marker <= TD_LJPEG_SOF15 && marker != TD_LJPEG_DHT &&
            marker != TD_LJPEG_JPG && marker != TD_LJPEG_DAC) {
            int status;
            if (marker != TD_LJPEG_SOF3)
                return td_fail(p->err, TD_E_UNSUPPORTED, (int64_t)q - 2,
                               "JPEG SOF%u (%s) is not supported", marker - TD_LJPEG_SOF0,
                               td_ljpeg_sof_name(marker - TD_LJPEG_SOF0));
            status = td_ljpeg_parse_sof(p, q, length);
            if (status != TD_OK)
                return status;
        } else if (marker == TD_LJPEG_DHT) {
            int status = td_ljpeg_parse_dht(p, q, length);
            if (status != TD_OK)
                return status;
        } else if (marker == TD_LJPEG_DRI) {
            /* B.2.4.4 */
            if (length != 4)
                return td_fail(p->err, TD_E_CORRUPT, (int64_t)q, "DRI length %u is not 4",
                               length);
            p->restart_interval = td_load_be16(src + q + 2);
        } else if (marker == TD_LJPEG_SOS) {
            int status = td_ljpeg_parse_sos(p, q, length, sc);
            if (status != TD_OK)
                return status;
            *pos = q + length;
            return TD_OK;
        } else if (marker == TD_LJPEG_DHP) {
            return td_fail(p->err, TD_E_UNSUPPORTED, (int64_t)q - 2,
                           "JPEG DHP (hierarchical mode) is not supported");
        } else if (marker == TD_LJPEG_SOF55) {
            return td_fail(p->err, TD_E_UNSUPPORTED, (int64_t)q - 2,
                           "JPEG-LS (SOF55) is not JPEG Lossless (SOF3)");
        }
        /* APPn, COM, DQT, DAC, DNL, EXP, JPGn and reserved markers: skip the segment. */
        q += length;
    }
}

/* B.1.1.5 / E.1.4: from q inside entropy-coded data, the offset of the 0xFF that starts the next
 * marker (fill bytes skipped, so src[result + 1] is the marker code), or len when there is none.
 * Stuffed 0xFF00 pairs are data. */
static size_t td_ljpeg_find_marker(const uint8_t *src, size_t len, size_t q)
{
    while (q < len) {
        const uint8_t *f = memchr(src + q, 0xFF, len - q);
        if (f == NULL)
            return len;
        q = (size_t)(f - src);
        while (q + 1 < len && src[q + 1] == 0xFF)
            q++;
        if (q + 1 >= len)
            return len;
        if (src[q + 1] != 0x00)
            return q;
        q += 2;
    }
    return len;
}

/* ---------------------------------------------------------------------------------------------
 * Public: header.
 * ------------------------------------------------------------------------------------------- */

static int td_ljpeg_parse_header(td_ljpeg_parser *p, td_ljpeg_info *info, td_ljpeg_scan *first,
                                 size_t *first_pos)
{
    size_t pos = 2;
    int status;
    if (p->len < 2 || p->src[0] != 0xFF || p->src[1] != TD_LJPEG_SOI)
        return td_fail(p->err, p->len < 2 ? TD_E_TRUNCATED : TD_E_CORRUPT, 0,
                       "the data does not start with a JPEG SOI marker (0xFFD8)");
    status = td_ljpeg_next_scan(p, &pos, first);
    if (status == TD_LJPEG_NO_SCAN)
        return td_fail(p->err, pos >= p->len ? TD_E_TRUNCATED : TD_E_CORRUPT, (int64_t)pos,
                       p->have_frame ? "the JPEG codestream has no scan (SOS)"
                                     : "the JPEG codestream has no frame header (SOF)");
    if (status != TD_OK)
        return status;
    *first_pos = pos;
    memset(info, 0, sizeof *info);
    info->rows = p->rows;
    info->columns = p->columns;
    info->components = p->nf;
    info->precision = p->precision;
    info->sof_marker = 0xFF00u | TD_LJPEG_SOF3;
    info->predictor = first->predictor;
    info->point_transform = first->point_transform;
    info->scan_components = first->ns;
    info->restart_interval = p->restart_interval;
    for (uint32_t i = 0; i < p->nf; i++) {
        info->component_ids[i] = p->id[i];
        info->sampling[i] = (uint8_t)(p->h[i] << 4 | p->v[i]);
    }
    if (p->rows == 0) {
        /* B.2.5: the number of lines follows the first scan in a DNL segment. */
        size_t q = pos;
        for (;;) {
            q = td_ljpeg_find_marker(p->src, p->len, q);
            if (q >= p->len || p->src[q + 1] < TD_LJPEG_RST0 || p->src[q + 1] > TD_LJPEG_RST7)
                break;
            q += 2;
        }
        if (q >= p->len || p->src[q + 1] != TD_LJPEG_DNL)
            return td_fail(p->err, TD_E_CORRUPT, (int64_t)q,
                           "the SOF3 has 0 lines and no DNL segment follows the first scan");
        if (p->len - q < 6 || td_load_be16(p->src + q + 2) != 4)
            return td_fail(p->err, TD_E_CORRUPT, (int64_t)q, "the DNL segment is malformed");
        info->rows = td_load_be16(p->src + q + 4);
        info->rows_from_dnl = 1;
        if (info->rows == 0)
            return td_fail(p->err, TD_E_CORRUPT, (int64_t)q + 4, "the DNL segment gives 0 lines");
    }
    return TD_OK;
}

int td_ljpeg_read_header(const uint8_t *src, size_t src_len, td_ljpeg_info *info, td_error *err)
{
    td_ljpeg_parser p;
    td_ljpeg_scan first;
    size_t pos;
    td_error_clear(err);
    if ((src == NULL && src_len != 0) || info == NULL)
        return td_fail(err, TD_E_INVALID_ARGUMENT, -1, "src and info must not be NULL");
    memset(&p, 0, sizeof p);
    p.src = src;
    p.len = src_len;
    p.err = err;
    return td_ljpeg_parse_header(&p, info, &first, &pos);
}

size_t td_ljpeg_frame_size(const td_ljpeg_info *info, uint32_t bytes_per_sample)
{
    size_t n;
    if (info == NULL || (bytes_per_sample != 1 && bytes_per_sample != 2) ||
        info->components < 1 || info->components > TD_LJPEG_MAX_COMPONENTS)
        return 0;
    if (td_mul_overflow(info->rows, info->columns, &n) ||
        td_mul_overflow(n, info->components, &n) || td_mul_overflow(n, bytes_per_sample, &n))
        return 0;
    return n;
}

/* ---------------------------------------------------------------------------------------------
 * Scan decoding: H.2 (with E.2.4 restart intervals).
 * ------------------------------------------------------------------------------------------- */

typedef struct td_ljpeg_decoder {
    td_ljpeg_htable tables[4];  /* destinations Th 0..3 */
    uint16_t *scratch;          /* two rows of columns * Nf samples, allocated on first use */
    const uint8_t *src;
    size_t len;
    uint8_t *out;
    uint32_t bytes_per_sample;
    unsigned flags;
    uint32_t rows, columns, nf, precision;
    td_error *err;
} td_ljpeg_decoder;

/* After a restart interval or a scan: the entropy decoder must not have used bits that were not
 * in the data (E.2.4, F.2.2.5: the segment ends at a marker).  Reports which. */
static int td_ljpeg_check_bits(const td_ljpeg_decoder *d, const td_ljpeg_bits *b,
                               const td_ljpeg_stream *s, uint32_t scan, uint32_t row)
{
    if (TD_UNLIKELY(s->bad))
        return td_fail(d->err, TD_E_CORRUPT, (int64_t)(b->ptr - d->src),
                       "invalid Huffman code in scan %u, row %u", scan, row);
    if (TD_UNLIKELY(s->padded > b->bitcnt)) {
        size_t at = td_ljpeg_find_marker(d->src, d->len, (size_t)(b->ptr - d->src));
        if (at >= d->len || d->src[at + 1] == TD_LJPEG_EOI)
            return td_fail(d->err, TD_E_TRUNCATED, (int64_t)at,
                           "entropy-coded data of scan %u ends at offset %zu in row %u of %u",
                           scan, at, row, d->rows);
        return td_fail(d->err, TD_E_CORRUPT, (int64_t)at,
                       "marker 0xFF%02X at offset %zu interrupts scan %u in row %u of %u",
                       d->src[at + 1], at, scan, row, d->rows);
    }
    return TD_OK;
}

/* Write one row of scratch samples (layout [x * Ns + j]) to the caller's buffer with the point
 * transform applied (H.2.1 decoding: output = reconstructed << Pt), truncated to the container. */
static void td_ljpeg_emit_row(const td_ljpeg_decoder *d, const td_ljpeg_scan *sc,
                              const uint16_t *row, uint32_t y)
{
    const uint32_t X = d->columns, ns = sc->ns, pt = sc->point_transform;
    const int planar = (d->flags & TD_LJPEG_PLANAR) != 0;
    size_t i;
    if (!planar && ns == d->nf && d->bytes_per_sample == 1 && sc->comp[0] == 0 &&
        sc->comp[ns - 1] == ns - 1) {
        /* whole interleaved row, components in frame order (the usual RGB case) */
        uint8_t *o = d->out + (size_t)y * X * ns;
        size_t n = (size_t)X * ns;
        if (pt == 0)
            for (i = 0; i < n; i++)
                o[i] = (uint8_t)row[i];
        else
            for (i = 0; i < n; i++)
                o[i] = (uint8_t)((uint32_t)row[i] << pt);
        return;
    }
    for (uint32_t j = 0; j < ns; j++) {
        const uint32_t c = sc->comp[j];
        size_t pix, first;
        if (planar) {
            first = ((size_t)c * d->rows + y) * X;
            pix = 1;
        } else {
            first = (size_t)y * X * d->nf + c;
            pix = d->nf;
        }
        if (d->bytes_per_sample == 1) {
            uint8_t *o = d->out + first;
            for (i = 0; i < X; i++)
                o[i * pix] = (uint8_t)((uint32_t)row[i * ns + j] << pt);
        } else {
            uint8_t *o = d->out + 2 * first;
            for (i = 0; i < X; i++)
                td_store_le16(o + 2 * i * pix, (uint16_t)((uint32_t)row[i * ns + j] << pt));
        }
    }
}

/* H.2: decode one scan whose entropy-coded data starts at *pos; on TD_OK *pos is the offset of
 * the marker that ends it (or the end of the data).  scan_index is for messages. */
static int td_ljpeg_decode_scan(td_ljpeg_decoder *d, const td_ljpeg_scan *sc,
                                uint32_t restart_interval, uint32_t scan_index, size_t *pos)
{
    const uint32_t X = d->columns, Y = d->rows, ns = sc->ns;
    const int planar = (d->flags & TD_LJPEG_PLANAR) != 0;
    const td_ljpeg_htable *tab[TD_LJPEG_MAX_COMPONENTS];
    const td_ljpeg_row_fn first_row_fn = td_ljpeg_row_fns[ns - 1][0];
    const td_ljpeg_row_fn row_fn = td_ljpeg_row_fns[ns - 1][sc->predictor - 1];
    td_ljpeg_flat_fn flat_fn;
    uint32_t init_pred[TD_LJPEG_MAX_COMPONENTS], rb_pred[TD_LJPEG_MAX_COMPONENTS];
    uint32_t rows_per_interval, interval = 0, y, j;
    size_t row_pitch, base = 0;
    int contiguous, direct, status, flat;
    td_ljpeg_bits br;
    td_ljpeg_stream st;

    /* The multi-symbol path: predictor 1 (every row is then a flat run of differences, see
     * td_ljpeg_decode_row_flat), one table for the whole scan, and enough samples to pay for
     * building the table. */
    flat = sc->predictor == 1 && (size_t)X * Y * ns >= TD_LJPEG_MULTI_MIN_SAMPLES;
    for (j = 0; j < ns; j++) {
        td_ljpeg_htable *t = &d->tables[sc->table[j]];
        if (!t->built && td_ljpeg_build_table(t) != 0)
            return td_fail(d->err, TD_E_NOMEM, -1, "cannot allocate a Huffman lookup table");
        tab[j] = t;
        flat = flat && sc->table[j] == sc->table[0];
        /* H.1.2.1: first sample of a scan or restart interval predicted by 2^(P-Pt-1) */
        init_pred[j] = 1u << (d->precision - sc->point_transform - 1);
    }
    if (flat && !tab[0]->built_multi && td_ljpeg_build_multi(d->tables + sc->table[0]) != 0)
        return td_fail(d->err, TD_E_NOMEM, -1, "cannot allocate a Huffman lookup table");
    if (restart_interval != 0) {
        if (restart_interval % X != 0)
            return td_fail(d->err, TD_E_UNSUPPORTED, (int64_t)sc->data_offset,
                           "restart interval %u is not a whole number of rows of %u samples",
                           restart_interval, X);
        rows_per_interval = restart_interval / X;
    } else {
        rows_per_interval = Y;
    }

    /* Where rows go.  The scan's samples are contiguous in the output when they sit there as a
     * row decoder writes them (x * Ns + j): a single-component frame, one component into planar
     * output, or all components in frame order into pixel-interleaved output.  Then rows are
     * decoded in place: 16-bit samples (direct 2), or 8-bit ones (direct 1) on the flat path
     * without point transform (see td_ljpeg_decode_row_flat).  Otherwise (direct 0) they go
     * through two scratch rows and td_ljpeg_emit_row. */
    contiguous = (ns == 1 && (planar || d->nf == 1)) || (!planar && ns == d->nf);
    for (j = 0; contiguous && ns > 1 && j < ns; j++)
        contiguous = sc->comp[j] == j;
    if (contiguous && d->bytes_per_sample == 2 && TD_LJPEG_HOST_LE && ((uintptr_t)d->out & 1) == 0)
        direct = 2;
    else if (contiguous && d->bytes_per_sample == 1 && flat && sc->point_transform == 0)
        direct = 1;
    else
        direct = 0;
    flat_fn = td_ljpeg_flat_fns[direct == 1][ns - 1];
    row_pitch = (size_t)X * ns;
    if (planar)
        base = (size_t)sc->comp[0] * Y * X; /* first sample of the plane */
    if (direct == 0) {
        if (d->scratch == NULL) {
            d->scratch = malloc(2 * sizeof(uint16_t) * (size_t)X * d->nf);
            if (d->scratch == NULL)
                return td_fail(d->err, TD_E_NOMEM, -1, "cannot allocate two rows of samples");
        }
    }

    td_ljpeg_bits_init(&br, &st, d->src + *pos, d->src + d->len);
    for (y = 0; y < Y; y++) {
        uint16_t *cur, *prev;
        uint8_t *cur8 = NULL;
        const int first_row = (y % rows_per_interval) == 0;
        if (first_row && y > 0) {
            /* E.2.4 / B.1.1.5: end of a restart interval: byte-align, expect RSTm */
            size_t q;
            uint32_t expected = TD_LJPEG_RST0 + (interval & 7u);
            status = td_ljpeg_check_bits(d, &br, &st, scan_index, y);
            if (status != TD_OK)
                return status;
            q = td_ljpeg_find_marker(d->src, d->len, (size_t)(br.ptr - d->src));
            if (q >= d->len)
                return td_fail(d->err, TD_E_TRUNCATED, (int64_t)d->len,
                               "scan %u ends before restart marker RST%u (row %u of %u)",
                               scan_index, expected - TD_LJPEG_RST0, y, Y);
            if (d->src[q + 1] != expected)
                return td_fail(d->err, TD_E_CORRUPT, (int64_t)q,
                               "expected RST%u at offset %zu before row %u, found 0xFF%02X",
                               expected - TD_LJPEG_RST0, q, y, d->src[q + 1]);
            interval++;
            td_ljpeg_bits_init(&br, &st, d->src + q + 2, d->src + d->len);
        }
        if (direct == 1) {
            cur8 = d->out + base + y * row_pitch;
            cur = prev = NULL;
            for (j = 0; j < ns && !first_row; j++)
                rb_pred[j] = (cur8 - row_pitch)[j];
        } else {
            if (direct == 2) {
                cur = (uint16_t *)(void *)d->out + base + y * row_pitch;
                prev = first_row ? NULL : cur - row_pitch;
            } else {
                cur = d->scratch + (size_t)(y & 1) * row_pitch;
                prev = d->scratch + (size_t)((y - 1) & 1) * row_pitch;
            }
            for (j = 0; j < ns && !first_row; j++)
                rb_pred[j] = prev[j];
        }
        if (flat)
            flat_fn(&br, &st, tab[0], direct == 1 ? (void *)cur8 : (void *)cur, X,
                    first_row ? init_pred : rb_pred);
        else if (first_row)
            first_row_fn(&br, &st, tab, cur, prev, X, init_pred);
        else
            row_fn(&br, &st, tab, cur, prev, X, rb_pred);
        status = td_ljpeg_check_bits(d, &br, &st, scan_index, y);
        if (status != TD_OK)
            return status;
        if (direct == 0)
            td_ljpeg_emit_row(d, sc, cur, y);
    }
    if (direct == 2 && sc->point_transform != 0) {
        /* H.2.1: scale by 2^Pt once the rows are no longer predictors */
        const uint32_t pt = sc->point_transform;
        for (y = 0; y < Y; y++) {
            uint16_t *r = (uint16_t *)(void *)d->out + base + y * row_pitch;
            for (size_t i = 0; i < row_pitch; i++)
                r[i] = (uint16_t)((uint32_t)r[i] << pt);
        }
    }
    *pos = td_ljpeg_find_marker(d->src, d->len, (size_t)(br.ptr - d->src));
    return TD_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Public: decode.
 * ------------------------------------------------------------------------------------------- */

int td_ljpeg_decode(const uint8_t *src, size_t src_len, uint8_t *out, size_t out_len,
                    uint32_t bytes_per_sample, unsigned flags, td_error *err)
{
    td_ljpeg_parser p;
    td_ljpeg_info info;
    td_ljpeg_scan sc;
    td_ljpeg_decoder *d;
    size_t pos, need;
    uint32_t done = 0, all, scan_index = 0;
    int status;

    td_error_clear(err);
    if ((src == NULL && src_len != 0) || out == NULL)
        return td_fail(err, TD_E_INVALID_ARGUMENT, -1, "src and out must not be NULL");
    if (bytes_per_sample != 1 && bytes_per_sample != 2)
        return td_fail(err, TD_E_INVALID_ARGUMENT, -1, "bytes_per_sample must be 1 or 2, got %u",
                       bytes_per_sample);
    if (flags & ~TD_LJPEG_PLANAR)
        return td_fail(err, TD_E_INVALID_ARGUMENT, -1, "unknown flags 0x%x", flags);

    memset(&p, 0, sizeof p);
    p.src = src;
    p.len = src_len;
    p.err = err;
    status = td_ljpeg_parse_header(&p, &info, &sc, &pos);
    if (status != TD_OK)
        return status;
    if (bytes_per_sample == 1 && info.precision > 8)
        return td_fail(err, TD_E_INVALID_ARGUMENT, -1,
                       "bytes_per_sample 1 needs precision <= 8, the SOF3 has %u",
                       info.precision);
    need = td_ljpeg_frame_size(&info, bytes_per_sample);
    if (need == 0)
        return td_fail(err, TD_E_LIMIT, -1, "frame size %u x %u x %u x %u overflows size_t",
                       info.rows, info.columns, info.components, bytes_per_sample);
    if (out_len < need)
        return td_fail(err, TD_E_OUTPUT_TOO_SMALL, -1,
                       "output buffer of %zu bytes is smaller than the frame's %zu", out_len,
                       need);

    d = malloc(sizeof *d);
    if (d == NULL)
        return td_fail(err, TD_E_NOMEM, -1, "cannot allocate the decoder state");
    for (int t = 0; t < 4; t++) { /* the tables' contents are written before they are read */
        d->tables[t].built = 0;
        d->tables[t].built_multi = 0;
        d->tables[t].lookup = NULL;
        d->tables[t].multi = NULL;
    }
    d->scratch = NULL;
    d->src = src;
    d->len = src_len;
    d->out = out;
    d->bytes_per_sample = bytes_per_sample;
    d->flags = flags;
    d->rows = info.rows;
    d->columns = info.columns;
    d->nf = info.components;
    d->precision = info.precision;
    d->err = err;

    /* Walk the codestream again, this time keeping the tables. */
    memset(&p, 0, sizeof p);
    p.src = src;
    p.len = src_len;
    p.err = err;
    p.tables = d->tables;
    pos = 2;
    all = (1u << info.components) - 1;
    while (done != all) {
        status = td_ljpeg_next_scan(&p, &pos, &sc);
        if (status == TD_LJPEG_NO_SCAN) {
            uint32_t c = 0;
            while (done & (1u << c))
                c++;
            status = td_fail(err, TD_E_TRUNCATED, (int64_t)pos,
                             "the codestream ends before component %u (identifier %u) was "
                             "decoded",
                             c, info.component_ids[c]);
            break;
        }
        if (status != TD_OK)
            break;
        for (uint32_t j = 0; j < sc.ns; j++) {
            if (done & (1u << sc.comp[j])) {
                status = td_fail(err, TD_E_CORRUPT, (int64_t)sc.data_offset,
                                 "scan %u decodes component %u a second time", scan_index,
                                 info.component_ids[sc.comp[j]]);
                break;
            }
            done |= 1u << sc.comp[j];
        }
        if (status != TD_OK)
            break;
        status = td_ljpeg_decode_scan(d, &sc, p.restart_interval, scan_index, &pos);
        if (status != TD_OK)
            break;
        scan_index++;
    }
    for (int t = 0; t < 4; t++) {
        free(d->tables[t].lookup);
        free(d->tables[t].multi);
    }
    free(d->scratch);
    free(d);
    return status;
}
