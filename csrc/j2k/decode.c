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
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "j2k_internal.h"
#include "td_bytes.h"
#include "td_threads.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define NONE UINT32_MAX

/* ---- working memory reused across decodes ---- */

/* malloc serves large blocks with fresh pages (mmap), so a decode that allocated its
 * coefficients anew would fault every page of them in again (a third of the time of a
 * 640x480 RGB HTJ2K frame, in the kernel).  One process-wide cache keeps the large buffers of recent decodes for the next ones:
 * at most POOL_SLOTS buffers and min(POOL_CAP, POOL_MULT x the largest recent request) bytes
 * (recent: the high-water mark decays by 1/32 per request, so a stream of small frames lets
 * the buffers of an old large one go); a request takes the smallest cached buffer that fits
 * it and is at most twice its size.  The code-block scratch of the worker threads (j2k_t1) is
 * kept the same way.  td_j2kdec_release_memory() frees everything cached (so does unloading
 * the library).  The cache holds no decoder state: buffers come back uninitialised and every
 * user writes what it reads. */
/* Under ASan / MSan nothing is cached: every buffer is a fresh allocation of the exact size,
 * so that the sanitizers see each overrun and each read of what was never written. */
#if defined(__SANITIZE_ADDRESS__) || defined(TD_J2K_NO_POOL)
#define POOL_OFF 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define POOL_OFF 1
#endif
#endif
#ifdef POOL_OFF
#define POOL_MIN SIZE_MAX
#else
#define POOL_MIN ((size_t)32 << 10)  /* smaller requests: malloc's heap, not cached */
#endif
#define POOL_SLOTS 32
#define POOL_T1_SLOTS 16             /* block-decoder scratch kept */
#define POOL_CAP ((size_t)128 << 20) /* never more cached than this */
#define POOL_MULT 8
#define POOL_T1_BUF_MAX ((size_t)1 << 20) /* a larger code-block data buffer is not kept */

typedef struct pool_entry {
    void *p;
    size_t size;
} pool_entry;

static pthread_mutex_t pool_mutex = PTHREAD_MUTEX_INITIALIZER;
static pool_entry pool[POOL_SLOTS]; /* oldest first */
static uint32_t pool_n;
static size_t pool_bytes, pool_recent;
static j2k_t1 *pool_t1[POOL_T1_SLOTS];
static uint32_t pool_t1_n;

/* fork() while another thread holds the mutex would leave it locked in the child: the
 * handlers hold it across the fork (registered on first use). */
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static void pool_lock_for_fork(void) { pthread_mutex_lock(&pool_mutex); }
static void pool_unlock_after_fork(void) { pthread_mutex_unlock(&pool_mutex); }
static void pool_init(void)
{
    pthread_atfork(pool_lock_for_fork, pool_unlock_after_fork, pool_unlock_after_fork);
}

static void pool_lock(void)
{
    pthread_once(&pool_once, pool_init);
    pthread_mutex_lock(&pool_mutex);
}

static size_t pool_limit(void)
{
    return pool_recent > POOL_CAP / POOL_MULT ? POOL_CAP : pool_recent * POOL_MULT;
}

/* With the mutex held: remove entry i, its buffer into victims[*nv]. */
static void pool_take(uint32_t i, void **victims, uint32_t *nv)
{
    if (victims) victims[(*nv)++] = pool[i].p;
    pool_bytes -= pool[i].size;
    memmove(&pool[i], &pool[i + 1], (pool_n - i - 1) * sizeof *pool);
    pool_n--;
}

/* A buffer of at least n bytes, its size in *size; NULL when out of memory. */
static void *pool_get(size_t n, size_t *size)
{
    void *victims[POOL_SLOTS], *p = NULL;
    uint32_t nv = 0;
    if (n >= POOL_MIN) {
        pool_lock();
        size_t decayed = pool_recent - pool_recent / 32;
        pool_recent = n > decayed ? n : decayed;
        uint32_t best = POOL_SLOTS;
        for (uint32_t i = 0; i < pool_n; i++)
            if (pool[i].size >= n && pool[i].size / 2 <= n &&
                (best == POOL_SLOTS || pool[i].size < pool[best].size))
                best = i;
        if (best != POOL_SLOTS) {
            p = pool[best].p;
            *size = pool[best].size;
            pool_take(best, NULL, NULL);
        }
        while (pool_n && pool_bytes > pool_limit()) pool_take(0, victims, &nv);
        pthread_mutex_unlock(&pool_mutex);
        for (uint32_t i = 0; i < nv; i++) free(victims[i]);
    }
    if (!p) {
        p = malloc(n ? n : 1);
        *size = n;
    }
#ifdef TD_J2K_POISON_POOL /* test builds: what is read before it is written shows */
    if (p) memset(p, 0xA5, *size);
#endif
    return p;
}

/* Give back a buffer of pool_get (NULL: nothing). */
static void pool_put(void *p, size_t size)
{
    void *victims[POOL_SLOTS + 1];
    uint32_t nv = 0;
    if (!p) return;
    if (size < POOL_MIN) { free(p); return; }
    pool_lock();
    size_t limit = pool_limit();
    if (size > limit) {
        victims[nv++] = p;
    } else {
        while (pool_n && (pool_n == POOL_SLOTS || pool_bytes + size > limit)) pool_take(0, victims, &nv);
        pool[pool_n].p = p;
        pool[pool_n].size = size;
        pool_n++;
        pool_bytes += size;
    }
    pthread_mutex_unlock(&pool_mutex);
    for (uint32_t i = 0; i < nv; i++) free(victims[i]);
}

/* Block-decoder scratch for one worker: a cached one or a new zeroed one; NULL: no memory. */
static j2k_t1 *pool_get_t1(void)
{
    j2k_t1 *t1 = NULL;
    pool_lock();
    if (pool_t1_n) t1 = pool_t1[--pool_t1_n];
    pthread_mutex_unlock(&pool_mutex);
    return t1 ? t1 : calloc(1, sizeof *t1);
}

static void pool_put_t1(j2k_t1 *t1)
{
    if (!t1) return;
    if (t1->buf_cap > POOL_T1_BUF_MAX) { /* a huge code-block (hostile input): not kept */
        free(t1->buf);
        t1->buf = NULL;
        t1->buf_cap = 0;
    }
    if (t1->segs_cap * sizeof *t1->segs > POOL_T1_BUF_MAX) { /* thousands of segments */
        free(t1->segs);
        t1->segs = NULL;
        t1->segs_cap = 0;
    }
    pool_lock();
#ifdef POOL_OFF
    int kept = 0;
#else
    int kept = pool_t1_n < POOL_T1_SLOTS;
#endif
    if (kept) pool_t1[pool_t1_n++] = t1;
    pthread_mutex_unlock(&pool_mutex);
    if (!kept) { j2k_t1_free(t1); free(t1); }
}

void td_j2kdec_release_memory(void)
{
    pool_lock();
    pool_entry held[POOL_SLOTS];
    j2k_t1 *held_t1[POOL_T1_SLOTS];
    uint32_t n = pool_n, n1 = pool_t1_n;
    memcpy(held, pool, n * sizeof *pool);
    memcpy(held_t1, pool_t1, n1 * sizeof *pool_t1);
    pool_n = pool_t1_n = 0;
    pool_bytes = pool_recent = 0;
    pthread_mutex_unlock(&pool_mutex);
    for (uint32_t i = 0; i < n; i++) free(held[i].p);
    for (uint32_t i = 0; i < n1; i++) { j2k_t1_free(held_t1[i]); free(held_t1[i]); }
}

#if defined(__GNUC__) || defined(__clang__)
__attribute__((destructor)) static void pool_unload(void) { td_j2kdec_release_memory(); }
#endif

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

/* Where code-block cb's sample (0, 0) goes in its tile-component (row stride tc->w): the
 * band's place (the high-pass bands of resolution r > 0 follow the low-pass samples of
 * resolution r - 1, 2D_DEINTERLEAVE of F.3.3).  A block lies in one band, so never across the
 * boundary of the hosted rows (j2k_row): those are the rows of level dres - 1's low-pass
 * samples, where its LL and HL bands end (checked all the same: NULL if it did). */
static int32_t *cblk_origin(const j2k_tilecomp *tc, const j2k_cblk *cb)
{
    const j2k_band *bd = &tc->res[cb->res].band[cb->band];
    uint32_t x = (uint32_t)(cb->x0 - bd->x0), y = (uint32_t)(cb->y0 - bd->y0);
    if (cb->res > 0) {
        const j2k_res *lr = &tc->res[cb->res - 1];
        if (bd->orient & 1) x += (uint32_t)(lr->x1 - lr->x0);
        if (bd->orient & 2) y += (uint32_t)(lr->y1 - lr->y0);
    }
    if (y < tc->hrows && (uint64_t)y + (uint32_t)(cb->y1 - cb->y0) > tc->hrows) return NULL;
    return j2k_row(tc, y) + x;
}

/* A code-block with no data (not included in the layers read, or its packets cut off): zeros
 * in its place in the tile-component, which is not cleared beforehand. */
static int zero_cblk(const j2k_tile *t, const j2k_cblk *cb)
{
    const j2k_tilecomp *tc = &t->comps[cb->comp];
    uint32_t w = (uint32_t)(cb->x1 - cb->x0), h = (uint32_t)(cb->y1 - cb->y0);
    int32_t *dst = cblk_origin(tc, cb); /* 0.0f is all zero bits too */
    if (!dst) return TD_E_CORRUPT;
    for (uint32_t j = 0; j < h; j++, dst += tc->w) memset(dst, 0, (size_t)w * sizeof *dst);
    return TD_OK;
}

/* Decode code-block cb into its place in the tile-component.  Every code-block of a decoded
 * resolution writes all of its samples (the decoder's, or zeros), and the code-blocks of the
 * bands of the decoded resolutions cover the tile-component (B.5, B.7), so its buffer needs
 * no clearing. */
static int decode_cblk(j2k_t1 *t1, const j2k_tile *t, const j2k_cblk *cb)
{
    if (!cb->decode) return TD_OK; /* a resolution discarded by `reduce` */
    if (cb->first == NONE) return zero_cblk(t, cb);
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
    /* E.1 dequantisation into the tile-component */
    int32_t *origin = cblk_origin(tc, cb);
    if (!origin) return TD_E_CORRUPT;
    job.rev = tc->tccp->reversible;
    job.step = bd->stepsize;
    job.out_stride = tc->w;
    job.out = origin;
    rc = (job.style & J2K_CBLK_HT) ? j2k_ht_decode(t1, &job) : j2k_t1_decode(t1, &job);
    if (rc != TD_OK) return rc;
    /* EBCOT (tier1.c) leaves sign-magnitude values (bit 31 the sign) in stripe-column order
     * (a stripe of n <= 4 rows from row y0: (x, y) at y0 * w + n * x + y - y0), magnitude
     * times 2 plus the half bit.  Reversible: the value / 2, rounded toward zero; irreversible:
     * the value times the step. */
    int rev = tc->tccp->reversible;
    float step = bd->stepsize;
    if (!(job.style & J2K_CBLK_HT)) {
        for (uint32_t y0 = 0; y0 < job.h; y0 += 4) {
            uint32_t n = job.h - y0 < 4 ? job.h - y0 : 4;
            const uint32_t *s0 = (const uint32_t *)t1->coef + (size_t)y0 * job.w;
            uint32_t i0 = 0;
#if defined(__SSE2__)
            if (n == 4) { /* four columns (16 values in a row) at a time, transposed to rows */
                size_t st = tc->w, row = (size_t)y0 * st;
                const __m128i keep = _mm_set1_epi32(0x7FFFFFFF);
                __m128 vstep = _mm_set1_ps(step);
                for (; i0 + 4 <= job.w; i0 += 4) {
                    __m128i v[4];
                    for (int j = 0; j < 4; j++) {
                        __m128i q = _mm_loadu_si128((const __m128i *)(s0 + 4 * (size_t)(i0 + j)));
                        __m128i neg = _mm_srai_epi32(q, 31), mag = _mm_and_si128(q, keep);
                        if (rev) mag = _mm_srli_epi32(mag, 1);
                        v[j] = _mm_sub_epi32(_mm_xor_si128(mag, neg), neg);
                    }
                    __m128i t0 = _mm_unpacklo_epi32(v[0], v[1]), t1_ = _mm_unpacklo_epi32(v[2], v[3]);
                    __m128i t2 = _mm_unpackhi_epi32(v[0], v[1]), t3 = _mm_unpackhi_epi32(v[2], v[3]);
                    __m128i r[4] = {_mm_unpacklo_epi64(t0, t1_), _mm_unpackhi_epi64(t0, t1_),
                                    _mm_unpacklo_epi64(t2, t3), _mm_unpackhi_epi64(t2, t3)};
                    for (int k = 0; k < 4; k++) {
                        if (rev)
                            _mm_storeu_si128((__m128i *)(origin + row + k * st + i0), r[k]);
                        else
                            _mm_storeu_ps((float *)(void *)origin + row + k * st + i0,
                                          _mm_mul_ps(_mm_cvtepi32_ps(r[k]), vstep));
                    }
                }
            }
#endif
            for (uint32_t k = 0; k < n; k++) {
                const uint32_t *sk = s0 + k;
                size_t row = (size_t)(y0 + k) * tc->w;
                if (rev) {
                    int32_t *dst = origin + row;
                    for (uint32_t i = i0; i < job.w; i++) {
                        uint32_t v = sk[(size_t)i * n];
                        int32_t neg = -(int32_t)(v >> 31), mag = (int32_t)((v & 0x7FFFFFFFu) >> 1);
                        dst[i] = (mag ^ neg) - neg;
                    }
                } else {
                    float *dst = (float *)(void *)origin + row;
                    for (uint32_t i = i0; i < job.w; i++) {
                        uint32_t v = sk[(size_t)i * n];
                        int32_t neg = -(int32_t)(v >> 31), mag = (int32_t)(v & 0x7FFFFFFFu);
                        dst[i] = (float)((mag ^ neg) - neg) * step;
                    }
                }
            }
        }
    } /* HT: j2k_ht_decode wrote the block into the tile-component (job.out) */
    return TD_OK;
}

static void worker(void *arg)
{
    tile_job *tj = arg;
    j2k_t1 *t1 = pool_get_t1();
    if (!t1) { atomic_store(&tj->rc, TD_E_NOMEM); return; }
    for (;;) {
        size_t i = atomic_fetch_add(&tj->next, 1);
        if (i >= tj->tile->ncblks || atomic_load(&tj->rc) != TD_OK) break;
        int rc = decode_cblk(t1, tj->tile, &tj->tile->cblks[i]);
        if (rc != TD_OK) { atomic_store(&tj->rc, rc); break; }
    }
    pool_put_t1(t1);
}

static int decode_blocks(const td_j2kdec *dec, j2k_tile *t, uint32_t threads)
{
    tile_job tj;
    tj.dec = dec;
    tj.tile = t;
    atomic_init(&tj.next, 0);
    atomic_init(&tj.rc, TD_OK);
    if (threads > 1 && t->ncblks / 4 < threads) threads = (uint32_t)(t->ncblks / 4) + 1;
    td_parallel_run(threads, worker, &tj);
    return atomic_load(&tj.rc);
}

/* ---- output ---- */

/* How the samples of one component go out: DC level shift and clipping (G.1.2), the
 * container and the place in it. */
typedef struct out_comp {
    int32_t vlo, vhi;   /* clipping range before the shift: [lo - shift, hi - shift] */
    uint32_t shift;     /* 2^(prec-1) for unsigned components, 0 for signed */
    int64_t lo, hi;     /* the component's range */
    float flo, fhi;     /* irreversible: below flo / above fhi clip without conversion */
    int rev;            /* int32 (5-3) or float (9-7) coefficients */
    int rint_fast;      /* irreversible, prec <= 16: round by the 1.5 * 2^23 addition */
    uint32_t bps;       /* 1, 2 or 4 bytes per sample */
    size_t step;        /* samples from one output sample of the component to the next */
} out_comp;

static void out_comp_init(out_comp *p, const td_j2kdec *d, const j2k_tilecomp *tc, uint32_t c,
                          uint32_t bps, size_t step)
{
    uint32_t prec = d->prec[c];
    int64_t shift;
    if (d->sgnd[c]) { p->lo = -((int64_t)1 << (prec - 1)); p->hi = ((int64_t)1 << (prec - 1)) - 1; shift = 0; }
    else { p->lo = 0; p->hi = ((int64_t)1 << prec) - 1; shift = (int64_t)1 << (prec - 1); }
    /* prec <= 32 (td_j2kdec_decoded_size): both bounds fit int32 */
    p->vlo = (int32_t)(p->lo - shift);
    p->vhi = (int32_t)(p->hi - shift);
    p->shift = (uint32_t)shift;
    p->flo = (float)(p->lo - shift) - 1.0f;
    p->fhi = (float)(p->hi - shift) + 1.0f;
    p->rev = tc->tccp->reversible;
    p->rint_fast = prec <= 16;
    p->bps = bps;
    p->step = step;
}

/* Samples as j2k_rev_value / j2k_irr_value (j2k_internal.h): for irreversible samples the
 * clipped ends round to lo - 1 / hi + 1 and clip to lo / hi, as the general path does. */

/* One row of n samples of a component out, one function per coefficient type and container
 * so that the compiler vectorises the contiguous case (little-endian hosts; the general path
 * of store_row serves the others), compiled for the baseline and, on x86-64, for AVX2. */
#define OUT_ROW_FN(NAME, ATTR, SRC_T, T, VALUE)                                               \
    ATTR void NAME(const out_comp *p, const SRC_T *restrict s, uint8_t *restrict o, uint32_t n) \
    {                                                                                          \
        int32_t vlo = p->vlo, vhi = p->vhi;                                                    \
        uint32_t shift = p->shift;                                                             \
        float flo = p->flo, fhi = p->fhi;                                                      \
        size_t step = p->step * sizeof(T);                                                     \
        (void)flo;                                                                             \
        (void)fhi;                                                                             \
        if (step == sizeof(T))                                                                 \
            for (size_t x = 0; x < n; x++) {                                                   \
                T u_ = (T)(VALUE);                                                             \
                memcpy(o + x * sizeof(T), &u_, sizeof(T));                                     \
            }                                                                                  \
        else                                                                                   \
            for (size_t x = 0; x < n; x++) {                                                   \
                T u_ = (T)(VALUE);                                                             \
                memcpy(o + x * step, &u_, sizeof(T));                                          \
            }                                                                                  \
    }
#define OUT_SET(SFX, ATTR)                                                                     \
    OUT_ROW_FN(out_rev8##SFX, ATTR, int32_t, uint8_t, j2k_rev_value(s[x], vlo, vhi, shift))    \
    OUT_ROW_FN(out_rev16##SFX, ATTR, int32_t, uint16_t, j2k_rev_value(s[x], vlo, vhi, shift))  \
    OUT_ROW_FN(out_rev32##SFX, ATTR, int32_t, uint32_t, j2k_rev_value(s[x], vlo, vhi, shift))  \
    OUT_ROW_FN(out_irr8##SFX, ATTR, float, uint8_t, j2k_irr_value(s[x], flo, fhi, vlo, vhi, shift)) \
    OUT_ROW_FN(out_irr16##SFX, ATTR, float, uint16_t, j2k_irr_value(s[x], flo, fhi, vlo, vhi, shift)) \
    OUT_ROW_FN(out_irr32##SFX, ATTR, float, uint32_t, j2k_irr_value(s[x], flo, fhi, vlo, vhi, shift))

typedef void (*out_rev_fn)(const out_comp *p, const int32_t *restrict s, uint8_t *restrict o, uint32_t n);
typedef void (*out_irr_fn)(const out_comp *p, const float *restrict s, uint8_t *restrict o, uint32_t n);
typedef struct out_fns {
    out_rev_fn rev[3];  /* 1, 2, 4 bytes */
    out_irr_fn irr[3];
} out_fns;

OUT_SET(, static)
static const out_fns out_base = {{out_rev8, out_rev16, out_rev32}, {out_irr8, out_irr16, out_irr32}};
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(TD_J2K_NO_AVX2)
OUT_SET(_avx2, __attribute__((target("avx2"))) static)
#include <immintrin.h>

/* Contiguous rows of 1 or 2 bytes: 8 samples at x rounded (irreversible) and clipped, unless
 * the signed saturating packs clip (full: [vlo, vhi] is the container's signed range; before
 * the shift a clipped sample fits the container as a signed integer, prec <= 8 * bps). */
static inline __attribute__((target("avx2"), always_inline)) __m256i
out_get8(const void *s, size_t x, int rev, int full, __m256i vlo, __m256i vhi, __m256 flo, __m256 fhi)
{
    __m256i v;
    if (rev) {
        v = _mm256_loadu_si256((const __m256i *)(const void *)((const int32_t *)s + x));
    } else {
        const __m256 magic = _mm256_set1_ps(J2K_RINT_MAGIC);
        __m256 f = _mm256_loadu_ps((const float *)s + x);
        /* max / min return the second operand on a NaN: f > flo ? f : flo, as C */
        f = _mm256_min_ps(_mm256_max_ps(f, flo), fhi);
        v = _mm256_cvttps_epi32(_mm256_sub_ps(_mm256_add_ps(f, magic), magic));
    }
    return full ? v : _mm256_min_epi32(_mm256_max_epi32(v, vlo), vhi);
}

static inline __attribute__((target("avx2"), always_inline)) size_t
out_packed(const out_comp *p, const void *s, uint8_t *o, uint32_t n, int rev, int bps, int full)
{
    __m256i vlo = _mm256_set1_epi32(p->vlo), vhi = _mm256_set1_epi32(p->vhi);
    __m256 flo = _mm256_set1_ps(p->flo), fhi = _mm256_set1_ps(p->fhi);
    size_t x = 0;
    if (bps == 1) {
        const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        const __m256i shift = _mm256_set1_epi8((char)(uint8_t)p->shift);
        for (; x + 32 <= n; x += 32) {
            __m256i a = _mm256_packs_epi32(out_get8(s, x, rev, full, vlo, vhi, flo, fhi),
                                           out_get8(s, x + 8, rev, full, vlo, vhi, flo, fhi));
            __m256i b = _mm256_packs_epi32(out_get8(s, x + 16, rev, full, vlo, vhi, flo, fhi),
                                           out_get8(s, x + 24, rev, full, vlo, vhi, flo, fhi));
            __m256i v = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(a, b), order);
            _mm256_storeu_si256((__m256i *)(void *)(o + x), _mm256_add_epi8(v, shift));
        }
    } else {
        const __m256i shift = _mm256_set1_epi16((short)(uint16_t)p->shift);
        for (; x + 16 <= n; x += 16) {
            __m256i v = _mm256_packs_epi32(out_get8(s, x, rev, full, vlo, vhi, flo, fhi),
                                           out_get8(s, x + 8, rev, full, vlo, vhi, flo, fhi));
            v = _mm256_permute4x64_epi64(v, 0xD8);
            _mm256_storeu_si256((__m256i *)(void *)(o + 2 * x), _mm256_add_epi16(v, shift));
        }
    }
    return x;
}

/* the row functions of the AVX2 set: contiguous rows of 1 or 2 bytes in blocks of 32 / 16
 * samples, the rest (and strided rows) by the vectorised loops */
#define OUT_PACKED_FN(NAME, SRC_T, REV, BPS, REST)                                            \
    __attribute__((target("avx2"))) static void NAME(const out_comp *p, const SRC_T *restrict s, \
                                                     uint8_t *restrict o, uint32_t n)          \
    {                                                                                          \
        size_t x = 0;                                                                          \
        if (p->step == 1) {                                                                    \
            int32_t cmin = BPS == 1 ? INT8_MIN : INT16_MIN, cmax = BPS == 1 ? INT8_MAX : INT16_MAX; \
            if (p->vlo == cmin && p->vhi == cmax) x = out_packed(p, s, o, n, REV, BPS, 1);      \
            else x = out_packed(p, s, o, n, REV, BPS, 0);                                      \
        }                                                                                      \
        if (x < n) REST(p, s + x, o + x * p->step * BPS, n - (uint32_t)x);                     \
    }
OUT_PACKED_FN(out_rev8_avx2p, int32_t, 1, 1, out_rev8_avx2)
OUT_PACKED_FN(out_rev16_avx2p, int32_t, 1, 2, out_rev16_avx2)
OUT_PACKED_FN(out_irr8_avx2p, float, 0, 1, out_irr8_avx2)
OUT_PACKED_FN(out_irr16_avx2p, float, 0, 2, out_irr16_avx2)
#undef OUT_PACKED_FN

static const out_fns out_avx2 = {{out_rev8_avx2p, out_rev16_avx2p, out_rev32_avx2},
                                 {out_irr8_avx2p, out_irr16_avx2p, out_irr32_avx2}};
#define OUT_HAVE_AVX2 1
#endif
#undef OUT_SET
#undef OUT_ROW_FN

static const out_fns *out_pick(void)
{
#ifdef OUT_HAVE_AVX2
    if (__builtin_cpu_supports("avx2")) return &out_avx2;
#endif
    return &out_base;
}

/* One row of n samples of a component out: src is int32_t (5-3) or float (9-7). */
static void store_row(const out_fns *fn, const out_comp *p, const void *src, uint8_t *o,
                      uint32_t n)
{
    const int32_t *ir = src;
    const float *fr = src;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint32_t k = p->bps == 1 ? 0 : p->bps == 2 ? 1 : 2;
    if (p->rev) { fn->rev[k](p, ir, o, n); return; }
    if (p->rint_fast) { fn->irr[k](p, fr, o, n); return; }
#else
    (void)fn;
#endif
    /* the general case: any byte order, irreversible above 16 bits */
    size_t bstep = p->step * p->bps;
    uint32_t shift = p->shift;
    for (uint32_t x = 0; x < n; x++, o += bstep) {
        int64_t v;
        if (p->rev) {
            v = (int64_t)ir[x] + shift;
        } else {
            float f = fr[x];
            if (!(f > p->flo)) v = p->lo;
            else if (!(f < p->fhi)) v = p->hi;
            else v = (int64_t)lrintf(f) + shift;
        }
        if (v < p->lo) v = p->lo;
        if (v > p->hi) v = p->hi;
        uint32_t u = (uint32_t)v;
        if (p->bps == 1) o[0] = (uint8_t)u;
        else if (p->bps == 2) td_store_le16(o, (uint16_t)u);
        else td_store_le32(o, u);
    }
}

/* Where component c of tile t lands in the output: the rows and columns of the tile-component
 * inside the output (clipped to it) and the first output byte. */
typedef struct out_place {
    uint32_t xn, yn;    /* columns and rows written (0: nothing) */
    uint8_t *o;         /* first byte */
    size_t row_bytes;   /* from one output row to the next */
} out_place;

static out_place place(const td_j2kdec *d, const j2k_tile *t, uint32_t c, uint32_t reduce,
                       uint8_t *out, size_t plane_off, uint32_t cols, uint32_t rows,
                       uint32_t bps, size_t ncomp, size_t cpos)
{
    const j2k_tilecomp *tc = &t->comps[c];
    const j2k_res *rs = &tc->res[tc->dres - 1];
    int64_t cx0 = j2k_ceildivpow2(j2k_ceildiv(d->x0, d->dx[c]), reduce);
    int64_t cy0 = j2k_ceildivpow2(j2k_ceildiv(d->y0, d->dy[c]), reduce);
    uint32_t ox = (uint32_t)(rs->x0 - cx0), oy = (uint32_t)(rs->y0 - cy0);
    uint32_t w = (uint32_t)(rs->x1 - rs->x0), h = (uint32_t)(rs->y1 - rs->y0);
    out_place pl = {0, 0, NULL, 0};
    if (ox >= cols || oy >= rows) return pl;
    pl.xn = w < cols - ox ? w : cols - ox;
    pl.yn = h < rows - oy ? h : rows - oy;
    pl.o = out + plane_off + (((size_t)oy * cols + ox) * ncomp + cpos) * bps;
    pl.row_bytes = (size_t)cols * ncomp * bps;
    return pl;
}

/* Every component of a tile out, in groups of rows that the DWT's threads share once the
 * transform is done (j2k_dwt_then).  Components 0-2 of equal size into pixel-interleaved
 * samples of 1 or 2 bytes go in one pass per row (j2k_out3: inverse RCT / ICT or none, shift,
 * clipping, interleaving).  Otherwise, with a component transform, components 0-2 go row by
 * row: the inverse RCT / ICT (G.2, G.3) of a row in place, then the row out while it is in
 * cache. */
typedef struct store_ctx {
    const j2k_tile *t;
    uint32_t ncomps;
    int mct;              /* components 0-2 through the inverse RCT / ICT */
    j2k_out3_fn out3;     /* components 0-2 fused (NULL: not) */
    j2k_out3 o3;
    const out_fns *fn;
    out_place *pl;        /* per component */
    out_comp *p;          /* per component */
    uint32_t rows;        /* most rows of any component */
    uint32_t rows_per_item;
} store_ctx;

static void store_rows(void *arg, size_t item, uint32_t slot)
{
    const store_ctx *s = arg;
    const j2k_tilecomp *tc = s->t->comps;
    const out_fns *fn = s->fn;
    uint32_t y0 = (uint32_t)(item * s->rows_per_item);
    uint32_t y1 = s->rows - y0 < s->rows_per_item ? s->rows : y0 + s->rows_per_item;
    uint32_t c = 0;
    (void)slot;
    if (s->out3) {
        const out_place *q = &s->pl[0];
        for (uint32_t y = y0; y < y1 && y < q->yn; y++) {
            size_t at = (size_t)y * tc[0].w; /* the three are of one size */
            s->out3(&s->o3, (const int32_t *)tc[0].data + at, (const int32_t *)tc[1].data + at,
                    (const int32_t *)tc[2].data + at, q->o + y * q->row_bytes, q->xn);
        }
        c = 3;
    } else if (s->mct) {
        size_t w = tc[0].w;
        for (uint32_t y = y0; y < y1; y++) {
            int32_t *r[3];
            for (c = 0; c < 3; c++) r[c] = (int32_t *)tc[c].data + y * tc[c].w;
            if (y < tc[0].h) {
                if (tc[0].tccp->reversible) j2k_mct_rct_inverse(r[0], r[1], r[2], w);
                else j2k_mct_ict_inverse((float *)(void *)r[0], (float *)(void *)r[1], (float *)(void *)r[2], w);
            }
            for (c = 0; c < 3; c++)
                if (y < s->pl[c].yn) store_row(fn, &s->p[c], r[c], s->pl[c].o + y * s->pl[c].row_bytes, s->pl[c].xn);
        }
        c = 3;
    }
    for (; c < s->ncomps; c++) {
        const out_place *q = &s->pl[c];
        for (uint32_t y = y0; y < y1 && y < q->yn; y++)
            store_row(fn, &s->p[c], j2k_row(&tc[c], y), q->o + y * q->row_bytes, q->xn);
    }
}

/* Set up *s for tile t (allocations freed by store_free); 0 or TD_E_NOMEM. */
static int store_prepare(store_ctx *s, const td_j2kdec *d, const j2k_tile *t, int mct,
                         uint32_t reduce, uint8_t *out, const size_t *plane, const uint32_t *dims,
                         uint32_t bps, int planar)
{
    const j2k_tilecomp *tc = t->comps;
    size_t ncomp = planar ? 1 : d->ncomps;
    memset(s, 0, sizeof *s);
    s->t = t;
    s->ncomps = d->ncomps;
    s->mct = mct;
    s->fn = out_pick();
    s->pl = malloc(d->ncomps * sizeof *s->pl);
    s->p = malloc(d->ncomps * sizeof *s->p);
    if (!s->pl || !s->p) return TD_E_NOMEM;
    size_t widest = 1;
    for (uint32_t c = 0; c < d->ncomps; c++) {
        s->pl[c] = place(d, t, c, reduce, out, plane[c], dims[2 * c], dims[2 * c + 1], bps, ncomp, planar ? 0 : c);
        out_comp_init(&s->p[c], d, &tc[c], c, bps, ncomp);
        if (s->pl[c].yn > s->rows) s->rows = s->pl[c].yn;
        if (s->pl[c].xn > widest) widest = s->pl[c].xn;
    }
    /* fused: three components of one size and filter, each sample's three side by side */
    int fused = d->ncomps == 3 && !planar && (bps == 1 || bps == 2) && s->pl[0].o &&
                tc[0].w == tc[1].w && tc[0].w == tc[2].w && tc[0].h == tc[1].h && tc[0].h == tc[2].h;
    for (uint32_t c = 0; c < 3 && fused; c++)
        fused = s->pl[c].xn == s->pl[0].xn && s->pl[c].yn == s->pl[0].yn &&
                s->pl[c].o == s->pl[0].o + c * bps && /* o is NULL for a tile outside the output */
                s->p[c].rev == s->p[0].rev && (s->p[c].rev || s->p[c].rint_fast);
    if (fused) {
        int32_t vlo[3], vhi[3];
        uint32_t shift[3];
        for (uint32_t c = 0; c < 3; c++) vlo[c] = s->p[c].vlo, vhi[c] = s->p[c].vhi, shift[c] = s->p[c].shift;
        j2k_out3_init(&s->o3, vlo, vhi, shift, bps);
        s->out3 = j2k_out3_pick(mct, s->p[0].rev, bps);
    }
    /* about 16K output samples per item */
    size_t per = ((size_t)1 << 14) / (widest * d->ncomps) + 1;
    s->rows_per_item = per > UINT32_MAX ? UINT32_MAX : (uint32_t)per;
    return TD_OK;
}

static void store_free(store_ctx *s)
{
    free(s->pl);
    free(s->p);
}

/* ---- coefficients hosted in the output buffer ----
 *
 * A single-component image whose one tile fills the output keeps the first rows of its
 * coefficients (four bytes each) in the output buffer itself, so that the working memory is
 * the output plus the other rows: about half the coefficients for 16-bit samples.  The hosted
 * rows are the low-pass rows of the highest decoded level (hrows = its sn): rows [0, hrows)
 * hold its LL and HL bands and every lower level, rows [hrows, h) its LH and HH bands, so no
 * code-block straddles the boundary.  They must fit the frame's bytes (hrows * w * 4 <=
 * h * w * bps: 16- and 32-bit containers; never 8-bit), and the output must be as aligned as
 * malloc's blocks are, with rows of w samples back to back (row_bytes == w * bps).
 *
 * The output stage then overwrites what it has not read yet unless it goes in order: output
 * row y (bytes [y w bps, (y + 1) w bps)) lies over hosted rows floor(y bps / 4) ..
 * floor(((y + 1) w bps - 1) / 4w), all < y for y > 0 and bps <= 2 (so ascending rows are
 * safe), and row y itself for y = 0 or bps = 4, which goes through a small copy (in place).
 * A work item of rows [a, b) therefore waits for the items that read the hosted rows it
 * overwrites below a; items start in order, so the wait always ends. */
#define HOST_ALIGN 16

/* Rows of component 0 of tile t to host in out (need bytes, the frame), 0: none. */
static uint32_t host_rows(const td_j2kdec *d, const j2k_tile *t, uint32_t reduce, uint8_t *out,
                          size_t need, uint32_t bps, const uint32_t *dims)
{
    const j2k_tilecomp *tc = &t->comps[0];
    if (d->ncomps != 1 || d->ntiles != 1 || tc->dres < 2 || !out ||
        ((uintptr_t)out & (HOST_ALIGN - 1)))
        return 0;
    out_place pl = place(d, t, 0, reduce, out, 0, dims[0], dims[1], bps, 1, 0);
    if (pl.o != out || pl.xn != tc->w || pl.yn != tc->h || pl.row_bytes != (size_t)tc->w * bps)
        return 0;
    const j2k_res *lr = &tc->res[tc->dres - 2];
    uint32_t sn = (uint32_t)(lr->y1 - lr->y0);
    if (sn == 0 || sn > tc->h || (uint64_t)sn * tc->w * 4 > need) return 0;
    return sn;
}

typedef struct host_store {
    const store_ctx *s;
    const j2k_tilecomp *tc;
    uint32_t bps;
    atomic_uchar *done;   /* per item, set when its rows are out */
} host_store;

/* The output stage of a hosted component (j2k_dwt_then), items of s->rows_per_item rows. */
static void store_hosted(void *arg, size_t item, uint32_t slot)
{
    const host_store *h = arg;
    const store_ctx *s = h->s;
    const j2k_tilecomp *tc = h->tc;
    const out_place *q = &s->pl[0];
    uint32_t per = s->rows_per_item, bps = h->bps;
    uint32_t a = (uint32_t)(item * per), b = s->rows - a < per ? s->rows : a + per;
    (void)slot;
    /* the hosted rows [klo, khi] under these output rows, those below a read by earlier items */
    uint64_t klo = (uint64_t)a * bps / 4, khi = ((uint64_t)b * tc->w * bps - 1) / (4 * (uint64_t)tc->w);
    if (khi >= tc->hrows) khi = tc->hrows - (uint64_t)1;
    if (khi >= a) khi = a - (uint64_t)1; /* (a = 0: klo > khi) */
    if (a > 0 && klo <= khi)
        for (size_t j = (size_t)(klo / per); j <= khi / per; j++)
            while (!atomic_load_explicit(&h->done[j], memory_order_acquire)) sched_yield();
    for (uint32_t y = a; y < b; y++) {
        const int32_t *src = j2k_row(tc, y);
        uint8_t *o = q->o + (size_t)y * q->row_bytes;
        if (y < tc->hrows && (y == 0 || bps == 4)) { /* in place: through a copy, in pieces */
            int32_t tmp[256];
            for (uint32_t x = 0; x < q->xn; x += 256) {
                uint32_t m = q->xn - x < 256 ? q->xn - x : 256;
                memcpy(tmp, src + x, (size_t)m * sizeof *tmp);
                store_row(s->fn, &s->p[0], tmp, o + (size_t)x * bps, m);
            }
        } else {
            store_row(s->fn, &s->p[0], src, o, q->xn);
        }
    }
    atomic_store_explicit(&h->done[item], 1, memory_order_release);
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
    size_t *data_size = calloc(d->ncomps, sizeof *data_size); /* of each tc->data */
    if (!plane || !dims || !data_size) {
        free(plane);
        free(dims);
        free(data_size);
        return td_fail(err, TD_E_NOMEM, -1, "planes");
    }
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
        uint32_t hosted = 0;
        for (uint32_t c = 0; c < d->ncomps && rc == TD_OK; c++) {
            j2k_tilecomp *tc = &t.comps[c];
            const j2k_res *rs = &tc->res[tc->dres - 1];
            tc->w = (uint32_t)(rs->x1 - rs->x0);
            tc->h = (uint32_t)(rs->y1 - rs->y0);
            if (c == 0 && (hosted = host_rows(d, &t, opt->reduce, out, need, bps, dims))) {
                tc->host = out;
                tc->hrows = hosted;
            }
            /* uninitialised: the code-blocks write every sample (decode_cblk); the one element
             * past the end is zeroed */
            size_t n;
            if (td_mul_overflow((size_t)tc->w, (size_t)(tc->h - tc->hrows), &n) ||
                td_add_overflow(n, 1, &n) || td_mul_overflow(n, 4, &n))
                rc = td_fail(err, TD_E_LIMIT, -1, "tile %u component %u too large", ti, c);
            else if (!(tc->data = pool_get(n, &data_size[c])))
                rc = td_fail(err, TD_E_NOMEM, -1, "tile %u component %u coefficients", ti, c);
            else
                ((int32_t *)tc->data)[(size_t)tc->w * (tc->h - tc->hrows)] = 0;
        }
        if (rc == TD_OK) {
            rc = decode_blocks(d, &t, opt->threads);
            if (rc != TD_OK) td_fail(err, rc, -1, "tile %u: code-block decoding failed", ti);
        }
        j2k_tile_free_tier2(&t); /* the partition and packet data are done with */
        int mct = 0;
        if (rc == TD_OK && tcp.mct && d->ncomps >= 3) {
            j2k_tilecomp *c0 = &t.comps[0], *c1 = &t.comps[1], *c2 = &t.comps[2];
            if (c0->w != c1->w || c0->w != c2->w || c0->h != c1->h || c0->h != c2->h ||
                c0->tccp->reversible != c1->tccp->reversible || c0->tccp->reversible != c2->tccp->reversible)
                rc = td_fail(err, TD_E_CORRUPT, -1, "tile %u: MCT over components of different size or filter", ti);
            mct = 1;
        }
        if (rc == TD_OK) {
            /* the inverse DWT of every component, then the output stage, by one team */
            store_ctx sc;
            rc = store_prepare(&sc, d, &t, mct, opt->reduce, out, plane, dims, bps, planar);
            size_t nitems = ((size_t)sc.rows + sc.rows_per_item - 1) / sc.rows_per_item;
            host_store hs = {&sc, &t.comps[0], bps, NULL};
            if (rc == TD_OK && hosted && !(hs.done = calloc(nitems + 1, sizeof *hs.done)))
                rc = TD_E_NOMEM;
            if (rc == TD_OK) {
                j2k_dwt_then then = {store_rows, &sc, nitems};
                if (hosted) then = (j2k_dwt_then){store_hosted, &hs, nitems};
                rc = j2k_dwt_decode_tile(t.comps, d->ncomps, opt->threads, &then);
            }
            if (rc != TD_OK) td_fail(err, rc, -1, "tile %u: inverse DWT / output", ti);
            free(hs.done);
            store_free(&sc);
        }
        /* a failed decode leaves no coefficients in the caller's buffer */
        if (rc != TD_OK && hosted) memset(out, 0, need);
        for (uint32_t c = 0; c < t.ncomps_alloc; c++) {
            pool_put(t.comps[c].data, data_size[c]);
            t.comps[c].data = NULL;
        }
        j2k_tile_free(&t);
        j2k_tcp_free(&tcp);
    }
    free(plane);
    free(dims);
    free(data_size);
    if (rc == TD_OK && truncated && (opt->flags & TD_J2KDEC_STRICT))
        return td_fail(err, TD_E_TRUNCATED, -1, "the codestream ends before its last packet");
    if (rc == TD_OK) td_error_clear(err);
    return rc;
}
