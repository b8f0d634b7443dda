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
    td_j2kdec_comp c0 = {0}, ci = {0};
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
    const uint32_t *list; /* the code-blocks to decode (NULL: all of them) */
    size_t n;
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
/* Code-block cb without data: zeros at dst, rows stride samples apart (0.0f is all zero bits
 * too). */
static int zero_cblk(const j2k_cblk *cb, int32_t *dst, size_t stride)
{
    uint32_t w = (uint32_t)(cb->x1 - cb->x0), h = (uint32_t)(cb->y1 - cb->y0);
    for (uint32_t j = 0; j < h; j++, dst += stride) memset(dst, 0, (size_t)w * sizeof *dst);
    return TD_OK;
}

/* Decode code-block cb into its place in the tile-component.  Every code-block of a decoded
 * resolution writes all of its samples (the decoder's, or zeros), and the code-blocks of the
 * bands of the decoded resolutions cover the tile-component (B.5, B.7), so its buffer needs
 * no clearing. */
static int decode_cblk_at(j2k_t1 *t1, const j2k_tile *t, const j2k_cblk *cb, int32_t *origin,
                          size_t stride);

static int decode_cblk(j2k_t1 *t1, const j2k_tile *t, const j2k_cblk *cb)
{
    if (!cb->decode) return TD_OK; /* a resolution discarded by `reduce` */
    const j2k_tilecomp *tc = &t->comps[cb->comp];
    size_t stride = tc->hrows ? tc->hstride : tc->w; /* (a hosted LL band: hstride) */
    int32_t *origin = cblk_origin(tc, cb);
    if (!origin) return TD_E_CORRUPT;
    if (cb->first == NONE) return zero_cblk(cb, origin, stride);
    return decode_cblk_at(t1, t, cb, origin, stride);
}

/* Decode code-block cb (with data) to origin, rows stride samples apart. */
static int decode_cblk_at(j2k_t1 *t1, const j2k_tile *t, const j2k_cblk *cb, int32_t *origin,
                          size_t stride)
{
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
    job.rev = tc->tccp->reversible;
    job.step = bd->stepsize;
    job.out_stride = stride;
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
                size_t st = stride, row = (size_t)y0 * st;
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
                size_t row = (size_t)(y0 + k) * stride;
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
        if (i >= tj->n || atomic_load(&tj->rc) != TD_OK) break;
        int rc = decode_cblk(t1, tj->tile, &tj->tile->cblks[tj->list ? tj->list[i] : i]);
        if (rc != TD_OK) { atomic_store(&tj->rc, rc); break; }
    }
    pool_put_t1(t1);
}

/* Decode the code-blocks list[0 .. n) of tile t (list NULL: all of them, n = t->ncblks). */
static int decode_blocks(const td_j2kdec *dec, j2k_tile *t, uint32_t threads, const uint32_t *list,
                         size_t n)
{
    tile_job tj;
    tj.dec = dec;
    tj.tile = t;
    tj.list = list;
    tj.n = n;
    atomic_init(&tj.next, 0);
    atomic_init(&tj.rc, TD_OK);
    if (threads > 1 && n / 4 < threads) threads = (uint32_t)(n / 4) + 1;
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
    int32_t *const *rowtab; /* NULL, or row y of component c at rowtab[c * rowtab_h + y] */
    uint32_t rowtab_h;
} store_ctx;

static int32_t *store_src(const store_ctx *s, uint32_t c, uint32_t y)
{
    return s->rowtab ? s->rowtab[(size_t)c * s->rowtab_h + y] : j2k_row(&s->t->comps[c], y);
}

/* Rows [y0, y1) of every component out. */
static void store_range(const store_ctx *s, uint32_t y0, uint32_t y1)
{
    const j2k_tilecomp *tc = s->t->comps;
    const out_fns *fn = s->fn;
    uint32_t c = 0;
    if (s->out3) {
        const out_place *q = &s->pl[0];
        for (uint32_t y = y0; y < y1 && y < q->yn; y++) /* the three are of one size */
            s->out3(&s->o3, store_src(s, 0, y), store_src(s, 1, y), store_src(s, 2, y),
                    q->o + y * q->row_bytes, q->xn);
        c = 3;
    } else if (s->mct) {
        size_t w = tc[0].w;
        for (uint32_t y = y0; y < y1; y++) {
            int32_t *r[3];
            for (c = 0; c < 3; c++) r[c] = store_src(s, c, y);
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
            store_row(fn, &s->p[c], store_src(s, c, y), q->o + y * q->row_bytes, q->xn);
    }
}

static void store_rows(void *arg, size_t item, uint32_t slot)
{
    const store_ctx *s = arg;
    uint32_t y0 = (uint32_t)(item * s->rows_per_item);
    uint32_t y1 = s->rows - y0 < s->rows_per_item ? s->rows : y0 + s->rows_per_item;
    (void)slot;
    store_range(s, y0, y1);
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

/* ---- the highest decoded level strip by strip ----
 *
 * Instead of one 32-bit coefficient per sample for the whole tile-component, a tile whose
 * components share one geometry keeps in a full buffer only the LL band of its highest decoded
 * level (the levels below decoded and transformed as usual into it: a quarter of the samples)
 * and synthesises the highest level a strip of code-block rows at a time.  Strip k holds the
 * band rows [a_k, a_k+1) (absolute band coordinates, boundaries at multiples of G, a multiple of
 * the code-block height; HL and LH / HH share the grid although their origins may differ by a
 * row): its HL code-blocks are decoded into the high half of the low-pass rows L(i) of the
 * strip, its LH and HH code-blocks into the high-pass rows H(j), each row w samples as the
 * whole-tile layout has them (so the block decoders see rows stride w apart).  Then HOR_SR of
 * each row in place (the L rows after their LL part is copied in), then VER_SR's sweep as far
 * as the rows present allow (j2k_dwt_ver_part), then every row that is final goes to the output
 * stage; the rows the sweep still needs move to a small carry area (two, used in turn) before
 * the next strip reuses the strip's buffer.  The rows are reached through a row table per
 * component, as the whole-tile transform reaches them.
 *
 * Work: the levels below (their code-blocks, then their inverse DWT per component) and the
 * strips' phases (code-blocks, HOR_SR rows, VER_SR column ranges, output rows and the carry)
 * are phases of items, each with the phases it depends on; a thread takes an item of the
 * earliest phase it can start (strip_worker).  The first strips' code-blocks need nothing, so
 * they fill the time in which the last code-blocks of the levels below and their DWT run. */
#define STRIP_MIN 16 /* band rows per strip at least (several code-block rows when shorter) */
#define VER_MIN 512  /* columns per VER_SR item at least (one item below 1024) */

enum { PH_DEC, PH_HOR, PH_VER, PH_OUT, PH_CARRY, PH_KINDS, PH_LOW = PH_KINDS, PH_LDWT };

typedef struct strip_phase {
    size_t count;         /* its items */
    uint32_t strip, kind;
    uint32_t part;        /* DEC: its first block among the strip's; HOR: 0 L rows, 1 H rows */
    uint32_t pre[3];      /* phases that must be complete first (UINT32_MAX: none) */
} strip_phase;

/* A phase's counters, a cache line each, so that a thread that takes or finishes an item of
 * its own strip does not take from the other core the line that holds the other thread's
 * phases (eight phases' counters shared a line, and the phases complete the strip_job's line
 * of the fields every thread reads).  With j2k_wake_all's test for sleepers, against both
 * before on 2 threads (2026-12-06, interleaved, both orders): 693_J2KI 0.5% less time on
 * average (-1.1 to +0.1% in four runs), CT1 / MR1 / US1 J2KI within ±1%. */
typedef struct strip_count {
    _Alignas(64) atomic_size_t taken; /* items taken (may run past its count) */
    atomic_size_t pdone;              /* items done */
} strip_count;

typedef struct strip_job {
    j2k_tile *t;
    const store_ctx *sc;
    uint32_t ncomps, w, h, snx, sny, dn, casx, casy, G;
    int rev;
    uint32_t nstrips;
    uint32_t *l0, *h0;    /* nstrips + 1: the L / H rows of strip k are [l0[k], l0[k + 1]) ... */
    uint32_t *tk, *yk;    /* nstrips + 1: VER_SR steps done / rows out after strip k - 1 */
    uint32_t maxlive;     /* rows in the carry area at most */
    uint32_t *blk, *blk0; /* the code-blocks of strip k: blk[blk0[k] .. blk0[k + 1]), its HL */
    uint32_t *blkh;       /* blocks (L rows) before blk[blkh[k]], LH and HH (H rows) from it */
    j2k_tile *lowt;       /* the tile as the levels below see it (its comps: copies, dres - 1
                           * resolutions into the LL bands) */
    uint32_t *lower;      /* their code-blocks (nlower), thread 0's first (nlow0 of them) */
    size_t nlower, nlow0;
    uint32_t lowown[2];   /* the phases of thread 0's and 1's code-blocks there (or UINT32_MAX) */
    int32_t **ll;         /* per component: the LL band, rows llstride apart */
    size_t llstride;
    int32_t *sbuf;        /* per component (cstride apart): G L rows, G H rows, 2 maxlive carry */
    size_t cstride;
    int32_t **rowtab;     /* per component h rows (component c at c * h); ntab tables, range
                           * r's at r ncomps h, when every strip's VER_SR goes by column
                           * ranges (strip_phases): a range's carry moves its columns only */
    uint32_t ntab;
    uint32_t hor_per, ver_per, ver_n;
    uint32_t vs_n, vs_per; /* VER_SR in column ranges: vs_n phases of vs_per columns, or 0 */
    uint32_t nb;          /* strip buffers (2: the next strip's code-blocks overlap this one) */
    strip_phase *ph;      /* nph, in the threads' order of preference */
    strip_count *cnt;     /* per phase: its counters (a cache line each, see strip_count) */
    _Alignas(64) atomic_size_t ncomplete; /* phases complete (a cache line of its own) */
    _Alignas(64) uint32_t nthreads; /* the threads asked for: strip k is thread k % nthreads's */
    pthread_t caller;        /* the thread that runs the job (strip_decode's): number 0 */
    atomic_uint entered;     /* the other threads that have started: numbers 1, 2 .. */
    uint32_t *decidx;     /* per strip: its DEC phases (HL blocks, then LH and HH) */
    size_t nph;
    atomic_int rc;
    j2k_waitq wq;
} strip_job;

static int strip_force(void)
{
    /* tests: TURBODICOM_J2K_STRIPS=0 never takes the strip path, =1 whenever it can, =2
     * whenever it can but with the LL band never in the output buffer */
    const char *e = getenv("TURBODICOM_J2K_STRIPS");
    return e && e[0] >= '0' && e[0] <= '2' && !e[1] ? e[0] - '0' : -1;
}

static const j2k_band *strip_band(const j2k_res *rs, uint32_t orient)
{
    for (uint32_t b = 0; b < rs->nbands && b < 3; b++)
        if (rs->band[b].orient == orient) return &rs->band[b];
    return NULL;
}

/* Whether tile t goes strip by strip; if so *s is planned (its arrays allocated, freed by
 * strip_free).  0: the whole-tile path (also when out of memory here). */
static int strip_plan(strip_job *s, j2k_tile *t, uint32_t ncomps, uint32_t threads, uint32_t bps)
{
    memset(s, 0, sizeof *s);
    int force = strip_force();
    if (force == 0 || ncomps == 0) return 0;
    const j2k_tilecomp *t0 = &t->comps[0];
    if (t0->dres < 2 || t0->h < 2 || t0->w < 1) return 0;
    uint32_t r = t0->dres - 1;
    const j2k_res *rs = &t0->res[r], *lr = &t0->res[r - 1];
    const j2k_band *hl = strip_band(rs, 1), *lh = strip_band(rs, 2), *hh = strip_band(rs, 3);
    if (!hl || !lh || !hh) return 0;
    uint32_t w = t0->w, h = t0->h;
    uint32_t snx = (uint32_t)(lr->x1 - lr->x0), sny = (uint32_t)(lr->y1 - lr->y0);
    if (sny == 0 || sny >= h || snx > w) return 0;
    uint32_t dn = h - sny;
    /* the bands as the whole-tile layout places them */
    if ((uint32_t)(hl->x1 - hl->x0) != w - snx || (uint32_t)(hl->y1 - hl->y0) != sny ||
        (uint32_t)(lh->x1 - lh->x0) != snx || (uint32_t)(lh->y1 - lh->y0) != dn ||
        (uint32_t)(hh->x1 - hh->x0) != w - snx || (uint32_t)(hh->y1 - hh->y0) != dn ||
        hh->y0 != lh->y0 || hl->ycb != lh->ycb || hl->ycb != hh->ycb || hl->ycb > 10)
        return 0;
    /* every component alike */
    for (uint32_t c = 1; c < ncomps; c++) {
        const j2k_tilecomp *tc = &t->comps[c];
        if (tc->dres != t0->dres || tc->w != w || tc->h != h ||
            tc->tccp->reversible != t0->tccp->reversible)
            return 0;
        const j2k_res *rc_ = &tc->res[r], *lc = &tc->res[r - 1];
        if (memcmp(&rc_->x0, &rs->x0, 4 * sizeof rs->x0) || memcmp(&lc->x0, &lr->x0, 4 * sizeof lr->x0))
            return 0;
        for (uint32_t o = 1; o <= 3; o++) {
            const j2k_band *a = strip_band(rs, o), *b = strip_band(rc_, o);
            if (!b || memcmp(&a->x0, &b->x0, 4 * sizeof a->x0) || a->ycb != b->ycb) return 0;
        }
    }
    uint32_t G = (uint32_t)1 << hl->ycb;
    if (G < STRIP_MIN) G = STRIP_MIN;
    int64_t ya = hl->y0 < lh->y0 ? hl->y0 : lh->y0, yb = hl->y1 > lh->y1 ? hl->y1 : lh->y1;
    if (ya < 0) return 0;
    int64_t kb = ya / G, nst = (yb + G - 1) / G - kb;
    if (nst < (force >= 1 ? 1 : 3) || nst > (int64_t)h) return 0;
    uint32_t nstrips = (uint32_t)nst;
    s->t = t;
    s->ncomps = ncomps;
    s->w = w, s->h = h, s->snx = snx, s->sny = sny, s->dn = dn;
    s->casx = (uint32_t)rs->x0 & 1, s->casy = (uint32_t)rs->y0 & 1;
    s->G = G;
    s->rev = t0->tccp->reversible;
    s->nstrips = nstrips;
    s->l0 = malloc(4 * ((size_t)nstrips + 1) * sizeof *s->l0);
    s->blk0 = calloc(2 * (size_t)nstrips + 2, sizeof *s->blk0);
    if (!s->l0 || !s->blk0) return 0;
    s->blkh = s->blk0 + nstrips + 2;
    s->h0 = s->l0 + nstrips + 1;
    s->tk = s->h0 + nstrips + 1;
    s->yk = s->tk + nstrips + 1;
    for (uint32_t k = 0; k <= nstrips; k++) {
        int64_t a = (kb + k) * G, li = a - hl->y0, hj = a - lh->y0;
        s->l0[k] = (uint32_t)(li < 0 ? 0 : li > sny ? sny : li);
        s->h0[k] = (uint32_t)(hj < 0 ? 0 : hj > dn ? dn : hj);
    }
    s->l0[nstrips] = sny;
    s->h0[nstrips] = dn;
    /* the sweep: after strip k, steps up to where rows are missing; rows below 2t - 6 final */
    uint32_t steps = j2k_dwt_ver_steps(s->rev, h, sny, s->casy), t_ = 0;
    s->tk[0] = s->yk[0] = 0;
    for (uint32_t k = 0; k < nstrips; k++) {
        uint32_t la = s->l0[k + 1], ha = s->h0[k + 1], lim = steps;
        if (la < sny && la < lim) lim = la;
        if (ha < dn && ha < lim) lim = ha;
        if (lim > t_) t_ = lim;
        uint64_t y = t_ == steps ? h : t_ > 3 ? 2 * (uint64_t)t_ - 6 : 0;
        if (y > h) y = h;
        if (y < s->yk[k]) y = s->yk[k];
        s->tk[k + 1] = t_;
        s->yk[k + 1] = (uint32_t)y;
        /* rows present and not final: L(i) i < la, 2i + casy >= y; H(j) j < ha, 2j + 1 - casy >= y */
        int64_t il = ((int64_t)y - s->casy + 1) / 2, jl = ((int64_t)y - 1 + s->casy + 1) / 2;
        if (il < 0) il = 0;
        if (jl < 0) jl = 0;
        uint32_t live = (uint32_t)((la > il ? la - il : 0) + (ha > jl ? ha - jl : 0));
        if (live > s->maxlive) s->maxlive = live;
    }
    if (s->maxlive > 64) return 0; /* (a few rows; never for a valid plan) */
    /* the code-blocks of the level by strip; each must lie in one strip and in its rows */
    size_t nblk = 0;
    for (int pass = 0; pass < 3; pass++) { /* count; HL blocks; LH and HH blocks */
        if (pass == 2)
            for (uint32_t k = 0; k < nstrips; k++) s->blkh[k] = s->blk0[k + 1];
        for (size_t i = 0; i < t->ncblks; i++) {
            const j2k_cblk *cb = &t->cblks[i];
            if (!cb->decode || cb->res != r || cb->comp >= ncomps || cb->y1 <= cb->y0 || cb->y0 < 0)
                continue;
            const j2k_band *bd = &t->comps[cb->comp].res[r].band[cb->band];
            int64_t k = (int64_t)cb->y0 / G - kb;
            if (k < 0 || k >= nstrips || ((int64_t)cb->y1 - 1) / G - kb != k) return 0;
            if (pass == 0) {
                int isl = bd->orient == 1;
                int64_t row = (int64_t)cb->y0 - bd->y0 - (int64_t)(isl ? s->l0[k] : s->h0[k]);
                int64_t col = (int64_t)cb->x0 - bd->x0 + (int64_t)(bd->orient & 1 ? snx : 0);
                uint32_t nr = isl ? s->l0[k + 1] - s->l0[k] : s->h0[k + 1] - s->h0[k];
                if (bd->orient == 0 || row < 0 || row + (cb->y1 - cb->y0) > nr || col < 0 ||
                    col + (cb->x1 - cb->x0) > w)
                    return 0;
                s->blk0[k + 2]++;
                nblk++;
            } else if ((bd->orient == 1) == (pass == 1)) {
                s->blk[s->blk0[k + 1]++] = (uint32_t)i;
            }
        }
        if (pass == 0) {
            for (uint32_t k = 0; k < nstrips; k++) s->blk0[k + 2] += s->blk0[k + 1];
            s->blk = malloc((nblk + 1) * sizeof *s->blk);
            if (!s->blk) return 0;
        }
    }
    /* work items */
    if (threads < 1) threads = 1;
    s->hor_per = (uint32_t)(((size_t)1 << 14) / w) + 1;
    /* VER_SR of a strip in column ranges of at least VER_MIN columns, whatever the threads: a
     * range split between two threads has each read rows the other's HOR_SR wrote, which
     * costs more than the parallelism gains while the other thread has the next strip's
     * code-blocks and HOR_SR to do.  Interleaved, 2 threads, against ranges of w / 4
     * (2026-12-05, Xeon, 2 vCPUs; README): MR1 / CT1 J2KI 10 / 12% less time, MR1 HTJ2K 4%,
     * US1 J2KI 2%, lossless 1%; RG3 J2KI (1760 wide, 3 ranges) 1% more, within the noise. */
    uint32_t units = (w + 15) / 16, vn = w / VER_MIN ? w / VER_MIN : 1, per = (units + vn - 1) / vn;
    s->ver_per = 16 * per;
    s->ver_n = (w + s->ver_per - 1) / s->ver_per;
    /* The last two strips' VER_SR in column ranges, a phase each, so that the last strip's
     * range r starts once the strip before has swept its range r: the two sweeps, one after
     * the other at the end of the frame, then overlap (each strip's ranges stay with its
     * thread; what crosses cores is a few rows in flight).  The ranges of ver_per columns
     * (2 or 3 of them), or two halves of a narrower strip.  On 2 threads every strip's
     * (strip_phases). */
    s->vs_n = s->ver_n > 1 ? s->ver_n : w >= 32 ? 2 : 0;
    s->vs_per = s->ver_n > 1 ? s->ver_per : 16 * ((units + 1) / 2);
    if (s->vs_n > 3) s->vs_n = 0;
    /* a second strip buffer (threads overlap strips) when it costs at most 5/4 of the tile's
     * decoded size (2 G rows of w 32-bit samples per component against h rows of bps bytes):
     * with one, the threads share each strip's stages and wait for its output before the next
     * strip's code-blocks, and every stage reads rows the other core wrote.  Against one
     * buffer on 2 threads (interleaved, same bytes; 2026-12-05, Xeon; README): 640x480 8-bit
     * RGB (the second buffer 1.07x the decoded size) HTJ2K 20% less time, J2KI 5%; 756x486
     * RGB HTJ2K 16%; 512x512 8-bit grey (1.0x) J2KI 11%. */
    s->nb = threads > 1 && nstrips > 2 && 32 * (uint64_t)G <= 5 * (uint64_t)h * bps ? 2 : 1;
    /* per strip at most 11 (DEC 2, HOR 2, VER_SR and its carry by 3 ranges, OUT), LOW (two)
     * and LDWT */
    size_t nph = 11 * (size_t)nstrips + 3;
    s->ph = malloc(nph * sizeof *s->ph);
    s->cnt = aligned_alloc(64, nph * sizeof *s->cnt);
    s->decidx = malloc(2 * (size_t)nstrips * sizeof *s->decidx);
    if (!s->ph || !s->cnt || !s->decidx) return 0;
    return 1;
}

static void strip_free(strip_job *s)
{
    free(s->l0);
    free(s->blk0);
    free(s->blk);
    free(s->ph);
    free(s->cnt);
    free(s->decidx);
    free(s->rowtab);
}

/* Append a phase of count items; its index. */
static uint32_t strip_add(strip_job *s, uint32_t kind, uint32_t k, size_t count, uint32_t part,
                          uint32_t pre0, uint32_t pre1, uint32_t pre2)
{
    s->ph[s->nph] = (strip_phase){count, k, kind, part, {pre0, pre1, pre2}};
    atomic_init(&s->cnt[s->nph].pdone, 0);
    atomic_init(&s->cnt[s->nph].taken, 0);
    return (uint32_t)s->nph++;
}

/* Strip k's code-blocks as two phases, the HL ones (the L rows) and the LH and HH ones (the H
 * rows), once the output stage and the carry of strip k - nb have left its buffer (pre0,
 * pre1, or none). */
static void strip_add_dec(strip_job *s, uint32_t k, uint32_t pre0, uint32_t pre1)
{
    uint32_t a = s->blk0[k], m = s->blkh[k], b = s->blk0[k + 1], none = UINT32_MAX;
    s->decidx[2 * k] = strip_add(s, PH_DEC, k, m - a, 0, pre0, pre1, none);
    s->decidx[2 * k + 1] = strip_add(s, PH_DEC, k, b - m, m - a, pre0, pre1, none);
}

/* The phases, once the output stage is known.  The levels below: their code-blocks (LOW),
 * then their inverse DWT (LDWT, one item per component).  Strip k: its code-blocks (DEC, HL
 * then LH and HH) once the output stage and the carry of strip k - nb have left its buffer;
 * HOR_SR of its L rows once its HL blocks are decoded and the LL bands complete, of its H
 * rows once its LH and HH blocks are; VER_SR once they are synthesised and strip k - 1's
 * carry has moved the rows in flight; then the carry (one item: the rows present and not
 * final into carry area k % 2, which strip k - 1's output no longer reads) and the output of
 * the rows that are final.  Strip k + 1's VER_SR thus runs while strip k's rows go out: it
 * changes only rows that are not final after strip k, and those are in the carry area.  A
 * phase of no items is complete at once, so each phase names everything it waits for (VER_SR
 * with no step is still one item, which does nothing).  A strip whose buffer no later strip
 * reuses (k + nb >= nstrips) has no carry: its rows in flight stay where they are, and strip
 * k + 1's VER_SR waits for strip k's.  With two buffers that is the last two strips, whose
 * VER_SR go by column ranges (strip_plan's vs_n), range r of the last after range r of the one
 * before.  On 2 threads every strip's VER_SR goes by those ranges, each range with a carry and
 * a row table of its own (ntab), so that strip k + 1's range 0 starts on its thread once strip
 * k's range 0 is swept and carried, while strip k's thread sweeps range 1; on 2 threads
 * (interleaved, same bytes, 2026-12-06): 693_J2KI 1.2-2.4% less time, CT1 J2KI 0.8-1.0%, MR1
 * J2KI 0.3-1.5% more, the others within ±0.5%; on 4 threads (2 vCPUs) ranges in every strip
 * cost MR1 / 693 / CT1 J2KI 4 / 2 / 2%, so there only the last two strips have them.  The
 * order is the threads' preference (strip_worker): LOW (on 2 threads two phases,
 * each thread's blocks: low_owners), DEC_0, LDWT, DEC_1 .. DEC_nb-1, then per strip k HOR_k,
 * VER_k, CARRY_k, OUT_k, DEC_k+nb; so with one buffer the threads synthesise the L rows while
 * the last H-row blocks are decoded. */
static void strip_phases(strip_job *s)
{
    uint32_t per = s->sc->rows_per_item, nst = s->nstrips, nb = s->nb, none = UINT32_MAX;
    uint32_t out = none, carry = none, k, nc = s->ncomps, hp = s->hor_per;
    uint32_t vprev[3] = {none, none, none}, cprev[3] = {none, none, none};
    s->nph = 0;
    uint32_t low = strip_add(s, PH_LOW, 0, s->nlow0, 0, none, none, none), low1 = none;
    if (s->nlow0 < s->nlower)
        low1 = strip_add(s, PH_LOW, 1, s->nlower - s->nlow0, (uint32_t)s->nlow0, none, none, none);
    s->lowown[0] = low1 != none ? low : none;
    s->lowown[1] = low1;
    strip_add_dec(s, 0, none, none);
    uint32_t ldwt = strip_add(s, PH_LDWT, 0, nc, 0, low, low1, none);
    for (k = 1; k < nb && k < nst; k++) strip_add_dec(s, k, none, none);
    for (k = 0; k < nst; k++) {
        size_t nl = (size_t)(s->l0[k + 1] - s->l0[k]) * nc, nh = (size_t)(s->h0[k + 1] - s->h0[k]) * nc;
        uint32_t hl = strip_add(s, PH_HOR, k, (nl + hp - 1) / hp, 0, s->decidx[2 * k], ldwt, none);
        uint32_t hh = strip_add(s, PH_HOR, k, (nh + hp - 1) / hp, 1, s->decidx[2 * k + 1], none, none);
        /* after strip k - 1's carry, or without one its VER_SR (range r) */
        int nocarry = k && !s->ph[carry].count;
        uint32_t v[3] = {none, none, none};
        if (nb > 1 && s->vs_n && (s->ntab > 1 || k + 2 >= nst)) { /* in column ranges */
            for (uint32_t r = 0; r < s->vs_n; r++)
                v[r] = strip_add(s, PH_VER, k, nc, r + 1, hl, hh, nocarry ? vprev[r] : cprev[r]);
        } else {
            v[0] = strip_add(s, PH_VER, k, s->tk[k + 1] > s->tk[k] ? (size_t)s->ver_n * nc : 1, 0,
                             hl, hh, nocarry ? vprev[0] : cprev[0]);
        }
        memcpy(vprev, v, sizeof v);
        /* the carry (none when no strip reuses this one's buffer: the rows in flight stay
         * there), by the ranges when each has a row table, one after another (strip k + nb's
         * code-blocks wait for the last) */
        if (s->ntab > 1) { /* (then every strip's VER_SR is by ranges) */
            uint32_t c = none;
            for (uint32_t r = 0; r < s->vs_n; r++)
                cprev[r] = c = strip_add(s, PH_CARRY, k, k + nb < nst, r + 1, v[r], out, c);
            carry = c;
        } else {
            carry = strip_add(s, PH_CARRY, k, k + nb < nst, 0, v[0], out, none);
            cprev[0] = cprev[1] = cprev[2] = carry;
        }
        out = strip_add(s, PH_OUT, k, (s->yk[k + 1] - s->yk[k] + per - 1) / per, 0, v[0], v[1], v[2]);
        if (k + nb < nst) strip_add_dec(s, k + nb, out, carry);
    }
}

static int32_t *strip_lrow(const strip_job *s, uint32_t c, uint32_t k, uint32_t i)
{
    return s->sbuf + c * s->cstride + (2 * (size_t)s->G * (k % s->nb) + i - s->l0[k]) * s->w;
}

static int32_t *strip_hrow(const strip_job *s, uint32_t c, uint32_t k, uint32_t j)
{
    return s->sbuf + c * s->cstride + (2 * (size_t)s->G * (k % s->nb) + s->G + j - s->h0[k]) * s->w;
}

/* Row y of component c is at row, in every table. */
static void strip_set_row(strip_job *s, uint32_t c, uint32_t y, int32_t *row)
{
    size_t n = (size_t)s->ncomps * s->h;
    for (uint32_t r = 0; r < s->ntab; r++) s->rowtab[r * n + (size_t)c * s->h + y] = row;
}

/* The row table of a VER_SR or carry phase's part (0: all columns; r + 1: range r). */
static int32_t **strip_tab(const strip_job *s, uint32_t part)
{
    return s->rowtab + (part && s->ntab > 1 ? (part - 1) * (size_t)s->ncomps * s->h : 0);
}

static int strip_item(strip_job *s, const strip_phase *ph, size_t m, j2k_t1 **t1, int32_t *T)
{
    uint32_t k = ph->strip, w = s->w, h = s->h;
    switch (ph->kind) {
    case PH_LOW:
        if (!*t1 && !(*t1 = pool_get_t1())) return TD_E_NOMEM;
        return decode_cblk(*t1, s->lowt, &s->t->cblks[s->lower[ph->part + m]]);
    case PH_LDWT:
        return j2k_dwt_decode_tile(&s->lowt->comps[m], 1, 1, NULL);
    case PH_DEC: {
        const j2k_cblk *cb = &s->t->cblks[s->blk[s->blk0[k] + ph->part + m]];
        const j2k_band *bd = &s->t->comps[cb->comp].res[cb->res].band[cb->band];
        uint32_t row = (uint32_t)(cb->y0 - bd->y0), col = (uint32_t)(cb->x0 - bd->x0);
        int32_t *o = bd->orient == 1 ? strip_lrow(s, cb->comp, k, row) : strip_hrow(s, cb->comp, k, row);
        o += col + (bd->orient & 1 ? s->snx : 0);
        if (cb->first == NONE) return zero_cblk(cb, o, w);
        if (!*t1 && !(*t1 = pool_get_t1())) return TD_E_NOMEM;
        return decode_cblk_at(*t1, s->t, cb, o, w);
    }
    case PH_HOR: { /* rows [m hor_per, (m + 1) hor_per) of the strip's L (or H) rows, all
                    * components */
        uint32_t nl = s->l0[k + 1] - s->l0[k], nh = s->h0[k + 1] - s->h0[k], n = ph->part ? nh : nl;
        size_t q0 = m * s->hor_per, q1 = q0 + s->hor_per, nq = (size_t)n * s->ncomps;
        if (q1 > nq) q1 = nq;
        for (size_t q = q0; q < q1; q++) {
            uint32_t c = (uint32_t)(q / n), x = (uint32_t)(q % n);
            int32_t *row;
            if (!ph->part) {
                uint32_t i = s->l0[k] + x;
                row = strip_lrow(s, c, k, i);
                memcpy(row, s->ll[c] + (size_t)i * s->llstride, (size_t)s->snx * sizeof *row);
                strip_set_row(s, c, 2 * i + s->casy, row);
            } else {
                uint32_t j = s->h0[k] + x;
                row = strip_hrow(s, c, k, j);
                strip_set_row(s, c, 2 * j + 1 - s->casy, row);
            }
            j2k_dwt_hor_row(s->rev, row, T, w, s->snx, s->casx);
        }
        return TD_OK;
    }
    case PH_VER: { /* part 0: item m is range m % ver_n (of ver_per columns) of component
                    * m / ver_n; part r + 1: range r (of vs_per columns) of component m */
        uint32_t per = ph->part ? s->vs_per : s->ver_per;
        uint32_t c = (uint32_t)(ph->part ? m : m / s->ver_n);
        uint32_t x0 = (ph->part ? ph->part - 1 : (uint32_t)(m % s->ver_n)) * per;
        uint32_t nw = w - x0 < per ? w - x0 : per;
        j2k_dwt_ver_part(s->rev, strip_tab(s, ph->part) + (size_t)c * h, x0, nw, h, s->sny, s->casy,
                         s->tk[k], s->tk[k + 1]);
        return TD_OK;
    }
    case PH_OUT: {
        uint32_t per = s->sc->rows_per_item, y0 = s->yk[k], y1 = s->yk[k + 1];
        uint32_t a = y0 + (uint32_t)m * per, b = y1 - a < per ? y1 : a + per;
        store_range(s->sc, a, b);
        return TD_OK;
    }
    default: { /* the carry: rows present and not final, into carry area k % 2 (part r + 1:
                * the columns of range r) */
        uint32_t y1 = s->yk[k + 1], la = s->l0[k + 1], ha = s->h0[k + 1], n = 0;
        uint32_t x0 = ph->part ? (ph->part - 1) * s->vs_per : 0, nw = w - x0;
        if (ph->part && nw > s->vs_per) nw = s->vs_per;
        int32_t **tab = strip_tab(s, ph->part);
        uint64_t yend = 2 * (uint64_t)(la > ha ? la : ha) + 2;
        for (uint32_t y = y1; y < h && y < yend; y++) {
            uint32_t half = (y - ((y & 1) == s->casy ? s->casy : 1 - s->casy)) / 2;
            if ((y & 1) == s->casy ? half >= la : half >= ha) continue;
            if (n >= s->maxlive) return TD_E_CORRUPT; /* (never: see strip_plan) */
            for (uint32_t c = 0; c < s->ncomps; c++) {
                int32_t *dst = s->sbuf + c * s->cstride +
                               (2 * (size_t)s->G * s->nb + (size_t)(k & 1) * s->maxlive + n) * w;
                int32_t **src = &tab[(size_t)c * h + y];
                memcpy(dst + x0, *src + x0, (size_t)nw * sizeof *dst);
                *src = dst;
            }
            n++;
        }
        return TD_OK;
    }
    }
}

static int strip_complete(strip_job *s, uint32_t q)
{
    return q == UINT32_MAX || atomic_load(&s->cnt[q].pdone) >= s->ph[q].count;
}

/* The threads take items by preference in the phases' order: the next item of the first
 * phase with items left and its prerequisites complete, among the STRIP_LOOK phases from the
 * first with items left, so that a thread does not wait while there is work it can do (the
 * code-blocks of the next strips while this one's steps run; the next strip's HOR_SR while
 * this one's VER_SR and output finish).  With none, it waits until another phase is
 * complete.  Each strip belongs to one thread (strip k to thread k % nthreads: 0 is the caller,
 * the helpers 1, 2 .. in the order they come, so that from one decode to the next the caller
 * finds its strips' rows in its own cache; numbered by arrival alone, the helper came first
 * in 2.3% of CT1 J2KI's 2-thread decodes, each then working on the other core's rows: 693_J2KI
 * 2-3% less mean time since, CT1 / MR1 J2KI the same, interleaved, 2026-12-06), which
 * takes the items of its own strips and of the levels below first, and another's only when it
 * has none it can start: a strip's code-blocks, HOR_SR, VER_SR and output then mostly run on
 * one core, whose cache holds its rows (and strip k's buffer is strip k + 2's, the same
 * thread's on 2 threads), instead of each stage reading rows another core wrote.  VER_SR
 * column ranges (strip_phases) are never another's (unless their thread never started, since
 * helpers may not come, or there are more threads than CPUs, so that it may not be running):
 * swept on the other core, a range of 693_J2KI's took 2.2 times as long, and waiting for the owner
 * costs less.  (With 4 threads on the 2 vCPUs, waiting made MR1 J2KI 8% slower.)  MR1 / CT1
 * J2KI on 2 threads (2026-12-05, interleaved, same bytes): 1.4-2.5% faster when the two
 * vCPUs share a cache, 8-11% when they are 250 ns apart; HTJ2K 1-3%, lossless the same. */
#define STRIP_LOOK 12
static void strip_worker(void *arg)
{
    strip_job *s = arg;
    j2k_t1 *t1 = NULL;
    int32_t *T = calloc(j2k_dwt_row_tmp(s->w), sizeof *T);
    if (!T) atomic_store(&s->rc, TD_E_NOMEM);
    size_t f = 0; /* every item of the phases before f is taken */
    uint32_t nt = s->nthreads ? s->nthreads : 1;
    uint32_t me = pthread_equal(pthread_self(), s->caller) ? 0
                                                            : atomic_fetch_add(&s->entered, 1) + 1;
    int wait_owner = nt <= td_cpu_count(); /* (more threads than CPUs: the owner may not run) */
    for (;;) {
        size_t seen = atomic_load(&s->ncomplete);
        while (f < s->nph && atomic_load(&s->cnt[f].taken) >= s->ph[f].count) f++;
        if (f == s->nph) break;
        size_t p = f, m = SIZE_MAX;
        for (int any = 0; any < 2 && m == SIZE_MAX; any++) /* own strips first, then any */
        for (p = f; p < s->nph && p < f + STRIP_LOOK; p++) {
            const strip_phase *ph = &s->ph[p];
            if (ph->kind == PH_LOW && ph->strip != me && !any && s->lowown[me & 1] != UINT32_MAX &&
                atomic_load(&s->cnt[s->lowown[me & 1]].taken) < s->ph[s->lowown[me & 1]].count)
                continue; /* its own blocks of the levels below first, then the other's before
                           * anything else: the DWT after them holds up every strip */
            if (ph->kind < PH_KINDS && ph->strip % nt != me &&
                (!any || (ph->kind == PH_VER && ph->part && wait_owner &&
                          (ph->strip % nt == 0 || ph->strip % nt <= atomic_load(&s->entered)))))
                continue;
            if (atomic_load(&s->cnt[p].taken) >= ph->count || !strip_complete(s, ph->pre[0]) ||
                !strip_complete(s, ph->pre[1]) || !strip_complete(s, ph->pre[2]))
                continue;
            if ((m = atomic_fetch_add(&s->cnt[p].taken, 1)) < ph->count) break;
            m = SIZE_MAX;
        }
        if (m == SIZE_MAX) { /* nothing to do until another phase is complete */
            j2k_wait_count(&s->ncomplete, seen + 1, &s->wq);
            continue;
        }
        if (atomic_load(&s->rc) == TD_OK) {
            int rc = strip_item(s, &s->ph[p], m, &t1, T);
            if (rc != TD_OK) atomic_store(&s->rc, rc);
        }
        if (atomic_fetch_add(&s->cnt[p].pdone, 1) + 1 == s->ph[p].count) {
            atomic_fetch_add(&s->ncomplete, 1); /* the phase is complete: wake the waiters */
            j2k_wake_all(&s->wq);
        }
    }
    free(T);
    pool_put_t1(t1);
}

/* Where in the output buffer out (need bytes) the LL bands of tile t (s planned) can lie, LL
 * row i of every component side by side (R = ncomps snx 4 bytes) at base + i R, SIZE_MAX:
 * nowhere.  The output rows are written only after the strips' HOR_SR has copied the LL rows
 * under them: the output rows [0, yk[k + 1]) (those of strips 0..k) may lie over the LL rows
 * [0, l0[k + 1]) only.  With the LL bands at the end of the buffer that holds for every
 * container (the output rows before strip k's are about twice as many as its LL rows, and
 * the LL bands take at most half the buffer: 8-bit samples all of it from 0, 16-bit the
 * second half).  Single-tile images, the tile filling the output, components interleaved (or
 * one). */
static size_t strip_host(const strip_job *s, const td_j2kdec *d, const j2k_tile *t, uint32_t reduce,
                         uint8_t *out, size_t need, uint32_t bps, const uint32_t *dims, int planar)
{
    uint32_t nc = s->ncomps;
    if (d->ntiles != 1 || !out || ((uintptr_t)out & (HOST_ALIGN - 1)) || (planar && nc > 1) ||
        strip_force() == 2)
        return SIZE_MAX;
    uint64_t orow = (uint64_t)s->w * nc * bps, lrow = (uint64_t)s->snx * nc * 4;
    for (uint32_t c = 0; c < nc; c++) {
        out_place pl = place(d, t, c, reduce, out, 0, dims[2 * c], dims[2 * c + 1], bps, nc, c);
        if (pl.o != out + (size_t)c * bps || pl.xn != s->w || pl.yn != s->h || pl.row_bytes != orow)
            return SIZE_MAX;
    }
    if (lrow == 0 || lrow * s->sny > need) return SIZE_MAX;
    uint64_t base = (need - lrow * s->sny) & ~(uint64_t)(HOST_ALIGN - 1);
    for (uint32_t k = 0; k < s->nstrips; k++) {
        uint64_t end = s->yk[k + 1] * orow; /* output bytes [0, end) written */
        if (end > base && s->l0[k + 1] < s->sny && (end - 1 - base) / lrow >= s->l0[k + 1])
            return SIZE_MAX;
    }
    return (size_t)base;
}

/* On 2 threads, the code-blocks of the levels below as two lists, thread 0's first (nlow0 of
 * them), each block to the thread whose cache holds the place it is decoded into: with the LL
 * bands in the output buffer out (at llbase), the owner of the strip whose output rows lie
 * there, who wrote them in the previous decode; else (an LL buffer of its own, which the
 * levels below's DWT rewrote on one thread) by halves of the LL band.  Taken in their order
 * by whichever thread came, half the blocks were written over rows the other core held: on 2
 * threads CT1 / MR1 / 693_J2KI 1% less median time, 3-4% less mean, MR4 / US1 J2KI 0.5-0.7%,
 * the others the same (2026-12-06, interleaved, same bytes). */
static void low_owners(strip_job *s, const uint8_t *out, size_t llbase, uint32_t bps)
{
    if (s->nthreads != 2 || s->nlower < 2) return;
    uint8_t *own = malloc(s->nlower);
    uint32_t *tmp = malloc(s->nlower * sizeof *tmp);
    if (!own || !tmp) {
        free(own);
        free(tmp);
        return;
    }
    size_t orow = (size_t)s->w * s->ncomps * bps, lrow = s->llstride * sizeof(int32_t), a = 0;
    for (size_t i = 0; i < s->nlower; i++) {
        const j2k_cblk *cb = &s->t->cblks[s->lower[i]];
        const j2k_tilecomp *tc = &s->lowt->comps[cb->comp];
        const j2k_band *bd = &tc->res[cb->res].band[cb->band];
        /* its middle row in the LL band (the whole-tile layout of the levels below) */
        uint64_t y = (uint64_t)(cb->y0 - bd->y0) + (uint64_t)(cb->y1 - cb->y0) / 2;
        if (cb->res > 0 && (bd->orient & 2))
            y += (uint64_t)(tc->res[cb->res - 1].y1 - tc->res[cb->res - 1].y0);
        if (out) {
            uint64_t row = (llbase + y * lrow) / orow; /* the output row there */
            uint32_t k = 0;
            while (k + 1 < s->nstrips && s->yk[k + 1] <= row) k++;
            own[i] = k & 1;
        } else {
            own[i] = 2 * y >= s->sny;
        }
    }
    for (int o = 0; o < 2; o++) {
        if (o == 1) s->nlow0 = a;
        for (size_t i = 0; i < s->nlower; i++)
            if (own[i] == o) tmp[a++] = s->lower[i];
    }
    memcpy(s->lower, tmp, s->nlower * sizeof *tmp);
    free(own);
    free(tmp);
}

/* The code-blocks, inverse DWT and output of tile t by strips (s planned by strip_plan). */
static int strip_decode(strip_job *s, const td_j2kdec *d, j2k_tile *t, int mct, uint32_t reduce,
                        uint8_t *out, size_t need, size_t llbase, const size_t *plane,
                        const uint32_t *dims, uint32_t bps, int planar, uint32_t threads,
                        td_error *err)
{
    uint32_t nc = s->ncomps, w = s->w, h = s->h, ti = t->index;
    uint32_t dres = t->comps[0].dres;
    int rc = TD_OK;
    int host = llbase != SIZE_MAX;
    size_t *llsize = calloc(nc, sizeof *llsize), sbsize = 0;
    s->ll = calloc(nc, sizeof *s->ll);
    uint32_t *lower = malloc((t->ncblks + 1) * sizeof *lower);
    j2k_tile lowt = *t; /* the levels below: each tile-component of dres - 1 resolutions, into
                         * the LL buffers */
    lowt.comps = malloc(nc * sizeof *lowt.comps);
    if (!llsize || !s->ll || !lower || !lowt.comps) {
        rc = td_fail(err, TD_E_NOMEM, -1, "tile %u strips", ti);
        goto done;
    }
    size_t nlower = 0;
    for (size_t i = 0; i < t->ncblks; i++)
        if (t->cblks[i].decode && t->cblks[i].res < dres - 1) lower[nlower++] = (uint32_t)i;
    s->lowt = &lowt;
    s->lower = lower;
    s->nlower = s->nlow0 = nlower;
    s->llstride = host ? (size_t)nc * s->snx : s->snx;
    for (uint32_t c = 0; c < nc; c++) {
        j2k_tilecomp *tc = &lowt.comps[c];
        *tc = t->comps[c];
        if (host) {
            s->ll[c] = (int32_t *)(void *)(out + llbase) + (size_t)c * s->snx;
            tc->host = s->ll[c];
            tc->hrows = s->sny;
            tc->hstride = s->llstride;
        } else {
            size_t n = (size_t)s->snx * s->sny + 1; /* (+ 1: as the whole-tile buffers) */
            if (!(s->ll[c] = pool_get(n * sizeof(int32_t), &llsize[c]))) {
                rc = td_fail(err, TD_E_NOMEM, -1, "tile %u component %u LL band", ti, c);
                goto done;
            }
            s->ll[c][n - 1] = 0;
            tc->data = s->ll[c];
        }
        tc->dres = dres - 1;
        tc->w = s->snx;
        tc->h = s->sny;
    }
    /* the strip buffers and the row tables */
    size_t rowsn = 2 * (size_t)s->G * s->nb + 2 * (size_t)s->maxlive, n;
    if (td_mul_overflow(rowsn, (size_t)w, &n) || td_add_overflow(n, 16, &s->cstride) ||
        td_mul_overflow(s->cstride, (size_t)nc * sizeof(int32_t), &n)) {
        rc = td_fail(err, TD_E_LIMIT, -1, "tile %u strips too large", ti);
        goto done;
    }
    s->sbuf = pool_get(n, &sbsize);
    /* below ~64K samples a thread costs more than it saves */
    size_t samples = (size_t)w * h * nc;
    if (threads > 1 && samples < ((size_t)threads << 16)) threads = (uint32_t)(samples >> 16) + 1;
    s->nthreads = threads;
    s->ntab = s->nb > 1 && s->vs_n && threads == 2 ? s->vs_n : 1;
    s->rowtab = malloc((size_t)s->ntab * nc * h * sizeof *s->rowtab);
    if (!s->sbuf || !s->rowtab) {
        rc = td_fail(err, TD_E_NOMEM, -1, "tile %u strips", ti);
        goto done;
    }
    for (uint32_t c = 0; c < nc; c++) memset(s->sbuf + c * s->cstride + rowsn * w, 0, 16 * sizeof(int32_t));
    for (size_t y = 0; y < (size_t)s->ntab * nc * h; y++) s->rowtab[y] = s->sbuf;
    store_ctx sc;
    rc = store_prepare(&sc, d, t, mct, reduce, out, plane, dims, bps, planar);
    if (rc == TD_OK) {
        sc.rowtab = s->rowtab;
        sc.rowtab_h = h;
        s->sc = &sc;
        low_owners(s, host ? out : NULL, llbase, bps);
        strip_phases(s);
        atomic_init(&s->ncomplete, 0);
        atomic_init(&s->rc, TD_OK);
        j2k_waitq_init(&s->wq);
        atomic_init(&s->entered, 0);
        s->caller = pthread_self();
        td_parallel_run(threads, strip_worker, s);
        j2k_waitq_destroy(&s->wq);
        rc = atomic_load(&s->rc);
        if (rc != TD_OK) td_fail(err, rc, -1, "tile %u: code-block decoding, inverse DWT or output failed", ti);
    } else {
        td_fail(err, rc, -1, "tile %u: output", ti);
    }
    store_free(&sc);
done:
    if (rc != TD_OK && host) memset(out, 0, need); /* no coefficients left in the caller's buffer */
    for (uint32_t c = 0; s->ll && !host && c < nc; c++) pool_put(s->ll[c], llsize[c]);
    pool_put(s->sbuf, sbsize);
    s->sbuf = NULL;
    free(s->ll);
    s->ll = NULL;
    free(llsize);
    free(lower);
    free(lowt.comps);
    s->lowt = NULL;
    return rc;
}

/* ---- tiles ---- */

/* Whether tile ti has no tile-part in the codestream (its samples stay zero). */
static int tile_absent(const td_j2kdec *d, uint32_t ti)
{
    return d->tile_first[ti] == d->tile_first[ti + 1];
}

/* What the tiles of one decode share (read only). */
typedef struct tiles_ctx {
    const td_j2kdec *d;
    uint8_t *out;
    size_t need;
    const td_j2kdec_options *opt;
    const size_t *plane;
    const uint32_t *dims;
    uint32_t bps;
    int planar;
} tiles_ctx;

/* Decode tile ti (present in the codestream) into the output on up to `threads` threads;
 * *truncated set when its packets end early. */
static int decode_tile(const tiles_ctx *x, uint32_t ti, uint32_t threads, int *truncated,
                       td_error *err)
{
    const td_j2kdec *d = x->d;
    const td_j2kdec_options *opt = x->opt;
    uint8_t *out = x->out;
    size_t need = x->need;
    const size_t *plane = x->plane;
    const uint32_t *dims = x->dims;
    uint32_t bps = x->bps;
    int planar = x->planar;
    j2k_tcp tcp;
    int rc = j2k_tile_tcp(d, ti, &tcp, err);
    if (rc != TD_OK) return rc;
    size_t *data_size = calloc(d->ncomps, sizeof *data_size); /* of each tc->data */
    if (!data_size) {
        j2k_tcp_free(&tcp);
        return td_fail(err, TD_E_NOMEM, -1, "tile %u", ti);
    }
    j2k_tile t;
    rc = j2k_tile_build(d, &tcp, ti, opt->reduce, &t, err);
    if (rc == TD_OK) rc = j2k_tile_packets(d, &tcp, &t, opt->layers, 0, err);
    if (rc == J2K_PACKETS_SPAN) { /* (not in a conforming stream) */
        j2k_tile_free(&t);
        rc = j2k_tile_build(d, &tcp, ti, opt->reduce, &t, err);
        if (rc == TD_OK) rc = j2k_tile_packets(d, &tcp, &t, opt->layers, 1, err);
    }
    if (rc == TD_OK && t.truncated) *truncated = 1;
    uint32_t hosted = 0;
    for (uint32_t c = 0; c < d->ncomps && rc == TD_OK; c++) {
        j2k_tilecomp *tc = &t.comps[c];
        const j2k_res *rs = &tc->res[tc->dres - 1];
        tc->w = (uint32_t)(rs->x1 - rs->x0);
        tc->h = (uint32_t)(rs->y1 - rs->y0);
    }
    /* strips with the LL bands in the output, else the rows hosted of a single-component
     * image, else strips with an LL buffer, else the whole tile */
    strip_job sj;
    memset(&sj, 0, sizeof sj);
    int strips = rc == TD_OK && strip_plan(&sj, &t, d->ncomps, threads, bps);
    size_t llbase = strips ? strip_host(&sj, d, &t, opt->reduce, out, need, bps, dims, planar) : SIZE_MAX;
    if (rc == TD_OK && llbase == SIZE_MAX &&
        (hosted = host_rows(d, &t, opt->reduce, out, need, bps, dims))) {
        strips = 0;
        t.comps[0].host = out;
        t.comps[0].hrows = hosted;
        t.comps[0].hstride = t.comps[0].w;
    }
    if (strips) {
        int mct = tcp.mct && d->ncomps >= 3;
        rc = strip_decode(&sj, d, &t, mct, opt->reduce, out, need, llbase, plane, dims, bps,
                          planar, threads, err);
        j2k_tile_free_tier2(&t);
    }
    strip_free(&sj);
    for (uint32_t c = 0; c < d->ncomps && rc == TD_OK && !strips; c++) {
        j2k_tilecomp *tc = &t.comps[c];
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
    if (rc == TD_OK && !strips) {
        rc = decode_blocks(d, &t, threads, NULL, t.ncblks);
        if (rc != TD_OK) td_fail(err, rc, -1, "tile %u: code-block decoding failed", ti);
    }
    j2k_tile_free_tier2(&t); /* the partition and packet data are done with */
    int mct = 0;
    if (rc == TD_OK && !strips && tcp.mct && d->ncomps >= 3) {
        j2k_tilecomp *c0 = &t.comps[0], *c1 = &t.comps[1], *c2 = &t.comps[2];
        if (c0->w != c1->w || c0->w != c2->w || c0->h != c1->h || c0->h != c2->h ||
            c0->tccp->reversible != c1->tccp->reversible || c0->tccp->reversible != c2->tccp->reversible)
            rc = td_fail(err, TD_E_CORRUPT, -1, "tile %u: MCT over components of different size or filter", ti);
        mct = 1;
    }
    if (rc == TD_OK && !strips) {
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
            rc = j2k_dwt_decode_tile(t.comps, d->ncomps, threads, &then);
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
    free(data_size);
    return rc;
}

/* decode_tile, its error naming the tile when there are several */
static int decode_tile_named(const tiles_ctx *x, uint32_t ti, uint32_t threads, int *truncated,
                             td_error *err)
{
    int rc = decode_tile(x, ti, threads, truncated, err);
    if (rc != TD_OK && err && x->d->ntiles > 1 && strncmp(err->message, "tile ", 5) != 0) {
        char msg[sizeof err->message];
        memcpy(msg, err->message, sizeof msg);
        msg[sizeof msg - 1] = 0;
        td_fail(err, rc, err->offset, "tile %u: %s", ti, msg);
    }
    return rc;
}

/* A codestream of several tiles goes tile by tile on the threads (each tile taken by one
 * thread from a counter) rather than each tile on all of them in turn, when the tiles are at
 * least two per thread or too small to share (below the 64K samples per thread under which
 * the strips, the code-blocks and the inverse DWT of one tile stay on one thread): its tiles'
 * stages then do not wait for one another nor read what another core wrote.  Each tile is
 * still decoded as on `threads` threads, a call nested in the tiles' job (td_parallel_run),
 * which gets only the workers that are idle: none while every thread has a tile, and a
 * thread with no tile left helps the tiles still running.  Without that help, T.803's
 * ds0_hm_15 (4 tiles, one of them 70% of the work: its code-blocks MQ-coded, the others' HT)
 * was 1.19x one thread on 2, against 1.59x tile after tile; with it 1.72x, the others the
 * same within 3%.  The threads for that, or 1 (tile after tile, each on all of them). */
static uint32_t tile_threads(uint32_t present, uint32_t threads, size_t nsamples)
{
    if (threads < 2 || present < 2) return 1;
    if (present < 2 * threads && nsamples / present >= ((size_t)threads << 16)) return 1;
    return present < threads ? present : threads;
}

typedef struct tiles_job {
    const tiles_ctx *x;
    const uint32_t *order;  /* the tiles present, in the order they are taken */
    uint32_t n;
    atomic_uint next;       /* the next of them to take */
    atomic_uint fail;       /* the first tile (by index) that failed (ntiles: none yet) */
    int rc;                 /* fail's (under mutex) */
    td_error err;
    atomic_int truncated;
    pthread_mutex_t mutex;
} tiles_job;

/* Tiles from the order until none is left, skipping those after a tile that failed.  Every
 * tile before the first that fails (by index) is decoded, so that tile and its error are
 * those of tile after tile. */
static void tiles_worker(void *arg)
{
    tiles_job *j = arg;
    for (;;) {
        uint32_t k = atomic_fetch_add(&j->next, 1);
        if (k >= j->n) break;
        uint32_t ti = j->order[k];
        if (ti > atomic_load(&j->fail)) continue;
        int truncated = 0;
        td_error e;
        memset(&e, 0, sizeof e);
        int rc = decode_tile_named(j->x, ti, j->x->opt->threads, &truncated, &e);
        if (truncated) atomic_store(&j->truncated, 1);
        if (rc != TD_OK) {
            pthread_mutex_lock(&j->mutex);
            if (ti < atomic_load(&j->fail)) {
                atomic_store(&j->fail, ti);
                j->rc = rc;
                j->err = e;
            }
            pthread_mutex_unlock(&j->mutex);
        }
    }
}

typedef struct tile_cost {
    uint64_t cost;
    uint32_t tile;
} tile_cost;

static int tile_cost_cmp(const void *a, const void *b)
{
    const tile_cost *x = a, *y = b;
    if (x->cost != y->cost) return x->cost > y->cost ? -1 : 1;
    return x->tile < y->tile ? -1 : x->tile > y->tile;
}

/* Every tile, on `threads` threads (tile_threads), the costliest first: a tile's packet data
 * (its code-blocks' work, about 64 ns a byte) and its samples (inverse DWT and output, about
 * 1 ns each), so that the threads finish together (taken in index order, 4 tiles of 129-163
 * KB (WG04 MR2 re-encoded with 512x512 tiles) left one thread a tile's time alone: 1.87x one
 * thread instead of 1.96x with each tile on both). */
static int decode_tiles(const tiles_ctx *x, uint32_t threads, int *truncated, td_error *err)
{
    const td_j2kdec *d = x->d;
    tile_cost *tc = malloc((size_t)d->ntiles * sizeof *tc);
    uint32_t *order = malloc((size_t)d->ntiles * sizeof *order);
    if (!tc || !order) {
        free(tc);
        free(order);
        return td_fail(err, TD_E_NOMEM, -1, "tile order");
    }
    uint32_t n = 0;
    for (uint32_t ti = 0; ti < d->ntiles; ti++) {
        if (tile_absent(d, ti)) {
            *truncated = 1;
            continue;
        }
        uint64_t bytes = 0;
        for (uint32_t k = d->tile_first[ti]; k < d->tile_first[ti + 1]; k++)
            bytes += d->parts[d->tile_parts[k]].body_len;
        uint64_t tx = ti % d->ntx, ty = ti / d->ntx;
        uint64_t x0 = d->tx0 + tx * d->tw, y0 = d->ty0 + ty * d->th;
        uint64_t x1 = x0 + d->tw < d->x1 ? x0 + d->tw : d->x1, y1 = y0 + d->th < d->y1 ? y0 + d->th : d->y1;
        if (x0 < d->x0) x0 = d->x0;
        if (y0 < d->y0) y0 = d->y0;
        uint64_t area = x1 > x0 && y1 > y0 ? (x1 - x0) * (y1 - y0) : 0; /* < 2^62 */
        if (area > ((uint64_t)1 << 40)) area = (uint64_t)1 << 40; /* (no wrap below: an order) */
        tc[n++] = (tile_cost){64 * bytes + area * d->ncomps, ti};
    }
    qsort(tc, n, sizeof *tc, tile_cost_cmp);
    for (uint32_t k = 0; k < n; k++) order[k] = tc[k].tile;
    free(tc);
    tiles_job j;
    j.x = x;
    j.order = order;
    j.n = n;
    atomic_init(&j.next, 0);
    atomic_init(&j.fail, d->ntiles);
    atomic_init(&j.truncated, 0);
    j.rc = TD_OK;
    pthread_mutex_init(&j.mutex, NULL);
    td_parallel_run(threads, tiles_worker, &j);
    pthread_mutex_destroy(&j.mutex);
    free(order);
    if (atomic_load(&j.truncated)) *truncated = 1;
    if (j.rc != TD_OK && err) *err = j.err;
    return j.rc;
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
    size_t nsamples = need / bps;
    uint32_t present = 0;
    for (uint32_t ti = 0; ti < d->ntiles; ti++) present += !tile_absent(d, ti);
    uint32_t tthreads = tile_threads(present, opt->threads, nsamples);
    /* the helpers asleep wake up while the tile headers and packets are parsed (as many as
     * the strips' rule below will want, or the tiles') */
    if (tthreads > 1)
        td_parallel_prewake(tthreads);
    else if (opt->threads > 1 && nsamples >= ((size_t)2 << 16))
        td_parallel_prewake(nsamples < ((size_t)opt->threads << 16) ? (uint32_t)(nsamples >> 16) + 1
                                                                    : opt->threads);
    int planar = (opt->flags & TD_J2KDEC_PLANAR) != 0;
    /* every sample is written by its tile; only absent tiles leave zeros to fill */
    if (present < d->ntiles) memset(out, 0, need);
    /* plane offsets and sizes */
    size_t *plane = malloc(d->ncomps * sizeof *plane);
    uint32_t *dims = malloc(2 * d->ncomps * sizeof *dims);
    if (!plane || !dims) {
        free(plane);
        free(dims);
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
    tiles_ctx x = {d, out, need, opt, plane, dims, bps, planar};
    if (tthreads > 1) {
        rc = decode_tiles(&x, tthreads, &truncated, err);
    } else {
        for (uint32_t ti = 0; ti < d->ntiles && rc == TD_OK; ti++) {
            if (tile_absent(d, ti)) { truncated = 1; continue; }
            rc = decode_tile_named(&x, ti, opt->threads, &truncated, err);
        }
    }
    free(plane);
    free(dims);
    if (rc == TD_OK && truncated && (opt->flags & TD_J2KDEC_STRICT))
        return td_fail(err, TD_E_TRUNCATED, -1, "the codestream ends before its last packet");
    if (rc == TD_OK) td_error_clear(err);
    return rc;
}
