/*
 * td_rle.c - DICOM RLE Lossless (1.2.840.10008.1.2.5), DICOM PS3.5 Annex G.
 *
 * Decoding (G.3.2, G.5):
 *   - The 64-byte header (G.5) is validated against the image description: the segment count must
 *     equal samples_per_pixel * bytes_per_sample, every used offset must lie in [64, src_len] and a
 *     segment may not start after its end (the next segment's offset, or src_len for the last).
 *   - A segment is PackBits (G.3.1): header byte n in 0..127 copies n+1 literal bytes, 129..255
 *     repeats the next byte 257-n times, 128 is a no-op.  A run that would read past the segment's
 *     end is cut to what is there (as pydicom's slicing does); a run that passes the end of the
 *     plane is clipped; input left once the plane is full is padding and is ignored; a plane that
 *     is not full when its segment's input runs out is TD_E_TRUNCATED.
 *   - One sample byte plane per segment, most significant byte first (G.2); the output is
 *     little-endian, pixel-interleaved (or sample planes with TD_RLE_PLANAR).
 *
 * How it is fast: a byte plane that is contiguous in the output (8-bit grayscale, or planar output
 * of 8-bit samples) is decoded straight into the caller's buffer.  Otherwise the planes that
 * interleave into one output region are decoded a chunk at a time into a fixed stack arena (a few
 * KB per plane, so everything stays in L1) and interleaved with straight-line loops that compilers
 * vectorise (RGB 8-bit has an SSSE3 version picked at run time on x86).  While there is room,
 * runs are copied/filled in whole 32-byte blocks (overshooting into space that the next run
 * overwrites); near the end of a segment's input or of the output the exact, clipping path is
 * used.  No allocation.
 *
 * Encoding (G.3.1) reproduces pydicom's native encoder byte for byte: each row of each byte plane
 * is encoded separately; a group of one byte joins the pending literal run; a group of two or more
 * flushes the literal (in runs of 128) and becomes replicate runs of 128, then one of the remainder
 * (or a one-byte literal if the remainder is 1); segments are padded to even length with 0x00.
 * Rows are gathered into a contiguous scratch row and scanned 8 bytes at a time for equal pairs.
 *
 * Segment numbers in messages count from 1, as the header description in G.5 does.
 */
#include "td_rle.h"

#include "td_bytes.h"

#include <stdlib.h>
#include <string.h>

/* On x86 with GCC or Clang (not clang-cl) the 3-sample interleave (decode) and gather (encode)
 * also have SSSE3 versions, chosen at run time with __builtin_cpu_supports; everywhere else, and
 * on x86 CPUs without SSSE3, the portable loops run. */
#if (defined(__GNUC__) || defined(__clang__)) && !defined(_MSC_VER) && \
    (defined(__x86_64__) || defined(__i386__))
#define RLE_X86_DISPATCH 1
#include <tmmintrin.h>
#else
#define RLE_X86_DISPATCH 0
#endif

#define RLE_HEADER_SIZE 64u
#define RLE_MAX_SEGMENTS 15u
#define RLE_RUN_MAX 128u /* longest literal or replicate run */

/* Decode scratch: planes that interleave into one output region share this stack arena. */
#define RLE_ARENA_SIZE 24576u
#define RLE_PLANE_SLACK 160u /* room for one whole overshooting run past a chunk's end */

/* Encode scratch: one row of one byte plane, with zeroed slack for look-ahead loads and block
 * copies. */
#define RLE_ROW_STACK 8192u
#define RLE_ROW_SLACK 32u

#if defined(__GNUC__) || defined(__clang__)
#define RLE_LIKELY(x) __builtin_expect(!!(x), 1)
#define RLE_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define RLE_LIKELY(x) (x)
#define RLE_UNLIKELY(x) (x)
#endif

static unsigned bytes_per_sample_of(uint32_t bits_allocated)
{
    switch (bits_allocated) {
    case 8: return 1;
    case 16: return 2;
    case 32: return 4;
    case 64: return 8;
    default: return 0;
    }
}

size_t td_rle_frame_size(uint32_t rows, uint32_t columns, uint32_t samples_per_pixel,
                         uint32_t bits_allocated)
{
    size_t pixels, samples, size;
    if (rows == 0 || columns == 0 || samples_per_pixel == 0) return 0;
    if (td_mul_overflow(rows, columns, &pixels)) return 0;
    if (td_mul_overflow(pixels, samples_per_pixel, &samples)) return 0;
    if (bits_allocated == 1) return samples / 8 + (samples % 8 != 0);
    if (bytes_per_sample_of(bits_allocated) == 0) return 0;
    if (td_mul_overflow(samples, bytes_per_sample_of(bits_allocated), &size)) return 0;
    return size;
}

/* Validate the image description shared by decode and encode; sets *plane (bytes per segment
 * plane) and *frame_size. */
static int check_image(uint32_t rows, uint32_t columns, uint32_t samples_per_pixel,
                       uint32_t bits_allocated, size_t *plane, size_t *frame_size, td_error *err)
{
    size_t pixels;
    if (rows == 0 || columns == 0)
        return td_fail(err, TD_E_INVALID_ARGUMENT, -1, "rows %u and columns %u must both be > 0",
                       (unsigned)rows, (unsigned)columns);
    if (samples_per_pixel == 0)
        return td_fail(err, TD_E_INVALID_ARGUMENT, -1, "samples_per_pixel must be > 0");
    if (bits_allocated != 1 && bytes_per_sample_of(bits_allocated) == 0)
        return td_fail(err, TD_E_INVALID_ARGUMENT, -1,
                       "bits_allocated %u is not 1, 8, 16, 32 or 64", (unsigned)bits_allocated);
    *frame_size = td_rle_frame_size(rows, columns, samples_per_pixel, bits_allocated);
    if (*frame_size == 0)
        return td_fail(err, TD_E_LIMIT, -1,
                       "a %u x %u x %u frame of %u-bit samples overflows size_t", (unsigned)rows,
                       (unsigned)columns, (unsigned)samples_per_pixel, (unsigned)bits_allocated);
    pixels = (size_t)rows * columns; /* cannot overflow: frame_size did not */
    *plane = bits_allocated == 1 ? pixels / 8 + (pixels % 8 != 0) : pixels;
    return TD_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* PackBits segment decoding (G.3.2)                                                          */
/* ------------------------------------------------------------------------------------------ */

/* Copy len (1..128) bytes in 32-byte blocks: reads and writes up to 31 bytes past len.  The
 * first block is unconditional, so the many runs of <= 32 bytes take no loop branch. */
static inline void copy_blocks(uint8_t *d, const uint8_t *s, size_t len)
{
    memcpy(d, s, 32);
    if (RLE_UNLIKELY(len > 32)) {
        size_t k = 32;
        do {
            memcpy(d + k, s + k, 32);
            k += 32;
        } while (k < len);
    }
}

/* Fill len (1..128) bytes with v in 32-byte blocks: writes up to 31 bytes past len. */
static inline void fill_blocks(uint8_t *d, uint8_t v, size_t len)
{
    uint8_t pattern[32];
    memset(pattern, v, sizeof pattern);
    memcpy(d, pattern, 32);
    if (RLE_UNLIKELY(len > 32)) {
        size_t k = 32;
        do {
            memcpy(d + k, pattern, 32);
            k += 32;
        } while (k < len);
    }
}

/*
 * Decode runs of one segment from *pp (input ends at end) into *pd until *pd reaches d_stop or
 * the input runs out.  Writes never pass d_lim (runs are clipped there); d_lim >= d_stop.
 * While at least 129 input bytes remain and *pd + 128 <= d_lim, whole runs are moved in 32-byte
 * blocks; those overshoot the run's end by up to 31 bytes, which is harmless because the overshoot
 * lies below d_lim and is overwritten by the following runs (or is carried / ignored).
 */
static inline void packbits_decode(const uint8_t **pp, const uint8_t *end, uint8_t **pd,
                                   uint8_t *d_stop, uint8_t *d_lim)
{
    const uint8_t *p = *pp;
    uint8_t *d = *pd;

    /* Fast path: every run fits in the input and in the output. */
    if ((size_t)(end - p) > RLE_RUN_MAX && (size_t)(d_lim - d) >= RLE_RUN_MAX) {
        const uint8_t *p_fast = end - RLE_RUN_MAX;  /* p < p_fast: p[0..128] readable */
        uint8_t *d_fast = d_lim - RLE_RUN_MAX + 1; /* d < d_fast: d[0..127] writable */
        if (d_fast > d_stop) d_fast = d_stop;
        while (p < p_fast && d < d_fast) {
            unsigned n = *p;
            if (n < 128u) { /* literal run of n + 1 bytes */
                size_t len = (size_t)n + 1;
                copy_blocks(d, p + 1, len);
                d += len;
                p += len + 1;
            } else if (n > 128u) { /* replicate run of 257 - n bytes */
                size_t len = 257u - (size_t)n;
                fill_blocks(d, p[1], len);
                d += len;
                p += 2;
            } else { /* 128: no-op */
                p += 1;
            }
        }
    }

    /* Exact path: the segment's last bytes or the output's last bytes. */
    while (d < d_stop && p < end) {
        unsigned n = *p++;
        if (n < 128u) {
            size_t len = (size_t)n + 1;
            size_t avail = (size_t)(end - p);
            size_t room = (size_t)(d_lim - d);
            size_t take = len < avail ? len : avail; /* cut at the segment's end */
            if (take > room) take = room;            /* clip at the plane's end */
            memcpy(d, p, take);
            d += take;
            p += len < avail ? len : avail;
        } else if (n > 128u) {
            size_t len = 257u - (size_t)n;
            size_t room = (size_t)(d_lim - d);
            if (p == end) break; /* header byte without its value */
            memset(d, *p++, len < room ? len : room);
            d += len < room ? len : room;
        }
    }
    *pp = p;
    *pd = d;
}

/* Where the segments of one frame are and where their bytes go. */
typedef struct rle_segment {
    const uint8_t *p;   /* next unread input byte */
    const uint8_t *end; /* end of the segment's input */
    unsigned number;    /* 1-based segment number in the header, for messages */
} rle_segment;

static int segment_short(td_error *err, const uint8_t *src, const rle_segment *seg,
                         size_t produced, size_t plane)
{
    return td_fail(err, TD_E_TRUNCATED, (int64_t)(seg->end - src),
                   "RLE segment %u decodes to %zu bytes, %zu expected", seg->number, produced,
                   plane);
}

/* Decode one segment straight into a contiguous plane of n bytes. */
static int decode_plane_direct(const uint8_t *src, rle_segment *seg, uint8_t *dst, size_t n,
                               td_error *err)
{
    uint8_t *d = dst;
    packbits_decode(&seg->p, seg->end, &d, dst + n, dst + n);
    if (d < dst + n) return segment_short(err, src, seg, (size_t)(d - dst), n);
    return TD_OK;
}

/* ---- interleaving kernels: out[i * stride + k] = plane[k][i] ---- */

static void interleave2(uint8_t *restrict out, const uint8_t *restrict b0,
                        const uint8_t *restrict b1, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = b0[i];
        out[2 * i + 1] = b1[i];
    }
}

#if RLE_X86_DISPATCH
/* 16 pixels a step.  Output byte g of the step is sample g % 3 of pixel g / 3.  One byte shuffle
 * (pshufb) per input places each input's 16 bytes where the three output registers want them
 * (the three registers use disjoint byte positions of each input), and masks merge the results:
 * three shuffles per 48 output bytes instead of nine. */
__attribute__((target("ssse3"))) static size_t interleave3_ssse3(uint8_t *restrict out,
                                                                 const uint8_t *restrict b0,
                                                                 const uint8_t *restrict b1,
                                                                 const uint8_t *restrict b2,
                                                                 size_t n)
{
    const __m128i shuf0 = _mm_setr_epi8(0, 11, 6, 1, 12, 7, 2, 13, 8, 3, 14, 9, 4, 15, 10, 5);
    const __m128i shuf1 = _mm_setr_epi8(5, 0, 11, 6, 1, 12, 7, 2, 13, 8, 3, 14, 9, 4, 15, 10);
    const __m128i shuf2 = _mm_setr_epi8(10, 5, 0, 11, 6, 1, 12, 7, 2, 13, 8, 3, 14, 9, 4, 15);
    const __m128i m0 = _mm_setr_epi8(-1, 0, 0, -1, 0, 0, -1, 0, 0, -1, 0, 0, -1, 0, 0, -1);
    const __m128i m1 = _mm_setr_epi8(0, -1, 0, 0, -1, 0, 0, -1, 0, 0, -1, 0, 0, -1, 0, 0);
    const __m128i m2 = _mm_setr_epi8(0, 0, -1, 0, 0, -1, 0, 0, -1, 0, 0, -1, 0, 0, -1, 0);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m128i x0 = _mm_loadu_si128((const __m128i *)(const void *)(b0 + i));
        __m128i x1 = _mm_loadu_si128((const __m128i *)(const void *)(b1 + i));
        __m128i x2 = _mm_loadu_si128((const __m128i *)(const void *)(b2 + i));
        __m128i s0 = _mm_shuffle_epi8(x0, shuf0);
        __m128i s1 = _mm_shuffle_epi8(x1, shuf1);
        __m128i s2 = _mm_shuffle_epi8(x2, shuf2);
        __m128i o0 = _mm_or_si128(_mm_or_si128(_mm_and_si128(s0, m0), _mm_and_si128(s1, m1)),
                                  _mm_and_si128(s2, m2));
        __m128i o1 = _mm_or_si128(_mm_or_si128(_mm_and_si128(s0, m2), _mm_and_si128(s1, m0)),
                                  _mm_and_si128(s2, m1));
        __m128i o2 = _mm_or_si128(_mm_or_si128(_mm_and_si128(s0, m1), _mm_and_si128(s1, m2)),
                                  _mm_and_si128(s2, m0));
        _mm_storeu_si128((__m128i *)(void *)(out + 3 * i), o0);
        _mm_storeu_si128((__m128i *)(void *)(out + 3 * i + 16), o1);
        _mm_storeu_si128((__m128i *)(void *)(out + 3 * i + 32), o2);
    }
    return i;
}
#endif

static void interleave3(uint8_t *restrict out, const uint8_t *restrict b0,
                        const uint8_t *restrict b1, const uint8_t *restrict b2, size_t n)
{
    size_t i = 0;
#if RLE_X86_DISPATCH
    if (__builtin_cpu_supports("ssse3")) i = interleave3_ssse3(out, b0, b1, b2, n);
#endif
    for (; i < n; i++) {
        out[3 * i] = b0[i];
        out[3 * i + 1] = b1[i];
        out[3 * i + 2] = b2[i];
    }
}

static void interleave4(uint8_t *restrict out, const uint8_t *restrict b0,
                        const uint8_t *restrict b1, const uint8_t *restrict b2,
                        const uint8_t *restrict b3, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        out[4 * i] = b0[i];
        out[4 * i + 1] = b1[i];
        out[4 * i + 2] = b2[i];
        out[4 * i + 3] = b3[i];
    }
}

/* Pixel-major with a constant stride (6: RGB 16-bit, 8: 64-bit, 12: RGB 32-bit), which compilers
 * vectorise; called with literal strides only. */
static inline void interleave_fixed(uint8_t *restrict out, uint8_t *const *planes,
                                    const unsigned stride, size_t n)
{
    const uint8_t *restrict b[RLE_MAX_SEGMENTS];
    for (unsigned k = 0; k < stride; k++) b[k] = planes[k];
    for (size_t i = 0; i < n; i++)
        for (unsigned k = 0; k < stride; k++) out[i * stride + k] = b[k][i];
}

/* Any other stride: one strided pass per plane. */
static void interleave_any(uint8_t *restrict out, uint8_t *const *planes, unsigned stride,
                           size_t n)
{
    for (unsigned k = 0; k < stride; k++) {
        const uint8_t *restrict b = planes[k];
        uint8_t *restrict o = out + k;
        for (size_t i = 0; i < n; i++) o[i * stride] = b[i];
    }
}

/*
 * Decode `stride` segments whose planes interleave into one output region:
 * out[i * stride + k] = plane of segs[k], for i < npix.  Chunks of the planes are decoded into a
 * stack arena; each plane keeps the bytes its last whole run wrote past the chunk (the carry) for
 * the next chunk.
 */
static int decode_group(const uint8_t *src, rle_segment *segs, unsigned stride, uint8_t *out,
                        size_t npix, td_error *err)
{
    _Alignas(64) uint8_t arena[RLE_ARENA_SIZE];
    uint8_t *planes[RLE_MAX_SEGMENTS];
    size_t carry[RLE_MAX_SEGMENTS];
    size_t chunk = ((RLE_ARENA_SIZE / stride) - RLE_PLANE_SLACK) & ~(size_t)63;
    size_t done, prev_n = 0;

    if (stride == 1) return decode_plane_direct(src, &segs[0], out, npix, err);

    for (unsigned k = 0; k < stride; k++) {
        planes[k] = arena + (size_t)k * (chunk + RLE_PLANE_SLACK);
        carry[k] = 0;
    }
    for (done = 0; done < npix; done += prev_n) {
        size_t n = npix - done < chunk ? npix - done : chunk;
        for (unsigned k = 0; k < stride; k++) {
            uint8_t *b = planes[k];
            uint8_t *d = b + carry[k];
            if (carry[k] != 0) memmove(b, b + prev_n, carry[k]);
            if (d < b + n) {
                packbits_decode(&segs[k].p, segs[k].end, &d, b + n,
                                b + chunk + RLE_PLANE_SLACK);
                if (d < b + n) return segment_short(err, src, &segs[k], done + (size_t)(d - b),
                                                    npix);
            }
            carry[k] = (size_t)(d - (b + n));
        }
        switch (stride) {
        case 2: interleave2(out + done * 2, planes[0], planes[1], n); break;
        case 3: interleave3(out + done * 3, planes[0], planes[1], planes[2], n); break;
        case 4: interleave4(out + done * 4, planes[0], planes[1], planes[2], planes[3], n); break;
        case 6: interleave_fixed(out + done * 6, planes, 6, n); break;
        case 8: interleave_fixed(out + done * 8, planes, 8, n); break;
        case 12: interleave_fixed(out + done * 12, planes, 12, n); break;
        default: interleave_any(out + done * stride, planes, stride, n); break;
        }
        prev_n = n;
    }
    return TD_OK;
}

int td_rle_decode_frame(const uint8_t *src, size_t src_len, uint32_t rows, uint32_t columns,
                        uint32_t samples_per_pixel, uint32_t bits_allocated, unsigned flags,
                        uint8_t *out, size_t out_len, td_error *err)
{
    size_t plane, frame_size;
    unsigned bytes_per_sample;
    uint64_t nr_expected; /* 64-bit: samples_per_pixel * bytes_per_sample must not wrap */
    uint32_t nr_segments;
    int status;

    td_error_clear(err);
    if (src == NULL || out == NULL)
        return td_fail(err, TD_E_INVALID_ARGUMENT, -1, "src and out must not be NULL");
    if ((flags & ~(TD_RLE_PLANAR | TD_RLE_SEGMENT_ORDER_LE)) != 0)
        return td_fail(err, TD_E_INVALID_ARGUMENT, -1, "unknown RLE flags 0x%x", flags);
    status = check_image(rows, columns, samples_per_pixel, bits_allocated, &plane, &frame_size,
                         err);
    if (status != TD_OK) return status;
    if (bits_allocated == 1 && samples_per_pixel != 1)
        return td_fail(err, TD_E_UNSUPPORTED, -1,
                       "RLE with bits_allocated 1 needs 1 sample per pixel, got %u",
                       (unsigned)samples_per_pixel);
    if (out_len < frame_size)
        return td_fail(err, TD_E_OUTPUT_TOO_SMALL, -1,
                       "output buffer of %zu bytes cannot hold the %zu-byte frame", out_len,
                       frame_size);

    /* G.5: the RLE header. */
    if (src_len < RLE_HEADER_SIZE)
        return td_fail(err, TD_E_TRUNCATED, (int64_t)src_len,
                       "RLE frame is %zu bytes, shorter than its 64-byte header", src_len);
    nr_segments = td_load_le32(src);
    bytes_per_sample = bits_allocated == 1 ? 1 : bytes_per_sample_of(bits_allocated);
    if (nr_segments < 1 || nr_segments > RLE_MAX_SEGMENTS)
        return td_fail(err, TD_E_CORRUPT, 0, "RLE header says %lu segments; 1 to 15 allowed",
                       (unsigned long)nr_segments);
    nr_expected = bits_allocated == 1 ? 1u : (uint64_t)samples_per_pixel * bytes_per_sample;
    if (nr_segments != nr_expected) {
        if (bits_allocated == 1)
            return td_fail(err, TD_E_CORRUPT, 0,
                           "RLE header says %lu segments but 1-bit pixels need 1",
                           (unsigned long)nr_segments);
        return td_fail(err, TD_E_CORRUPT, 0,
                       "RLE header says %lu segments but %u sample%s x %u byte%s need %llu",
                       (unsigned long)nr_segments, (unsigned)samples_per_pixel,
                       samples_per_pixel == 1 ? "" : "s", bytes_per_sample,
                       bytes_per_sample == 1 ? "" : "s", (unsigned long long)nr_expected);
    }
    for (unsigned i = 0; i < nr_segments; i++) {
        uint32_t offset = td_load_le32(src + 4 + 4 * i);
        if (offset < RLE_HEADER_SIZE)
            return td_fail(err, TD_E_CORRUPT, 4 + 4 * (int64_t)i,
                           "RLE segment %u offset %lu is inside the 64-byte header", i + 1,
                           (unsigned long)offset);
        if (offset > src_len)
            return td_fail(err, TD_E_TRUNCATED, 4 + 4 * (int64_t)i,
                           "RLE segment %u offset %lu is beyond the frame's %zu bytes", i + 1,
                           (unsigned long)offset, src_len);
    }
    for (unsigned i = 0; i + 1 < nr_segments; i++) {
        uint32_t start = td_load_le32(src + 4 + 4 * i), end = td_load_le32(src + 8 + 4 * i);
        if (start > end)
            return td_fail(err, TD_E_CORRUPT, 4 + 4 * (int64_t)i,
                           "RLE segment %u starts at offset %lu, after segment %u at %lu", i + 1,
                           (unsigned long)start, i + 2, (unsigned long)end);
    }

    if (bits_allocated == 1) {
        rle_segment seg;
        seg.p = src + td_load_le32(src + 4);
        seg.end = src + src_len;
        seg.number = 1;
        return decode_plane_direct(src, &seg, out, plane, err);
    }

    /*
     * Group the segments by output region.  Segment s * bps + m holds byte k = bps - 1 - m
     * (MSB first, G.2) of sample s, or byte m with TD_RLE_SEGMENT_ORDER_LE.
     *   planar 0: one region, stride spp * bps, byte s * bps + k of each pixel;
     *   planar 1: one region per sample at s * plane * bps, stride bps, byte k.
     */
    {
        unsigned spp = (unsigned)samples_per_pixel, bps = bytes_per_sample;
        int planar = (flags & TD_RLE_PLANAR) != 0 && spp > 1;
        unsigned groups = planar ? spp : 1, stride = planar ? bps : spp * bps;
        for (unsigned g = 0; g < groups; g++) {
            rle_segment group[RLE_MAX_SEGMENTS];
            for (unsigned j = 0; j < stride; j++) {
                unsigned s = planar ? g : j / bps, k = j % bps;
                unsigned m = (flags & TD_RLE_SEGMENT_ORDER_LE) ? k : bps - 1 - k;
                unsigned i = s * bps + m;
                group[j].p = src + td_load_le32(src + 4 + 4 * i);
                group[j].end = i + 1 < nr_segments ? src + td_load_le32(src + 8 + 4 * i)
                                                   : src + src_len;
                group[j].number = i + 1;
            }
            status = decode_group(src, group, stride, out + (size_t)g * plane * bps, plane, err);
            if (status != TD_OK) return status;
        }
    }
    return TD_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* PackBits encoding, as pydicom's native encoder does it (G.3.1)                             */
/* ------------------------------------------------------------------------------------------ */

#define RLE_ONES 0x0101010101010101ull
#define RLE_HIGHS 0x8080808080808080ull

static inline unsigned lowest_byte(uint64_t x) /* x != 0: index of its lowest nonzero byte */
{
#if defined(__GNUC__) || defined(__clang__)
    return (unsigned)__builtin_ctzll(x) >> 3;
#else
    unsigned i = 0;
    while ((x & 0xffu) == 0) { x >>= 8; i++; }
    return i;
#endif
}

/* First j in [i, c - 1) with p[j] == p[j + 1], or c if none.  p[c .. c + 15] is readable. */
static inline size_t find_pair(const uint8_t *p, size_t i, size_t c)
{
    size_t j = i;
    while (j + 1 < c) {
        uint64_t x = td_load_le64(p + j) ^ td_load_le64(p + j + 1);
        uint64_t zero = (x - RLE_ONES) & ~x & RLE_HIGHS; /* lowest set bit: first equal pair */
        if (zero != 0) {
            j += lowest_byte(zero);
            return j + 1 < c ? j : c;
        }
        j += 8;
    }
    return c;
}

/* Length of the run of p[j] starting at j (< c).  p[c .. c + 15] is readable. */
static inline size_t run_length(const uint8_t *p, size_t j, size_t c)
{
    uint64_t v = (uint64_t)p[j] * RLE_ONES;
    size_t k = j + 1;
    while (k < c) {
        uint64_t x = td_load_le64(p + k) ^ v;
        if (x != 0) {
            k += lowest_byte(x);
            break;
        }
        k += 8;
    }
    return (k < c ? k : c) - j;
}

/*
 * Encode one row p[0 .. c) at o (p[c .. c + RLE_ROW_SLACK) is readable).  With checked = 0 the
 * caller guarantees row_bound(c) + 32 bytes of room, so literal runs are copied in 32-byte
 * blocks that may overshoot (the next run overwrites the overshoot); with checked = 1 every run
 * is checked against o_end and copied exactly, and NULL means the row does not fit.
 */
static inline uint8_t *encode_row_impl(const uint8_t *p, size_t c, uint8_t *o,
                                       const uint8_t *o_end, const int checked)
{
    size_t i = 0;
    while (i < c) {
        size_t j = find_pair(p, i, c);
        /* Literal runs: the groups of one byte in [i, j), 128 bytes at a time. */
        while (i < j) {
            size_t len = j - i < RLE_RUN_MAX ? j - i : RLE_RUN_MAX;
            if (checked) {
                if ((size_t)(o_end - o) < len + 1) return NULL;
                *o++ = (uint8_t)(len - 1);
                memcpy(o, p + i, len);
            } else {
                *o++ = (uint8_t)(len - 1);
                memcpy(o, p + i, 32);
                for (size_t k = 32; k < len; k += 32) memcpy(o + k, p + i + k, 32);
            }
            o += len;
            i += len;
        }
        if (j >= c) break;
        /* Replicate runs: the group of g >= 2 bytes at j. */
        {
            size_t g = run_length(p, j, c);
            uint8_t v = p[j];
            if (RLE_LIKELY(g < RLE_RUN_MAX)) {
                if (checked && (size_t)(o_end - o) < 2) return NULL;
                o[0] = (uint8_t)(257 - g);
                o[1] = v;
                o += 2;
            } else {
                size_t full = g / RLE_RUN_MAX, rest = g % RLE_RUN_MAX;
                if (checked && (size_t)(o_end - o) < 2 * full + (rest != 0 ? 2 : 0)) return NULL;
                for (size_t r = 0; r < full; r++) {
                    o[0] = 129;
                    o[1] = v;
                    o += 2;
                }
                if (rest != 0) { /* pydicom: a lone remainder byte is a one-byte literal */
                    o[0] = rest > 1 ? (uint8_t)(257 - rest) : 0;
                    o[1] = v;
                    o += 2;
                }
            }
            i = j + g;
        }
    }
    return o;
}

static uint8_t *encode_row_fast(const uint8_t *p, size_t c, uint8_t *o)
{
    return encode_row_impl(p, c, o, NULL, 0);
}

static uint8_t *encode_row_checked(const uint8_t *p, size_t c, uint8_t *o, const uint8_t *o_end)
{
    return encode_row_impl(p, c, o, o_end, 1);
}

/* row[j] = s[j * stride] for j < n; a constant stride lets compilers vectorise the loop. */
static inline void gather_stride(uint8_t *restrict row, const uint8_t *restrict s, size_t n,
                                 size_t stride)
{
    for (size_t j = 0; j < n; j++) row[j] = s[j * stride];
}

#if RLE_X86_DISPATCH
/* row[j] = s[3 * j], 16 bytes a step: one byte shuffle per 16 input bytes.  A step reads
 * s[3 * j .. 3 * j + 47]; s is at most 2 bytes into the row's first pixel, so stopping while
 * j + 17 <= n keeps every read inside the row's 3 * n bytes.  Returns the bytes done. */
__attribute__((target("ssse3"))) static size_t gather3_ssse3(uint8_t *restrict row,
                                                             const uint8_t *restrict s, size_t n)
{
#define Z -1
    const __m128i m0 = _mm_setr_epi8(0, 3, 6, 9, 12, 15, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z);
    const __m128i m1 = _mm_setr_epi8(Z, Z, Z, Z, Z, Z, 2, 5, 8, 11, 14, Z, Z, Z, Z, Z);
    const __m128i m2 = _mm_setr_epi8(Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, 1, 4, 7, 10, 13);
#undef Z
    size_t j = 0;
    for (; j + 17 <= n; j += 16) {
        const uint8_t *q = s + 3 * j;
        __m128i v0 = _mm_loadu_si128((const __m128i *)(const void *)q);
        __m128i v1 = _mm_loadu_si128((const __m128i *)(const void *)(q + 16));
        __m128i v2 = _mm_loadu_si128((const __m128i *)(const void *)(q + 32));
        __m128i r = _mm_or_si128(_mm_or_si128(_mm_shuffle_epi8(v0, m0), _mm_shuffle_epi8(v1, m1)),
                                 _mm_shuffle_epi8(v2, m2));
        _mm_storeu_si128((__m128i *)(void *)(row + j), r);
    }
    return j;
}
#endif

/* row[j] = s[j * stride] for j < n (s points at one byte of the row's first pixel). */
static void gather(uint8_t *restrict row, const uint8_t *restrict s, size_t n, size_t stride)
{
    switch (stride) {
    case 1: memcpy(row, s, n); break;
    case 2: gather_stride(row, s, n, 2); break;
    case 3: {
        size_t j = 0;
#if RLE_X86_DISPATCH
        if (__builtin_cpu_supports("ssse3")) j = gather3_ssse3(row, s, n);
#endif
        gather_stride(row + j, s + 3 * j, n - j, 3);
        break;
    }
    case 4: gather_stride(row, s, n, 4); break;
    case 6: gather_stride(row, s, n, 6); break;
    case 8: gather_stride(row, s, n, 8); break;
    default: gather_stride(row, s, n, stride); break;
    }
}

/* Per-row worst case: c bytes, one header per literal run (at most (c + 2) / 3 of them, since
 * literals are separated by groups of >= 2) plus one per 128 literal bytes; replicate runs never
 * cost more than the bytes they stand for. */
static int row_bound(size_t c, size_t *r)
{
    return td_add_overflow(c, (c + 2) / 3 + c / RLE_RUN_MAX + 1, r);
}

size_t td_rle_encode_bound(uint32_t rows, uint32_t columns, uint32_t samples_per_pixel,
                           uint32_t bits_allocated)
{
    size_t row, segment, nr_segments, total;
    unsigned bps = bytes_per_sample_of(bits_allocated);
    if (rows == 0 || columns == 0 || samples_per_pixel == 0 || bps == 0) return 0;
    if (td_mul_overflow(samples_per_pixel, bps, &nr_segments)) return 0;
    if (row_bound(columns, &row)) return 0;
    if (td_mul_overflow(row, rows, &segment) || td_add_overflow(segment, 1, &segment)) return 0;
    if (td_mul_overflow(segment, nr_segments, &total)) return 0;
    if (td_add_overflow(total, RLE_HEADER_SIZE, &total)) return 0;
    return total;
}

int td_rle_encode_frame(const uint8_t *src, size_t src_len, uint32_t rows, uint32_t columns,
                        uint32_t samples_per_pixel, uint32_t bits_allocated, uint8_t *out,
                        size_t out_cap, size_t *out_len, td_error *err)
{
    uint8_t row_stack[RLE_ROW_STACK + RLE_ROW_SLACK];
    uint8_t *row = row_stack;
    uint8_t *o, *o_end;
    size_t plane, frame_size, nr_segments, fast_room;
    unsigned bps;
    int status;

    td_error_clear(err);
    if (out_len != NULL) *out_len = 0;
    if (src == NULL || out == NULL || out_len == NULL)
        return td_fail(err, TD_E_INVALID_ARGUMENT, -1, "src, out and out_len must not be NULL");
    if (bits_allocated == 1)
        return td_fail(err, TD_E_UNSUPPORTED, -1, "RLE encoding of 1-bit pixels is not supported");
    status = check_image(rows, columns, samples_per_pixel, bits_allocated, &plane, &frame_size,
                         err);
    if (status != TD_OK) return status;
    bps = bytes_per_sample_of(bits_allocated);
    if (samples_per_pixel > RLE_MAX_SEGMENTS || samples_per_pixel * bps > RLE_MAX_SEGMENTS)
        return td_fail(err, TD_E_UNSUPPORTED, -1,
                       "RLE allows at most 15 segments; %u samples x %u bytes need %lu",
                       (unsigned)samples_per_pixel, bps,
                       (unsigned long)samples_per_pixel * (unsigned long)bps);
    nr_segments = (size_t)samples_per_pixel * bps;
    if (src_len != frame_size)
        return td_fail(err, TD_E_INVALID_ARGUMENT, -1,
                       "source is %zu bytes but a %u x %u x %u frame of %u-bit samples is %zu",
                       src_len, (unsigned)rows, (unsigned)columns, (unsigned)samples_per_pixel,
                       (unsigned)bits_allocated, frame_size);
    if (out_cap < RLE_HEADER_SIZE)
        return td_fail(err, TD_E_OUTPUT_TOO_SMALL, -1,
                       "output buffer of %zu bytes cannot hold the 64-byte RLE header", out_cap);
    if (columns > RLE_ROW_STACK) {
        row = malloc((size_t)columns + RLE_ROW_SLACK);
        if (row == NULL)
            return td_fail(err, TD_E_NOMEM, -1, "cannot allocate a %lu-byte row buffer",
                           (unsigned long)columns + RLE_ROW_SLACK);
    }
    memset(row + columns, 0, RLE_ROW_SLACK);
    row_bound(columns, &fast_room); /* cannot overflow: columns is 32-bit */
    fast_room += 32;

    memset(out, 0, RLE_HEADER_SIZE);
    td_store_le32(out, (uint32_t)nr_segments);
    o = out + RLE_HEADER_SIZE;
    o_end = out + out_cap;
    status = TD_OK;
    for (size_t seg = 0; seg < nr_segments && status == TD_OK; seg++) {
        size_t sample = seg / bps, m = seg % bps;
        size_t byte = sample * bps + (bps - 1 - m); /* G.2: most significant byte first */
        size_t offset = (size_t)(o - out);
        uint8_t *seg_start = o;
        if (offset > UINT32_MAX) {
            status = td_fail(err, TD_E_LIMIT, -1,
                             "RLE segment %zu would start at offset %zu, beyond 2^32 - 1",
                             seg + 1, offset);
            break;
        }
        td_store_le32(out + 4 + 4 * seg, (uint32_t)offset);
        for (size_t r = 0; r < rows; r++) {
            uint8_t *next;
            gather(row, src + r * (size_t)columns * nr_segments + byte, columns, nr_segments);
            if ((size_t)(o_end - o) >= fast_room)
                next = encode_row_fast(row, columns, o);
            else
                next = encode_row_checked(row, columns, o, o_end);
            if (next == NULL) {
                status = td_fail(err, TD_E_OUTPUT_TOO_SMALL, -1,
                                 "RLE segment %zu (row %zu of %lu) does not fit in the %zu-byte "
                                 "output; td_rle_encode_bound() gives %zu",
                                 seg + 1, r + 1, (unsigned long)rows, out_cap,
                                 td_rle_encode_bound(rows, columns, samples_per_pixel,
                                                     bits_allocated));
                break;
            }
            o = next;
        }
        if (status == TD_OK && ((size_t)(o - seg_start) & 1u)) { /* pad to even length */
            if (o == o_end) {
                status = td_fail(err, TD_E_OUTPUT_TOO_SMALL, -1,
                                 "RLE segment %zu padding does not fit in the %zu-byte output; "
                                 "td_rle_encode_bound() gives %zu",
                                 seg + 1, out_cap,
                                 td_rle_encode_bound(rows, columns, samples_per_pixel,
                                                     bits_allocated));
                break;
            }
            *o++ = 0;
        }
    }
    if (row != row_stack) free(row);
    if (status != TD_OK) return status;
    *out_len = (size_t)(o - out);
    return TD_OK;
}
