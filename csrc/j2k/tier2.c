/*
 * tier2.c - tile partition and packets (T.800 Annex B).
 *
 * j2k_tile_build lays out one tile: tile-components (B.3), resolutions (B.5), sub-bands (B.5),
 * precincts (B.6) and code-blocks (B.7), with two tag trees per precinct and sub-band (B.10.2).
 * j2k_tile_packets walks the packets in progression order (B.12, POC included) and reads each
 * packet header (B.10: zero-length bit, inclusion, zero bit-planes, passes, Lblock, lengths)
 * from the tile's data or from PPM/PPT, then attaches the packet body to the code-blocks.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "j2k_internal.h"
#include "td_bytes.h"

#define NONE UINT32_MAX

void j2k_tile_free_tier2(j2k_tile *t)
{
    free(t->cblks);
    free(t->prcs);
    free(t->nodes);
    free(t->parents);
    free(t->chunks);
    free(t->body);
    free(t->hdrs);
    t->cblks = NULL;
    t->prcs = NULL;
    t->nodes = NULL;
    t->parents = NULL;
    t->chunks = NULL;
    t->body = t->hdrs = NULL;
    t->ncblks = t->nprcs = t->nnodes = t->nchunks = t->cap_chunks = 0;
}

void j2k_tile_free(j2k_tile *t)
{
    if (t->comps)
        for (uint32_t c = 0; c < t->ncomps_alloc; c++) free(t->comps[c].data);
    free(t->comps);
    j2k_tile_free_tier2(t);
    memset(t, 0, sizeof *t);
}

static uint32_t tree_nodes(uint32_t w, uint32_t h)
{
    uint32_t n = 0;
    if (w == 0 || h == 0) return 0;
    for (;;) {
        n += w * h;
        if (w == 1 && h == 1) return n;
        w = (w + 1) / 2;
        h = (h + 1) / 2;
    }
}

static void tree_init(j2k_tile *t, uint32_t base, uint32_t w, uint32_t h)
{
    uint32_t off = base;
    for (;;) {
        uint32_t nw = (w + 1) / 2, nh = (h + 1) / 2, next = off + w * h;
        for (uint32_t y = 0; y < h; y++)
            for (uint32_t x = 0; x < w; x++) {
                uint32_t i = off + y * w + x;
                t->nodes[2 * i] = INT32_MAX;
                t->nodes[2 * i + 1] = 0;
                t->parents[i] = (w == 1 && h == 1) ? NONE : next + (y / 2) * nw + x / 2;
            }
        if (w == 1 && h == 1) return;
        off = next;
        w = nw;
        h = nh;
    }
}

/* ---- partition ---- */

int j2k_tile_build(const td_j2kdec *dec, const j2k_tcp *tcp, uint32_t ti, uint32_t reduce,
                   j2k_tile *t, td_error *err)
{
    memset(t, 0, sizeof *t);
    t->index = ti;
    uint32_t p = ti % dec->ntx, q = ti / dec->ntx;
    uint64_t tx0 = (uint64_t)dec->tx0 + (uint64_t)p * dec->tw, ty0 = (uint64_t)dec->ty0 + (uint64_t)q * dec->th;
    uint64_t tx1 = tx0 + dec->tw, ty1 = ty0 + dec->th;
    if (tx0 < dec->x0) tx0 = dec->x0;
    if (ty0 < dec->y0) ty0 = dec->y0;
    if (tx1 > dec->x1) tx1 = dec->x1;
    if (ty1 > dec->y1) ty1 = dec->y1;
    t->x0 = (int32_t)tx0; t->y0 = (int32_t)ty0; t->x1 = (int32_t)tx1; t->y1 = (int32_t)ty1;
    t->comps = calloc(dec->ncomps, sizeof *t->comps);
    if (!t->comps) return td_fail(err, TD_E_NOMEM, -1, "tile components");
    t->ncomps_alloc = dec->ncomps;
    size_t ncblks = 0, nprcs = 0, nnodes = 0;
    uint64_t tile_samples = 0;
    for (int fill = 0; fill < 2; fill++) {
        size_t icb = 0, ipr = 0, ind = 0;
        for (uint32_t c = 0; c < dec->ncomps; c++) {
            j2k_tilecomp *tc = &t->comps[c];
            const j2k_tccp *tp = &tcp->tccp[c];
            tc->tccp = tp;
            tc->x0 = (int32_t)j2k_ceildiv(tx0, dec->dx[c]);
            tc->y0 = (int32_t)j2k_ceildiv(ty0, dec->dy[c]);
            tc->x1 = (int32_t)j2k_ceildiv(tx1, dec->dx[c]);
            tc->y1 = (int32_t)j2k_ceildiv(ty1, dec->dy[c]);
            if (!fill) {
                tile_samples += (uint64_t)(tc->x1 - tc->x0) * (uint64_t)(tc->y1 - tc->y0);
                if (tile_samples > TD_J2KDEC_MAX_TILE_SAMPLES)
                    return td_fail(err, TD_E_LIMIT, -1, "tile %u has more than 2^30 samples", ti);
            }
            tc->nres = tp->levels + 1u;
            if (reduce >= tc->nres)
                return td_fail(err, TD_E_UNSUPPORTED, -1, "reduce %u but component %u of tile %u has %u decomposition levels", reduce, c, ti, tp->levels);
            tc->dres = tc->nres - reduce;
            for (uint32_t r = 0; r < tc->nres; r++) {
                j2k_res *rs = &tc->res[r];
                uint32_t ls = tp->levels - r;
                rs->x0 = j2k_ceildivpow2(tc->x0, ls);
                rs->y0 = j2k_ceildivpow2(tc->y0, ls);
                rs->x1 = j2k_ceildivpow2(tc->x1, ls);
                rs->y1 = j2k_ceildivpow2(tc->y1, ls);
                rs->ppx = tp->ppx[r];
                rs->ppy = tp->ppy[r];
                rs->pw = rs->x1 > rs->x0 ? (uint32_t)(j2k_ceildivpow2(rs->x1, rs->ppx) - (rs->x0 >> rs->ppx)) : 0;
                rs->ph = rs->y1 > rs->y0 ? (uint32_t)(j2k_ceildivpow2(rs->y1, rs->ppy) - (rs->y0 >> rs->ppy)) : 0;
                rs->nbands = r == 0 ? 1 : 3;
                uint32_t bppx = r == 0 ? rs->ppx : rs->ppx - 1, bppy = r == 0 ? rs->ppy : rs->ppy - 1;
                for (uint32_t b = 0; b < rs->nbands; b++) {
                    j2k_band *bd = &rs->band[b];
                    bd->orient = r == 0 ? 0 : b + 1;
                    if (r == 0) {
                        bd->x0 = rs->x0; bd->y0 = rs->y0; bd->x1 = rs->x1; bd->y1 = rs->y1;
                    } else {
                        uint32_t nb = tp->levels - r + 1;
                        int64_t xo = (int64_t)(bd->orient & 1) << (nb - 1), yo = (int64_t)(bd->orient >> 1) << (nb - 1);
                        bd->x0 = j2k_ceildivpow2(tc->x0 - xo, nb);
                        bd->y0 = j2k_ceildivpow2(tc->y0 - yo, nb);
                        bd->x1 = j2k_ceildivpow2(tc->x1 - xo, nb);
                        bd->y1 = j2k_ceildivpow2(tc->y1 - yo, nb);
                    }
                    bd->xcb = tp->xcb < bppx ? tp->xcb : bppx;
                    bd->ycb = tp->ycb < bppy ? tp->ycb : bppy;
                    bd->bandno = r == 0 ? 0 : 3 * (r - 1) + bd->orient;
                    int32_t expn, mant;
                    if (tp->qstyle == 1) {
                        expn = (int32_t)(tp->step[0] >> 11) - (int32_t)(r == 0 ? 0 : r - 1);
                        mant = tp->step[0] & 0x7FF;
                    } else {
                        expn = tp->step[bd->bandno] >> 11;
                        mant = tp->step[bd->bandno] & 0x7FF;
                    }
                    bd->mb = (int32_t)tp->guard + expn - 1;
                    int32_t gain = tp->reversible ? (bd->orient == 0 ? 0 : bd->orient == 3 ? 2 : 1) : 0;
                    bd->stepsize = 0.5f * (float)((1.0 + mant / 2048.0) *
                                                  ldexp(1.0, (int)dec->prec[c] + gain - expn));
                }
                if (!fill) {
                    size_t np = (size_t)rs->pw * rs->ph;
                    if (rs->pw && np / rs->pw != rs->ph) return td_fail(err, TD_E_LIMIT, -1, "precinct count");
                    nprcs += np;
                }
                rs->prc0 = (uint32_t)ipr;
                for (uint32_t j = 0; j < rs->ph; j++)
                    for (uint32_t i = 0; i < rs->pw; i++) {
                        int64_t pi = (rs->x0 >> rs->ppx) + i, pj = (rs->y0 >> rs->ppy) + j;
                        j2k_precinct *pr = fill ? &t->prcs[ipr] : NULL;
                        if (pr) {
                            pr->comp = c;
                            pr->res = r;
                            pr->index = j * rs->pw + i;
                            pr->layers_done = 0;
                            uint64_t sx = (uint64_t)dec->dx[c] << (rs->ppx + ls), sy = (uint64_t)dec->dy[c] << (rs->ppy + ls);
                            pr->px = (i == 0 && (rs->x0 & ((1 << rs->ppx) - 1))) ? tx0 : (uint64_t)pi * sx;
                            pr->py = (j == 0 && (rs->y0 & ((1 << rs->ppy) - 1))) ? ty0 : (uint64_t)pj * sy;
                        }
                        for (uint32_t b = 0; b < rs->nbands; b++) {
                            const j2k_band *bd = &rs->band[b];
                            int64_t bx0 = pi << bppx, by0 = pj << bppy, bx1 = (pi + 1) << bppx, by1 = (pj + 1) << bppy;
                            if (bx0 < bd->x0) bx0 = bd->x0;
                            if (by0 < bd->y0) by0 = bd->y0;
                            if (bx1 > bd->x1) bx1 = bd->x1;
                            if (by1 > bd->y1) by1 = bd->y1;
                            uint32_t cw = 0, ch = 0;
                            if (bx1 > bx0 && by1 > by0) {
                                cw = (uint32_t)(j2k_ceildivpow2(bx1, bd->xcb) - (bx0 >> bd->xcb));
                                ch = (uint32_t)(j2k_ceildivpow2(by1, bd->ycb) - (by0 >> bd->ycb));
                            }
                            uint32_t nn = tree_nodes(cw, ch);
                            if (!fill) {
                                ncblks += (size_t)cw * ch;
                                nnodes += 2 * (size_t)nn;
                                continue;
                            }
                            j2k_prcband *pb = &pr->band[b];
                            pb->cblk0 = (uint32_t)icb;
                            pb->cw = cw;
                            pb->ch = ch;
                            pb->tree0 = (uint32_t)ind;
                            pb->nnodes = nn;
                            if (nn) {
                                tree_init(t, (uint32_t)ind, cw, ch);
                                tree_init(t, (uint32_t)(ind + nn), cw, ch);
                            }
                            ind += 2 * (size_t)nn;
                            for (uint32_t y = 0; y < ch; y++)
                                for (uint32_t x = 0; x < cw; x++) {
                                    j2k_cblk *cb = &t->cblks[icb++];
                                    int64_t kx = (bx0 >> bd->xcb) + x, ky = (by0 >> bd->ycb) + y;
                                    int64_t cx0 = kx << bd->xcb, cy0 = ky << bd->ycb;
                                    int64_t cx1 = cx0 + (1 << bd->xcb), cy1 = cy0 + (1 << bd->ycb);
                                    cb->x0 = (int32_t)(cx0 < bx0 ? bx0 : cx0);
                                    cb->y0 = (int32_t)(cy0 < by0 ? by0 : cy0);
                                    cb->x1 = (int32_t)(cx1 > bx1 ? bx1 : cx1);
                                    cb->y1 = (int32_t)(cy1 > by1 ? by1 : cy1);
                                    cb->first = cb->last = NONE;
                                    cb->lblock = 3;
                                    cb->decode = r < tc->dres;
                                    cb->comp = (uint16_t)c;
                                    cb->res = (uint8_t)r;
                                    cb->band = (uint8_t)b;
                                }
                        }
                        ipr++;
                    }
            }
        }
        if (!fill) {
            if (ncblks > UINT32_MAX / 2 || nnodes > UINT32_MAX / 2 || nprcs > UINT32_MAX / 2)
                return td_fail(err, TD_E_LIMIT, -1, "tile %u partition too large", ti);
            t->cblks = calloc(ncblks ? ncblks : 1, sizeof *t->cblks);
            t->prcs = calloc(nprcs ? nprcs : 1, sizeof *t->prcs);
            t->nodes = malloc((nnodes ? nnodes : 1) * 2 * sizeof *t->nodes);
            t->parents = malloc((nnodes ? nnodes : 1) * sizeof *t->parents);
            if (!t->cblks || !t->prcs || !t->nodes || !t->parents)
                return td_fail(err, TD_E_NOMEM, -1, "tile %u partition", ti);
            t->ncblks = ncblks;
            t->nprcs = nprcs;
            t->nnodes = nnodes;
        }
    }
    return TD_OK;
}

/* ---- packet headers (B.10) ---- */

typedef struct bitreader {
    const uint8_t *p;
    size_t pos, len;
    uint32_t buf, ct, last;
    int overrun;
} bitreader;

static inline uint32_t br_bit(bitreader *br)
{
    if (br->ct == 0) {
        br->ct = br->last == 0xFF ? 7 : 8;
        if (br->pos < br->len) br->buf = br->p[br->pos];
        else { br->buf = 0; br->overrun = 1; }
        br->last = br->buf;
        br->pos++;
    }
    br->ct--;
    return (br->buf >> br->ct) & 1;
}

static inline uint32_t br_bits(bitreader *br, uint32_t n)
{
    uint32_t v = 0;
    while (n--) v = (v << 1) | br_bit(br);
    return v;
}

/* Bytes of the header consumed, after the byte alignment of B.10.1. */
static size_t br_align(bitreader *br)
{
    if (br->ct == 0 && br->last == 0xFF) br->pos++;
    br->ct = 0;
    br->last = 0;
    return br->pos;
}

/* Tag tree decode (B.10.2): 1 if the leaf's value is below threshold. */
static int tree_decode(j2k_tile *t, uint32_t leaf, int32_t threshold, bitreader *br)
{
    uint32_t stack[48], n = 0, i = leaf;
    while (i != NONE && n < 48) { stack[n++] = i; i = t->parents[i]; }
    int32_t low = 0;
    while (n--) {
        uint32_t k = stack[n];
        int32_t *val = &t->nodes[2 * k], *lo = &t->nodes[2 * k + 1];
        if (low > *lo) *lo = low; else low = *lo;
        while (low < threshold && low < *val) {
            if (br->overrun) return 0;
            if (br_bit(br)) *val = low; else low++;
        }
        *lo = low;
    }
    return t->nodes[2 * leaf] < threshold;
}

static uint32_t num_passes(bitreader *br)
{
    if (!br_bit(br)) return 1;
    if (!br_bit(br)) return 2;
    uint32_t n = br_bits(br, 2);
    if (n != 3) return 3 + n;
    n = br_bits(br, 5);
    if (n != 31) return 6 + n;
    return 37 + br_bits(br, 7);
}

static inline uint32_t seg_maxpasses(uint32_t style, uint32_t seg)
{
    if (style & J2K_CBLK_TERMALL) return 1;
    if (style & J2K_CBLK_BYPASS) return seg == 0 ? 10 : (seg & 1) ? 2 : 1;
    return 0xFFFF;
}

static uint32_t floorlog2(uint32_t v)
{
    uint32_t l = 0;
    while (v >>= 1) l++;
    return l;
}

typedef struct pending { uint32_t cblk, seg, passes, len; } pending;

typedef struct packet_ctx {
    j2k_tile *t;
    const j2k_tcp *tcp;
    const uint8_t *body;
    size_t body_len, body_pos;
    const uint8_t *hdr;       /* PPM/PPT headers, NULL when inline */
    size_t hdr_len, hdr_pos;
    uint32_t max_layers;
    pending *pend;
    size_t pend_cap;
    int ended;                /* the data ran out: no further packets */
    int ht_mixed;             /* CAP Ccap15: HT and EBCOT code-blocks side by side */
    /* the tile-parts' bodies one after another, in place (body: tile-part k's, of the tile's
     * tile-parts [k, kend) in the decoder's list), instead of copied into one buffer; spans:
     * a packet seemed to run on into the next tile-part, where only the copy reads it right */
    const td_j2kdec *dec;
    uint32_t k, kend;
    int spans;
} packet_ctx;

/* Byte i of the tile's data from the current tile-part's start on (i >= body_len: in the tile-
 * parts after it); -1 past the end. */
static int body_byte(const packet_ctx *ctx, size_t i)
{
    if (i < ctx->body_len) return ctx->body[i];
    i -= ctx->body_len;
    for (uint32_t k = ctx->k + 1; ctx->dec && k < ctx->kend; k++) {
        const j2k_tilepart *tp = &ctx->dec->parts[ctx->dec->tile_parts[k]];
        if (i < tp->body_len) return tp->body[i];
        i -= tp->body_len;
    }
    return -1;
}

/* Whether tile-parts with data follow the current one (read in place). */
static int more_parts(const packet_ctx *ctx)
{
    return body_byte(ctx, ctx->body_len) >= 0;
}

static int add_chunk(j2k_tile *t, uint32_t cbi, const uint8_t *data, uint32_t len, uint32_t seg,
                     uint32_t passes, int cut)
{
    if (t->nchunks == t->cap_chunks) {
        /* first as many as the code-blocks (one contribution each in a one-layer stream) */
        size_t cap = t->cap_chunks ? 2 * t->cap_chunks : t->ncblks + 16;
        j2k_chunk *n = realloc(t->chunks, cap * sizeof *n);
        if (!n) return TD_E_NOMEM;
        t->chunks = n;
        t->cap_chunks = cap;
    }
    uint32_t k = (uint32_t)t->nchunks++;
    j2k_chunk *ch = &t->chunks[k];
    ch->data = data;
    ch->len = len;
    ch->next = NONE;
    ch->seg = (uint16_t)seg;
    ch->passes = (uint16_t)passes;
    ch->cut = (uint8_t)(cut != 0);
    j2k_cblk *cb = &t->cblks[cbi];
    if (cb->last == NONE) cb->first = k;
    else t->chunks[cb->last].next = k;
    cb->last = k;
    return TD_OK;
}

static int push_pending(packet_ctx *ctx, size_t *npend, uint32_t cbi, uint32_t seg,
                        uint32_t passes, uint32_t len, td_error *err)
{
    if (*npend == ctx->pend_cap) {
        size_t cap = ctx->pend_cap ? 2 * ctx->pend_cap : 256;
        pending *np = realloc(ctx->pend, cap * sizeof *np);
        if (!np) return td_fail(err, TD_E_NOMEM, -1, "packet");
        ctx->pend = np;
        ctx->pend_cap = cap;
    }
    ctx->pend[(*npend)++] = (pending){cbi, seg, passes, len};
    return TD_OK;
}

/* Part 1 (B.10.7.2): n new passes of code-block cb, split into its codeword segments (D.4.1,
 * Table D.9: with BYPASS or TERMALL several in one contribution, a segment may also go on
 * from the previous one), each with a length of Lblock + floor(log2(its passes here)) bits,
 * read from br, or 0 for every segment when br is NULL. */
static int p1_lengths(packet_ctx *ctx, bitreader *br, j2k_cblk *cb, uint32_t cbi, uint32_t n,
                      uint32_t style, size_t *npend, td_error *err)
{
    if (cb->nsegs == 0 || cb->seg_passes >= seg_maxpasses(style, cb->nsegs - 1)) {
        if (cb->nsegs >= 0xFFFF) return td_fail(err, TD_E_CORRUPT, -1, "too many segments");
        cb->nsegs++;
        cb->seg_passes = 0;
    }
    while (n > 0) {
        uint32_t room = seg_maxpasses(style, cb->nsegs - 1) - cb->seg_passes;
        uint32_t take = n < room ? n : room;
        uint32_t bits = cb->lblock + floorlog2(take);
        if (bits > 32) return td_fail(err, TD_E_CORRUPT, -1, "code-block length of %u bits", bits);
        uint32_t len = br ? br_bits(br, bits) : 0;
        int rc = push_pending(ctx, npend, cbi, cb->nsegs - 1, take, len, err);
        if (rc != TD_OK) return rc;
        cb->seg_passes += take;
        cb->passes += take;
        n -= take;
        if (n > 0) {
            if (cb->nsegs >= 0xFFFF) return td_fail(err, TD_E_CORRUPT, -1, "too many segments");
            cb->nsegs++;
            cb->seg_passes = 0;
        }
    }
    return TD_OK;
}

/* ---- HT code-blocks (T.814 clause B.2: the packet header of HT code-blocks) ----
 * An HT code-block's passes come in HT sets: a cleanup pass (index 0 mod 3) in a codeword
 * segment of its own, then the SigProp and MagRef passes in one refinement segment.  Until
 * the first non-empty cleanup segment, a contribution's passes up to its last cleanup pass
 * are placeholders sharing one segment (length bits from their count, as Part 1 counts
 * them); a contribution of placeholders only has one length, which must be 0.
 *
 * MIXED mode (CAP Ccap15 bits 14-15 both set): a code-block of an HT tile-component may be
 * coded by either block coder.  Its first contribution with data decides (the rule OpenHTJ2K
 * follows; T.814 itself was not at hand): read as HT, a cleanup length field with Lblock > 3,
 * a value of at least 2 and its first (most significant) bit 0 is HT; any other non-zero
 * length makes the code-block Part 1 for good.  A Part 1 encoder that gives a contribution
 * the smallest Lblock its lengths need starts the first field with a 1 when the first segment
 * is the one that needs that Lblock (always so with one segment).  The HT field may be
 * longer than Part 1's first (BYPASS, TERMALL: one contribution holds several codeword
 * segments, D.4.1 / Table D.9, each with a length of Lblock + floor(log2(its passes))
 * bits, B.10.7.2), so the decoder rewinds to the contribution's first length field and
 * reads them all by the Part 1 rules.  Passes of earlier contributions without data (read
 * as HT placeholders) become Part 1 passes of empty segments. */

#define HT_IS_PART1 1 /* ht_lengths: the code-block is Part 1 (mixed mode): rewind, read as such */

/* A new segment of `passes` passes for code-block cb, its length in lblock + log2 bits. */
static int ht_segment(packet_ctx *ctx, j2k_cblk *cb, uint32_t cbi, uint32_t passes,
                      uint32_t len, int is_new, size_t *npend, td_error *err)
{
    if (is_new) {
        if (cb->nsegs >= 0xFFFF) return td_fail(err, TD_E_CORRUPT, -1, "too many segments");
        cb->nsegs++;
        cb->seg_passes = 0;
    }
    cb->seg_passes += passes;
    cb->passes += passes;
    return push_pending(ctx, npend, cbi, cb->nsegs - 1, passes, len, err);
}

/* The first contribution with data of a code-block that is not HT after all (mixed mode
 * only): the caller rewinds and reads its length fields as Part 1's.  Passes of earlier
 * contributions without data, read as HT placeholders, become Part 1 passes of empty
 * codeword segments (their empty chunks are dropped and made again by the Part 1 rules). */
static int ht_part1(packet_ctx *ctx, j2k_cblk *cb, uint32_t cbi, uint32_t style, size_t *npend,
                    td_error *err)
{
    if (!ctx->ht_mixed) return td_fail(err, TD_E_CORRUPT, -1, "HT placeholder passes with data");
    uint32_t before = cb->passes;
    cb->part1 = 1;
    if (before) {
        cb->first = cb->last = NONE;
        cb->nsegs = cb->seg_passes = cb->passes = 0;
        int rc = p1_lengths(ctx, NULL, cb, cbi, before, style, npend, err);
        if (rc != TD_OK) return rc;
    }
    return HT_IS_PART1;
}

static int ht_lengths(packet_ctx *ctx, bitreader *br, j2k_cblk *cb, uint32_t cbi, uint32_t n,
                      uint32_t style, size_t *npend, td_error *err)
{
    if (cb->passes + n > 0xFFFF) return td_fail(err, TD_E_CORRUPT, -1, "too many coding passes");
    if (!cb->ht_started) {
        uint32_t href = (cb->passes + n - 1) % 3; /* passes after the last cleanup */
        uint32_t bits_all = cb->lblock + floorlog2(n);
        if (bits_all > 32) return td_fail(err, TD_E_CORRUPT, -1, "code-block length of %u bits", bits_all);
        if (n <= href) {       /* no cleanup pass: placeholders only */
            uint32_t len = br_bits(br, bits_all);
            if (len != 0) return ht_part1(ctx, cb, cbi, style, npend, err);
            return ht_segment(ctx, cb, cbi, n, 0, 1, npend, err);
        }
        uint32_t cupp = n - href, bits = cb->lblock + floorlog2(cupp);
        uint32_t len = br_bits(br, bits);
        if (len == 0) {
            if (bits_all > bits) len = br_bits(br, bits_all - bits);
            if (len != 0) return ht_part1(ctx, cb, cbi, style, npend, err);
            return ht_segment(ctx, cb, cbi, n, 0, 1, npend, err);
        }
        /* mixed mode: an HT cleanup length has Lblock > 3 and its top bit 0 */
        if (ctx->ht_mixed && (cb->lblock <= 3 || len < 2 || (len >> (bits - 1)) != 0))
            return ht_part1(ctx, cb, cbi, style, npend, err);
        if (len < 2) return td_fail(err, TD_E_CORRUPT, -1, "HT cleanup segment of %u byte", len);
        cb->ht_started = 1;
        int rc = ht_segment(ctx, cb, cbi, cupp, len, 1, npend, err);
        if (rc != TD_OK || !href) return rc;
        bits = cb->lblock + floorlog2(href);
        return ht_segment(ctx, cb, cbi, href, br_bits(br, bits), 1, npend, err);
    }
    while (n > 0) {
        uint32_t phase = cb->passes % 3, take = phase == 1 && n >= 2 ? 2 : 1;
        uint32_t bits = cb->lblock + floorlog2(take);
        if (bits > 32) return td_fail(err, TD_E_CORRUPT, -1, "code-block length of %u bits", bits);
        int rc = ht_segment(ctx, cb, cbi, take, br_bits(br, bits), phase != 2, npend, err);
        if (rc != TD_OK) return rc;
        n -= take;
    }
    return TD_OK;
}

/* One packet: precinct pr, layer l. */
static int read_packet(packet_ctx *ctx, j2k_precinct *pr, uint32_t l, td_error *err)
{
    j2k_tile *t = ctx->t;
    const j2k_tilecomp *tc = &t->comps[pr->comp];
    const j2k_res *rs = &tc->res[pr->res];
    uint32_t style = tc->tccp->cblk_style;
    if (ctx->ended) return TD_OK;
    if (ctx->dec) {
        /* the bodies in place: a packet starts in the next tile-part once this one is used up;
         * an SOP marker that would run past its end takes the joined copy */
        while (ctx->body_pos >= ctx->body_len && more_parts(ctx)) {
            const j2k_tilepart *tp;
            do tp = &ctx->dec->parts[ctx->dec->tile_parts[++ctx->k]];
            while (tp->body_len == 0);
            ctx->body = tp->body, ctx->body_len = tp->body_len, ctx->body_pos = 0;
        }
        if (ctx->body_pos + 6 > ctx->body_len && ctx->body_pos < ctx->body_len &&
            ctx->body[ctx->body_pos] == 0xFF && more_parts(ctx)) {
            ctx->spans = ctx->ended = 1;
            return TD_OK;
        }
    }
    /* SOP (A.8.1) */
    if (ctx->body_pos + 6 <= ctx->body_len && ctx->body[ctx->body_pos] == 0xFF &&
        ctx->body[ctx->body_pos + 1] == 0x91)
        ctx->body_pos += 6;
    bitreader br;
    memset(&br, 0, sizeof br);
    if (ctx->hdr) { br.p = ctx->hdr; br.pos = ctx->hdr_pos; br.len = ctx->hdr_len; }
    else { br.p = ctx->body; br.pos = ctx->body_pos; br.len = ctx->body_len; }
    if (br.pos >= br.len) { ctx->ended = 1; return TD_OK; }
    size_t npend = 0;
    if (br_bit(&br)) {
        for (uint32_t b = 0; b < rs->nbands; b++) {
            j2k_prcband *pb = &pr->band[b];
            const j2k_band *bd = &rs->band[b];
            uint32_t ncb = pb->cw * pb->ch;
            for (uint32_t k = 0; k < ncb; k++) {
                uint32_t cbi = pb->cblk0 + k;
                j2k_cblk *cb = &t->cblks[cbi];
                uint32_t inc;
                if (!cb->included) inc = (uint32_t)tree_decode(t, pb->tree0 + k, (int32_t)l + 1, &br);
                else inc = br_bit(&br);
                if (br.overrun) goto overrun;
                if (!inc) continue;
                if (!cb->included) {
                    /* the zero bit-planes: the leaf's value, in one walk down the tree (the
                     * same bits as raising the threshold one at a time until it is passed) */
                    uint32_t leaf = pb->tree0 + pb->nnodes + k;
                    int known = tree_decode(t, leaf, 75, &br);
                    if (br.overrun) goto overrun;
                    int32_t v = t->nodes[2 * leaf];
                    if (!known) return td_fail(err, TD_E_CORRUPT, -1, "zero bit-planes beyond 74");
                    cb->numbps = bd->mb - v;
                    cb->included = 1;
                }
                uint32_t n = num_passes(&br);
                while (br_bit(&br)) {
                    if (br.overrun) goto overrun;
                    if (++cb->lblock > 32) return td_fail(err, TD_E_CORRUPT, -1, "Lblock beyond 32");
                }
                if ((style & J2K_CBLK_HT) && !cb->part1) {
                    bitreader start = br;
                    int rc = ht_lengths(ctx, &br, cb, cbi, n, style, &npend, err);
                    if (rc == HT_IS_PART1) br = start;
                    else {
                        if (rc != TD_OK) return rc;
                        if (br.overrun) goto overrun;
                        continue;
                    }
                }
                int rc = p1_lengths(ctx, &br, cb, cbi, n, style, &npend, err);
                if (rc != TD_OK) return rc;
                if (br.overrun) goto overrun;
            }
        }
    }
    if (br.overrun) goto overrun;
    size_t end = br_align(&br);
    if (end > br.len) { /* the byte after a last 0xFF lies past the data */
        if (!ctx->hdr && ctx->dec && more_parts(ctx)) {
            ctx->spans = ctx->ended = 1;
            return TD_OK;
        }
        end = br.len;
    }
    /* EPH (A.8.2; one that would run past the tile-part read in place takes the joined copy) */
    if (!ctx->hdr && ctx->dec && end + 2 > br.len && body_byte(ctx, end) == 0xFF &&
        body_byte(ctx, end + 1) == 0x92) {
        ctx->spans = ctx->ended = 1;
        return TD_OK;
    }
    if (end + 2 <= br.len && br.p[end] == 0xFF && br.p[end + 1] == 0x92) end += 2;
    if (ctx->hdr) ctx->hdr_pos = end;
    else ctx->body_pos = end;
    int keep = l < ctx->max_layers && pr->res < tc->dres;
    for (size_t i = 0; i < npend; i++) {
        pending *pd = &ctx->pend[i];
        size_t avail = ctx->body_len - ctx->body_pos;
        uint32_t len = pd->len;
        if (len > avail && ctx->dec && more_parts(ctx)) { /* on into the next tile-part */
            ctx->spans = ctx->ended = 1;
            return TD_OK;
        }
        if (len > avail) { len = (uint32_t)avail; ctx->ended = 1; }
        if (keep) {
            if (add_chunk(t, pd->cblk, ctx->body + ctx->body_pos, len, pd->seg, pd->passes,
                          len < pd->len) != TD_OK)
                return td_fail(err, TD_E_NOMEM, -1, "chunks");
        }
        ctx->body_pos += len;
        if (ctx->ended) break;
    }
    return TD_OK;
overrun:
    if (!ctx->hdr && ctx->dec && more_parts(ctx)) ctx->spans = 1; /* (the header ran on) */
    ctx->ended = 1;
    return TD_OK;
}

/* ---- progression (B.12) ---- */

typedef struct sort_ctx { const j2k_precinct *prcs; uint32_t order; } sort_ctx;

static int cmp3(uint64_t a0, uint64_t b0, uint64_t a1, uint64_t b1, uint64_t a2, uint64_t b2,
                uint64_t a3, uint64_t b3)
{
    if (a0 != b0) return a0 < b0 ? -1 : 1;
    if (a1 != b1) return a1 < b1 ? -1 : 1;
    if (a2 != b2) return a2 < b2 ? -1 : 1;
    if (a3 != b3) return a3 < b3 ? -1 : 1;
    return 0;
}

static int prc_cmp(const j2k_precinct *a, const j2k_precinct *b, uint32_t order)
{
    switch (order) {
    case 0:
    case 1: return cmp3(a->res, b->res, a->comp, b->comp, a->index, b->index, 0, 0);
    case 2: return cmp3(a->res, b->res, a->py, b->py, a->px, b->px, a->comp, b->comp);
    case 3: return cmp3(a->py, b->py, a->px, b->px, a->comp, b->comp, a->res, b->res);
    default: return cmp3(a->comp, b->comp, a->py, b->py, a->px, b->px, a->res, b->res);
    }
}

/* Merge sort of precinct indices (stable, no global comparator state). */
static void sort_prcs(uint32_t *v, uint32_t *tmp, size_t n, const j2k_precinct *prcs, uint32_t order)
{
    if (n < 2) return;
    size_t h = n / 2;
    sort_prcs(v, tmp, h, prcs, order);
    sort_prcs(v + h, tmp, n - h, prcs, order);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n)
        tmp[k++] = prc_cmp(&prcs[v[j]], &prcs[v[i]], order) < 0 ? v[j++] : v[i++];
    while (i < h) tmp[k++] = v[i++];
    while (j < n) tmp[k++] = v[j++];
    memcpy(v, tmp, n * sizeof *v);
}

int j2k_tile_packets(const td_j2kdec *dec, const j2k_tcp *tcp, j2k_tile *t, uint32_t max_layers,
                     int join, td_error *err)
{
    packet_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.t = t;
    ctx.tcp = tcp;
    ctx.max_layers = max_layers ? max_layers : UINT32_MAX;
    ctx.ht_mixed = (dec->ccap15 & 0xC000u) != 0;
    /* tile data: tile-part bodies in order; packed headers from PPM or PPT */
    size_t nbody = 0, total = 0, hdr_total = 0, nparts = 0;
    int ppt = 0;
    const j2k_tilepart *single = NULL;
    uint32_t p0 = dec->tile_first[t->index], p1 = dec->tile_first[t->index + 1];
    for (uint32_t k = p0; k < p1; k++) {
        const j2k_tilepart *tp = &dec->parts[dec->tile_parts[k]];
        nparts++;
        single = tp;
        nbody++;
        total += tp->body_len;
        if (tp->ppm) hdr_total += tp->ppm_len;
        for (size_t h = 0; h + 4 <= tp->header_len;) {
            uint32_t m = td_load_be16(tp->header + h), len = td_load_be16(tp->header + h + 2);
            if (m >= 0xFF30 && m <= 0xFF3F) { h += 2; continue; }
            if (m == 0xFF61 && len >= 3) { ppt = 1; hdr_total += len - 3u; }
            h += 2 + (size_t)len;
        }
    }
    if (nparts == 0) return TD_OK;
    if (nbody == 1) {
        ctx.body = single->body;
        ctx.body_len = single->body_len;
    } else if (!join) { /* in place (read_packet moves on past tile-parts without data) */
        ctx.dec = dec;
        ctx.k = p0, ctx.kend = p1;
        ctx.body = dec->parts[dec->tile_parts[p0]].body;
        ctx.body_len = dec->parts[dec->tile_parts[p0]].body_len;
    } else {
        t->body = malloc(total ? total : 1);
        if (!t->body) return td_fail(err, TD_E_NOMEM, -1, "tile data");
        size_t w = 0;
        for (uint32_t k = p0; k < p1; k++) {
            const j2k_tilepart *tp = &dec->parts[dec->tile_parts[k]];
            memcpy(t->body + w, tp->body, tp->body_len);
            w += tp->body_len;
        }
        ctx.body = t->body;
        ctx.body_len = total;
    }
    if (dec->ppm_buf || ppt) {
        t->hdrs = malloc(hdr_total ? hdr_total : 1);
        if (!t->hdrs) return td_fail(err, TD_E_NOMEM, -1, "packet headers");
        size_t w = 0;
        for (uint32_t k = p0; k < p1; k++) {
            const j2k_tilepart *tp = &dec->parts[dec->tile_parts[k]];
            if (tp->ppm) { memcpy(t->hdrs + w, tp->ppm, tp->ppm_len); w += tp->ppm_len; }
            for (size_t h = 0; h + 4 <= tp->header_len;) {
                uint32_t m = td_load_be16(tp->header + h), len = td_load_be16(tp->header + h + 2);
                if (m >= 0xFF30 && m <= 0xFF3F) { h += 2; continue; }
                if (m == 0xFF61 && len >= 3) { memcpy(t->hdrs + w, tp->header + h + 5, len - 3u); w += len - 3u; }
                h += 2 + (size_t)len;
            }
        }
        ctx.hdr = t->hdrs;
        ctx.hdr_len = w;
    }
    /* progressions */
    j2k_poc def = {0, 33, 0, dec->ncomps, tcp->layers, tcp->order};
    const j2k_poc *pocs = tcp->npoc ? tcp->poc : &def;
    uint32_t npoc = tcp->npoc ? tcp->npoc : 1;
    uint32_t *list = malloc((t->nprcs ? t->nprcs : 1) * 2 * sizeof *list);
    if (!list) return td_fail(err, TD_E_NOMEM, -1, "progression");
    int rc = TD_OK;
    for (uint32_t pi = 0; pi < npoc && rc == TD_OK && !ctx.ended; pi++) {
        const j2k_poc *po = &pocs[pi];
        uint32_t lye = po->lye < tcp->layers ? po->lye : tcp->layers;
        size_t n = 0;
        for (size_t k = 0; k < t->nprcs; k++) {
            const j2k_precinct *pr = &t->prcs[k];
            if (pr->comp >= po->cs && pr->comp < po->ce && pr->res >= po->rs && pr->res < po->re)
                list[n++] = (uint32_t)k;
        }
        sort_prcs(list, list + t->nprcs, n, t->prcs, po->order);
        if (po->order == 0) {
            for (uint32_t l = 0; l < lye && rc == TD_OK && !ctx.ended; l++)
                for (size_t k = 0; k < n && rc == TD_OK && !ctx.ended; k++) {
                    j2k_precinct *pr = &t->prcs[list[k]];
                    if (pr->layers_done != l) continue;
                    rc = read_packet(&ctx, pr, l, err);
                    pr->layers_done++;
                }
        } else if (po->order == 1) {
            size_t k0 = 0;
            while (k0 < n && rc == TD_OK && !ctx.ended) {
                size_t k1 = k0;
                while (k1 < n && t->prcs[list[k1]].res == t->prcs[list[k0]].res) k1++;
                for (uint32_t l = 0; l < lye && rc == TD_OK && !ctx.ended; l++)
                    for (size_t k = k0; k < k1 && rc == TD_OK && !ctx.ended; k++) {
                        j2k_precinct *pr = &t->prcs[list[k]];
                        if (pr->layers_done != l) continue;
                        rc = read_packet(&ctx, pr, l, err);
                        pr->layers_done++;
                    }
                k0 = k1;
            }
        } else {
            for (size_t k = 0; k < n && rc == TD_OK && !ctx.ended; k++) {
                j2k_precinct *pr = &t->prcs[list[k]];
                while (pr->layers_done < lye && rc == TD_OK && !ctx.ended) {
                    rc = read_packet(&ctx, pr, pr->layers_done, err);
                    pr->layers_done++;
                }
            }
        }
    }
    free(list);
    free(ctx.pend);
    if (rc == TD_OK && ctx.spans) return J2K_PACKETS_SPAN;
    if (rc == TD_OK && ctx.ended) t->truncated = 1;
    return rc;
}
