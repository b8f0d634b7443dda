/*
 * decode.c - one tile at a time into the caller's buffer.
 *
 * Per tile: coding parameters (codestream.c), partition and packets (tier2.c), the code-blocks
 * through the block decoder (tier1.c) in parallel, dequantisation (E.1: reversible /2, ROI in
 * the block decoder, irreversible times the step size), inverse DWT (dwt.c), inverse MCT
 * (mct.c), DC level shift and clipping (G.1.2), then the samples go to their place in the
 * output container.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "j2k_internal.h"
#include "td_bytes.h"

#define NONE UINT32_MAX

int td_j2kdec_component(const td_j2kdec *d, uint32_t c, uint32_t reduce, td_j2kdec_comp *o,
                        td_error *err)
{
    if (!d || !o || c >= d->ncomps) return td_fail(err, TD_E_INVALID_ARGUMENT, -1, "component %u", c);
    if (reduce > d->info.decomposition_levels)
        return td_fail(err, TD_E_UNSUPPORTED, -1, "reduce %u: the codestream has only %u decomposition level%s", reduce, d->info.decomposition_levels, d->info.decomposition_levels == 1 ? "" : "s");
    int64_t x0 = j2k_ceildiv(d->x0, d->dx[c]), x1 = j2k_ceildiv(d->x1, d->dx[c]);
    int64_t y0 = j2k_ceildiv(d->y0, d->dy[c]), y1 = j2k_ceildiv(d->y1, d->dy[c]);
    o->columns = (uint32_t)(j2k_ceildivpow2(x1, reduce) - j2k_ceildivpow2(x0, reduce));
    o->rows = (uint32_t)(j2k_ceildivpow2(y1, reduce) - j2k_ceildivpow2(y0, reduce));
    o->precision = d->prec[c];
    o->is_signed = d->sgnd[c];
    o->dx = d->dx[c];
    o->dy = d->dy[c];
    return TD_OK;
}

int td_j2kdec_decoded_size(const td_j2kdec *d, const td_j2kdec_options *opt, size_t *size,
                           uint32_t *bps, td_error *err)
{
    static const td_j2kdec_options defaults;
    if (!d || !size) return td_fail(err, TD_E_INVALID_ARGUMENT, -1, "NULL argument");
    if (!opt) opt = &defaults;
    uint32_t prec = d->info.precision;
    if (prec > 32) return td_fail(err, TD_E_UNSUPPORTED, -1, "precision %u bits does not fit 4 bytes", prec);
    uint32_t natural = prec <= 8 ? 1 : prec <= 16 ? 2 : 4, b = opt->bytes_per_sample;
    if (b == 0) b = natural;
    else if (b != 1 && b != 2 && b != 4) return td_fail(err, TD_E_INVALID_ARGUMENT, -1, "bytes_per_sample %u", b);
    else if (b < natural) return td_fail(err, TD_E_UNSUPPORTED, -1, "%u-bit samples do not fit %u byte(s)", prec, b);
    size_t total = 0;
    td_j2kdec_comp c0, ci;
    int rc = td_j2kdec_component(d, 0, opt->reduce, &c0, err);
    if (rc != TD_OK) return rc;
    for (uint32_t c = 0; c < d->ncomps; c++) {
        if ((rc = td_j2kdec_component(d, c, opt->reduce, &ci, err)) != TD_OK) return rc;
        if (!(opt->flags & TD_J2KDEC_PLANAR) && (ci.rows != c0.rows || ci.columns != c0.columns))
            return td_fail(err, TD_E_UNSUPPORTED, -1, "component %u is %u x %u, component 0 %u x %u: "
                           "interleaved output needs equal sizes", c, ci.rows, ci.columns, c0.rows, c0.columns);
        size_t n;
        if (td_mul_overflow((size_t)ci.rows, (size_t)ci.columns, &n) || td_mul_overflow(n, b, &n) ||
            td_add_overflow(total, n, &total))
            return td_fail(err, TD_E_LIMIT, -1, "decoded size overflows");
    }
    *size = total;
    if (bps) *bps = b;
    return TD_OK;
}

/* ---- code-blocks ---- */

typedef struct tile_job {
    const td_j2kdec *dec;
    j2k_tile *tile;
    atomic_size_t next;
    atomic_int rc;
} tile_job;

static int gather(j2k_t1 *t1, const j2k_tile *t, const j2k_cblk *cb, uint32_t *nsegs)
{
    size_t need = 0, ns = 0;
    uint32_t seg = NONE;
    for (uint32_t k = cb->first; k != NONE; k = t->chunks[k].next) {
        need += t->chunks[k].len;
        if (t->chunks[k].seg != seg) { ns++; seg = t->chunks[k].seg; }
    }
    need += 2 * ns + 2;
    if (need > t1->buf_cap) {
        free(t1->buf);
        t1->buf = malloc(need);
        t1->buf_cap = t1->buf ? need : 0;
        if (!t1->buf) return TD_E_NOMEM;
    }
    if (ns > t1->segs_cap) {
        free(t1->segs);
        t1->segs = malloc(ns * sizeof *t1->segs);
        t1->segs_cap = t1->segs ? ns : 0;
        if (!t1->segs) return TD_E_NOMEM;
    }
    size_t w = 0;
    int64_t cur = -1;
    uint32_t n = 0;
    for (uint32_t k = cb->first; k != NONE; k = t->chunks[k].next) {
        const j2k_chunk *ch = &t->chunks[k];
        if ((int64_t)ch->seg != cur) {
            if (n) { t1->buf[w++] = 0xFF; t1->buf[w++] = 0xFF; }
            t1->segs[n].offset = (uint32_t)w;
            t1->segs[n].len = 0;
            t1->segs[n].passes = 0;
            t1->segs[n].cut = 0;
            n++;
            cur = ch->seg;
        }
        memcpy(t1->buf + w, ch->data, ch->len);
        w += ch->len;
        t1->segs[n - 1].len += ch->len;
        t1->segs[n - 1].passes += ch->passes;
        t1->segs[n - 1].cut |= ch->cut;
    }
    t1->buf[w++] = 0xFF;
    t1->buf[w++] = 0xFF;
    *nsegs = n;
    return TD_OK;
}

static int decode_cblk(j2k_t1 *t1, const j2k_tile *t, const j2k_cblk *cb)
{
    if (!cb->decode || cb->first == NONE) return TD_OK;
    const j2k_tilecomp *tc = &t->comps[cb->comp];
    const j2k_res *rs = &tc->res[cb->res];
    const j2k_band *bd = &rs->band[cb->band];
    uint32_t nsegs;
    int rc = gather(t1, t, cb, &nsegs);
    if (rc != TD_OK) return rc;
    j2k_block_job job;
    job.data = t1->buf;
    job.segs = t1->segs;
    job.nsegs = nsegs;
    job.w = (uint32_t)(cb->x1 - cb->x0);
    job.h = (uint32_t)(cb->y1 - cb->y0);
    job.numbps = cb->numbps;
    job.roishift = tc->tccp->roishift;
    job.orient = bd->orient;
    job.style = cb->part1 ? tc->tccp->cblk_style & ~(uint32_t)J2K_CBLK_HT : tc->tccp->cblk_style;
    rc = (job.style & J2K_CBLK_HT) ? j2k_ht_decode(t1, &job) : j2k_t1_decode(t1, &job);
    if (rc != TD_OK) return rc;
    /* E.1 dequantisation into the tile-component */
    uint32_t x = (uint32_t)(cb->x0 - bd->x0), y = (uint32_t)(cb->y0 - bd->y0);
    if (cb->res > 0) {
        const j2k_res *lr = &tc->res[cb->res - 1];
        if (bd->orient & 1) x += (uint32_t)(lr->x1 - lr->x0);
        if (bd->orient & 2) y += (uint32_t)(lr->y1 - lr->y0);
    }
    /* EBCOT (tier1.c) leaves sign-magnitude values (bit 31 the sign) in stripe-column order
     * (a stripe of n <= 4 rows from row y0: (x, y) at y0 * w + n * x + y - y0), HT two's
     * complement in row order; both are magnitude times 2 plus the half bit.  Reversible: the
     * value / 2, rounded toward zero; irreversible: the value times the step. */
    const int32_t *src = t1->coef;
    int rev = tc->tccp->reversible;
    float step = bd->stepsize;
    if (!(job.style & J2K_CBLK_HT)) {
        for (uint32_t y0 = 0; y0 < job.h; y0 += 4) {
            uint32_t n = job.h - y0 < 4 ? job.h - y0 : 4;
            const uint32_t *s0 = (const uint32_t *)t1->coef + (size_t)y0 * job.w;
            for (uint32_t k = 0; k < n; k++) {
                const uint32_t *sk = s0 + k;
                size_t row = (size_t)(y + y0 + k) * tc->w + x;
                if (rev) {
                    int32_t *dst = (int32_t *)tc->data + row;
                    for (uint32_t i = 0; i < job.w; i++) {
                        uint32_t v = sk[(size_t)i * n];
                        int32_t neg = -(int32_t)(v >> 31), mag = (int32_t)((v & 0x7FFFFFFFu) >> 1);
                        dst[i] = (mag ^ neg) - neg;
                    }
                } else {
                    float *dst = (float *)tc->data + row;
                    for (uint32_t i = 0; i < job.w; i++) {
                        uint32_t v = sk[(size_t)i * n];
                        int32_t neg = -(int32_t)(v >> 31), mag = (int32_t)(v & 0x7FFFFFFFu);
                        dst[i] = (float)((mag ^ neg) - neg) * step;
                    }
                }
            }
        }
    } else if (rev) {
        int32_t *dst = (int32_t *)tc->data + (size_t)y * tc->w + x;
        for (uint32_t j = 0; j < job.h; j++, dst += tc->w, src += job.w)
            for (uint32_t i = 0; i < job.w; i++) dst[i] = src[i] / 2;
    } else {
        float *dst = (float *)tc->data + (size_t)y * tc->w + x;
        for (uint32_t j = 0; j < job.h; j++, dst += tc->w, src += job.w)
            for (uint32_t i = 0; i < job.w; i++) dst[i] = (float)src[i] * step;
    }
    return TD_OK;
}

static void *worker(void *arg)
{
    tile_job *tj = arg;
    j2k_t1 *t1 = calloc(1, sizeof *t1);
    if (!t1) { atomic_store(&tj->rc, TD_E_NOMEM); return NULL; }
    for (;;) {
        size_t i = atomic_fetch_add(&tj->next, 1);
        if (i >= tj->tile->ncblks || atomic_load(&tj->rc) != TD_OK) break;
        int rc = decode_cblk(t1, tj->tile, &tj->tile->cblks[i]);
        if (rc != TD_OK) { atomic_store(&tj->rc, rc); break; }
    }
    j2k_t1_free(t1);
    free(t1);
    return NULL;
}

static int decode_blocks(const td_j2kdec *dec, j2k_tile *t, uint32_t threads)
{
    tile_job tj;
    tj.dec = dec;
    tj.tile = t;
    atomic_init(&tj.next, 0);
    atomic_init(&tj.rc, TD_OK);
    if (threads > 64) threads = 64;
    if (threads > 1 && t->ncblks / 4 < threads) threads = (uint32_t)(t->ncblks / 4) + 1;
    pthread_t th[64];
    uint32_t started = 0;
    for (uint32_t i = 1; i < threads; i++) {
        if (pthread_create(&th[started], NULL, worker, &tj) != 0) break;
        started++;
    }
    worker(&tj);
    for (uint32_t i = 0; i < started; i++) pthread_join(th[i], NULL);
    return atomic_load(&tj.rc);
}

/* ---- output ---- */

static void store(const td_j2kdec *d, const j2k_tile *t, uint32_t c, uint32_t reduce,
                  uint8_t *out, size_t plane_off, uint32_t cols, uint32_t rows, uint32_t bps,
                  int planar)
{
    const j2k_tilecomp *tc = &t->comps[c];
    const j2k_res *rs = &tc->res[tc->dres - 1];
    int64_t cx0 = j2k_ceildivpow2(j2k_ceildiv(d->x0, d->dx[c]), reduce);
    int64_t cy0 = j2k_ceildivpow2(j2k_ceildiv(d->y0, d->dy[c]), reduce);
    uint32_t ox = (uint32_t)(rs->x0 - cx0), oy = (uint32_t)(rs->y0 - cy0);
    uint32_t w = (uint32_t)(rs->x1 - rs->x0), h = (uint32_t)(rs->y1 - rs->y0);
    uint32_t prec = d->prec[c];
    int64_t lo, hi, shift;
    if (d->sgnd[c]) { lo = -((int64_t)1 << (prec - 1)); hi = ((int64_t)1 << (prec - 1)) - 1; shift = 0; }
    else { lo = 0; hi = ((int64_t)1 << prec) - 1; shift = (int64_t)1 << (prec - 1); }
    size_t ncomp = planar ? 1 : d->ncomps, cpos = planar ? 0 : c;
    int rev = tc->tccp->reversible;
    /* irreversible: round to nearest (lrintf, as OpenJPEG), shift, clip; values outside
     * (flo, fhi) clip without being converted (no undefined float -> int conversion) */
    float flo = (float)(lo - shift) - 1.0f, fhi = (float)(hi - shift) + 1.0f;
    size_t step = ncomp * bps;
    if (ox >= cols || oy >= rows) return;
    for (uint32_t y = 0; y < h && oy + y < rows; y++) {
        const int32_t *ir = (const int32_t *)tc->data + (size_t)y * tc->w;
        const float *fr = (const float *)tc->data + (size_t)y * tc->w;
        uint8_t *o = out + plane_off + (((size_t)(oy + y) * cols + ox) * ncomp + cpos) * bps;
        uint32_t xn = w < cols - ox ? w : cols - ox;
        for (uint32_t x = 0; x < xn; x++, o += step) {
            int64_t v;
            if (rev) {
                v = (int64_t)ir[x] + shift;
            } else {
                float f = fr[x];
                if (!(f > flo)) v = lo;
                else if (!(f < fhi)) v = hi;
                else v = (int64_t)lrintf(f) + shift;
            }
            if (v < lo) v = lo;
            if (v > hi) v = hi;
            uint32_t u = (uint32_t)v;
            if (bps == 1) o[0] = (uint8_t)u;
            else if (bps == 2) td_store_le16(o, (uint16_t)u);
            else td_store_le32(o, u);
        }
    }
}

int td_j2kdec_decode(td_j2kdec *d, uint8_t *out, size_t out_len, const td_j2kdec_options *opt,
                     td_error *err)
{
    static const td_j2kdec_options defaults;
    if (!d || (!out && out_len)) return td_fail(err, TD_E_INVALID_ARGUMENT, -1, "NULL argument");
    if (!opt) opt = &defaults;
    size_t need;
    uint32_t bps;
    int rc = td_j2kdec_decoded_size(d, opt, &need, &bps, err);
    if (rc != TD_OK) return rc;
    if (out_len < need) return td_fail(err, TD_E_OUTPUT_TOO_SMALL, -1, "output %zu bytes, %zu needed", out_len, need);
    int planar = (opt->flags & TD_J2KDEC_PLANAR) != 0;
    /* every sample is written by its tile; only absent tiles leave zeros to fill */
    for (uint32_t ti = 0; ti < d->ntiles; ti++)
        if (d->tile_first[ti] == d->tile_first[ti + 1]) {
            memset(out, 0, need);
            break;
        }
    /* plane offsets and sizes */
    size_t *plane = malloc(d->ncomps * sizeof *plane);
    uint32_t *dims = malloc(2 * d->ncomps * sizeof *dims);
    if (!plane || !dims) { free(plane); free(dims); return td_fail(err, TD_E_NOMEM, -1, "planes"); }
    size_t off = 0;
    for (uint32_t c = 0; c < d->ncomps; c++) {
        td_j2kdec_comp ci;
        td_j2kdec_component(d, c, opt->reduce, &ci, NULL);
        dims[2 * c] = ci.columns;
        dims[2 * c + 1] = ci.rows;
        plane[c] = planar ? off : 0;
        off += (size_t)ci.columns * ci.rows * bps;
    }
    int truncated = d->info.truncated;
    for (uint32_t ti = 0; ti < d->ntiles && rc == TD_OK; ti++) {
        if (d->tile_first[ti] == d->tile_first[ti + 1]) { truncated = 1; continue; } /* absent */
        j2k_tcp tcp;
        if ((rc = j2k_tile_tcp(d, ti, &tcp, err)) != TD_OK) break;
        j2k_tile t;
        rc = j2k_tile_build(d, &tcp, ti, opt->reduce, &t, err);
        if (rc == TD_OK) rc = j2k_tile_packets(d, &tcp, &t, opt->layers, err);
        if (rc == TD_OK && t.truncated) truncated = 1;
        for (uint32_t c = 0; c < d->ncomps && rc == TD_OK; c++) {
            j2k_tilecomp *tc = &t.comps[c];
            const j2k_res *rs = &tc->res[tc->dres - 1];
            tc->w = (uint32_t)(rs->x1 - rs->x0);
            tc->h = (uint32_t)(rs->y1 - rs->y0);
            tc->data = calloc((size_t)tc->w * tc->h + 1, 4);
            if (!tc->data) rc = td_fail(err, TD_E_NOMEM, -1, "tile %u component %u coefficients", ti, c);
        }
        if (rc == TD_OK) {
            rc = decode_blocks(d, &t, opt->threads);
            if (rc != TD_OK) td_fail(err, rc, -1, "tile %u: code-block decoding failed", ti);
        }
        for (uint32_t c = 0; c < d->ncomps && rc == TD_OK; c++)
            if ((rc = j2k_dwt_decode(&t.comps[c], opt->threads)) != TD_OK) td_fail(err, rc, -1, "DWT");
        if (rc == TD_OK && tcp.mct && d->ncomps >= 3) {
            j2k_tilecomp *c0 = &t.comps[0], *c1 = &t.comps[1], *c2 = &t.comps[2];
            if (c0->w != c1->w || c0->w != c2->w || c0->h != c1->h || c0->h != c2->h ||
                c0->tccp->reversible != c1->tccp->reversible || c0->tccp->reversible != c2->tccp->reversible)
                rc = td_fail(err, TD_E_CORRUPT, -1, "tile %u: MCT over components of different size or filter", ti);
            else if (c0->tccp->reversible)
                j2k_mct_rct_inverse(c0->data, c1->data, c2->data, (size_t)c0->w * c0->h);
            else
                j2k_mct_ict_inverse(c0->data, c1->data, c2->data, (size_t)c0->w * c0->h);
        }
        for (uint32_t c = 0; c < d->ncomps && rc == TD_OK; c++)
            store(d, &t, c, opt->reduce, out, plane[c], dims[2 * c], dims[2 * c + 1], bps, planar);
        j2k_tile_free(&t);
        j2k_tcp_free(&tcp);
    }
    free(plane);
    free(dims);
    if (rc == TD_OK && truncated && (opt->flags & TD_J2KDEC_STRICT))
        return td_fail(err, TD_E_TRUNCATED, -1, "the codestream ends before its last packet");
    if (rc == TD_OK) td_error_clear(err);
    return rc;
}
