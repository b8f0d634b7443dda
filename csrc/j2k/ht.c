/*
 * ht.c - the HT block decoder of ITU-T T.814 | ISO/IEC 15444-15 (High-Throughput JPEG 2000).
 *
 * An HT code-block carries HT sets: a cleanup pass in its own codeword segment, then an
 * optional refinement segment holding the SigProp and MagRef passes one bit-plane below.
 * A later set with a non-empty cleanup segment recodes the whole block one bit-plane deeper,
 * so only the last non-empty cleanup (and its refinement segment) is decoded; the sets before
 * it, and placeholder passes, move its bit-plane down by one per set (T.814 clause 7.1).
 *
 * Cleanup segment (clause 7.3): Lcup bytes; the last 12 bits give Scup, the length of the
 * MEL + VLC suffix.  MagSgn bits are read forward from byte 0 up to Pcup = Lcup - Scup; MEL
 * forward from Pcup; VLC backward from the end.  Quads of 2x2 samples, two per step: the VLC
 * codeword (context from the neighbouring quads' significance, a MEL event in context 0)
 * gives the significance rho, the u_off flag and the exponent bits e_k / e_1 of each quad;
 * U-VLC gives u_q, and U_q = u_q + kappa the number of MagSgn bits per significant sample.
 * Since MEL, VLC and U-VLC need nothing from MagSgn, the cleanup runs in two passes: the
 * first decodes them for the whole block into one word per quad, the second reads MagSgn
 * (kappa from the row above) and writes every sample in its final form.  Pass 1 is bound by its
 * serial chain (VLC bits -> table -> context of the next quad), so it avoids data-dependent
 * branches on it: MEL events come from a queue decoded ahead, the U-VLC of a quad pair is one
 * table lookup, a VLC table entry is its own shift count and carries its part of the next
 * quad's context (no arithmetic between lookups); the first quad row has its own copy.  MagSgn is
 * first copied without its stuffing bits into a flat buffer, so a quad's bits are one 8-byte load
 * at its bit position and the only serial chain of pass 2 is that position.  With AVX2, pass 2
 * takes full quads in pairs: the eight samples of a pair with U_q <= 14 in 32-bit lanes, each
 * lane's bytes picked out of one 16-byte window at prefix-summed offsets and shifted by its
 * own bit offset (other quads: four 64-bit lanes, or plain C); U_q of eight quads comes from
 * one vector step.  Pass 1 also asks for the cache lines of the output rows (prefetch): they
 * lie far apart in the tile-component and were last used a whole stage ago, and pass 2's
 * stores would wait for them.  Runs of insignificant quads, common in image backgrounds, are
 * cheap in both passes: a quad pair in context 0 with MEL events 0 is one test in pass 1, a
 * pair with rho 0 is three 16-byte zero stores in pass 2.
 * Both passes are compiled for plain x86-64, BMI2 and AVX2 and chosen at run time, and stay
 * plain C elsewhere.
 * SigProp (clause 7.4) reads forward from the start of the refinement segment, MagRef
 * (clause 7.5) backward from its end.
 *
 * Output: the final values in the tile-component (job->out, E.1): reversible, int32 magnitude
 * times 2 plus the half bit of the reconstruction point, divided by 2 toward zero; irreversible,
 * float that value times the step.  A cleanup-only block without ROI goes there straight from
 * the MagSgn pass; with refinement passes or ROI the block is decoded into t1->coef first (two's
 * complement, that value, row stride w) and copied out at the end.  Hostile input: every read is bounded by its
 * segment (past the end MagSgn reads 1s, the others 0s), every length and exponent is checked
 * before use; a cleanup segment that breaks a rule of T.814 is TD_E_CORRUPT, one cut by the end
 * of the codestream leaves its block all zeros.
 */
#include <stdlib.h>
#include <string.h>

#include "j2k_internal.h"
#include "ht_tables.h"
#include "td_bytes.h"

/* ---- bit readers (clause 7.3.2-7.3.5) ---- */

/* Forward reader with bit unstuffing: a byte after 0xFF contributes its 7 low bits; LSB first. */
typedef struct ht_fwd {
    const uint8_t *p;
    uint32_t pos, len;
    uint64_t acc;
    uint32_t n;
    uint32_t unstuff;
    uint32_t fill;  /* byte fed once the segment is exhausted */
} ht_fwd;

/* The whole bytes that fit below bit 63, when none of them is 0xFF (0x80 marks the lowest 0xFF
 * byte exactly; marks above a 0xFF byte may be false, and do not matter).  The bits of the
 * next byte shifted in above them are its own bits (the byte before it is not 0xFF), so ORing
 * that byte in again later changes nothing.  Returns 0 when the slow path is needed. */
static inline int fwd_fast(ht_fwd *r) /* r->n <= 63 */
{
    if (!r->unstuff && r->pos + 8 <= r->len) {
        uint64_t v = td_load_le64(r->p + r->pos), inv = ~v;
        uint64_t ff = (inv - 0x0101010101010101u) & v & 0x8080808080808080u;
        uint32_t k = (63 - r->n) >> 3; /* 0..7 */
        if (!(ff & (((uint64_t)1 << (8 * k)) - 1))) {
            r->acc |= v << r->n;
            r->n += 8 * k;
            r->pos += k;
            return 1;
        }
    }
    return 0;
}

static inline void fwd_refill(ht_fwd *r) /* r->n <= 55; afterwards at least 56 bits, at most 63 */
{
    if (fwd_fast(r)) return;
    while (r->n <= 55) {
        uint32_t b = r->pos < r->len ? r->p[r->pos++] : r->fill;
        if (r->unstuff) {
            r->acc |= (uint64_t)(b & 0x7F) << r->n;
            r->n += 7;
        } else {
            r->acc |= (uint64_t)b << r->n;
            r->n += 8;
        }
        r->unstuff = b == 0xFF;
    }
}

static void fwd_init(ht_fwd *r, const uint8_t *p, uint32_t len, uint32_t fill)
{
    r->p = p;
    r->pos = 0;
    r->len = len;
    r->acc = 0;
    r->n = 0;
    r->unstuff = 0;
    r->fill = fill;
    fwd_refill(r);
}

static inline uint32_t fwd_peek(ht_fwd *r) /* at least 32 bits are available */
{
    return (uint32_t)r->acc;
}

static inline void fwd_skip(ht_fwd *r, uint32_t k)
{
    r->acc >>= k;
    r->n -= k;
    if (r->n < 32) fwd_refill(r);
}

static inline void store_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* MagSgn (clause 7.3.4) without its stuffing bits: d[0 .. len) into dst, LSB first, then 1s
 * (MagSgn reads 1s past the end of its segment).  dst holds destuff_cap(len) bytes.  Returns
 * lim: the bytes from dst[lim] on are all 0xFF, and 16 of them are there, so a reader at bit
 * position pos loads 8 bytes (16 with AVX2) from dst[min(pos / 8, lim)] and never leaves dst
 * (lim <= len + 1). */
static size_t destuff_cap(uint32_t len) { return (size_t)len + 17; }

/* One byte b of MagSgn into the bit accumulator (7 bits after a 0xFF), a whole byte out to o
 * when there is one; returns o moved past what it wrote. */
static inline uint8_t *destuff_byte(uint32_t b, uint8_t *o, uint64_t *acc, uint32_t *nb,
                                    uint32_t *unstuff)
{
    *acc |= (uint64_t)(*unstuff ? b & 0x7F : b) << *nb;
    *nb += *unstuff ? 7 : 8;
    *unstuff = b == 0xFF;
    if (*nb >= 8) {
        *o++ = (uint8_t)*acc;
        *acc >>= 8;
        *nb -= 8;
    }
    return o;
}

/* The MagSgn bit window at bit position pos: at least 57 bits. */
static inline uint64_t ms_window(const uint8_t *b, uint32_t lim, uint32_t pos)
{
    uint32_t at = pos >> 3;
    at = at < lim ? at : lim;
    return td_load_le64(b + at) >> (pos & 7);
}

/* The destuffed MagSgn bits (destuff_fwd) */
typedef struct ht_ms {
    const uint8_t *b;
    uint32_t lim;
} ht_ms;

/* Backward reader (VLC, MagRef): bytes from high to low addresses, LSB first; a byte whose 7
 * low bits are all 1 after a byte above 0x8F contributes only those 7 bits; 0s past the end. */
typedef struct ht_rev {
    const uint8_t *p;
    uint32_t left;   /* bytes p[left - 1] .. p[0] still to read */
    uint64_t acc;
    uint32_t n;
    uint32_t unstuff;
} ht_rev;

static inline void rev_refill(ht_rev *r)
{
    if (r->n <= 32 && r->left >= 4) {
        uint32_t v = td_load_le32(r->p + r->left - 4), inv = ~(v | 0x80808080u);
        if (!((inv - 0x01010101u) & ~inv & 0x80808080u)) { /* nothing to unstuff */
            r->acc |= (uint64_t)__builtin_bswap32(v) << r->n;
            r->n += 32;
            r->left -= 4;
            r->unstuff = (v & 0xFF) > 0x8F;
            return;
        }
    }
    while (r->n <= 56) {
        uint32_t b = r->left ? r->p[--r->left] : 0;
        if (r->unstuff && (b & 0x7F) == 0x7F) {
            r->acc |= (uint64_t)(b & 0x7F) << r->n;
            r->n += 7;
        } else {
            r->acc |= (uint64_t)b << r->n;
            r->n += 8;
        }
        r->unstuff = b > 0x8F;
    }
}

static inline void rev_skip(ht_rev *r, uint32_t k)
{
    r->acc >>= k;
    r->n -= k;
    if (r->n < 32) rev_refill(r);
}

static inline uint32_t rev_bit(ht_rev *r)
{
    uint32_t b = (uint32_t)r->acc & 1;
    rev_skip(r, 1);
    return b;
}

/* MEL (clause 7.3.3): forward, MSB first, unstuffing after 0xFF; 1s past the end.  The
 * events are decoded ahead into a queue (bit i the i-th event to come), so the cleanup pass
 * takes them without branches. */
typedef struct ht_mel {
    const uint8_t *p;
    uint32_t pos, len;
    uint64_t acc;         /* bits to come, the next at bit 63 */
    uint32_t n;           /* their number */
    uint32_t unstuff;
    uint32_t k;
    uint64_t q;           /* events not yet taken */
    uint32_t qn;          /* their number */
} ht_mel;

/* At least 56 bits into acc. */
static inline void mel_refill(ht_mel *m)
{
    while (m->n <= 56) {
        uint32_t b = m->pos < m->len ? m->p[m->pos] : 0xFF;
        if (m->pos + 1 == m->len) b |= 0x0F; /* the byte shared with Scup */
        if (m->pos < m->len) m->pos++;
        uint32_t nb = m->unstuff ? 7 : 8; /* after 0xFF: the 7 low bits */
        m->acc |= (uint64_t)(b & ((1u << nb) - 1)) << (64 - m->n - nb);
        m->n += nb;
        m->unstuff = b == 0xFF;
    }
}

/* Decode MEL symbols until the queue holds more than 32 events (a symbol gives at most 32). */
static void mel_fill(ht_mel *m)
{
    static const uint8_t mel_e[13] = {0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 4, 5};
    while (m->qn <= 32) {
        uint32_t e = mel_e[m->k];
        if (m->n < 6) mel_refill(m); /* a symbol takes at most 6 bits */
        if (m->acc >> 63) { /* a run of 2^e zero events */
            m->acc <<= 1;
            m->n--;
            m->qn += 1u << e;
            if (m->k < 12) m->k++;
        } else { /* e bits: a run of that many zero events, then a 1 event */
            uint32_t r = (uint32_t)(m->acc >> (63 - e)); /* bit 63 is 0: e bits after it */
            m->acc <<= 1 + e;
            m->n -= 1 + e;
            m->q |= (uint64_t)1 << (m->qn + r);
            m->qn += r + 1;
            if (m->k > 0) m->k--;
        }
    }
}

/* ---- cleanup pass ---- */

/* VLC bits taken without a refill: the caller refilled to 32 bits or more for the quad pair
 * (two codewords of at most 7 bits, two U-VLC prefixes of at most 3 and suffixes of at most 5:
 * 30 bits). */
static inline void vlc_take(ht_rev *r, uint32_t k)
{
    r->acc >>= k;
    r->n -= k;
}

/* One quad's VLC codeword in context c7 / 128 when sig (the context is not 0, or the MEL event
 * is 1), else nothing taken and 0; the table entry (layout in ht_vlc_gen.py).  In every context
 * each 7-bit window starts with a codeword (the tables are complete, test_htdec checks), so
 * there is no invalid codeword to detect. */
static inline uint32_t vlc_quad(ht_rev *vlc, const uint32_t *table, uint32_t c7, uint32_t sig)
{
    uint32_t e = table[c7 | ((uint32_t)vlc->acc & 0x7F)];
    e = sig ? e : 0;
    vlc_take(vlc, e & 63); /* bits 3-5 are 0: the entry is its own shift count */
    return e;
}

/* One significant sample from MagSgn (clause 7.3.7): m bits, the implicit bit ibit above them;
 * *s receives the sample in the output form, *v receives v = 2 (mu - 1) + 1 (for kappa);
 * *over collects the magnitudes (one reaching 2^31 is corrupt, only possible when U_q reaches
 * 31 - bp). */
static inline __attribute__((always_inline)) void magsgn_sample(const ht_ms *ms, uint32_t *pos,
                                                                uint32_t m, uint32_t ibit,
                                                                uint32_t sh, uint32_t rsh,
                                                                int32_t *s, uint32_t *v,
                                                                uint64_t *over)
{
    uint32_t bits = (uint32_t)ms_window(ms->b, ms->lim, *pos);
    *pos += m;
    uint32_t vi = (bits & ((1u << m) - 1)) | (ibit << m) | 1; /* m <= 30 */
    uint64_t mag = (uint64_t)(vi + 2) << sh;
    *over |= mag;
    uint32_t neg = 0u - (bits & 1);
    *s = (int32_t)(((uint32_t)(mag >> rsh) ^ neg) - neg);
    *v = vi;
}

/* The MagSgn bits of one quad with VLC entry e and U_q: s[i] receives sample i (top-left,
 * bottom-left, top-right, bottom-right) in the output form, its magnitude shifted right by
 * rsh, 0 where insignificant; v[0..1]
 * receive v of the bottom samples (0 where insignificant), kappa of the next quad row.
 * Returns nonzero for a magnitude that does not fit 31 bits (corrupt). */
static inline __attribute__((always_inline)) uint32_t magsgn_quad(const ht_ms *ms,
                                                                  uint32_t *pos, uint32_t e,
                                                                  uint32_t Uq, uint32_t bp,
                                                                  uint32_t rsh, int32_t s[4],
                                                                  uint32_t v[2])
{
    uint32_t e1 = e >> 8, ek = e >> 12, sh = bp - 1, dummy;
    uint64_t over = 0;
    if (e & 0x10) magsgn_sample(ms, pos, Uq - (ek & 1), e1 & 1, sh, rsh, &s[0], &dummy, &over);
    if (e & 0x20)
        magsgn_sample(ms, pos, Uq - ((ek >> 1) & 1), (e1 >> 1) & 1, sh, rsh, &s[1], &v[0], &over);
    if (e & 0x40)
        magsgn_sample(ms, pos, Uq - ((ek >> 2) & 1), (e1 >> 2) & 1, sh, rsh, &s[2], &dummy, &over);
    if (e & 0x80)
        magsgn_sample(ms, pos, Uq - ((ek >> 3) & 1), (e1 >> 3) & 1, sh, rsh, &s[3], &v[1], &over);
    return (uint32_t)(over >> 31);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TD_HT_X86 1
#endif
#if defined(TD_HT_X86) && !defined(TD_J2K_NO_AVX2) /* -DTD_J2K_NO_AVX2: test the other paths */
#include <immintrin.h>
#define TD_HT_AVX2 1

/* spread[k]: bit i of the nibble k in byte i */
static const uint32_t ht_spread[16] = {
    0x00000000, 0x00000001, 0x00000100, 0x00000101, 0x00010000, 0x00010001, 0x00010100,
    0x00010101, 0x01000000, 0x01000001, 0x01000100, 0x01000101, 0x01010000, 0x01010001,
    0x01010100, 0x01010101};

/* The samples of magsgn_quad_avx2 / magsgn_pair_avx2 in W-bit lanes (W = 64, 32), from each
 * lane's MagSgn bits (bits, low bit first), m_n (mv), significance (sv, 0/1) and implicit bit
 * (iv): declares vv = v_n (E.3: the m_n bits, the implicit bit above them, the sign bit below
 * shifted in) and out = the signed sample (flt: unshifted, the caller scales it; else
 * shifted right by rsh). one: the W-bit lanes' 1. */
#define HT_SAMPLES_AVX2(W)                                                                     \
    __m256i low = _mm256_sub_epi##W(_mm256_sllv_epi##W(one, mv), one);                         \
    __m256i vv = _mm256_or_si256(_mm256_or_si256(_mm256_and_si256(bits, low),                 \
                                                 _mm256_sllv_epi##W(iv, mv)), sv);             \
    __m256i mag = _mm256_sll_epi##W(_mm256_add_epi##W(vv, _mm256_add_epi##W(sv, sv)),         \
                                    _mm_cvtsi32_si128((int)(bp - 1)));                         \
    __m256i neg = _mm256_sub_epi##W(_mm256_setzero_si256(), _mm256_and_si256(bits, sv));      \
    __m256i out = _mm256_sub_epi##W(                                                           \
        _mm256_xor_si256(flt ? mag : _mm256_srl_epi##W(mag, rsh), neg), neg)

/* magsgn_quad for a quad inside the block with U_q <= 14 (all its MagSgn bits, at most 56, in
 * the 64-bit window): the four samples side by side in 64-bit lanes, each shifted out of the
 * window at its own offset.  Writes the top samples at r0[0..1], the bottom ones at r1[0..1]
 * (flt: as float, value times step; else int32 with the magnitude shifted right by rsh),
 * their v at v[0..1].  check: returns nonzero for a magnitude that does not fit 31 bits (not
 * needed when Uq + bp <= 30). */
__attribute__((target("avx2,bmi,bmi2"))) static inline uint32_t
magsgn_quad_avx2(const ht_ms *ms, uint32_t *pos_io, uint32_t e, uint32_t Uq, uint32_t bp,
                 __m128i rsh, int flt, __m128 step, int32_t *r0, int32_t *r1, uint32_t *v,
                 int check)
{
    uint32_t sig = ht_spread[(e >> 4) & 0xF];
    uint32_t m = Uq * sig - ht_spread[(e >> 12) & 0xF];  /* byte i: m_i (0 where insignificant) */
    uint32_t pos = m * 0x01010100u;              /* byte i: m_0 + .. + m_(i-1) */
    uint32_t total = (m * 0x01010101u) >> 24;
    uint64_t win = ms_window(ms->b, ms->lim, *pos_io);  /* 57 bits or more */
    *pos_io += total;
    const __m256i one = _mm256_set1_epi64x(1);
    __m256i mv = _mm256_cvtepu8_epi64(_mm_cvtsi32_si128((int)m));
    __m256i pv = _mm256_cvtepu8_epi64(_mm_cvtsi32_si128((int)pos));
    __m256i sv = _mm256_cvtepu8_epi64(_mm_cvtsi32_si128((int)sig));
    __m256i iv = _mm256_cvtepu8_epi64(_mm_cvtsi32_si128((int)ht_spread[(e >> 8) & 0xF]));
    __m256i bits = _mm256_srlv_epi64(_mm256_set1_epi64x((long long)win), pv);
    HT_SAMPLES_AVX2(64);
    /* lanes 0..3 are samples TL, BL, TR, BR: TL TR to r0, BL BR to r1 */
    __m128i o = _mm256_castsi256_si128(
        _mm256_permutevar8x32_epi32(out, _mm256_setr_epi32(0, 4, 2, 6, 0, 0, 0, 0)));
    if (flt) o = _mm_castps_si128(_mm_mul_ps(_mm_cvtepi32_ps(o), step));
    _mm_storel_epi64((__m128i *)(void *)r0, o);
    _mm_storel_epi64((__m128i *)(void *)r1, _mm_unpackhi_epi64(o, o));
    _mm_storel_epi64((__m128i *)(void *)v, _mm256_castsi256_si128(
        _mm256_permutevar8x32_epi32(vv, _mm256_setr_epi32(2, 6, 0, 0, 0, 0, 0, 0))));
    if (!check || Uq + bp <= 30) return 0; /* (2 mu + 1) < 2^(Uq + 1): none reaches 2^31 */
    return !_mm256_testz_si256(mag, _mm256_set1_epi64x((long long)0xFFFFFFFF80000000ull));
}

/* Two quads side by side with U_q0, U_q1 <= 14 (at most 112 MagSgn bits, in the 16 bytes
 * from the byte of the current position): the eight samples in 32-bit lanes, each with the
 * 3 bytes holding its bits (at most 7 + 14) picked out of that window by a byte shuffle and
 * shifted by its own offset.  e01: pass 1's two quads (the first in the low word); U: U_q0 in
 * bytes 0-3, U_q1 in bytes 4-7 (uq8_avx2); writes the top samples at r0[0..3], the bottom ones
 * at r1[0..3], their v at v[0..3], as magsgn_quad_avx2 does with check 0. */
__attribute__((target("avx2,bmi,bmi2"))) static inline void
magsgn_pair_avx2(const ht_ms *ms, uint32_t *pos_io, uint64_t e01, uint64_t U, uint32_t bp,
                 __m128i rsh, int flt, float step, int32_t *r0, int32_t *r1, uint32_t *v)
{
    const uint64_t ones = 0x0101010101010101u;
    /* nibbles k (bits 0-3) and l (bits 32-35) times 0x204081: bit i of each in byte i (the
     * four copies 7 bits apart do not overlap); sample i: TL0 BL0 TR0 BR0 TL1 BL1 TR1 BR1 */
    uint64_t sig = ((e01 >> 4) & 0xF0000000Fu) * 0x204081u & ones;
    uint64_t ibit = ((e01 >> 8) & 0xF0000000Fu) * 0x204081u & ones;
    uint64_t ek = ((e01 >> 12) & 0xF0000000Fu) * 0x204081u & ones;
    /* byte i: m_i (0 where insignificant) */
    uint64_t m = (U & sig * 0xFF) - ek;
    uint64_t pre = m * (ones << 8);  /* byte i: m_0 + .. + m_(i-1), at most 98 */
    uint32_t total = (uint32_t)((pre + m) >> 56), pos = *pos_io, at = pos >> 3;
    at = at < ms->lim ? at : ms->lim;  /* past lim every byte is 0xFF: any offset reads 1s */
    uint64_t off = pre + (pos & 7) * ones;  /* bit offsets in the window, at most 105 */
    *pos_io = pos + total;
    __m256i win = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)
                                                              (ms->b + at)));
    /* byte offset of each lane's first byte, in the 3 low bytes of its lane, then + 0, 1, 2 */
    __m256i ctl = _mm256_shuffle_epi8(
        _mm256_set1_epi64x((long long)((off >> 3) & 0x1F1F1F1F1F1F1F1Fu)),
        _mm256_setr_epi8(0, 0, 0, -128, 1, 1, 1, -128, 2, 2, 2, -128, 3, 3, 3, -128, 4, 4, 4,
                         -128, 5, 5, 5, -128, 6, 6, 6, -128, 7, 7, 7, -128));
    ctl = _mm256_add_epi8(ctl, _mm256_set1_epi32((int)0x80020100u));
    __m256i bits = _mm256_srlv_epi32(
        _mm256_shuffle_epi8(win, ctl),
        _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)(off & 0x0707070707070707u))));
    const __m256i one = _mm256_set1_epi32(1);
    __m256i mv = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)m));
    __m256i sv = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)sig));
    __m256i iv = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)ibit));
    HT_SAMPLES_AVX2(32);
    /* TL0 TR0 TL1 TR1 to r0, BL0 BR0 BL1 BR1 to r1 */
    const __m256i perm = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    out = _mm256_permutevar8x32_epi32(out, perm);
    if (flt) out = _mm256_castps_si256(_mm256_mul_ps(_mm256_cvtepi32_ps(out), _mm256_set1_ps(step)));
    _mm_storeu_si128((__m128i *)(void *)r0, _mm256_castsi256_si128(out));
    _mm_storeu_si128((__m128i *)(void *)r1, _mm256_extracti128_si256(out, 1));
    _mm_storeu_si128((__m128i *)(void *)v,
                     _mm256_extracti128_si256(_mm256_permutevar8x32_epi32(vv, perm), 1));
}

/* U_q of quads x .. x + 7 of a quad row into uq[x .. x + 7], in each of the word's four bytes
 * (U_q < 128: u_q + 1 < 48, kappa - 1 < 30; clause 7.3.6): pass 1's u_q + 1
 * (qr[x] >> 16) plus kappa - 1 where gamma (qr[x] & 1), kappa - 1 = floor(log2(v_(2x-1) | .. |
 * v_(2x+2) | 2)) - 1 from the v of the bottom samples of the row above (column c at vp[c + 1],
 * v < 2^31).  Reads vp[2 x .. 2 x + 18] and qr[x .. x + 7] (past the row's end: the next
 * row's words, or the words after q in the scratch; their lanes are not used).  Called as the
 * pair loop gets there, not for the whole row at its start: wide loads of words the row above
 * has just stored in other pieces would wait for the stores to complete. */
__attribute__((target("avx2,bmi,bmi2"))) static inline void
uq8_avx2(const uint32_t *vp, const uint32_t *qr, uint32_t x, uint32_t *uq)
{
    const __m256i perm = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    {
#define HT_LD(k) _mm256_loadu_si256((const __m256i *)(const void *)(vp + 2 * x + (k)))
        __m256i a = _mm256_or_si256(HT_LD(0), HT_LD(1)), b = _mm256_or_si256(HT_LD(2), HT_LD(3));
        __m256i c = _mm256_or_si256(HT_LD(8), HT_LD(9)), d = _mm256_or_si256(HT_LD(10), HT_LD(11));
#undef HT_LD
        /* the even lanes of a | b: quads x .. x + 3, of c | d: x + 4 .. x + 7 */
        __m256i t = _mm256_blend_epi32(_mm256_or_si256(a, b),
                                       _mm256_slli_epi64(_mm256_or_si256(c, d), 32), 0xAA);
        t = _mm256_or_si256(t, _mm256_set1_epi32(2));
        /* the top bit and no bit just below it: the conversion to float cannot round up to the
         * next power of 2, its exponent is floor(log2) */
        t = _mm256_andnot_si256(_mm256_srli_epi32(t, 1), t);
        t = _mm256_srli_epi32(_mm256_castps_si256(_mm256_cvtepi32_ps(t)), 23);
        t = _mm256_sub_epi32(t, _mm256_set1_epi32(128));
        t = _mm256_permutevar8x32_epi32(t, perm);
        __m256i e = _mm256_loadu_si256((const __m256i *)(const void *)(qr + x));
        t = _mm256_and_si256(t, _mm256_srai_epi32(_mm256_slli_epi32(e, 31), 31));
        t = _mm256_add_epi32(t, _mm256_srli_epi32(e, 16));
        const __m256i bytes = _mm256_setr_epi8(0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12,
                                               12, 0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12,
                                               12, 12);
        _mm256_storeu_si256((__m256i *)(void *)(uq + x), _mm256_shuffle_epi8(t, bytes));
    }
}

/* The part of each quad's context from the row above (vlc_pass), eight quads at a time while
 * they fit: a[x] is quad x - 1 of the row above (reads a[x + 9] <= a[qw + 1], its zero border).
 * Returns the quads done. */
__attribute__((target("avx2,bmi,bmi2"))) static inline uint32_t
ac_row_avx2(const uint32_t *a, uint32_t qw, uint8_t *ac)
{
    uint32_t x = 0;
    for (; x + 8 <= qw; x += 8) {
#define HT_LD(k) _mm256_loadu_si256((const __m256i *)(const void *)(a + x + (k)))
        __m256i p = _mm256_srli_epi32(HT_LD(1), 5);
        __m256i t = _mm256_or_si256(
            _mm256_and_si256(_mm256_or_si256(_mm256_srli_epi32(HT_LD(0), 7), p),
                             _mm256_set1_epi32(1)),
            _mm256_and_si256(_mm256_or_si256(_mm256_srli_epi32(HT_LD(2), 3), p),
                             _mm256_set1_epi32(4)));
#undef HT_LD
        t = _mm256_packus_epi32(t, t);
        t = _mm256_packus_epi16(t, t); /* bytes 0-3 of each half: its four quads */
        _mm_storel_epi64((__m128i *)(void *)(ac + x),
                         _mm_unpacklo_epi32(_mm256_castsi256_si128(t),
                                            _mm256_extracti128_si256(t, 1)));
    }
    return x;
}

/* Four insignificant quads q[0..3] of magsgn_pass (runs of them are common): eight zero
 * words at each of a, b, c and 1; else 0 and nothing written. */
__attribute__((target("avx2,bmi,bmi2"))) static inline int zero4_avx2(const uint32_t *q,
                                                                       int32_t *a, int32_t *b,
                                                                       uint32_t *c)
{
    if (!_mm_testz_si128(_mm_loadu_si128((const __m128i *)(const void *)q), _mm_set1_epi32(0xF0)))
        return 0;
    _mm256_storeu_si256((__m256i *)(void *)a, _mm256_setzero_si256());
    _mm256_storeu_si256((__m256i *)(void *)b, _mm256_setzero_si256());
    _mm256_storeu_si256((__m256i *)(void *)c, _mm256_setzero_si256());
    return 1;
}

/* 32 bytes d[0 .. 32) of MagSgn when none of them is 0xFF: their bits after the nb < 8 bits
 * pending in *acc, 32 whole bytes out to o, and the nb bits then pending into *acc; returns 1.
 * Returns 0, nothing done, when one is 0xFF. */
__attribute__((target("avx2,bmi,bmi2"))) static inline int destuff32_avx2(const uint8_t *d,
                                                                           uint8_t *o,
                                                                           uint64_t *acc,
                                                                           uint32_t nb)
{
    __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)d);
    if (_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, _mm256_set1_epi8(-1)))) return 0;
    /* 64-bit lanes: v_k << nb | v_(k-1) >> (64 - nb), with *acc << (64 - nb) for v_(-1) (*acc
     * is 0 when nb is 0; shifts by 64 give 0) */
    __m256i prev = _mm256_blend_epi32(_mm256_permute4x64_epi64(v, 0x90),
                                      _mm256_set1_epi64x((long long)((*acc << 1) << (63 - nb))),
                                      0x03);
    __m256i out = _mm256_or_si256(_mm256_sll_epi64(v, _mm_cvtsi32_si128((int)nb)),
                                  _mm256_srl_epi64(prev, _mm_cvtsi32_si128((int)(64 - nb))));
    _mm256_storeu_si256((__m256i *)(void *)o, out);
    *acc = (td_load_le64(d + 24) >> 1) >> (63 - nb);
    return 1;
}
#endif

/* destuff_fwd (see destuff_cap); simd: 32 bytes at a time where there is no 0xFF. */
static inline __attribute__((always_inline)) uint32_t destuff_body(const uint8_t *d,
                                                                   uint32_t len, uint8_t *dst,
                                                                   int simd)
{
    uint8_t *o = dst;
    uint64_t acc = 0;  /* nb < 8 bits not yet written */
    uint32_t nb = 0, i = 0, unstuff = 0;
    while (i < len) {
        if (!unstuff && i + 8 <= len) {
#ifdef TD_HT_AVX2
            if (simd && i + 32 <= len && destuff32_avx2(d + i, o, &acc, nb)) {
                o += 32; /* o + 32 <= dst + i + 32 <= dst + len */
                i += 32;
                continue;
            }
#else
            (void)simd;
#endif
            uint64_t v = td_load_le64(d + i);
            if (!((~v - 0x0101010101010101u) & v & 0x8080808080808080u)) {
                /* no 0xFF among these 8 bytes: all their bits, shifted by nb */
                store_le64(o, acc | v << nb); /* o + 8 <= dst + i + 8 <= dst + len */
                acc = (v >> 1) >> (63 - nb); /* v >> (64 - nb), 0 when nb is 0 */
                o += 8;
                i += 8;
                continue;
            }
            /* one byte at a time up to and past the 0xFF */
            for (uint32_t end = i + 8; i < end;) {
                o = destuff_byte(d[i++], o, &acc, &nb, &unstuff);
            }
            continue;
        }
        o = destuff_byte(d[i++], o, &acc, &nb, &unstuff);
    }
    *o++ = (uint8_t)(acc | (0xFFu << nb));
    memset(o, 0xFF, 16);
    return (uint32_t)(o - dst);
}

static uint32_t destuff_fwd(const uint8_t *d, uint32_t len, uint8_t *dst)
{
    return destuff_body(d, len, dst, 0);
}
#ifdef TD_HT_AVX2
__attribute__((target("avx2,bmi,bmi2"))) static uint32_t destuff_fwd_avx2(const uint8_t *d,
                                                                           uint32_t len,
                                                                           uint8_t *dst)
{
    return destuff_body(d, len, dst, 1);
}
#endif

/* The MEL, VLC and U-VLC of quads qx (and qx + 1 when two) of a row, into cur[qx] (cur[qx + 1]);
 * first: the first quad row (compile-time constants where inlined). */
static inline __attribute__((always_inline)) void
vlc_pair(ht_rev *vlc, ht_mel *mel, uint64_t *mqp, uint32_t *mqnp, const uint8_t *ac,
         uint32_t qx, uint32_t *lcp, uint32_t *cur, int two, int first)
{
    const uint32_t *table = first ? ht_vlc_table0 : ht_vlc_table1;
    uint64_t mq = *mqp;
    uint32_t mqn = *mqnp;
    if (two && !(td_load_le16(ac + qx) | *lcp | ((uint32_t)mq & 3)) && mqn >= 2) {
        /* both in context 0 with MEL events 0 (runs of them are common): insignificant, no
         * VLC or U-VLC bits (the queue's bits past mqn are 0s, not events: mqn >= 2) */
        cur[qx] = cur[qx + 1] = 0;
        *mqp = mq >> 2;
        *mqnp = mqn - 2;
        return;
    }
    if (vlc->n < 32) rev_refill(vlc);
    if (mqn < 3) { /* a pair takes at most 3 events */
        mel->q = mq;
        mel->qn = mqn;
        mel_fill(mel);
        mq = mel->q;
        mqn = mel->qn;
    }
    /* contexts times 128, the table entries carry the part from the quad on the left so */
    uint32_t e1 = 0, c = (uint32_t)ac[qx] << 7 | *lcp, z = c == 0;
    uint32_t sig = (z ^ 1) | ((uint32_t)mq & 1);
    mq >>= z;
    mqn -= z;
    uint32_t e0 = vlc_quad(vlc, table, c, sig);
    uint32_t lc = e0 & 0x380;
    if (two) {
        c = (uint32_t)ac[qx + 1] << 7 | lc;
        z = c == 0;
        sig = (z ^ 1) | ((uint32_t)mq & 1);
        mq >>= z;
        mqn -= z;
        e1 = vlc_quad(vlc, table, c, sig);
        lc = e1 & 0x380;
    }
    /* U-VLC of the pair in one lookup (mode: ht_vlc_gen.py), mode times 64 from the u_off bits */
    uint32_t mode = (e0 & 64) | ((e1 & 64) << 1);
    if (first && mode == 192) {
        mode = (4 + ((uint32_t)mq & 1)) << 6;
        mq >>= 1;
        mqn--;
    }
    uint32_t ue = ht_uvlc_table[mode | ((uint32_t)vlc->acc & 63)];
    uint64_t sfx = vlc->acc >> ((ue >> 24) & 7);
    uint32_t sl0 = (ue >> 8) & 7, sl1 = (ue >> 11) & 7;
    uint32_t u0 = ((ue >> 16) & 15) + ((uint32_t)sfx & ((1u << sl0) - 1));
    uint32_t u1 = ((ue >> 20) & 15) + ((uint32_t)(sfx >> sl0) & ((1u << sl1) - 1));
    vlc_take(vlc, ue & 63); /* bit 5 is 0: the entry is its own shift count */
    cur[qx] = e0 >> 16 | u0 << 16;
    if (two) cur[qx + 1] = e1 >> 16 | u1 << 16;
    *lcp = lc;
    *mqp = mq;
    *mqnp = mqn;
}

/* One quad row of pass 1 (ac: the part of each quad's context from the row above). */
static inline __attribute__((always_inline)) void vlc_row(ht_rev *vlc, ht_mel *mel, uint64_t *mq,
                                                          uint32_t *mqn, const uint8_t *ac,
                                                          uint32_t qw, uint32_t *cur, int first)
{
    uint32_t lc = 0, qx = 0;
    for (; qx + 1 < qw; qx += 2) vlc_pair(vlc, mel, mq, mqn, ac, qx, &lc, cur, 1, first);
    if (qx < qw) vlc_pair(vlc, mel, mq, mqn, ac, qx, &lc, cur, 0, first);
}

/* Ask for the cache lines of n (1 or 2) rows of w samples from r (row stride os) that pass 2
 * will write: the tile-component's rows are far apart and were last used a whole stage ago.
 * (A prefetch does not fault; the addresses are those of the rows' own lines.) */
static inline __attribute__((always_inline)) void prefetch_rows(const int32_t *r, size_t os,
                                                                uint32_t w, uint32_t n)
{
    if (!w) return;
    uintptr_t a = (uintptr_t)r & ~(uintptr_t)63, e = (uintptr_t)(r + w - 1);
    uintptr_t d = n > 1 ? os * sizeof *r : 0;
    for (; a <= e; a += 64) {
        __builtin_prefetch((const void *)a, 1, 3);
        __builtin_prefetch((const void *)(a + d), 1, 3);
    }
}

/* Pass 1 of the cleanup: MEL, VLC and U-VLC of every quad (clause 7.3.3-7.3.6), which need
 * nothing from MagSgn.  Quad (x, y) goes to q[y * qs + x + 1] (qs = qw + 2, zero borders): the
 * VLC table entry (bits 0-15, layout in ht_vlc_gen.py) and u_q (bits 16-22). */
static inline __attribute__((always_inline)) void vlc_pass(ht_rev *vlc_in, ht_mel *mel_in,
                                                           uint32_t qw, uint32_t qh, uint32_t *q,
                                                           int simd, const int32_t *out,
                                                           size_t os, uint32_t w, uint32_t h)
{
    ht_rev vl = *vlc_in;
    ht_mel *mel = mel_in;
    uint64_t mq = mel->q;  /* the MEL event queue in registers */
    uint32_t mqn = mel->qn;
    uint32_t qs = qw + 2;
    uint8_t ac[520];  /* the part of each quad's context from the row above */
    memset(ac, 0, qw);
    vlc_row(&vl, mel, &mq, &mqn, ac, qw, q + 1, 1);
    for (uint32_t qy = 1; qy < qh; qy++) {
        prefetch_rows(out + (size_t)2 * (qy - 1) * os, os, w, 2 * qy < h ? 2 : 1);
        uint32_t *cur = q + (size_t)qy * qs + 1;
        /* BR of quad x - 1 or BL of x (bit 0), BR of x or BL of x + 1 (bit 2) */
        const uint32_t *a = cur - qs - 1;  /* quad x - 1 above at a[x] */
        uint32_t x = 0;
#ifdef TD_HT_AVX2
        if (simd) x = ac_row_avx2(a, qw, ac);
#else
        (void)simd;
#endif
        for (; x < qw; x++)
            ac[x] = (uint8_t)((((a[x] >> 7) | (a[x + 1] >> 5)) & 1) |
                              ((((a[x + 1] >> 7) | (a[x + 2] >> 5)) & 1) << 2));
        vlc_row(&vl, mel, &mq, &mqn, ac, qw, cur, 0);
    }
    prefetch_rows(out + (size_t)2 * (qh - 1) * os, os, w, 2 * qh <= h ? 2 : 1);
    mel->q = mq;
    mel->qn = mqn;
    *vlc_in = vl;
}

/* A sample into the output row r at i: flt, float val times step; else int32 val. */
static inline __attribute__((always_inline)) void put(int32_t *r, size_t i, int32_t val, int flt,
                                                      float step)
{
    if (flt) ((float *)(void *)r)[i] = (float)val * step;
    else r[i] = val;
}

/* How pass 2 writes samples: flt, float value times step; else int32, the magnitude shifted
 * right by rsh (1: value / 2 rounded toward zero, 0: as is). */
typedef struct ht_put {
    uint32_t rsh;
    float step;
} ht_put;

/* Words in a row of v (magsgn_pass): columns -1 .. 2 qw, zero beyond, up to what
 * uq8_avx2 reads. */
#define HT_VROW(qw) ((size_t)2 * (qw) + 20)

/* One quad of the MagSgn pass; full: all four samples inside the block (a compile-time
 * constant where inlined).  r0, r1: the output rows of the quad; vp: the v of the bottom
 * samples of the quad row above, column c at vp[c + 1] (kappa); vc receives those of this row. */
static inline __attribute__((always_inline)) int magsgn_one(const ht_ms *ms, uint32_t *pos,
                                                            uint32_t e, uint32_t x,
                                                            int full, uint32_t w, int bottom,
                                                            uint32_t bp, int32_t *r0,
                                                            int32_t *r1, const uint32_t *vp,
                                                            uint32_t *vc, int simd, int flt,
                                                            ht_put pt, uint32_t fast)
{
    uint32_t rho = (e >> 4) & 0xF;
#ifdef TD_HT_AVX2
    if (simd && full) { /* no branch on rho: an insignificant quad writes 0s, takes no bits */
        const uint32_t *vv = vp + 2 * x; /* columns 2x - 1 .. 2x + 2 */
        uint32_t g = 30 - (uint32_t)__builtin_clz(vv[0] | vv[1] | vv[2] | vv[3] | 2);
        uint32_t Uq = (e >> 16) + (g & (0u - (e & 1)));  /* u_q + 1 + (kappa - 1) */
        if (Uq <= fast) { /* nearly always: Uq <= 14 and no magnitude can reach 2^31 */
            magsgn_quad_avx2(ms, pos, e & 0xFFFF, Uq, bp, _mm_cvtsi32_si128((int)pt.rsh), flt,
                             _mm_set1_ps(pt.step), r0 + 2 * x, r1 + 2 * x, vc + 1 + 2 * x, 0);
            return TD_OK;
        }
        if (Uq > 31 - bp) return TD_E_CORRUPT;
        if (Uq <= 14) {
            if (magsgn_quad_avx2(ms, pos, e & 0xFFFF, Uq, bp, _mm_cvtsi32_si128((int)pt.rsh), flt,
                                 _mm_set1_ps(pt.step), r0 + 2 * x, r1 + 2 * x, vc + 1 + 2 * x, 1))
                return TD_E_CORRUPT;
            return TD_OK;
        }
    }
#endif
    if (!rho) {
        vc[1 + 2 * x] = vc[2 + 2 * x] = 0;
        r0[2 * x] = 0;
        if (full) {
            r0[2 * x + 1] = r1[2 * x] = r1[2 * x + 1] = 0;
        } else {
            if (2 * x + 1 < w) r0[2 * x + 1] = 0;
            if (bottom) r1[2 * x] = 0;
        }
        return TD_OK;
    }
    uint32_t kappa = 1;
    if (e & 1) { /* gamma: two or more significant (vp is 0 in row 0) */
        const uint32_t *vv = vp + 2 * x; /* columns 2x - 1 .. 2x + 2 */
        kappa = 31 - (uint32_t)__builtin_clz(vv[0] | vv[1] | vv[2] | vv[3] | 2);
    }
    uint32_t Uq = (e >> 16) + kappa - 1;  /* pass 1 stores u_q + 1 */
    if (Uq > 31 - bp) return TD_E_CORRUPT; /* (2 mu + 1) << (bp - 1) must fit in 31 bits */
#ifndef TD_HT_AVX2
    (void)simd;
    (void)fast;
#endif
    if (!full) { /* the samples inside the block */
        uint32_t valid = (2 * x + 1 < w ? 0x5 : 0x1) * (bottom ? 3 : 1);
        if (rho & ~valid) return TD_E_CORRUPT;
    }
    int32_t sm[4] = {0, 0, 0, 0};
    uint32_t v[2] = {0, 0};
    if (magsgn_quad(ms, pos, e, Uq, bp, flt ? 0 : pt.rsh, sm, v)) return TD_E_CORRUPT;
    vc[1 + 2 * x] = v[0];
    vc[2 + 2 * x] = v[1];
    put(r0, 2 * x, sm[0], flt, pt.step);
    if (full) {
        put(r0, 2 * x + 1, sm[2], flt, pt.step);
        put(r1, 2 * x, sm[1], flt, pt.step);
        put(r1, 2 * x + 1, sm[3], flt, pt.step);
    } else {
        if (2 * x + 1 < w) put(r0, 2 * x + 1, sm[2], flt, pt.step);
        if (bottom) put(r1, 2 * x, sm[1], flt, pt.step);
    }
    return TD_OK;
}

/* Pass 2 of the cleanup: MagSgn of every quad (clause 7.3.7) from pass 1's q; U_q = u_q +
 * kappa, kappa from v of the bottom samples of the quad row above (clause 7.3.6).  Sample
 * (x, y) goes to out[y * os + x]. */
static inline __attribute__((always_inline)) int magsgn_pass(const ht_ms *ms, const uint32_t *q,
                                                             uint32_t w, uint32_t h, uint32_t bp,
                                                             int32_t *out, size_t os,
                                                             uint32_t *vbuf, int simd, int flt,
                                                             ht_put pt)
{
    uint32_t pos = 0;  /* MagSgn bits taken */
    uint32_t fast = bp <= 16 ? 14 : 30 - bp;  /* U_q up to this: the fast path of magsgn_one */
    uint32_t qw = (w + 1) / 2, qh = (h + 1) / 2, qs = qw + 2;
    size_t nv = HT_VROW(qw);
    uint32_t *vp = vbuf, *vc = vbuf + nv;  /* v of bottom samples, column x at x + 1 */
#ifdef TD_HT_AVX2
    uint32_t uq[520];  /* U_q of the full quads of the row, in each byte (uq8_avx2) */
    /* U_q <= fast in every byte of a word of uq: no byte of the word plus this at 128 (no
     * carries: U_q + 127 - fast < 256) */
    const uint64_t fast_add = (127 - (uint64_t)fast) * 0x0101010101010101u;
#endif
    for (uint32_t qy = 0; qy < qh; qy++) {
        const uint32_t *qr = q + (size_t)qy * qs + 1;
        int32_t *r0 = out + (size_t)2 * qy * os, *r1 = r0 + os;
        int bottom = 2 * qy + 1 < h;
        uint32_t qfull = bottom ? w / 2 : 0;  /* quads x < qfull have all four samples */
        uint32_t x = 0;
#ifdef TD_HT_AVX2
        uint32_t gnext = 0;  /* uq[x] is there for the x of the pair loop up to this */
        if (simd) /* quad pairs; two insignificant quads (runs of them are common) store 0s */
            for (; x + 1 < qfull; x += 2) {
                uint64_t e01; /* quads x (low word) and x + 1 */
                memcpy(&e01, qr + x, sizeof e01);
                if (!(e01 & 0xF0000000F0u)) {
                    _mm_storeu_si128((__m128i *)(void *)(r0 + 2 * x), _mm_setzero_si128());
                    _mm_storeu_si128((__m128i *)(void *)(r1 + 2 * x), _mm_setzero_si128());
                    _mm_storeu_si128((__m128i *)(void *)(vc + 1 + 2 * x), _mm_setzero_si128());
                    /* and runs of four more */
                    while (x + 6 <= qfull && zero4_avx2(qr + x + 2, r0 + 2 * x + 4,
                                                        r1 + 2 * x + 4, vc + 5 + 2 * x))
                        x += 4;
                    continue;
                }
                if (x + 1 >= gnext) {
                    uq8_avx2(vp, qr, x, uq);
                    gnext = x + 8;
                }
                uint64_t U;
                memcpy(&U, uq + x, sizeof U);
                if (!((U + fast_add) & 0x8080808080808080u)) {
                    magsgn_pair_avx2(ms, &pos, e01, U, bp, _mm_cvtsi32_si128((int)pt.rsh), flt,
                                     pt.step, r0 + 2 * x, r1 + 2 * x, vc + 1 + 2 * x);
                    continue;
                }
                if (magsgn_one(ms, &pos, qr[x], x, 1, w, 1, bp, r0, r1, vp, vc, simd, flt, pt,
                               fast) != TD_OK ||
                    magsgn_one(ms, &pos, qr[x + 1], x + 1, 1, w, 1, bp, r0, r1, vp, vc, simd,
                               flt, pt, fast) != TD_OK)
                    return TD_E_CORRUPT;
            }
#endif
        for (; x < qfull; x++)
            if (magsgn_one(ms, &pos, qr[x], x, 1, w, 1, bp, r0, r1, vp, vc, simd, flt, pt,
                           fast) != TD_OK)
                return TD_E_CORRUPT;
        for (; x < qw; x++)
            if (magsgn_one(ms, &pos, qr[x], x, 0, w, bottom, bp, r0, r1, vp, vc, simd, flt, pt,
                           fast) != TD_OK)
                return TD_E_CORRUPT;
        uint32_t *t = vp; vp = vc; vc = t;
    }
    return TD_OK;
}

typedef struct ht_cup {
    ht_ms ms;
    ht_mel mel;
    ht_rev vlc;
    uint32_t w, h, bp;
    int32_t *out;    /* sample (x, y) at out[y * os + x] */
    size_t os;
    int flt;         /* float output (ht_put) */
    ht_put pt;
    uint32_t *q;     /* pass 1's quads */
    uint32_t *vbuf;  /* two rows of HT_VROW(qw) words, zeroed */
} ht_cup;

/* Both passes; compiled for x86-64, x86-64 with BMI2 (shrx, bzhi: the variable shifts without
 * the shift-count register) and with AVX2 too, chosen at run time; int32 and float output. */
static inline __attribute__((always_inline)) int cup_passes(ht_cup *st, int simd, int flt)
{
    uint32_t qw = (st->w + 1) / 2, qh = (st->h + 1) / 2;
    vlc_pass(&st->vlc, &st->mel, qw, qh, st->q, simd, st->out, st->os, st->w, st->h);
    return magsgn_pass(&st->ms, st->q, st->w, st->h, st->bp, st->out, st->os, st->vbuf, simd,
                       flt, st->pt);
}

#define HT_CUP(name, attr, simd)                                                              \
    attr static int name(ht_cup *st)                                                          \
    {                                                                                         \
        return st->flt ? cup_passes(st, simd, 1) : cup_passes(st, simd, 0);                   \
    }
HT_CUP(cup_generic, , 0)
#ifdef TD_HT_X86
HT_CUP(cup_bmi2, __attribute__((target("bmi,bmi2"))), 0)
#endif
#ifdef TD_HT_AVX2
HT_CUP(cup_avx2, __attribute__((target("avx2,bmi,bmi2"))), 1)
#endif

/* Decode the cleanup segment d[0 .. lcup) into out (every sample written, row stride os, in the
 * form pt and flt say); scratch holds cleanup_scratch(w, h, lcup) words: pass 1's quads, two
 * rows of v, the destuffed MagSgn bits. */
static size_t cleanup_scratch(uint32_t w, uint32_t h, uint32_t lcup)
{
    size_t qw = ((size_t)w + 1) / 2, qh = ((size_t)h + 1) / 2;
    return (qw + 2) * qh + 2 * HT_VROW(qw) + (destuff_cap(lcup) + 3) / 4;
}

static int cleanup(const uint8_t *d, uint32_t lcup, uint32_t w, uint32_t h, uint32_t bp,
                   int32_t *out, size_t os, int flt, ht_put pt, uint32_t *scratch)
{
    if (lcup < 2) return TD_E_CORRUPT;
    uint32_t scup = ((uint32_t)d[lcup - 1] << 4) | (d[lcup - 2] & 0xF);
    if (scup < 2 || scup > lcup || scup > 4079) return TD_E_CORRUPT;
    uint32_t pcup = lcup - scup;
    ht_cup st;
    memset(&st.mel, 0, sizeof st.mel);
    st.mel.p = d + pcup;
    st.mel.len = scup - 1;
    memset(&st.vlc, 0, sizeof st.vlc);
    {   /* the VLC stream starts in the upper nibble of byte Lcup - 2 */
        uint32_t b = d[lcup - 2] >> 4;
        st.vlc.acc = b;
        st.vlc.n = 4;
        if ((b & 7) == 7) { st.vlc.acc = b & 7; st.vlc.n = 3; }
        st.vlc.unstuff = (d[lcup - 2] | 0x0F) > 0x8F;
        st.vlc.p = d + pcup;
        st.vlc.left = scup - 2;
        rev_refill(&st.vlc);
    }
    st.w = w;
    st.h = h;
    st.bp = bp;
    st.out = out;
    st.os = os;
    st.flt = flt;
    st.pt = pt;
    size_t qw = ((size_t)w + 1) / 2, qh = ((size_t)h + 1) / 2, nq = (qw + 2) * qh;
    st.q = scratch;
    st.vbuf = scratch + nq;
    uint8_t *msb = (uint8_t *)(void *)(st.vbuf + 2 * HT_VROW(qw));
    st.ms.b = msb;
#ifdef TD_HT_AVX2
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi2");
    st.ms.lim = avx2 ? destuff_fwd_avx2(d, pcup, msb) : destuff_fwd(d, pcup, msb);
#else
    st.ms.lim = destuff_fwd(d, pcup, msb);
#endif
    for (size_t y = 0; y < qh; y++) st.q[y * (qw + 2)] = st.q[y * (qw + 2) + qw + 1] = 0;
    memset(st.vbuf, 0, 2 * HT_VROW(qw) * sizeof *st.vbuf);
#ifdef TD_HT_AVX2
    if (avx2) return cup_avx2(&st);
#endif
#ifdef TD_HT_X86
    if (__builtin_cpu_supports("bmi2")) return cup_bmi2(&st);
#endif
    return cup_generic(&st);
}

/* ---- SigProp and MagRef (clauses 7.4, 7.5), bit-plane bp - 1 ---- */

static void magref(const uint8_t *d, uint32_t len, uint32_t w, uint32_t h, uint32_t bp,
                   int32_t *coef)
{
    ht_rev r;
    memset(&r, 0, sizeof r);
    r.p = d;
    r.left = len;
    r.unstuff = 1;
    rev_refill(&r);
    int32_t flip = (int32_t)(1u << (bp - 1)), half = (int32_t)(1u << (bp - 2));
    for (uint32_t y0 = 0; y0 < h; y0 += 4) {
        uint32_t y1 = y0 + 4 < h ? y0 + 4 : h;
        for (uint32_t x = 0; x < w; x++)
            for (uint32_t y = y0; y < y1; y++) {
                int32_t *v = &coef[(size_t)y * w + x];
                if (!*v) continue;
                int32_t mag = *v < 0 ? -*v : *v;
                mag ^= (rev_bit(&r) ? 0 : flip) | half;
                *v = *v < 0 ? -mag : mag;
            }
    }
}

/* sig: (w + 2) x (h + 2) with a border, 1 where significant (cleanup or earlier in this pass) */
static void sigprop(const uint8_t *d, uint32_t len, uint32_t w, uint32_t h, uint32_t bp,
                    int vcausal, int32_t *coef, uint8_t *sig)
{
    size_t ss = w + 2;
    memset(sig, 0, ss * (h + 2));
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++) sig[(y + 1) * ss + x + 1] = coef[(size_t)y * w + x] != 0;
    ht_fwd r;
    fwd_init(&r, d, len, 0);
    int32_t val = (int32_t)(3u << (bp - 2));
    for (uint32_t y0 = 0; y0 < h; y0 += 4) {
        uint32_t y1 = y0 + 4 < h ? y0 + 4 : h;
        for (uint32_t x0 = 0; x0 < w; x0 += 4) {
            uint32_t x1 = x0 + 4 < w ? x0 + 4 : w;
            uint32_t newsig = 0; /* bit (x - x0) * 4 + (y - y0) */
            for (uint32_t x = x0; x < x1; x++)
                for (uint32_t y = y0; y < y1; y++) {
                    uint8_t *s = &sig[(y + 1) * ss + x + 1];
                    if (*s) continue;
                    uint32_t nb = s[-1] | s[1] | s[-(ptrdiff_t)ss - 1] | s[-(ptrdiff_t)ss] |
                                  s[-(ptrdiff_t)ss + 1];
                    if (!(vcausal && y == y0 + 3)) nb |= s[ss - 1] | s[ss] | s[ss + 1];
                    if (!nb) continue;
                    uint32_t b = fwd_peek(&r) & 1;
                    fwd_skip(&r, 1);
                    if (b) {
                        *s = 2;
                        newsig |= 1u << ((x - x0) * 4 + (y - y0));
                    }
                }
            for (uint32_t x = x0; x < x1 && newsig; x++)
                for (uint32_t y = y0; y < y1; y++) {
                    if (!((newsig >> ((x - x0) * 4 + (y - y0))) & 1)) continue;
                    uint32_t b = fwd_peek(&r) & 1;
                    fwd_skip(&r, 1);
                    coef[(size_t)y * w + x] = b ? -val : val;
                }
        }
    }
}

/* ---- the block ---- */

/* Zeros into the block's place in the output. */
static void zero_out(const j2k_block_job *job)
{
    int32_t *o = job->out;
    for (uint32_t y = 0; y < job->h; y++, o += job->out_stride)
        memset(o, 0, (size_t)job->w * sizeof *o);
}

/* The block in coef (two's complement, row stride w) into the output (E.1). */
static void store_out(const j2k_block_job *job, const int32_t *coef)
{
    uint32_t w = job->w;
    if (job->rev) {
        int32_t *o = job->out;
        for (uint32_t y = 0; y < job->h; y++, o += job->out_stride, coef += w)
            for (uint32_t x = 0; x < w; x++) o[x] = coef[x] / 2;
    } else {
        float *o = job->out, step = job->step;
        for (uint32_t y = 0; y < job->h; y++, o += job->out_stride, coef += w)
            for (uint32_t x = 0; x < w; x++) o[x] = (float)coef[x] * step;
    }
}

int j2k_ht_decode(j2k_t1 *t1, const j2k_block_job *job)
{
    uint32_t w = job->w, h = job->h;
    if ((size_t)w * h > 4096 || w > 1024 || h > 1024) return TD_E_CORRUPT;
    /* the last non-empty cleanup segment and the refinement segment after it */
    uint32_t passes = 0, cup = UINT32_MAX, ref = UINT32_MAX, sets = 0;
    for (uint32_t s = 0; s < job->nsegs; s++) {
        const j2k_segment *sg = &job->segs[s];
        if (!sg->passes) continue;
        uint32_t last = passes + sg->passes - 1;
        if (last % 3 == 0) {
            if (sg->len) {
                cup = s;
                sets = last / 3;
                ref = UINT32_MAX;
            }
        } else if (cup != UINT32_MAX && s == cup + 1 && sg->len) {
            ref = s;
        }
        passes += sg->passes;
    }
    if (cup == UINT32_MAX) {
        zero_out(job);
        return TD_OK;
    }
    int64_t bp = (int64_t)job->numbps + job->roishift - sets;
    if (bp < 1) return TD_E_CORRUPT;
    if (bp >= 31) return TD_E_UNSUPPORTED;
    const j2k_segment *cs = &job->segs[cup];
    size_t need = cleanup_scratch(w, h, cs->len);
    size_t need_sig = ((size_t)w + 2) * (h + 2) / 4 + 1;
    if (need_sig > need) need = need_sig;
    /* scratch: tier-1's flag buffer (flags_cap counts its elements), used here as uint32_t */
    size_t need_elems = (need * sizeof(uint32_t) + sizeof *t1->flags - 1) / sizeof *t1->flags;
    if (need_elems > t1->flags_cap) {
        free(t1->flags);
        t1->flags = malloc(need_elems * sizeof *t1->flags);
        if (!t1->flags) { t1->flags_cap = 0; return TD_E_NOMEM; }
        t1->flags_cap = need_elems;
    }
    uint32_t *scratch = (uint32_t *)(void *)t1->flags;
    if (cs->cut) {
        /* the codestream ends inside the cleanup segment: its VLC and MEL data (read from the
         * end) are gone, so the block is zeros and the rest of the image decodes (the caller
         * reports the truncation in strict mode) */
        zero_out(job);
        return TD_OK;
    }
    if (ref != UINT32_MAX && (job->segs[ref].cut || bp < 2))
        ref = UINT32_MAX; /* cut refinement (or none possible below bit-plane 1): skip it */
    /* cleanup only: straight into the output in its final form; else into t1->coef */
    int direct = ref == UINT32_MAX && !job->roishift;
    ht_put pt;
    pt.rsh = direct && job->rev;
    pt.step = job->step;
    int rc = cleanup(job->data + cs->offset, cs->len, w, h, (uint32_t)bp,
                     direct ? job->out : t1->coef, direct ? job->out_stride : w,
                     direct && !job->rev, pt, scratch);
    if (rc != TD_OK) {
        /* a complete but damaged cleanup segment (Scup against Lcup, an exponent out of range,
         * samples outside the block) is an error: no made-up samples in a lossless image */
        zero_out(job);
        return rc;
    }
    if (direct) return TD_OK;
    if (ref != UINT32_MAX) {
        const j2k_segment *rs = &job->segs[ref];
        const uint8_t *rd = job->data + rs->offset;
        if (rs->passes >= 2) magref(rd, rs->len, w, h, (uint32_t)bp, t1->coef);
        sigprop(rd, rs->len, w, h, (uint32_t)bp, (job->style & J2K_CBLK_VCAUSAL) != 0, t1->coef,
                (uint8_t *)scratch);
    }
    if (job->roishift) {
        int32_t thresh = (int32_t)1 << job->roishift;
        for (size_t i = 0; i < (size_t)w * h; i++) {
            int32_t v = t1->coef[i], mag = v < 0 ? -v : v;
            if (mag >= thresh) {
                mag >>= job->roishift;
                t1->coef[i] = v < 0 ? -mag : mag;
            }
        }
    }
    store_out(job, t1->coef);
    return TD_OK;
}
