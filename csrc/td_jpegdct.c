/*
 * td_jpegdct.c - JPEG sequential DCT decoder (ITU-T T.81 Annex F, Huffman coding, SOF0/SOF1,
 * 8 or 12 bits per sample); see td_jpegdct.h.
 *
 * Layout: Huffman tables (Annex C, F.2.2.3) -> bit reader (F.2.2.5, B.1.1.5) -> block decoding
 * (F.2.2.1, F.2.2.2) -> inverse DCT (A.3.3, computed the way libjpeg's "islow" does) -> marker
 * parsing (Annex B) -> scan driver (E.2.3, E.2.4) -> upsampling and colour conversion -> entry
 * points.
 *
 * Output equals libjpeg-turbo 3's default decompression (JDCT_ISLOW, do_fancy_upsampling,
 * YCbCr -> RGB), re-derived from the published descriptions of those algorithms:
 *   - IDCT: the Loeffler-Ligtenberg-Moschytz 8-point IDCT in fixed point, CONST_BITS = 13,
 *     columns first with PASS1_BITS (2 at 8 bits, 1 at 12 bits) of extra precision kept in a
 *     32-bit work array, rows second; the result is wrapped modulo 4 * 2^P around the range
 *     centre and clamped (libjpeg's "range limit" table), so garbage coefficients wrap exactly
 *     as libjpeg's do.  Columns and rows whose AC terms are all zero take the exact shortcut.
 *   - Upsampling: "fancy" triangular interpolation (3/4 nearer + 1/4 further sample, with
 *     libjpeg's alternating rounding biases) for 2:1 horizontal (h2v1), 2:1 both (h2v2) and
 *     2:1 vertical (h1v2); plain replication for other integer ratios and for h2 components
 *     at most two samples wide.  Rows above the first and below the last repeat the edge row.
 *   - Colour: Y + 1.402 (Cr - c), Y - 0.34414 (Cb - c) - 0.71414 (Cr - c), Y + 1.772 (Cb - c)
 *     with 16 fractional bits, rounded as libjpeg's ycc_rgb_convert tables round.
 *
 * Working memory: for one-component frames a strip of 8 rows (one MCU row); otherwise one
 * plane of decoded samples per component (its downsampled size, padded to whole MCUs), so
 * frames with one scan per component and any sampling factors go through the same path.
 */
#include "td_jpegdct.h"
#include "td_bytes.h"
#include "td_jpegseg.h"

#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define TD_LIKELY(x) __builtin_expect(!!(x), 1)
#define TD_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define TD_ALWAYS_INLINE inline __attribute__((always_inline))
#define TD_NOINLINE __attribute__((noinline))
#else
#define TD_LIKELY(x) (x)
#define TD_UNLIKELY(x) (x)
#define TD_ALWAYS_INLINE inline
#define TD_NOINLINE
#endif

#if (defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) &&                              \
     __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__) ||                                               \
    defined(_M_X64) || defined(_M_IX86) || defined(_M_ARM64)
#define TD_JD_HOST_LE 1
#else
#define TD_JD_HOST_LE 0
#endif

/* Lookahead width of the Huffman lookup tables (entries are uint32: 4 KiB per table). */
#define TD_JD_LOOKUP_BITS 10
#define TD_JD_LOOKUP_SIZE (1u << TD_JD_LOOKUP_BITS)

/* Working planes may not exceed this many bytes (the output itself bounds them in practice). */
#define TD_JD_MAX_WORK ((size_t)1 << 34)

/* Marker codes, T.81 Table B.1 (second byte). */
enum {
    TD_JD_SOF0 = 0xC0,
    TD_JD_SOF1 = 0xC1,
    TD_JD_DHT = 0xC4,
    TD_JD_JPG = 0xC8,
    TD_JD_DAC = 0xCC,
    TD_JD_SOF15 = 0xCF,
    TD_JD_RST0 = 0xD0,
    TD_JD_RST7 = 0xD7,
    TD_JD_SOI = 0xD8,
    TD_JD_EOI = 0xD9,
    TD_JD_SOS = 0xDA,
    TD_JD_DQT = 0xDB,
    TD_JD_DNL = 0xDC,
    TD_JD_DRI = 0xDD,
    TD_JD_DHP = 0xDE,
    TD_JD_APP0 = 0xE0,
    TD_JD_APP14 = 0xEE,
    TD_JD_SOF55 = 0xF7 /* JPEG-LS (ITU-T T.87), not T.81 */
};

/* Figure A.6: zig-zag index -> natural (row-major) index; 16 extra entries absorb overruns. */
static const uint8_t td_jd_natural[64 + 16] = {
    0,  1,  8,  16, 9,  2,  3,  10, 17, 24, 32, 25, 18, 11, 4,  5,  12, 19, 26, 33,
    40, 48, 41, 34, 27, 20, 13, 6,  7,  14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36,
    29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54,
    47, 55, 62, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63};

/* ---------------------------------------------------------------------------------------------
 * Huffman tables: Annex C (code generation from BITS/HUFFVAL) and F.2.2.3 (DECODE).
 * ------------------------------------------------------------------------------------------- */

/* Lookup entry (uint32), indexed by the next TD_JD_LOOKUP_BITS bits:
 *   bits 0-7   symbol (DC: SSSS; AC: RRRRSSSS)
 *   bits 8-12  bits to consume: code length, plus SSSS when TD_JD_FAST is set; 0 when the
 *              code is longer than the lookup (F.2.2.3 DECODE with MAXCODE then)
 *   bit 13     TD_JD_FAST: the additional bits fit too; bits 16-31 hold the value (int16,
 *              F.2.2.1 EXTEND done).  Never set for SSSS = 0 (EOB, ZRL, DC difference 0 is
 *              fast with value 0 only for DC tables). */
#define TD_JD_FAST 0x2000u

typedef struct td_jd_htable {
    int32_t maxcode[18];   /* F.2.2.3 MAXCODE(I); -1 when no code has length I; [17] sentinel */
    int32_t valoffset[17]; /* VALPTR(I) - MINCODE(I) */
    uint8_t bits[17];      /* BITS (B.2.4.2 Li) */
    uint8_t huffval[256];  /* HUFFVAL (Vi,j) */
    uint32_t nvals;
    int defined;
    int built;   /* lookup matches bits/huffval */
    int is_dc;   /* how it was built */
    uint32_t lookup[TD_JD_LOOKUP_SIZE];
} td_jd_htable;

/* F.2.2.1 EXTEND (Figure F.12). */
static TD_ALWAYS_INLINE int32_t td_jd_extend(uint32_t v, uint32_t ssss)
{
    return v < (1u << (ssss - 1)) ? (int32_t)v + 1 - (int32_t)(1u << ssss) : (int32_t)v;
}

/* C.2 and F.2.2.3 tables plus the lookup.  The code space was validated by the DHT parser.
 * DC tables (is_dc) must have symbols <= 15 (libjpeg refuses others too). Returns 0 or -1. */
static int td_jd_build_table(td_jd_htable *t, int is_dc)
{
    uint32_t code = 0, k = 0, i;
    for (i = 0; i < TD_JD_LOOKUP_SIZE; i++)
        t->lookup[i] = 0;
    if (is_dc)
        for (i = 0; i < t->nvals; i++)
            if (t->huffval[i] > 15)
                return -1;
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
            uint32_t sym = t->huffval[k], ssss = sym & 15u;
            if (l > TD_JD_LOOKUP_BITS)
                continue;
            uint32_t spare = TD_JD_LOOKUP_BITS - l;
            uint32_t *e = t->lookup + (code << spare);
            uint32_t r, count = 1u << spare;
            int fast = ssss != 0 && ssss <= spare;
            if (is_dc && ssss == 0)
                fast = 1;
            for (r = 0; r < count; r++) {
                if (fast) {
                    int32_t v = ssss ? td_jd_extend(r >> (spare - ssss), ssss) : 0;
                    e[r] = ((uint32_t)(uint16_t)(int16_t)v << 16) | TD_JD_FAST |
                           ((l + ssss) << 8) | sym;
                } else {
                    e[r] = (l << 8) | sym;
                }
            }
        }
        code <<= 1;
    }
    t->maxcode[17] = 0x7FFFFFFF;
    t->built = 1;
    t->is_dc = is_dc;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Bit reader over entropy-coded data: F.2.2.5 (NEXTBIT) with B.1.1.5 byte stuffing.
 * ------------------------------------------------------------------------------------------- */

typedef struct td_jd_bits {
    uint64_t bitbuf;    /* next bits, most significant first */
    const uint8_t *ptr; /* next byte to insert */
    uint32_t bitcnt;    /* valid bits in bitbuf */
} td_jd_bits;

typedef struct td_jd_stream {
    const uint8_t *end;
    uint32_t padded;    /* zero bits appended after a marker or the end of the data */
    uint32_t at_marker; /* the reader stopped at a marker (ptr points at its 0xFF) */
    uint32_t bad;       /* an invalid Huffman code, or a coefficient run past the block */
} td_jd_stream;

static void td_jd_bits_init(td_jd_bits *b, td_jd_stream *s, const uint8_t *ptr,
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

/* Byte-wise refill to >= 56 bits; zero bits after a marker or the end of data are counted. */
static TD_NOINLINE void td_jd_refill_slow(td_jd_bits *b, td_jd_stream *s)
{
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

/* Refill to >= 56 bits; eight bytes at once when none of them is 0xFF (see td_ljpeg.c). */
static TD_ALWAYS_INLINE void td_jd_refill(td_jd_bits *b, td_jd_stream *s)
{
    if (TD_LIKELY(s->end - b->ptr >= 8)) {
        uint64_t w = td_load_be64(b->ptr);
        uint64_t ff = ((w & 0x7F7F7F7F7F7F7F7Full) + 0x0101010101010101ull) & w &
                      0x8080808080808080ull;
        if (TD_LIKELY((ff >> b->bitcnt) == 0)) {
            b->bitbuf |= w >> b->bitcnt;
            b->ptr += (63u - b->bitcnt) >> 3;
            b->bitcnt |= 56u;
            return;
        }
    }
    td_jd_bits t = *b;
    td_jd_refill_slow(&t, s);
    *b = t;
}

/* F.2.2.3 DECODE for an entry without a code length (code longer than the lookup).  Needs >= 16
 * bits in the buffer.  Returns the symbol and consumes the code; an invalid code sets s->bad
 * and returns 0 (EOB / difference 0) consuming 16 bits, so decoding always advances. */
static TD_NOINLINE uint32_t td_jd_decode_long(td_jd_bits *b, td_jd_stream *s,
                                             const td_jd_htable *t)
{
    uint32_t len;
    int32_t code = 0;
    for (len = TD_JD_LOOKUP_BITS + 1; len <= 16; len++) {
        code = (int32_t)(b->bitbuf >> (64 - len));
        if (code <= t->maxcode[len])
            break;
    }
    if (len > 16 || t->valoffset[len] + code < 0 || (uint32_t)(t->valoffset[len] + code) >= t->nvals) {
        s->bad = 1;
        b->bitbuf <<= 16;
        b->bitcnt -= 16;
        return 0;
    }
    b->bitbuf <<= len;
    b->bitcnt -= len;
    return t->huffval[t->valoffset[len] + code];
}

/* One symbol (not fast): needs >= 16 bits in the buffer. */
static TD_ALWAYS_INLINE uint32_t td_jd_symbol(td_jd_bits *b, td_jd_stream *s,
                                             const td_jd_htable *t, uint32_t e)
{
    uint32_t len = (e >> 8) & 31u;
    if (TD_LIKELY(len != 0)) {
        b->bitbuf <<= len;
        b->bitcnt -= len;
        return e & 0xFFu;
    }
    td_jd_bits c = *b; /* a copy keeps *b's fields in registers in the callers */
    uint32_t sym = td_jd_decode_long(&c, s, t);
    *b = c;
    return sym;
}

/* F.2.2.1: receive ssss (1..15) additional bits and extend; needs ssss bits in the buffer. */
static TD_ALWAYS_INLINE int32_t td_jd_receive_extend(td_jd_bits *b, uint32_t ssss)
{
    uint32_t v = (uint32_t)(b->bitbuf >> (64 - ssss));
    b->bitbuf <<= ssss;
    b->bitcnt -= ssss;
    return td_jd_extend(v, ssss);
}

/* ---------------------------------------------------------------------------------------------
 * Block decoding: F.2.2.1 (DC) and F.2.2.2 (AC, Figure F.13), dequantisation (A.3.4, F.2.1.4).
 * ------------------------------------------------------------------------------------------- */

/* Decode one block into blk (natural order, dequantised: coefficient (as libjpeg's 16-bit
 * JCOEF) times Qk), which must be all zero on entry.  *dc is the component's DC predictor
 * (libjpeg refuses a predictor that leaves int; damaged data makes ours wrap instead).
 * Returns the mask of the natural positions written (bit 0, the DC, always set): it drives the
 * IDCT's shortcuts and the clearing of blk afterwards. */
static TD_ALWAYS_INLINE uint64_t td_jd_decode_block(td_jd_bits *b, td_jd_stream *s,
                                                   const td_jd_htable *dct,
                                                   const td_jd_htable *act, const uint16_t *q,
                                                   int32_t *dc, int32_t *blk)
{
    uint32_t e, sym, k;
    uint64_t mask = 1;
    if (b->bitcnt < 32)
        td_jd_refill(b, s);
    /* DC: F.2.2.1 */
    e = dct->lookup[b->bitbuf >> (64 - TD_JD_LOOKUP_BITS)];
    if (TD_LIKELY(e & TD_JD_FAST)) {
        uint32_t n = (e >> 8) & 31u;
        b->bitbuf <<= n;
        b->bitcnt -= n;
        *dc = (int32_t)((uint32_t)*dc + (uint32_t)(int32_t)(int16_t)(e >> 16)); /* wraps */
    } else {
        sym = td_jd_symbol(b, s, dct, e); /* <= 16 bits used, >= 16 left */
        if (sym)
            *dc = (int32_t)((uint32_t)*dc + (uint32_t)td_jd_receive_extend(b, sym));
    }
    blk[0] = (int32_t)(int16_t)*dc * (int32_t)q[0];
    /* AC: F.2.2.2 */
    for (k = 1; k < 64;) {
        uint32_t n;
        if (b->bitcnt < 32)
            td_jd_refill(b, s);
        e = act->lookup[b->bitbuf >> (64 - TD_JD_LOOKUP_BITS)];
        if (TD_LIKELY(e & TD_JD_FAST)) {
            n = (e >> 8) & 31u;
            b->bitbuf <<= n;
            b->bitcnt -= n;
            k += (e >> 4) & 15u;
            if (TD_UNLIKELY(k > 63)) {
                s->bad = 1;
                break;
            }
            n = td_jd_natural[k];
            blk[n] = (int32_t)(int16_t)(e >> 16) * (int32_t)q[k];
            mask |= (uint64_t)1 << n;
            k++;
            continue;
        }
        sym = td_jd_symbol(b, s, act, e);
        {
            uint32_t r = sym >> 4, ssss = sym & 15u;
            if (ssss) {
                k += r;
                if (TD_UNLIKELY(k > 63)) {
                    s->bad = 1;
                    break;
                }
                n = td_jd_natural[k];
                blk[n] = td_jd_receive_extend(b, ssss) * (int32_t)q[k];
                mask |= (uint64_t)1 << n;
                k++;
            } else if (r == 15) {
                k += 16; /* ZRL */
                if (TD_UNLIKELY(k > 64)) {
                    s->bad = 1;
                    break;
                }
            } else {
                break; /* EOB */
            }
        }
    }
    return mask;
}

/* ---------------------------------------------------------------------------------------------
 * Inverse DCT (A.3.3), computed as libjpeg's jpeg_idct_islow computes it.
 * ------------------------------------------------------------------------------------------- */

#define TD_JD_CONST_BITS 13
#define TD_JD_FIX_0_298631336 ((int64_t)2446)
#define TD_JD_FIX_0_390180644 ((int64_t)3196)
#define TD_JD_FIX_0_541196100 ((int64_t)4433)
#define TD_JD_FIX_0_765366865 ((int64_t)6270)
#define TD_JD_FIX_0_899976223 ((int64_t)7373)
#define TD_JD_FIX_1_175875602 ((int64_t)9633)
#define TD_JD_FIX_1_501321110 ((int64_t)12299)
#define TD_JD_FIX_1_847759065 ((int64_t)15137)
#define TD_JD_FIX_1_961570560 ((int64_t)16069)
#define TD_JD_FIX_2_053119869 ((int64_t)16819)
#define TD_JD_FIX_2_562915447 ((int64_t)20995)
#define TD_JD_FIX_3_072711026 ((int64_t)25172)

static TD_ALWAYS_INLINE int64_t td_jd_shl(int64_t x, int n) { return (int64_t)((uint64_t)x << n); }
#define TD_JD_DESCALE(x, n) (((x) + ((int64_t)1 << ((n) - 1))) >> (n))

/* libjpeg's IDCT range limit: the value x (already descaled, centred on 0) taken modulo
 * 4 * 2^P into [-2^(P+1), 2^(P+1)), shifted by the centre 2^(P-1) and clamped to [0, 2^P - 1]. */
static TD_ALWAYS_INLINE uint16_t td_jd_limit(int64_t x, const int precision)
{
    const int32_t n = 1 << precision;
    int32_t v = (int32_t)(((uint32_t)x + (uint32_t)(2 * n)) & (uint32_t)(4 * n - 1)) - 2 * n +
                n / 2;
    v = v < 0 ? 0 : v;
    v = v > n - 1 ? n - 1 : v;
    return (uint16_t)v;
}

/* One 8-point 1-D IDCT of the LLM algorithm: inputs i0..i7 (frequency order), outputs o[0..7]
 * scaled by 2^CONST_BITS (before descaling). */
#define TD_JD_IDCT_1D(i0, i1, i2, i3, i4, i5, i6, i7, o)                                          \
    do {                                                                                         \
        int64_t z1_, z2_, z3_, z4_, z5_, t0_, t1_, t2_, t3_, t10_, t11_, t12_, t13_;             \
        z2_ = (i2);                                                                              \
        z3_ = (i6);                                                                              \
        z1_ = (z2_ + z3_) * TD_JD_FIX_0_541196100;                                               \
        t2_ = z1_ + z3_ * (-TD_JD_FIX_1_847759065);                                              \
        t3_ = z1_ + z2_ * TD_JD_FIX_0_765366865;                                                 \
        z2_ = (i0);                                                                              \
        z3_ = (i4);                                                                              \
        t0_ = td_jd_shl(z2_ + z3_, TD_JD_CONST_BITS);                                            \
        t1_ = td_jd_shl(z2_ - z3_, TD_JD_CONST_BITS);                                            \
        t10_ = t0_ + t3_;                                                                        \
        t13_ = t0_ - t3_;                                                                        \
        t11_ = t1_ + t2_;                                                                        \
        t12_ = t1_ - t2_;                                                                        \
        t0_ = (i7);                                                                              \
        t1_ = (i5);                                                                              \
        t2_ = (i3);                                                                              \
        t3_ = (i1);                                                                              \
        z1_ = t0_ + t3_;                                                                         \
        z2_ = t1_ + t2_;                                                                         \
        z3_ = t0_ + t2_;                                                                         \
        z4_ = t1_ + t3_;                                                                         \
        z5_ = (z3_ + z4_) * TD_JD_FIX_1_175875602;                                               \
        t0_ = t0_ * TD_JD_FIX_0_298631336;                                                       \
        t1_ = t1_ * TD_JD_FIX_2_053119869;                                                       \
        t2_ = t2_ * TD_JD_FIX_3_072711026;                                                       \
        t3_ = t3_ * TD_JD_FIX_1_501321110;                                                       \
        z1_ = z1_ * (-TD_JD_FIX_0_899976223);                                                    \
        z2_ = z2_ * (-TD_JD_FIX_2_562915447);                                                    \
        z3_ = z3_ * (-TD_JD_FIX_1_961570560);                                                    \
        z4_ = z4_ * (-TD_JD_FIX_0_390180644);                                                    \
        z3_ += z5_;                                                                              \
        z4_ += z5_;                                                                              \
        t0_ += z1_ + z3_;                                                                        \
        t1_ += z2_ + z4_;                                                                        \
        t2_ += z2_ + z3_;                                                                        \
        t3_ += z1_ + z4_;                                                                        \
        (o)[0] = t10_ + t3_;                                                                     \
        (o)[7] = t10_ - t3_;                                                                     \
        (o)[1] = t11_ + t2_;                                                                     \
        (o)[6] = t11_ - t2_;                                                                     \
        (o)[2] = t12_ + t1_;                                                                     \
        (o)[5] = t12_ - t1_;                                                                     \
        (o)[3] = t13_ + t0_;                                                                     \
        (o)[4] = t13_ - t0_;                                                                     \
    } while (0)

/* Pass 2 of the IDCT for one row of the work array into 8 samples. */
static TD_ALWAYS_INLINE void td_jd_idct_row(const int32_t *w, uint16_t *dst, const int precision)
{
    const int pass1_bits = precision == 8 ? 2 : 1;
    int64_t o[8];
    int c;
    if ((w[1] | w[2] | w[3] | w[4] | w[5] | w[6] | w[7]) == 0) {
        uint16_t v = td_jd_limit(TD_JD_DESCALE((int64_t)w[0], pass1_bits + 3), precision);
        for (c = 0; c < 8; c++)
            dst[c] = v;
        return;
    }
    TD_JD_IDCT_1D(w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], o);
    for (c = 0; c < 8; c++)
        dst[c] = td_jd_limit(TD_JD_DESCALE(o[c], TD_JD_CONST_BITS + pass1_bits + 3), precision);
}

/* IDCT of a dequantised block (natural order) into 8 rows of 8 samples at out (row pitch
 * `stride` samples).  mask: the natural positions that may be non-zero (bit 0 always set).
 * pass1_bits is 2 at 8 bits, 1 at 12 bits.  libjpeg takes a shortcut for a column whose AC
 * terms are zero and for a work row whose AC terms are zero; both give exactly what the full
 * computation gives, so choosing them from the mask (or not) never changes the result. */
static TD_ALWAYS_INLINE void td_jd_idct(const int32_t *in, uint64_t mask, uint16_t *out,
                                        size_t stride, const int precision)
{
    const int pass1_bits = precision == 8 ? 2 : 1;
    int32_t ws[64];
    int64_t o[8];
    uint64_t rows_below = mask >> 8; /* rows 1..7 */
    uint32_t colmask;
    int c, r;
    rows_below |= rows_below >> 32;
    rows_below |= rows_below >> 16;
    rows_below |= rows_below >> 8;
    colmask = (uint32_t)rows_below & 0xFFu; /* columns with a non-zero AC term below row 0 */
    if (colmask == 0) {
        /* Only row 0: every column takes the shortcut, all work rows are equal. */
        int32_t w[8];
        for (c = 0; c < 8; c++)
            w[c] = (int32_t)td_jd_shl(in[c], pass1_bits);
        td_jd_idct_row(w, out, precision);
        for (r = 1; r < 8; r++)
            memcpy(out + (size_t)r * stride, out, 8 * sizeof *out);
        return;
    }
    /* Pass 1: columns, 32-bit work array (libjpeg's int workspace). */
    for (c = 0; c < 8; c++) {
        const int32_t *col = in + c;
        if (!(colmask & (1u << c))) {
            int32_t dcval = (int32_t)td_jd_shl(col[0], pass1_bits);
            for (r = 0; r < 8; r++)
                ws[r * 8 + c] = dcval;
            continue;
        }
        TD_JD_IDCT_1D(col[0], col[8], col[16], col[24], col[32], col[40], col[48], col[56], o);
        for (r = 0; r < 8; r++)
            ws[r * 8 + c] = (int32_t)TD_JD_DESCALE(o[r], TD_JD_CONST_BITS - pass1_bits);
    }
    /* Pass 2: rows. */
    for (r = 0; r < 8; r++)
        td_jd_idct_row(ws + r * 8, out + (size_t)r * stride, precision);
}

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#define TD_JD_AVX2 1
#include <immintrin.h>

/* The same IDCT with 8 lanes of 32-bit integers (AVX2): pass 1 with the columns in the lanes,
 * a transpose, pass 2 with the rows in the lanes, a transpose back.  Every intermediate of the
 * 8-point IDCT is a sum of its inputs with coefficients whose absolute values add up to at
 * most 61214, so when every input of a pass is at most 35000 in magnitude, all values (plus
 * a rounding constant of at most 2^17) stay inside 32 bits and equal libjpeg's 64-bit
 * arithmetic exactly.  The inputs (dequantised coefficients) are checked against 32767, the
 * work array against 35000; a block that fails (never valid data: a valid 12-bit work array
 * needs 16 bits) returns 0 without writing, and the scalar path decodes it.
 * Returns 1 when it wrote the block. */
#define TD_JD_V_IDCT_1D(x0, x1, x2, x3, x4, x5, x6, x7, o)                                         \
    do {                                                                                         \
        __m256i z1_, z2_, z3_, z4_, z5_, t0_, t1_, t2_, t3_, t10_, t11_, t12_, t13_;             \
        z2_ = (x2);                                                                              \
        z3_ = (x6);                                                                              \
        z1_ = _mm256_mullo_epi32(_mm256_add_epi32(z2_, z3_), _mm256_set1_epi32(4433));           \
        t2_ = _mm256_add_epi32(z1_, _mm256_mullo_epi32(z3_, _mm256_set1_epi32(-15137)));         \
        t3_ = _mm256_add_epi32(z1_, _mm256_mullo_epi32(z2_, _mm256_set1_epi32(6270)));           \
        z2_ = (x0);                                                                              \
        z3_ = (x4);                                                                              \
        t0_ = _mm256_slli_epi32(_mm256_add_epi32(z2_, z3_), TD_JD_CONST_BITS);                   \
        t1_ = _mm256_slli_epi32(_mm256_sub_epi32(z2_, z3_), TD_JD_CONST_BITS);                   \
        t10_ = _mm256_add_epi32(t0_, t3_);                                                       \
        t13_ = _mm256_sub_epi32(t0_, t3_);                                                       \
        t11_ = _mm256_add_epi32(t1_, t2_);                                                       \
        t12_ = _mm256_sub_epi32(t1_, t2_);                                                       \
        t0_ = (x7);                                                                              \
        t1_ = (x5);                                                                              \
        t2_ = (x3);                                                                              \
        t3_ = (x1);                                                                              \
        z1_ = _mm256_add_epi32(t0_, t3_);                                                        \
        z2_ = _mm256_add_epi32(t1_, t2_);                                                        \
        z3_ = _mm256_add_epi32(t0_, t2_);                                                        \
        z4_ = _mm256_add_epi32(t1_, t3_);                                                        \
        z5_ = _mm256_mullo_epi32(_mm256_add_epi32(z3_, z4_), _mm256_set1_epi32(9633));           \
        t0_ = _mm256_mullo_epi32(t0_, _mm256_set1_epi32(2446));                                  \
        t1_ = _mm256_mullo_epi32(t1_, _mm256_set1_epi32(16819));                                 \
        t2_ = _mm256_mullo_epi32(t2_, _mm256_set1_epi32(25172));                                 \
        t3_ = _mm256_mullo_epi32(t3_, _mm256_set1_epi32(12299));                                 \
        z1_ = _mm256_mullo_epi32(z1_, _mm256_set1_epi32(-7373));                                 \
        z2_ = _mm256_mullo_epi32(z2_, _mm256_set1_epi32(-20995));                                \
        z3_ = _mm256_mullo_epi32(z3_, _mm256_set1_epi32(-16069));                                \
        z4_ = _mm256_mullo_epi32(z4_, _mm256_set1_epi32(-3196));                                 \
        z3_ = _mm256_add_epi32(z3_, z5_);                                                        \
        z4_ = _mm256_add_epi32(z4_, z5_);                                                        \
        t0_ = _mm256_add_epi32(t0_, _mm256_add_epi32(z1_, z3_));                                 \
        t1_ = _mm256_add_epi32(t1_, _mm256_add_epi32(z2_, z4_));                                 \
        t2_ = _mm256_add_epi32(t2_, _mm256_add_epi32(z2_, z3_));                                 \
        t3_ = _mm256_add_epi32(t3_, _mm256_add_epi32(z1_, z4_));                                 \
        (o)[0] = _mm256_add_epi32(t10_, t3_);                                                    \
        (o)[7] = _mm256_sub_epi32(t10_, t3_);                                                    \
        (o)[1] = _mm256_add_epi32(t11_, t2_);                                                    \
        (o)[6] = _mm256_sub_epi32(t11_, t2_);                                                    \
        (o)[2] = _mm256_add_epi32(t12_, t1_);                                                    \
        (o)[5] = _mm256_sub_epi32(t12_, t1_);                                                    \
        (o)[3] = _mm256_add_epi32(t13_, t0_);                                                    \
        (o)[4] = _mm256_sub_epi32(t13_, t0_);                                                    \
    } while (0)

__attribute__((target("avx2"))) static inline void td_jd_v_transpose(__m256i *v)
{
    __m256i t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_epi32(v[i], v[i + 1]);
        t[i + 1] = _mm256_unpackhi_epi32(v[i], v[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_unpacklo_epi64(t[i], t[i + 2]);
        u[i + 1] = _mm256_unpackhi_epi64(t[i], t[i + 2]);
        u[i + 2] = _mm256_unpacklo_epi64(t[i + 1], t[i + 3]);
        u[i + 3] = _mm256_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    for (int i = 0; i < 4; i++) {
        v[i] = _mm256_permute2x128_si256(u[i], u[i + 4], 0x20);
        v[i + 4] = _mm256_permute2x128_si256(u[i], u[i + 4], 0x31);
    }
}

__attribute__((target("avx2"))) static TD_NOINLINE int
td_jd_idct_avx2(const int32_t *in, uint16_t *out, size_t stride, int precision)
{
    const int pass1_bits = precision == 8 ? 2 : 1;
    const int n = 1 << precision;
    __m256i x[8], o[8], big = _mm256_setzero_si256();
    int r;
    for (r = 0; r < 8; r++) {
        x[r] = _mm256_loadu_si256((const __m256i *)(const void *)(in + 8 * r));
        big = _mm256_or_si256(big, _mm256_cmpgt_epi32(_mm256_abs_epi32(x[r]),
                                                       _mm256_set1_epi32(32767)));
    }
    if (!_mm256_testz_si256(big, big))
        return 0;
    TD_JD_V_IDCT_1D(x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7], o);
    {
        const __m256i round = _mm256_set1_epi32(1 << (TD_JD_CONST_BITS - pass1_bits - 1));
        const __m256i limit = _mm256_set1_epi32(35000);
        for (r = 0; r < 8; r++) {
            o[r] = _mm256_srai_epi32(_mm256_add_epi32(o[r], round),
                                     TD_JD_CONST_BITS - pass1_bits);
            big = _mm256_or_si256(big, _mm256_cmpgt_epi32(_mm256_abs_epi32(o[r]), limit));
        }
    }
    if (!_mm256_testz_si256(big, big))
        return 0;
    td_jd_v_transpose(o);
    TD_JD_V_IDCT_1D(o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7], x);
    {
        const int shift = TD_JD_CONST_BITS + pass1_bits + 3;
        const __m256i round = _mm256_set1_epi32(1 << (shift - 1));
        const __m256i mask = _mm256_set1_epi32(4 * n - 1), wrap = _mm256_set1_epi32(2 * n);
        const __m256i centre = _mm256_set1_epi32(2 * n - n / 2);
        const __m256i zero = _mm256_setzero_si256(), maxv = _mm256_set1_epi32(n - 1);
        for (r = 0; r < 8; r++) {
            __m256i v = _mm256_srai_epi32(_mm256_add_epi32(x[r], round), shift);
            v = _mm256_sub_epi32(_mm256_and_si256(_mm256_add_epi32(v, wrap), mask), centre);
            x[r] = _mm256_min_epi32(_mm256_max_epi32(v, zero), maxv);
        }
    }
    td_jd_v_transpose(x);
    for (r = 0; r < 8; r += 2) {
        __m256i p = _mm256_permute4x64_epi64(_mm256_packus_epi32(x[r], x[r + 1]), 0xD8);
        _mm_storeu_si128((__m128i *)(void *)(out + (size_t)r * stride),
                         _mm256_castsi256_si128(p));
        _mm_storeu_si128((__m128i *)(void *)(out + (size_t)(r + 1) * stride),
                         _mm256_extracti128_si256(p, 1));
    }
    return 1;
}
#endif

/* A block whose only coefficient is the DC: both passes take their shortcut, every sample is
 * the same. */
static TD_ALWAYS_INLINE void td_jd_idct_dc(int32_t dc, uint16_t *out, size_t stride,
                                           const int precision)
{
    const int pass1_bits = precision == 8 ? 2 : 1;
    int32_t dcval = (int32_t)td_jd_shl(dc, pass1_bits);
    uint16_t v = td_jd_limit(TD_JD_DESCALE((int64_t)dcval, pass1_bits + 3), precision);
    for (int r = 0; r < 8; r++) {
        uint16_t *dst = out + (size_t)r * stride;
        for (int c = 0; c < 8; c++)
            dst[c] = v;
    }
}

/* ---------------------------------------------------------------------------------------------
 * Marker parsing: Annex B.
 * ------------------------------------------------------------------------------------------- */

typedef struct td_jd_scan {
    uint32_t ns;                                /* Ns */
    uint32_t comp[TD_JPEGDCT_MAX_COMPONENTS];   /* frame index of scan component j */
    uint32_t dc_table[TD_JPEGDCT_MAX_COMPONENTS]; /* Tdj */
    uint32_t ac_table[TD_JPEGDCT_MAX_COMPONENTS]; /* Taj */
    size_t data_offset;
} td_jd_scan;

typedef struct td_jd_parser {
    const uint8_t *src;
    size_t len;
    td_error *err;
    td_jd_htable *dc, *ac;   /* [4] each when decoding; NULL when only reading the header */
    uint16_t (*qt)[64];      /* [4] quantisation tables (zig-zag order) when decoding */
    uint32_t defined_dc, defined_ac, defined_qt;
    int have_frame;
    uint32_t sof;            /* SOFn marker code */
    uint32_t precision, rows, columns, nf;
    uint8_t id[TD_JPEGDCT_MAX_COMPONENTS], h[TD_JPEGDCT_MAX_COMPONENTS];
    uint8_t v[TD_JPEGDCT_MAX_COMPONENTS], tq[TD_JPEGDCT_MAX_COMPONENTS];
    uint32_t restart_interval;
    uint32_t jfif;
    int32_t adobe_transform;
} td_jd_parser;

#define TD_JD_NO_SCAN 1

static const char *td_jd_sof_name(uint32_t n)
{
    switch (n) {
    case 2: return "progressive DCT";
    case 3: return "lossless";
    case 5: return "hierarchical, differential sequential DCT";
    case 6: return "hierarchical, differential progressive DCT";
    case 7: return "hierarchical, differential lossless";
    case 9: return "arithmetic coding, sequential DCT";
    case 10: return "arithmetic coding, progressive DCT";
    case 11: return "arithmetic coding, lossless";
    case 13: return "hierarchical, arithmetic coding, differential sequential DCT";
    case 14: return "hierarchical, arithmetic coding, differential progressive DCT";
    default: return "hierarchical, arithmetic coding, differential lossless";
    }
}

/* B.2.2 frame header.  pos is the first byte after the marker. */
static int td_jd_parse_sof(td_jd_parser *p, size_t pos, uint32_t length, uint32_t marker)
{
    const uint8_t *s = p->src + pos + 2;
    const uint32_t n = marker - TD_JD_SOF0;
    uint32_t i, k;
    if (p->have_frame)
        return td_fail(p->err, TD_E_CORRUPT, (int64_t)pos - 2,
                       "second SOF marker: only one frame is allowed outside hierarchical mode");
    if (length < 8)
        return td_fail(p->err, TD_E_CORRUPT, (int64_t)pos, "SOF%u length %u is shorter than 8",
                       n, length);
    p->sof = marker;
    p->precision = s[0];
    p->rows = td_load_be16(s + 1);
    p->columns = td_load_be16(s + 3);
    p->nf = s[5];
    if (p->nf == 0)
        return td_fail(p->err, TD_E_CORRUPT, (int64_t)pos + 7, "SOF%u has 0 components", n);
    if (p->nf > TD_JPEGDCT_MAX_COMPONENTS)
        return td_fail(p->err, TD_E_UNSUPPORTED, (int64_t)pos + 7,
                       "SOF%u has %u components; at most %d are supported", n, p->nf,
                       TD_JPEGDCT_MAX_COMPONENTS);
    if (length != 8 + 3 * p->nf)
        return td_fail(p->err, TD_E_CORRUPT, (int64_t)pos,
                       "SOF%u length %u does not match %u components (expected %u)", n, length,
                       p->nf, 8 + 3 * p->nf);
    for (i = 0; i < p->nf; i++) {
        const uint8_t *c = s + 6 + 3 * i;
        p->id[i] = c[0];
        p->h[i] = (uint8_t)(c[1] >> 4);
        p->v[i] = (uint8_t)(c[1] & 15);
        p->tq[i] = c[2];
        for (k = 0; k < i; k++)
            if (p->id[k] == p->id[i])
                return td_fail(p->err, TD_E_CORRUPT, (int64_t)(pos + 8 + 3 * i),
                               "SOF%u component identifier %u appears twice", n, p->id[i]);
    }
    p->have_frame = 1;
    if (marker != TD_JD_SOF0 && marker != TD_JD_SOF1)
        return TD_OK; /* reported by the caller, after the frame facts are known */
    /* T.81 allows only 8 bits in SOF0; a 12-bit SOF0 is decoded like SOF1, as libjpeg does */
    if (p->precision != 8 && p->precision != 12)
        return td_fail(p->err, TD_E_UNSUPPORTED, (int64_t)pos + 2,
                       "SOF%u precision %u is not 8 or 12", n, p->precision);
    if (p->columns == 0)
        return td_fail(p->err, TD_E_CORRUPT, (int64_t)pos + 5, "SOF%u has 0 samples per line",
                       n);
    for (i = 0; i < p->nf; i++) {
        if (p->h[i] < 1 || p->h[i] > 4 || p->v[i] < 1 || p->v[i] > 4)
            return td_fail(p->err, TD_E_CORRUPT, (int64_t)(pos + 9 + 3 * i),
                           "SOF%u component %u has sampling factors %ux%u outside 1..4", n, i,
                           p->h[i], p->v[i]);
        if (p->tq[i] > 3)
            return td_fail(p->err, TD_E_CORRUPT, (int64_t)(pos + 10 + 3 * i),
                           "SOF%u component %u uses quantisation table %u (0..3 allowed)", n, i,
                           p->tq[i]);
    }
    return TD_OK;
}

/* B.2.4.2 Huffman table specification; C.2 validity of the code space. */
static int td_jd_parse_dht(td_jd_parser *p, size_t pos, uint32_t length)
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
        if (p->dc != NULL) {
            td_jd_htable *t = tc == 0 ? &p->dc[th] : &p->ac[th];
            memcpy(t->bits, bits, sizeof bits);
            memset(t->huffval, 0, sizeof t->huffval);
            memcpy(t->huffval, p->src + q + 17, total);
            t->nvals = total;
            t->built = 0;
        }
        if (tc == 0)
            p->defined_dc |= 1u << th;
        else
            p->defined_ac |= 1u << th;
        q += 17 + total;
    }
    return TD_OK;
}

/* B.2.4.1 quantisation table specification (Pq 0: 8-bit, 1: 16-bit values). */
static int td_jd_parse_dqt(td_jd_parser *p, size_t pos, uint32_t length)
{
    size_t q = pos + 2, end = pos + length;
    while (q < end) {
        uint32_t pq = p->src[q] >> 4, tq = p->src[q] & 15u, k;
        size_t need = pq ? 129 : 65;
        if (pq > 1 || tq > 3)
            return td_fail(p->err, TD_E_CORRUPT, (int64_t)q,
                           "DQT precision %u / destination %u is invalid", pq, tq);
        if (end - q < need)
            return td_fail(p->err, TD_E_CORRUPT, (int64_t)q, "DQT segment ends inside a table");
        if (p->qt != NULL)
            for (k = 0; k < 64; k++)
                p->qt[tq][k] = pq ? td_load_be16(p->src + q + 1 + 2 * k) : p->src[q + 1 + k];
        p->defined_qt |= 1u << tq;
        q += need;
    }
    return TD_OK;
}

/* B.2.3 scan header.  pos is the first byte after the marker.  Ss, Se, Ah, Al mean nothing in
 * sequential mode (they should be 0, 63, 0, 0): ignored, as libjpeg-turbo does (some encoders,
 * e.g. of the WG04 test images, write Se = 0). */
static int td_jd_parse_sos(td_jd_parser *p, size_t pos, uint32_t length, td_jd_scan *sc)
{
    const uint8_t *s = p->src + pos + 2;
    uint32_t j, k, blocks = 0;
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
        uint32_t cs = s[1 + 2 * j], td = s[2 + 2 * j] >> 4, ta = s[2 + 2 * j] & 15u;
        for (k = 0; k < p->nf && p->id[k] != cs; k++)
            ;
        if (k == p->nf)
            return td_fail(p->err, TD_E_CORRUPT, (int64_t)(pos + 3 + 2 * j),
                           "SOS component selector %u is not a frame component", cs);
        for (uint32_t i = 0; i < j; i++)
            if (sc->comp[i] == k)
                return td_fail(p->err, TD_E_CORRUPT, (int64_t)(pos + 3 + 2 * j),
                               "SOS selects component %u twice", cs);
        if (td > 3 || !(p->defined_dc & (1u << td)))
            return td_fail(p->err, TD_E_CORRUPT, (int64_t)(pos + 4 + 2 * j),
                           "SOS component %u uses DC Huffman table %u, which no DHT defined",
                           cs, td);
        if (ta > 3 || !(p->defined_ac & (1u << ta)))
            return td_fail(p->err, TD_E_CORRUPT, (int64_t)(pos + 4 + 2 * j),
                           "SOS component %u uses AC Huffman table %u, which no DHT defined",
                           cs, ta);
        sc->comp[j] = k;
        sc->dc_table[j] = td;
        sc->ac_table[j] = ta;
        blocks += (uint32_t)p->h[k] * p->v[k];
    }
    /* B.2.3: an interleaved MCU holds at most 10 blocks */
    if (sc->ns > 1 && blocks > 10)
        return td_fail(p->err, TD_E_CORRUPT, (int64_t)pos + 2,
                       "SOS MCU of %u blocks exceeds the limit of 10", blocks);
    sc->data_offset = pos + length;
    return TD_OK;
}

/* Process markers from *pos up to and including the next SOS (see td_ljpeg_next_scan). */
static int td_jd_next_scan(td_jd_parser *p, size_t *pos, td_jd_scan *sc)
{
    const uint8_t *src = p->src;
    size_t q = *pos;
    for (;;) {
        uint32_t marker = 0, length = 0;
        int seg = td_jpeg_next_segment(src, p->len, &q, &marker, &length, p->err);
        if (seg == TD_JPEG_SEGMENT_END) {
            *pos = q;
            return TD_JD_NO_SCAN;
        }
        if (seg != TD_OK)
            return seg;
        if (marker >= TD_JD_SOF0 && marker <= TD_JD_SOF15 && marker != TD_JD_DHT &&
            marker != TD_JD_JPG && marker != TD_JD_DAC) {
            int status = td_jd_parse_sof(p, q, length, marker);
            if (status != TD_OK)
                return status;
            if (marker != TD_JD_SOF0 && marker != TD_JD_SOF1)
                return td_fail(p->err, TD_E_UNSUPPORTED, (int64_t)q - 2,
                               "JPEG SOF%u (%s) is not supported", marker - TD_JD_SOF0,
                               td_jd_sof_name(marker - TD_JD_SOF0));
        } else if (marker == TD_JD_DHT) {
            int status = td_jd_parse_dht(p, q, length);
            if (status != TD_OK)
                return status;
        } else if (marker == TD_JD_DQT) {
            int status = td_jd_parse_dqt(p, q, length);
            if (status != TD_OK)
                return status;
        } else if (marker == TD_JD_DRI) {
            if (length != 4)
                return td_fail(p->err, TD_E_CORRUPT, (int64_t)q, "DRI length %u is not 4",
                               length);
            p->restart_interval = td_load_be16(src + q + 2);
        } else if (marker == TD_JD_SOS) {
            int status = td_jd_parse_sos(p, q, length, sc);
            if (status != TD_OK)
                return status;
            *pos = q + length;
            return TD_OK;
        } else if (marker == TD_JD_APP0) {
            if (length >= 7 && memcmp(src + q + 2, "JFIF\0", 5) == 0)
                p->jfif = 1;
        } else if (marker == TD_JD_APP14) {
            if (length >= 14 && memcmp(src + q + 2, "Adobe", 5) == 0)
                p->adobe_transform = src[q + 2 + 11];
        } else if (marker == TD_JD_DHP) {
            return td_fail(p->err, TD_E_UNSUPPORTED, (int64_t)q - 2,
                           "JPEG DHP (hierarchical mode) is not supported");
        } else if (marker == TD_JD_SOF55) {
            return td_fail(p->err, TD_E_UNSUPPORTED, (int64_t)q - 2,
                           "JPEG-LS (SOF55) is not a JPEG DCT codestream");
        }
        /* APPn, COM, DAC, DNL, EXP, JPGn and reserved markers: skip the segment. */
        q += length;
    }
}

/* From q inside entropy-coded data, the offset of the 0xFF that starts the next marker (fill
 * bytes skipped, so src[result + 1] is the marker code), or len when there is none. */
static size_t td_jd_find_marker(const uint8_t *src, size_t len, size_t q)
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

static int td_jd_parse_header(td_jd_parser *p, td_jpegdct_info *info, td_jd_scan *first,
                              size_t *first_pos)
{
    size_t pos = 2;
    int status;
    memset(info, 0, sizeof *info);
    info->adobe_transform = -1;
    p->adobe_transform = -1;
    if (p->len < 2 || p->src[0] != 0xFF || p->src[1] != TD_JD_SOI)
        return td_fail(p->err, p->len < 2 ? TD_E_TRUNCATED : TD_E_CORRUPT, 0,
                       "the data does not start with a JPEG SOI marker (0xFFD8)");
    status = td_jd_next_scan(p, &pos, first);
    if (p->have_frame) {
        info->rows = p->rows;
        info->columns = p->columns;
        info->components = p->nf;
        info->precision = p->precision;
        info->sof_marker = 0xFF00u | p->sof;
        for (uint32_t i = 0; i < p->nf && i < TD_JPEGDCT_MAX_COMPONENTS; i++) {
            info->component_ids[i] = p->id[i];
            info->sampling[i] = (uint8_t)(p->h[i] << 4 | p->v[i]);
        }
    }
    if (status == TD_JD_NO_SCAN)
        return td_fail(p->err, pos >= p->len ? TD_E_TRUNCATED : TD_E_CORRUPT, (int64_t)pos,
                       p->have_frame ? "the JPEG codestream has no scan (SOS)"
                                     : "the JPEG codestream has no frame header (SOF)");
    if (status != TD_OK)
        return status;
    *first_pos = pos;
    info->restart_interval = p->restart_interval;
    info->jfif = p->jfif;
    info->adobe_transform = p->adobe_transform;
    if (p->rows == 0) {
        /* B.2.5: the number of lines follows the first scan in a DNL segment. */
        size_t q = pos;
        for (;;) {
            q = td_jd_find_marker(p->src, p->len, q);
            if (q >= p->len || p->src[q + 1] < TD_JD_RST0 || p->src[q + 1] > TD_JD_RST7)
                break;
            q += 2;
        }
        if (q >= p->len || p->src[q + 1] != TD_JD_DNL)
            return td_fail(p->err, TD_E_CORRUPT, (int64_t)q,
                           "the SOF has 0 lines and no DNL segment follows the first scan");
        if (p->len - q < 6 || td_load_be16(p->src + q + 2) != 4)
            return td_fail(p->err, TD_E_CORRUPT, (int64_t)q, "the DNL segment is malformed");
        info->rows = td_load_be16(p->src + q + 4);
        if (info->rows == 0)
            return td_fail(p->err, TD_E_CORRUPT, (int64_t)q + 4, "the DNL segment gives 0 lines");
    }
    return TD_OK;
}

int td_jpegdct_read_header(const uint8_t *src, size_t src_len, td_jpegdct_info *info,
                           td_error *err)
{
    td_jd_parser p;
    td_jd_scan first;
    size_t pos;
    td_error_clear(err);
    if ((src == NULL && src_len != 0) || info == NULL)
        return td_fail(err, TD_E_INVALID_ARGUMENT, -1, "src and info must not be NULL");
    memset(&p, 0, sizeof p);
    p.src = src;
    p.len = src_len;
    p.err = err;
    return td_jd_parse_header(&p, info, &first, &pos);
}

size_t td_jpegdct_frame_size(const td_jpegdct_info *info, uint32_t bytes_per_sample)
{
    size_t n;
    if (info == NULL || (bytes_per_sample != 1 && bytes_per_sample != 2) ||
        info->components < 1 || info->components > TD_JPEGDCT_MAX_COMPONENTS)
        return 0;
    if (td_mul_overflow(info->rows, info->columns, &n) ||
        td_mul_overflow(n, info->components, &n) || td_mul_overflow(n, bytes_per_sample, &n))
        return 0;
    return n;
}

/* ---------------------------------------------------------------------------------------------
 * Decoder state, scan driver: E.2.3 (scans), E.2.4 (restart intervals), A.2 (MCU order).
 * ------------------------------------------------------------------------------------------- */

typedef struct td_jd_component {
    uint32_t h, v;          /* sampling factors */
    uint32_t width, height; /* downsampled size: ceil(X * h / Hmax), ceil(Y * v / Vmax) */
    uint32_t bw, bh;        /* blocks per line / column in the plane (whole MCUs) */
    uint16_t *plane;        /* decoded samples, pitch `stride` */
    size_t stride;
    uint32_t row_origin;    /* plane row 0 is component row row_origin (strip mode) */
    uint16_t q[64];         /* latched quantisation table (zig-zag order) */
    int latched, decoded;
} td_jd_component;

typedef struct td_jd_decoder {
    td_jd_htable dc[4], ac[4];
    uint16_t qt[4][64];
    td_jd_component comp[TD_JPEGDCT_MAX_COMPONENTS];
    uint16_t *strip;        /* one-component frames: 8 rows of bw * 8 samples */
    const uint8_t *src;
    size_t len;
    uint8_t *out;
    uint32_t bytes_per_sample;
    unsigned flags;
    uint32_t rows, columns, nf, precision, hmax, vmax, mcux, mcuy;
    int avx2;               /* the CPU has AVX2: td_jd_idct_avx2 may be used */
    td_error *err;
} td_jd_decoder;

/* After a restart interval, an MCU row or a scan: no invalid code met, no bits used that were
 * not in the data. */
static TD_NOINLINE int td_jd_check_bits_slow(const td_jd_decoder *d, td_jd_bits bits,
                                             const td_jd_stream *s, uint32_t scan, uint32_t row)
{
    const td_jd_bits *b = &bits;
    if (TD_UNLIKELY(s->bad))
        return td_fail(d->err, TD_E_CORRUPT, (int64_t)(b->ptr - d->src),
                       "invalid Huffman code or coefficient run in scan %u, MCU row %u", scan,
                       row);
    if (TD_UNLIKELY(s->padded > b->bitcnt)) {
        size_t at = td_jd_find_marker(d->src, d->len, (size_t)(b->ptr - d->src));
        if (at >= d->len || d->src[at + 1] == TD_JD_EOI)
            return td_fail(d->err, TD_E_TRUNCATED, (int64_t)at,
                           "entropy-coded data of scan %u ends at offset %zu in MCU row %u",
                           scan, at, row);
        return td_fail(d->err, TD_E_CORRUPT, (int64_t)at,
                       "marker 0xFF%02X at offset %zu interrupts scan %u in MCU row %u",
                       d->src[at + 1], at, scan, row);
    }
    return TD_OK;
}

static TD_ALWAYS_INLINE int td_jd_check_bits(const td_jd_decoder *d, const td_jd_bits *b,
                                             const td_jd_stream *s, uint32_t scan, uint32_t row)
{
    if (TD_LIKELY(!s->bad && s->padded <= b->bitcnt))
        return TD_OK;
    return td_jd_check_bits_slow(d, *b, s, scan, row);
}

/* Zero the coefficients of blk that mask says were written: row by row, the rows that hold
 * any. */
static TD_ALWAYS_INLINE void td_jd_clear(int32_t *blk, uint64_t mask)
{
    for (int r = 0; r < 8; r++)
        if ((mask >> (8 * r)) & 0xFFu)
            memset(blk + 8 * r, 0, 8 * sizeof *blk);
}

/* Decode and inverse-transform one block of component c at block position (bx, by). */
static TD_ALWAYS_INLINE void td_jd_block(td_jd_bits *br, td_jd_stream *st,
                                        const td_jd_htable *dct, const td_jd_htable *act,
                                        td_jd_component *c, int32_t *dc, int32_t *blk,
                                        uint32_t bx, uint32_t by, const int avx2,
                                        const int precision)
{
    uint16_t *dst = c->plane + (size_t)(by * 8 - c->row_origin) * c->stride + (size_t)bx * 8;
    uint64_t mask = td_jd_decode_block(br, st, dct, act, c->q, dc, blk);
    (void)avx2;
    if (mask != 1) {
#ifdef TD_JD_AVX2
        if (!(avx2 && (mask >> 8) != 0 && td_jd_idct_avx2(blk, dst, c->stride, precision)))
#endif
            td_jd_idct(blk, mask, dst, c->stride, precision);
        td_jd_clear(blk, mask);
    } else {
        td_jd_idct_dc(blk[0], dst, c->stride, precision);
        blk[0] = 0;
    }
}

/* Write rows [y0, y1) of a one-component frame from the strip (rows relative to y0). */
static void td_jd_emit_strip(const td_jd_decoder *d, uint32_t y0, uint32_t y1)
{
    const td_jd_component *c = &d->comp[0];
    const uint32_t X = d->columns;
    for (uint32_t y = y0; y < y1; y++) {
        const uint16_t *row = c->plane + (size_t)(y - y0) * c->stride;
        if (d->bytes_per_sample == 2) {
            uint8_t *o = d->out + (size_t)y * X * 2;
            if (TD_JD_HOST_LE) {
                memcpy(o, row, (size_t)X * 2);
            } else {
                for (uint32_t x = 0; x < X; x++)
                    td_store_le16(o + 2 * x, row[x]);
            }
        } else {
            uint8_t *o = d->out + (size_t)y * X;
            for (uint32_t x = 0; x < X; x++)
                o[x] = (uint8_t)row[x];
        }
    }
}

/* E.2.3 / A.2: decode one scan whose entropy-coded data starts at *pos; on TD_OK *pos is the
 * offset of the marker that ends it (or the end of the data). */
static TD_ALWAYS_INLINE int td_jd_decode_scan_p(td_jd_decoder *d, const td_jd_scan *sc,
                                                uint32_t restart_interval, uint32_t scan_index,
                                                size_t *pos, const int precision)
{
    const td_jd_htable *dct[TD_JPEGDCT_MAX_COMPONENTS], *act[TD_JPEGDCT_MAX_COMPONENTS];
    td_jd_component *cp[TD_JPEGDCT_MAX_COMPONENTS];
    int32_t dcpred[TD_JPEGDCT_MAX_COMPONENTS] = {0, 0, 0, 0};
    int32_t blk[64];
    uint32_t mcus_x, mcus_y, todo, interval = 0, mx, my, j;
    const int strip = d->strip != NULL;
    const int avx2 = d->avx2;
    td_jd_bits br;
    td_jd_stream st;
    int status;

    memset(blk, 0, sizeof blk);
    for (j = 0; j < sc->ns; j++) {
        td_jd_htable *t = &d->dc[sc->dc_table[j]];
        if ((!t->built || !t->is_dc) && td_jd_build_table(t, 1) != 0)
            return td_fail(d->err, TD_E_CORRUPT, (int64_t)sc->data_offset,
                           "DC Huffman table %u has a symbol above 15", sc->dc_table[j]);
        dct[j] = t;
        t = &d->ac[sc->ac_table[j]];
        if ((!t->built || t->is_dc) && td_jd_build_table(t, 0) != 0)
            return td_fail(d->err, TD_E_CORRUPT, (int64_t)sc->data_offset,
                           "AC Huffman table %u is invalid", sc->ac_table[j]);
        act[j] = t;
        cp[j] = &d->comp[sc->comp[j]];
    }
    if (sc->ns == 1) { /* A.2.2: non-interleaved, one block per MCU */
        mcus_x = (cp[0]->width + 7) / 8;
        mcus_y = (cp[0]->height + 7) / 8;
    } else { /* A.2.3 */
        mcus_x = d->mcux;
        mcus_y = d->mcuy;
    }
    todo = restart_interval;
    td_jd_bits_init(&br, &st, d->src + *pos, d->src + d->len);
    for (my = 0; my < mcus_y; my++) {
        if (strip)
            cp[0]->row_origin = my * 8;
        for (mx = 0; mx < mcus_x; mx++) {
            if (restart_interval != 0) {
                if (todo == 0) {
                    /* E.2.4 / B.1.1.5: byte-align, expect RSTm, reset the predictors */
                    size_t q;
                    uint32_t expected = TD_JD_RST0 + (interval & 7u);
                    status = td_jd_check_bits(d, &br, &st, scan_index, my);
                    if (status != TD_OK)
                        return status;
                    q = td_jd_find_marker(d->src, d->len, (size_t)(br.ptr - d->src));
                    if (q >= d->len)
                        return td_fail(d->err, TD_E_TRUNCATED, (int64_t)d->len,
                                       "scan %u ends before restart marker RST%u (MCU row %u)",
                                       scan_index, expected - TD_JD_RST0, my);
                    if (d->src[q + 1] != expected)
                        return td_fail(d->err, TD_E_CORRUPT, (int64_t)q,
                                       "expected RST%u at offset %zu in MCU row %u, found "
                                       "0xFF%02X",
                                       expected - TD_JD_RST0, q, my, d->src[q + 1]);
                    interval++;
                    td_jd_bits_init(&br, &st, d->src + q + 2, d->src + d->len);
                    for (j = 0; j < TD_JPEGDCT_MAX_COMPONENTS; j++)
                        dcpred[j] = 0;
                    todo = restart_interval;
                }
                todo--;
            }
            if (sc->ns == 1) {
                td_jd_block(&br, &st, dct[0], act[0], cp[0], &dcpred[0], blk, mx, my,
                            avx2, precision);
            } else {
                for (j = 0; j < sc->ns; j++) {
                    td_jd_component *c = cp[j];
                    for (uint32_t v = 0; v < c->v; v++)
                        for (uint32_t h = 0; h < c->h; h++)
                            td_jd_block(&br, &st, dct[j], act[j], c, &dcpred[j], blk,
                                        mx * c->h + h, my * c->v + v, avx2, precision);
                }
            }
        }
        status = td_jd_check_bits(d, &br, &st, scan_index, my);
        if (status != TD_OK)
            return status;
        if (strip) {
            uint32_t y0 = my * 8, y1 = y0 + 8 < d->rows ? y0 + 8 : d->rows;
            td_jd_emit_strip(d, y0, y1);
        }
    }
    *pos = td_jd_find_marker(d->src, d->len, (size_t)(br.ptr - d->src));
    return TD_OK;
}

static TD_NOINLINE int td_jd_decode_scan_8(td_jd_decoder *d, const td_jd_scan *sc, uint32_t ri,
                                           uint32_t scan_index, size_t *pos)
{
    return td_jd_decode_scan_p(d, sc, ri, scan_index, pos, 8);
}

static TD_NOINLINE int td_jd_decode_scan_12(td_jd_decoder *d, const td_jd_scan *sc,
                                            uint32_t ri, uint32_t scan_index, size_t *pos)
{
    return td_jd_decode_scan_p(d, sc, ri, scan_index, pos, 12);
}

/* ---------------------------------------------------------------------------------------------
 * Upsampling (libjpeg's fancy upsampling) and colour conversion (JFIF YCbCr -> RGB).
 * ------------------------------------------------------------------------------------------- */

/* Row y of component c brought to the full width X into dst (at least 2 * c->width + 8 long,
 * and >= X).  hr, vr: Hmax / h and Vmax / v (integers, checked by the caller). */
static void td_jd_upsample_row(const td_jd_component *c, uint32_t hr, uint32_t vr, uint32_t y,
                               uint32_t X, uint16_t *dst)
{
    const uint32_t w = c->width, last = c->height - 1;
    uint32_t x;
    if (hr == 1 && vr == 1) {
        memcpy(dst, c->plane + (size_t)y * c->stride, (size_t)X * sizeof *dst);
        return;
    }
    if (hr == 2 && vr == 1 && w > 2) { /* h2v1 fancy */
        const uint16_t *in = c->plane + (size_t)y * c->stride;
        uint32_t v;
        dst[0] = in[0];
        dst[1] = (uint16_t)((in[0] * 3u + in[1] + 2u) >> 2);
        for (x = 1; x + 1 < w; x++) {
            v = in[x] * 3u;
            dst[2 * x] = (uint16_t)((v + in[x - 1] + 1u) >> 2);
            dst[2 * x + 1] = (uint16_t)((v + in[x + 1] + 2u) >> 2);
        }
        v = in[w - 1];
        dst[2 * w - 2] = (uint16_t)((v * 3u + in[w - 2] + 1u) >> 2);
        dst[2 * w - 1] = (uint16_t)v;
        return;
    }
    if (vr == 2 && (hr == 1 || (hr == 2 && w > 2))) { /* h1v2, h2v2 fancy */
        const uint32_t r = y >> 1;
        const uint32_t other = (y & 1) ? (r < last ? r + 1 : last) : (r > 0 ? r - 1 : 0);
        const uint16_t *in0 = c->plane + (size_t)r * c->stride;
        const uint16_t *in1 = c->plane + (size_t)other * c->stride;
        if (hr == 1) {
            const uint32_t bias = (y & 1) ? 2u : 1u;
            for (x = 0; x < w; x++)
                dst[x] = (uint16_t)((in0[x] * 3u + in1[x] + bias) >> 2);
            return;
        }
        uint32_t this_sum = in0[0] * 3u + in1[0], next_sum = in0[1] * 3u + in1[1], last_sum;
        dst[0] = (uint16_t)((this_sum * 4u + 8u) >> 4);
        dst[1] = (uint16_t)((this_sum * 3u + next_sum + 7u) >> 4);
        last_sum = this_sum;
        this_sum = next_sum;
        for (x = 1; x + 1 < w; x++) {
            next_sum = in0[x + 1] * 3u + in1[x + 1];
            dst[2 * x] = (uint16_t)((this_sum * 3u + last_sum + 8u) >> 4);
            dst[2 * x + 1] = (uint16_t)((this_sum * 3u + next_sum + 7u) >> 4);
            last_sum = this_sum;
            this_sum = next_sum;
        }
        dst[2 * w - 2] = (uint16_t)((this_sum * 3u + last_sum + 8u) >> 4);
        dst[2 * w - 1] = (uint16_t)((this_sum * 4u + 7u) >> 4);
        return;
    }
    { /* replication (libjpeg's h2v1/h2v2/int upsample) */
        const uint16_t *in = c->plane + (size_t)(y / vr) * c->stride;
        for (x = 0; x < X; x++)
            dst[x] = in[x / hr];
    }
}

#define TD_JD_SCALEBITS 16
#define TD_JD_ONE_HALF ((int32_t)1 << (TD_JD_SCALEBITS - 1))

/* JFIF YCbCr -> RGB as libjpeg's ycc_rgb_convert does it (its tables hold exactly these
 * rounded products).  |Cb - c|, |Cr - c| <= 2^11 keeps every product inside 32 bits. */
static void td_jd_ycc_rgb(uint16_t *restrict y, uint16_t *restrict cb, uint16_t *restrict cr,
                          uint32_t n, int precision)
{
    const int32_t maxv = (1 << precision) - 1, center = 1 << (precision - 1);
    for (uint32_t i = 0; i < n; i++) {
        const int32_t vy = y[i], vcb = (int32_t)cb[i] - center, vcr = (int32_t)cr[i] - center;
        int32_t r = vy + ((91881 * vcr + TD_JD_ONE_HALF) >> TD_JD_SCALEBITS);
        int32_t g = vy + ((-46802 * vcr - 22554 * vcb + TD_JD_ONE_HALF) >> TD_JD_SCALEBITS);
        int32_t b = vy + ((116130 * vcb + TD_JD_ONE_HALF) >> TD_JD_SCALEBITS);
        r = r < 0 ? 0 : r;
        g = g < 0 ? 0 : g;
        b = b < 0 ? 0 : b;
        y[i] = (uint16_t)(r > maxv ? maxv : r);
        cb[i] = (uint16_t)(g > maxv ? maxv : g);
        cr[i] = (uint16_t)(b > maxv ? maxv : b);
    }
}

/* Interleave nf rows of X samples (row c at rows + c * rowlen) into one output row. */
static TD_ALWAYS_INLINE void td_jd_interleave(const uint16_t *rows, size_t rowlen, uint32_t X,
                                              uint8_t *o, const uint32_t nf,
                                              const uint32_t bytes_per_sample)
{
    for (uint32_t x = 0; x < X; x++)
        for (uint32_t c = 0; c < nf; c++) {
            const uint16_t v = rows[c * rowlen + x];
            if (bytes_per_sample == 2)
                td_store_le16(o + 2 * ((size_t)x * nf + c), v);
            else
                o[(size_t)x * nf + c] = (uint8_t)v;
        }
}

/* Upsample, convert and interleave every output row from the component planes. */
static int td_jd_output_planes(td_jd_decoder *d)
{
    const uint32_t X = d->columns, nf = d->nf;
    uint32_t hr[TD_JPEGDCT_MAX_COMPONENTS], vr[TD_JPEGDCT_MAX_COMPONENTS], c, y;
    size_t rowlen = (size_t)X + 64;
    uint16_t *rows;
    for (c = 0; c < nf; c++) {
        const td_jd_component *cc = &d->comp[c];
        if (d->hmax % cc->h != 0 || d->vmax % cc->v != 0)
            return td_fail(d->err, TD_E_UNSUPPORTED, -1,
                           "component %u sampling factors %ux%u do not divide the maximum "
                           "%ux%u (fractional upsampling)",
                           c, cc->h, cc->v, d->hmax, d->vmax);
        hr[c] = d->hmax / cc->h;
        vr[c] = d->vmax / cc->v;
        if ((size_t)cc->width * 2 + 8 > rowlen)
            rowlen = (size_t)cc->width * 2 + 8;
    }
    rows = malloc(rowlen * nf * sizeof *rows);
    if (rows == NULL)
        return td_fail(d->err, TD_E_NOMEM, -1, "cannot allocate %u rows of %zu samples", nf,
                       rowlen);
    for (y = 0; y < d->rows; y++) {
        for (c = 0; c < nf; c++)
            td_jd_upsample_row(&d->comp[c], hr[c], vr[c], y, X, rows + c * rowlen);
        if ((d->flags & TD_JPEGDCT_RGB) && nf == 3)
            td_jd_ycc_rgb(rows, rows + rowlen, rows + 2 * rowlen, X, (int)d->precision);
        {
            uint8_t *o = d->out + (size_t)y * X * nf * d->bytes_per_sample;
            if (nf == 3 && d->bytes_per_sample == 2) /* constants: unrolled, merged stores */
                td_jd_interleave(rows, rowlen, X, o, 3, 2);
            else if (nf == 3)
                td_jd_interleave(rows, rowlen, X, o, 3, 1);
            else if (d->bytes_per_sample == 2)
                td_jd_interleave(rows, rowlen, X, o, nf, 2);
            else
                td_jd_interleave(rows, rowlen, X, o, nf, 1);
        }
    }
    free(rows);
    return TD_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Public: decode.
 * ------------------------------------------------------------------------------------------- */

static void td_jd_free(td_jd_decoder *d)
{
    for (uint32_t c = 0; c < TD_JPEGDCT_MAX_COMPONENTS; c++)
        if (d->comp[c].plane != d->strip)
            free(d->comp[c].plane);
    free(d->strip);
    free(d);
}

/* Component geometry (A.1.1) and working planes. */
static int td_jd_setup(td_jd_decoder *d, const td_jd_parser *p)
{
    size_t total = 0;
    uint32_t c;
    /* A single component's sampling factors mean nothing (A.1.1: its size is the image's;
     * libjpeg's ratio is 1 whatever they say), so they are taken as 1x1. */
    d->hmax = d->vmax = 1;
    for (c = 0; c < d->nf && d->nf > 1; c++) {
        d->hmax = p->h[c] > d->hmax ? p->h[c] : d->hmax;
        d->vmax = p->v[c] > d->vmax ? p->v[c] : d->vmax;
    }
    d->mcux = (uint32_t)(((uint64_t)d->columns + 8 * d->hmax - 1) / (8 * d->hmax));
    d->mcuy = (uint32_t)(((uint64_t)d->rows + 8 * d->vmax - 1) / (8 * d->vmax));
    for (c = 0; c < d->nf; c++) {
        td_jd_component *cc = &d->comp[c];
        size_t n;
        cc->h = d->nf == 1 ? 1 : p->h[c];
        cc->v = d->nf == 1 ? 1 : p->v[c];
        cc->width = (uint32_t)(((uint64_t)d->columns * cc->h + d->hmax - 1) / d->hmax);
        cc->height = (uint32_t)(((uint64_t)d->rows * cc->v + d->vmax - 1) / d->vmax);
        if (d->nf == 1) {
            cc->bw = (cc->width + 7) / 8;
            cc->bh = (cc->height + 7) / 8;
        } else {
            cc->bw = d->mcux * cc->h;
            cc->bh = d->mcuy * cc->v;
        }
        cc->stride = (size_t)cc->bw * 8;
        if (td_mul_overflow(cc->stride, (size_t)cc->bh * 8 * sizeof(uint16_t), &n) ||
            td_add_overflow(total, n, &total) || total > TD_JD_MAX_WORK)
            return td_fail(d->err, TD_E_LIMIT, -1, "working planes would exceed %zu bytes",
                           TD_JD_MAX_WORK);
    }
    if (d->nf == 1) {
        td_jd_component *cc = &d->comp[0];
        d->strip = malloc(cc->stride * 8 * sizeof(uint16_t));
        if (d->strip == NULL)
            return td_fail(d->err, TD_E_NOMEM, -1, "cannot allocate a strip of 8 rows");
        cc->plane = d->strip;
        return TD_OK;
    }
    for (c = 0; c < d->nf; c++) {
        td_jd_component *cc = &d->comp[c];
        cc->plane = calloc(cc->stride * cc->bh * 8, sizeof(uint16_t));
        if (cc->plane == NULL)
            return td_fail(d->err, TD_E_NOMEM, -1,
                           "cannot allocate the sample plane of component %u", c);
    }
    return TD_OK;
}

int td_jpegdct_decode(const uint8_t *src, size_t src_len, uint8_t *out, size_t out_len,
                      uint32_t bytes_per_sample, unsigned flags, td_error *err)
{
    td_jd_parser p;
    td_jpegdct_info info;
    td_jd_scan sc;
    td_jd_decoder *d;
    size_t pos, need;
    uint32_t done = 0, all, scan_index = 0;
    int status;

    td_error_clear(err);
    if ((src == NULL && src_len != 0) || out == NULL)
        return td_fail(err, TD_E_INVALID_ARGUMENT, -1, "src and out must not be NULL");
    if (bytes_per_sample != 1 && bytes_per_sample != 2)
        return td_fail(err, TD_E_INVALID_ARGUMENT, -1, "bytes_per_sample must be 1 or 2, got %u",
                       bytes_per_sample);
    if (flags & ~TD_JPEGDCT_RGB)
        return td_fail(err, TD_E_INVALID_ARGUMENT, -1, "unknown flags 0x%x", flags);

    memset(&p, 0, sizeof p);
    p.src = src;
    p.len = src_len;
    p.err = err;
    status = td_jd_parse_header(&p, &info, &sc, &pos);
    if (status != TD_OK)
        return status;
    if (bytes_per_sample == 1 && info.precision > 8)
        return td_fail(err, TD_E_INVALID_ARGUMENT, -1,
                       "bytes_per_sample 1 needs precision 8, the SOF has %u", info.precision);
    need = td_jpegdct_frame_size(&info, bytes_per_sample);
    if (need == 0)
        return td_fail(err, TD_E_LIMIT, -1, "frame size %u x %u x %u x %u overflows size_t",
                       info.rows, info.columns, info.components, bytes_per_sample);
    if (out_len < need)
        return td_fail(err, TD_E_OUTPUT_TOO_SMALL, -1,
                       "output buffer of %zu bytes is smaller than the frame's %zu", out_len,
                       need);

    d = calloc(1, sizeof *d);
    if (d == NULL)
        return td_fail(err, TD_E_NOMEM, -1, "cannot allocate the decoder state");
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
#ifdef TD_JD_AVX2
    d->avx2 = __builtin_cpu_supports("avx2") ? 1 : 0;
#endif
    status = td_jd_setup(d, &p);
    if (status != TD_OK) {
        td_jd_free(d);
        return status;
    }

    /* Walk the codestream again, this time keeping the tables. */
    memset(&p, 0, sizeof p);
    p.src = src;
    p.len = src_len;
    p.err = err;
    p.dc = d->dc;
    p.ac = d->ac;
    p.qt = d->qt;
    pos = 2;
    all = (1u << info.components) - 1;
    while (done != all) {
        status = td_jd_next_scan(&p, &pos, &sc);
        if (status == TD_JD_NO_SCAN) {
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
        for (uint32_t j = 0; j < sc.ns && status == TD_OK; j++) {
            td_jd_component *c = &d->comp[sc.comp[j]];
            uint32_t tq = p.tq[sc.comp[j]];
            if (done & (1u << sc.comp[j])) {
                status = td_fail(err, TD_E_CORRUPT, (int64_t)sc.data_offset,
                                 "scan %u decodes component %u a second time", scan_index,
                                 info.component_ids[sc.comp[j]]);
                break;
            }
            done |= 1u << sc.comp[j];
            /* libjpeg latches a component's quantisation table at its first scan */
            if (!c->latched) {
                if (!(p.defined_qt & (1u << tq))) {
                    status = td_fail(err, TD_E_CORRUPT, (int64_t)sc.data_offset,
                                     "component %u uses quantisation table %u, which no DQT "
                                     "defined",
                                     info.component_ids[sc.comp[j]], tq);
                    break;
                }
                memcpy(c->q, d->qt[tq], sizeof c->q);
                c->latched = 1;
            }
        }
        if (status != TD_OK)
            break;
        if (d->precision == 8)
            status = td_jd_decode_scan_8(d, &sc, p.restart_interval, scan_index, &pos);
        else
            status = td_jd_decode_scan_12(d, &sc, p.restart_interval, scan_index, &pos);
        if (status != TD_OK)
            break;
        scan_index++;
    }
    if (status == TD_OK && d->nf > 1)
        status = td_jd_output_planes(d);
    td_jd_free(d);
    return status;
}
