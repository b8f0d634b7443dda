/*
 * j2k_internal.h - the structures the stages of turbodicom's JPEG 2000 decoder share.
 * Private to csrc/j2k/; the public contract is td_j2k.h.
 *
 * Stages (T.800 Figure 1): codestream.c reads the markers into a td_j2kdec (main-header coding
 * parameters, the tile-part table, packed packet headers); decode.c takes one tile at a time:
 * tier2.c builds the tile's resolution / band / precinct / code-block partition and reads the
 * packets (Annex B), the block decoder (tier1.c, EBCOT, Annex D; later ht.c, T.814) turns each
 * code-block's segments into coefficients, dwt.c inverts the wavelet (Annex F), mct.c the
 * component transform (Annex G) and decode.c writes samples into the caller's buffer.
 */
#ifndef TD_J2K_INTERNAL_H
#define TD_J2K_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "td.h"
#include "td_j2k.h"

#define J2K_MAX_LEVELS 32
#define J2K_MAX_BANDS (3 * J2K_MAX_LEVELS + 1)
#define J2K_MAX_TILES 65535u

/* Code-block style flags (T.800 Table A.19). */
#define J2K_CBLK_BYPASS 0x01
#define J2K_CBLK_RESET 0x02
#define J2K_CBLK_TERMALL 0x04
#define J2K_CBLK_VCAUSAL 0x08
#define J2K_CBLK_PTERM 0x10
#define J2K_CBLK_SEGSYM 0x20
#define J2K_CBLK_HT 0x40

/* Coding and quantization parameters of one tile-component (COD/COC, QCD/QCC, RGN). */
typedef struct j2k_tccp {
    uint8_t levels;     /* NL: decomposition levels 0..32 */
    uint8_t xcb, ycb;   /* code-block width / height exponents, 2..10, xcb + ycb <= 12 */
    uint8_t cblk_style; /* J2K_CBLK_* */
    uint8_t reversible; /* 1: 5-3 reversible filter, 0: 9-7 irreversible */
    uint8_t qstyle;     /* 0 none, 1 scalar derived, 2 scalar expounded */
    uint8_t guard;      /* guard bits G */
    uint8_t roishift;   /* RGN SPrgn (max-shift) */
    uint8_t ppx[J2K_MAX_LEVELS + 1], ppy[J2K_MAX_LEVELS + 1]; /* precinct exponents per r */
    uint16_t step[J2K_MAX_BANDS]; /* exponent << 11 | mantissa, per band in QCD order */
    uint16_t nsteps;              /* step entries present */
    uint8_t tile_coc, tile_qcc;   /* set by a tile-part COC / QCC (precedence, A.6) */
} j2k_tccp;

/* One progression (POC entry, or the COD default covering everything). */
typedef struct j2k_poc {
    uint32_t rs, re; /* resolutions [rs, re) */
    uint32_t cs, ce; /* components [cs, ce) */
    uint32_t lye;    /* layers [0, lye) */
    uint32_t order;  /* 0 LRCP 1 RLCP 2 RPCL 3 PCRL 4 CPRL */
} j2k_poc;

/* Coding parameters of a tile (the main header's, then the tile-part headers' overrides). */
typedef struct j2k_tcp {
    uint32_t order, layers, mct;
    uint32_t sop, eph; /* Scod bits 1 and 2 */
    uint32_t npoc;
    j2k_poc *poc;      /* npoc entries (owned) */
    j2k_tccp *tccp;    /* one per component (owned) */
} j2k_tcp;

typedef struct j2k_tilepart {
    uint32_t tile;
    uint32_t index;          /* TPsot */
    size_t sot_offset;       /* in the codestream */
    const uint8_t *header;   /* tile-part header markers (after SOT, before SOD) */
    size_t header_len;
    const uint8_t *body;     /* packet data after SOD */
    size_t body_len;
    int truncated;           /* Psot ran past the end of the codestream */
    const uint8_t *ppm;      /* this tile-part's packed packet headers (PPM), or NULL */
    size_t ppm_len;
} j2k_tilepart;

struct td_j2kdec {
    const uint8_t *src;      /* the caller's bytes (JP2 or codestream) */
    size_t src_len;
    const uint8_t *cs;       /* the codestream */
    size_t cs_len;
    td_j2kdec_info info;
    /* SIZ (A.5.1) */
    uint32_t x0, y0, x1, y1;   /* XOsiz, YOsiz, Xsiz, Ysiz */
    uint32_t tw, th, tx0, ty0; /* XTsiz, YTsiz, XTOsiz, YTOsiz */
    uint32_t ntx, nty, ntiles;
    uint32_t ncomps;
    uint8_t *prec, *sgnd, *dx, *dy; /* per component */
    j2k_tcp tcp;                    /* main header defaults */
    j2k_tilepart *parts;
    size_t nparts;
    uint32_t *tile_parts;           /* part indices grouped by tile, codestream order within */
    uint32_t *tile_first;           /* ntiles + 1 offsets into tile_parts */
    uint8_t *ppm_buf;               /* concatenated PPM data (owned) */
    uint32_t ccap15;                /* CAP Ccap15 (T.814 A.3), 0 without one */
};

/* ---- codestream.c ---- */
/* Build the coding parameters of tile `tile` into *tcp (allocated; free with j2k_tcp_free):
 * the main header's, then the markers of the tile's tile-part headers (A.6 precedence). */
int j2k_tile_tcp(const td_j2kdec *dec, uint32_t tile, j2k_tcp *tcp, td_error *err);
void j2k_tcp_free(j2k_tcp *tcp);

/* Integer lifting and RCT wrap around instead of overflowing (undefined behaviour) on the
 * absurd coefficients a hostile stream can produce; valid streams never come near. */
static inline int32_t j2k_wadd(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
static inline int32_t j2k_wsub(int32_t a, int32_t b) { return (int32_t)((uint32_t)a - (uint32_t)b); }

static inline uint32_t j2k_ceildiv(uint64_t a, uint64_t b) { return (uint32_t)((a + b - 1) / b); }
static inline int32_t j2k_ceildivpow2(int64_t a, uint32_t b)
{
    return (int32_t)((a + ((int64_t)1 << b) - 1) >> b);
}

/* ---- tier2.c: tile partition and packets ---- */
typedef struct j2k_chunk {    /* a code-block's contribution from one packet to one segment */
    const uint8_t *data;
    uint32_t len;
    uint32_t next;            /* next chunk of the same code-block, UINT32_MAX at the end */
    uint16_t seg;
    uint16_t passes;
    uint8_t cut;              /* the codestream ended inside this contribution */
} j2k_chunk;

typedef struct j2k_cblk {
    int32_t x0, y0, x1, y1;   /* band coordinates */
    uint32_t first, last;     /* chunk list */
    uint32_t passes;          /* coding passes included so far */
    uint32_t seg_passes;      /* passes in the current (last) segment */
    uint32_t nsegs;
    int32_t numbps;           /* Mb - zero bit-planes */
    uint32_t lblock;
    uint16_t comp;
    uint8_t res, band;
    uint8_t included;
    uint8_t decode;           /* 1: in a decoded resolution */
    uint8_t ht_started;       /* HT: a non-empty cleanup segment was read (T.814 B.2) */
    uint8_t part1;            /* HT mixed mode: this code-block is EBCOT (T.814 B.2) */
} j2k_cblk;

typedef struct j2k_tagtree {
    uint32_t w, h, nnodes;
    int32_t *value, *low;
    uint32_t *parent;
} j2k_tagtree;

typedef struct j2k_prcband {
    uint32_t cblk0;           /* first code-block index in the tile's array */
    uint32_t cw, ch;          /* code-blocks across / down */
    uint32_t tree0;           /* node offset of the inclusion tree; imsb follows at + nnodes */
    uint32_t nnodes;
} j2k_prcband;

typedef struct j2k_precinct {
    j2k_prcband band[3];
    uint32_t layers_done;
    uint32_t comp, res, index;
    uint64_t py, px;          /* reference-grid position for position-driven orders */
} j2k_precinct;

typedef struct j2k_band {
    int32_t x0, y0, x1, y1;   /* band coordinates (B.5) */
    uint32_t orient;          /* 0 LL, 1 HL, 2 LH, 3 HH */
    uint32_t xcb, ycb;        /* code-block exponents in this band (clipped to the precinct) */
    int32_t mb;               /* Mb = G + exponent - 1 (E.1) */
    float stepsize;           /* irreversible: 0.5 * delta_b (coefficients carry one extra bit) */
    uint32_t bandno;          /* QCD index */
} j2k_band;

typedef struct j2k_res {
    int32_t x0, y0, x1, y1;
    uint32_t ppx, ppy;        /* precinct exponents */
    uint32_t pw, ph;          /* precincts across / down */
    uint32_t prc0;            /* first precinct index */
    uint32_t nbands;
    j2k_band band[3];
} j2k_res;

typedef struct j2k_tilecomp {
    int32_t x0, y0, x1, y1;   /* tile-component coordinates */
    uint32_t nres;            /* NL + 1 */
    uint32_t dres;            /* resolutions decoded: nres - reduce */
    j2k_res res[J2K_MAX_LEVELS + 1];
    void *data;               /* coefficients of the decoded resolutions: int32_t (5-3) or
                               * float (9-7), w x h, row stride w; rows [0, hrows) at host
                               * instead, rows [hrows, h) at data (see j2k_row) */
    void *host;               /* hrows > 0: the caller's output buffer (decode.c) */
    uint32_t hrows;           /* rows hosted: 0, or the low-pass rows of level dres - 1 (or
                               * all rows: the LL band of decode.c's strips) */
    size_t hstride;           /* hosted rows: samples from one to the next (>= w) */
    uint32_t w, h;            /* decoded width / height (resolution dres - 1) */
    const j2k_tccp *tccp;
} j2k_tilecomp;

/* Row y of a tile-component's coefficients (int32_t or float, w of them).  A single-component
 * image may keep its first hrows rows in the output buffer, where the output stage converts
 * them in place (decode.c); they are the low-pass rows of the highest decoded level, so no
 * code-block straddles the two parts and a block's rows are w apart in either (hstride = w;
 * the LL band of decode.c's strips may be hosted with all its rows hstride apart).  Per row, never
 * per sample: the hot loops take the pointer and run along the row. */
static inline int32_t *j2k_row(const j2k_tilecomp *tc, size_t y)
{
    return y < tc->hrows ? (int32_t *)tc->host + y * tc->hstride
                         : (int32_t *)tc->data + (y - tc->hrows) * tc->w;
}

typedef struct j2k_tile {
    uint32_t index;
    uint32_t ncomps_alloc;
    int truncated;            /* the tile's data ended before its last packet */
    int32_t x0, y0, x1, y1;
    j2k_tilecomp *comps;
    j2k_cblk *cblks;
    size_t ncblks;
    j2k_precinct *prcs;
    size_t nprcs;
    int32_t *nodes;           /* tag-tree values and lows */
    uint32_t *parents;
    size_t nnodes;
    j2k_chunk *chunks;
    size_t nchunks, cap_chunks;
    uint8_t *body;            /* concatenated tile-part bodies when there are several (owned) */
    uint8_t *hdrs;            /* concatenated PPM/PPT packet headers (owned) */
} j2k_tile;

/* Build the partition of tile t (B.3-B.7) for tcp, allocating the structures in *tile. */
int j2k_tile_build(const td_j2kdec *dec, const j2k_tcp *tcp, uint32_t t, uint32_t reduce,
                   j2k_tile *tile, td_error *err);
/* Read every packet of the tile (B.9-B.12) recording the code-block contributions of layers
 * < max_layers.  A stream that ends early is not an error (what was read is decoded).  A tile
 * of several tile-parts is read from them in place unless join; J2K_PACKETS_SPAN: a packet
 * seemed to run on from one into the next, so the tile must be built again and read with join
 * (from a copy of its tile-parts' data joined, which reads such a packet whole). */
#define J2K_PACKETS_SPAN 1000
int j2k_tile_packets(const td_j2kdec *dec, const j2k_tcp *tcp, j2k_tile *tile,
                     uint32_t max_layers, int join, td_error *err);
void j2k_tile_free(j2k_tile *tile);
/* Free what tier 2 built for a tile (partition, tag trees, packet data), keeping the
 * tile-components: the inverse DWT and the output need only those. */
void j2k_tile_free_tier2(j2k_tile *tile);

/* ---- the block decoders (tier1.c; ht.c plugs in beside it) ---- */
typedef struct j2k_segment {
    uint32_t offset, len;     /* in the job's data (each segment followed by 2 bytes 0xFF) */
    uint32_t passes;
    uint32_t cut;             /* the codestream ended inside it: shorter than signalled */
} j2k_segment;

/* One code-block to decode. */
typedef struct j2k_block_job {
    const uint8_t *data;
    const j2k_segment *segs;
    uint32_t nsegs;
    uint32_t w, h;            /* 1..1024, w * h <= 4096 */
    int32_t numbps;           /* bit-planes (Mb - zero bit-planes) */
    uint32_t roishift;
    uint32_t orient;
    uint32_t style;           /* J2K_CBLK_* */
    /* HT (ht.c) writes the final values of the block itself (E.1), at row stride out_stride:
     * rev, int32 value / 2 rounded toward zero; else float value * step */
    void *out;
    size_t out_stride;
    float step;
    int rev;
} j2k_block_job;

/* Per-thread scratch of a block decoder (flags, data buffer). */
typedef struct j2k_t1 {
    uint32_t *flags;          /* tier-1 state flags (layout in tier1.c) */
    size_t flags_cap;
    uint8_t *buf;
    size_t buf_cap;
    j2k_segment *segs;
    size_t segs_cap;
    int32_t coef[4096];       /* the decoded code-block, w x h values: magnitude times 2 plus
                               * the half bit of the reconstruction point r = 1/2 (D.7,
                               * E.1.1.2).  HT: two's complement, row stride w; EBCOT:
                               * sign-magnitude in stripe-column order (tier1.c) */
} j2k_t1;

typedef int (*j2k_block_decoder)(j2k_t1 *t1, const j2k_block_job *job);
int j2k_t1_decode(j2k_t1 *t1, const j2k_block_job *job); /* EBCOT, Annex D */
int j2k_ht_decode(j2k_t1 *t1, const j2k_block_job *job); /* HT, T.814 (ht.c) */
void j2k_t1_free(j2k_t1 *t1);

/* ---- dwt.c ---- */
#define J2K_DWT_MAX_THREADS 16
/* Work the threads of j2k_dwt_decode_tile do once every transform is done: fn(arg, item, slot)
 * for each item in [0, nitems), slot < J2K_DWT_MAX_THREADS naming the calling thread (so fn can
 * keep per-thread scratch). */
typedef struct j2k_dwt_then {
    void (*fn)(void *arg, size_t item, uint32_t slot);
    void *arg;
    size_t nitems;
} j2k_dwt_then;
/* The inverse DWT of the ncomps tile-components tcs[] (independent of one another, so their
 * passes interleave), then `then` (NULL: nothing), all by one team of up to `threads`
 * threads. */
int j2k_dwt_decode_tile(j2k_tilecomp *tcs, uint32_t ncomps, uint32_t threads,
                        const j2k_dwt_then *then);

/* One level of VER_SR / HOR_SR row by row, for a level synthesised strip by strip (decode.c).
 * j2k_dwt_hor_row: HOR_SR of one row of n samples in place (low-pass first: sn of them, parity
 * cas); T holds j2k_dwt_row_tmp(n) samples, zeroed before its first use.  j2k_dwt_ver_part: the
 * steps [t0, t1) of VER_SR's sweep over the n rows rows[] (columns [x0, x0 + nw)), out of
 * j2k_dwt_ver_steps(rev, n, sn, cas) (n >= 2, 0 < sn < n).  Step t reads at most the low-pass
 * row min(t, sn - 1) and the high-pass row min(t, dn - 1); after steps [0, t) every row
 * y < 2t - 6 is final and is not read again (all rows after the last step). */
size_t j2k_dwt_row_tmp(uint32_t n);
void j2k_dwt_hor_row(int rev, int32_t *row, int32_t *T, uint32_t n, uint32_t sn, uint32_t cas);
uint32_t j2k_dwt_ver_steps(int rev, uint32_t n, uint32_t sn, uint32_t cas);
void j2k_dwt_ver_part(int rev, int32_t *const *rows, uint32_t x0, uint32_t nw, uint32_t n,
                      uint32_t sn, uint32_t cas, uint32_t t0, uint32_t t1);

/* Work queues' counters (the DWT team, the strip path): j2k_wait_count waits until *counter
 * >= target, awake for up to 0.2 ms, then asleep on w; j2k_wake_all, called once a counter has
 * reached a target some may wait for, wakes w's sleepers (and costs one load when none sleeps:
 * the mutex is taken only by threads going to sleep and those waking them). */
typedef struct j2k_waitq {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    atomic_uint sleepers; /* threads asleep on cond or about to be */
} j2k_waitq;
void j2k_waitq_init(j2k_waitq *w);
void j2k_waitq_destroy(j2k_waitq *w);
void j2k_wait_count(atomic_size_t *counter, size_t target, j2k_waitq *w);
void j2k_wake_all(j2k_waitq *w);

/* ---- mct.c ---- */
void j2k_mct_rct_inverse(int32_t *c0, int32_t *c1, int32_t *c2, size_t n);
void j2k_mct_ict_inverse(float *c0, float *c1, float *c2, size_t n);

/* One output sample (G.1.2): reversible, clipped to [vlo, vhi] = [lo - shift, hi - shift], then
 * shifted; irreversible (prec <= 16), clipped to [flo, fhi] = [vlo - 1, vhi + 1] first (a NaN
 * becomes flo), rounded to nearest, ties to even, then as reversible: |f| < 2^22, so adding
 * 1.5 * 2^23 leaves no fraction bits and the addition does the rounding. */
#define J2K_RINT_MAGIC 12582912.0f

/* Float arithmetic one rounded operation at a time: each result assigned to a float, so that
 * a compiler that evaluates float expressions in a wider type (FLT_EVAL_METHOD 1 or 2: ISO C
 * modes on s390x, x87) rounds where one that does not (SSE, NEON) rounds, and both give the
 * same bits (one operation in double rounded to float is the float operation).  Used by the
 * scalar paths of the 9-7 lifting, the ICT and the output. */
static inline float j2k_fsub_mul_sum(float x, float c, float a, float b)
{
    float s = a + b;
    float p = c * s;
    return x - p; /* x - c (a + b) */
}
static inline float j2k_fmul_sub_mul_sum(float y, float m, float c, float a, float b)
{
    float t = y * m;
    return j2k_fsub_mul_sum(t, c, a, b); /* y m - c (a + b) */
}
static inline float j2k_fround(float f)
{
    float t = f + J2K_RINT_MAGIC; /* (|f| < 2^22: no fraction bits left, rounded to even) */
    return t - J2K_RINT_MAGIC;
}
static inline uint32_t j2k_rev_value(int32_t v, int32_t vlo, int32_t vhi, uint32_t shift)
{
    v = v < vlo ? vlo : v;
    v = v > vhi ? vhi : v;
    return (uint32_t)v + shift;
}
static inline uint32_t j2k_irr_value(float f, float flo, float fhi, int32_t vlo, int32_t vhi,
                                     uint32_t shift)
{
    f = f > flo ? f : flo;
    f = f < fhi ? f : fhi;
    return j2k_rev_value((int32_t)j2k_fround(f), vlo, vhi, shift);
}

/* Components 0-2 of equal size out as pixel-interleaved samples of 1 or 2 bytes (little-endian),
 * with the inverse RCT / ICT or none, in one pass per row (j2k_out3_pick). */
typedef struct j2k_out3 {
    int32_t vlo[3], vhi[3]; /* per component, as j2k_rev_value */
    uint32_t shift[3];
    float flo[3], fhi[3];   /* vlo - 1, vhi + 1 */
    int full;               /* every [vlo, vhi] is the container's signed range */
    uint8_t shift_pat[48];  /* the shift of each of 48 output bytes */
} j2k_out3;
void j2k_out3_init(j2k_out3 *p, const int32_t vlo[3], const int32_t vhi[3],
                   const uint32_t shift[3], uint32_t bps);
/* One row: c0-c2 hold n int32 (reversible) or float samples each, o receives 3 * n samples. */
typedef void (*j2k_out3_fn)(const j2k_out3 *p, const void *c0, const void *c1, const void *c2,
                            uint8_t *o, size_t n);
/* The row function for the inverse RCT (reversible) / ICT or, transform 0, none, into samples
 * of bps bytes; NULL unless bps is 1 or 2.  Irreversible is for prec <= 16 only. */
j2k_out3_fn j2k_out3_pick(int transform, int reversible, uint32_t bps);

#endif /* TD_J2K_INTERNAL_H */
