/*
 * codestream.c - JP2 boxes and codestream markers (T.800 Annex A, Annex I).
 *
 * td_j2kdec_open walks the whole codestream once: the main header into the decoder's default
 * coding parameters, then the SOT chain into a table of tile-parts (header range, body range).
 * Tile-part header markers are re-read per tile by j2k_tile_tcp, so a stream with many tiles
 * costs one table row per tile-part, never a parameter set per tile.
 */
#include <stdlib.h>
#include <string.h>

#include "j2k_internal.h"
#include "td_bytes.h"

#define M_SOC 0xFF4F
#define M_CAP 0xFF50
#define M_SIZ 0xFF51
#define M_COD 0xFF52
#define M_COC 0xFF53
#define M_TLM 0xFF55
#define M_PLM 0xFF57
#define M_PLT 0xFF58
#define M_QCD 0xFF5C
#define M_QCC 0xFF5D
#define M_RGN 0xFF5E
#define M_POC 0xFF5F
#define M_PPM 0xFF60
#define M_PPT 0xFF61
#define M_CRG 0xFF63
#define M_COM 0xFF64
#define M_SOT 0xFF90
#define M_SOD 0xFF93
#define M_EOC 0xFFD9

void j2k_tcp_free(j2k_tcp *tcp)
{
    free(tcp->tccp);
    free(tcp->poc);
    tcp->tccp = NULL;
    tcp->poc = NULL;
}

/* ---- JP2 (Annex I): find the contiguous codestream box ---- */
static int find_jp2c(const uint8_t *src, size_t len, size_t *off, size_t *clen, td_error *err)
{
    size_t pos = 0;
    while (pos + 8 <= len) {
        uint64_t lbox = td_load_be32(src + pos);
        uint32_t tbox = td_load_be32(src + pos + 4);
        size_t hdr = 8;
        if (lbox == 1) {
            if (pos + 16 > len) break;
            lbox = td_load_be64(src + pos + 8);
            hdr = 16;
            if (lbox < 16) return td_fail(err, TD_E_CORRUPT, (int64_t)pos, "JP2 box length %llu", (unsigned long long)lbox);
        } else if (lbox == 0) {
            lbox = len - pos;
        } else if (lbox < 8) {
            return td_fail(err, TD_E_CORRUPT, (int64_t)pos, "JP2 box length %llu", (unsigned long long)lbox);
        }
        if (tbox == 0x6A703263u) { /* 'jp2c' */
            *off = pos + hdr;
            *clen = lbox > len - pos ? len - pos - hdr : (size_t)lbox - hdr;
            return TD_OK;
        }
        if (lbox > len - pos) break;
        pos += (size_t)lbox;
    }
    return td_fail(err, TD_E_CORRUPT, (int64_t)pos, "JP2 file without a contiguous codestream box");
}

/* ---- marker segment readers ---- */

/* SPcod / SPcoc (A.6.1 Table A.15) into tccp; p points after Scod/Scoc's component fields. */
static int read_spcod(const uint8_t *p, size_t n, int precincts, j2k_tccp *t, size_t off,
                      td_error *err)
{
    if (n < 5) return td_fail(err, TD_E_CORRUPT, (int64_t)off, "COD/COC too short");
    uint32_t levels = p[0];
    if (levels > J2K_MAX_LEVELS)
        return td_fail(err, TD_E_CORRUPT, (int64_t)off, "%u decomposition levels (at most 32)", levels);
    uint32_t xcb = (uint32_t)(p[1] & 0xF) + 2, ycb = (uint32_t)(p[2] & 0xF) + 2;
    if (xcb > 10 || ycb > 10 || xcb + ycb > 12)
        return td_fail(err, TD_E_CORRUPT, (int64_t)off, "code-block size 2^%u x 2^%u", xcb, ycb);
    if (p[4] > 1) return td_fail(err, TD_E_CORRUPT, (int64_t)off, "wavelet transform %u", p[4]);
    t->levels = (uint8_t)levels;
    t->xcb = (uint8_t)xcb;
    t->ycb = (uint8_t)ycb;
    t->cblk_style = p[3];
    t->reversible = p[4];
    if (precincts) {
        if (n < 5 + levels + 1)
            return td_fail(err, TD_E_CORRUPT, (int64_t)off, "COD/COC precinct sizes missing");
        for (uint32_t r = 0; r <= levels; r++) {
            t->ppx[r] = p[5 + r] & 0xF;
            t->ppy[r] = p[5 + r] >> 4;
            if (r > 0 && (t->ppx[r] == 0 || t->ppy[r] == 0))
                return td_fail(err, TD_E_CORRUPT, (int64_t)off, "precinct size 2^0 at resolution %u", r);
        }
    } else {
        for (uint32_t r = 0; r <= J2K_MAX_LEVELS; r++) t->ppx[r] = t->ppy[r] = 15;
    }
    return TD_OK;
}

/* SQcd / SPqcd (A.6.4 Table A.28) into tccp. */
static int read_sqcd(const uint8_t *p, size_t n, j2k_tccp *t, size_t off, td_error *err)
{
    if (n < 1) return td_fail(err, TD_E_CORRUPT, (int64_t)off, "QCD/QCC too short");
    uint32_t style = p[0] & 0x1F;
    if (style > 2) return td_fail(err, TD_E_CORRUPT, (int64_t)off, "quantization style %u", style);
    t->qstyle = (uint8_t)style;
    t->guard = p[0] >> 5;
    p++;
    n--;
    size_t count;
    if (style == 0) {
        count = n;
        if (count > J2K_MAX_BANDS) count = J2K_MAX_BANDS;
        for (size_t i = 0; i < count; i++) t->step[i] = (uint16_t)((p[i] >> 3) << 11);
    } else {
        count = style == 1 ? 1 : n / 2;
        if (n < 2) return td_fail(err, TD_E_CORRUPT, (int64_t)off, "QCD/QCC step size missing");
        if (count > J2K_MAX_BANDS) count = J2K_MAX_BANDS;
        for (size_t i = 0; i < count; i++) t->step[i] = td_load_be16(p + 2 * i);
    }
    if (count == 0) return td_fail(err, TD_E_CORRUPT, (int64_t)off, "QCD/QCC without step sizes");
    t->nsteps = (uint16_t)count;
    return TD_OK;
}

/* Component index field of COC/QCC/RGN/POC: 1 byte if Csiz < 257, else 2. */
static uint32_t comp_field(const uint8_t *p, uint32_t ncomps)
{
    return ncomps < 257 ? p[0] : td_load_be16(p);
}

/* One coding marker of a main or first tile-part header applied to tcp.  `tile` selects the
 * precedence rules of A.6 (a tile COD does not override a tile COC). */
static int apply_marker(const td_j2kdec *dec, j2k_tcp *tcp, uint32_t m, const uint8_t *p,
                        size_t n, int tile, size_t off, td_error *err)
{
    uint32_t nc = dec->ncomps, csz = nc < 257 ? 1u : 2u;
    int rc;
    switch (m) {
    case M_COD: {
        if (n < 5) return td_fail(err, TD_E_CORRUPT, (int64_t)off, "COD too short");
        uint32_t scod = p[0];
        if (p[1] > 4) return td_fail(err, TD_E_CORRUPT, (int64_t)off, "progression order %u", p[1]);
        tcp->order = p[1];
        tcp->layers = td_load_be16(p + 2);
        if (tcp->layers == 0) return td_fail(err, TD_E_CORRUPT, (int64_t)off, "COD with 0 layers");
        tcp->mct = p[4];
        tcp->sop = (scod >> 1) & 1;
        tcp->eph = (scod >> 2) & 1;
        j2k_tccp t;
        memset(&t, 0, sizeof t);
        if ((rc = read_spcod(p + 5, n - 5, scod & 1, &t, off, err)) != TD_OK) return rc;
        for (uint32_t c = 0; c < nc; c++) {
            j2k_tccp *d = &tcp->tccp[c];
            if (tile ? d->tile_coc : d->tile_coc == 2) continue;
            d->levels = t.levels; d->xcb = t.xcb; d->ycb = t.ycb; d->cblk_style = t.cblk_style;
            d->reversible = t.reversible;
            memcpy(d->ppx, t.ppx, sizeof t.ppx);
            memcpy(d->ppy, t.ppy, sizeof t.ppy);
        }
        return TD_OK;
    }
    case M_COC: {
        if (n < csz + 1) return td_fail(err, TD_E_CORRUPT, (int64_t)off, "COC too short");
        uint32_t c = comp_field(p, nc);
        if (c >= nc) return td_fail(err, TD_E_CORRUPT, (int64_t)off, "COC for component %u of %u", c, nc);
        j2k_tccp *d = &tcp->tccp[c];
        if ((rc = read_spcod(p + csz + 1, n - csz - 1, p[csz] & 1, d, off, err)) != TD_OK) return rc;
        d->tile_coc = (uint8_t)(tile ? 1 : 2);
        return TD_OK;
    }
    case M_QCD: {
        j2k_tccp t;
        if ((rc = read_sqcd(p, n, &t, off, err)) != TD_OK) return rc;
        for (uint32_t c = 0; c < nc; c++) {
            j2k_tccp *d = &tcp->tccp[c];
            if (tile ? d->tile_qcc : d->tile_qcc == 2) continue;
            d->qstyle = t.qstyle; d->guard = t.guard; d->nsteps = t.nsteps;
            memcpy(d->step, t.step, sizeof t.step);
        }
        return TD_OK;
    }
    case M_QCC: {
        if (n < csz + 1) return td_fail(err, TD_E_CORRUPT, (int64_t)off, "QCC too short");
        uint32_t c = comp_field(p, nc);
        if (c >= nc) return td_fail(err, TD_E_CORRUPT, (int64_t)off, "QCC for component %u of %u", c, nc);
        if ((rc = read_sqcd(p + csz, n - csz, &tcp->tccp[c], off, err)) != TD_OK) return rc;
        tcp->tccp[c].tile_qcc = (uint8_t)(tile ? 1 : 2);
        return TD_OK;
    }
    case M_RGN: {
        if (n < csz + 2) return td_fail(err, TD_E_CORRUPT, (int64_t)off, "RGN too short");
        uint32_t c = comp_field(p, nc);
        if (c >= nc) return td_fail(err, TD_E_CORRUPT, (int64_t)off, "RGN for component %u of %u", c, nc);
        if (p[csz] != 0) return td_fail(err, TD_E_UNSUPPORTED, (int64_t)off, "RGN style %u", p[csz]);
        tcp->tccp[c].roishift = p[csz + 1];
        return TD_OK;
    }
    case M_POC: {
        size_t esz = 5 + 2 * csz, cnt = n / esz;
        if (cnt == 0 || n % esz) return td_fail(err, TD_E_CORRUPT, (int64_t)off, "POC length %zu", n);
        j2k_poc *np = realloc(tcp->poc, (tcp->npoc + cnt) * sizeof *np);
        if (!np) return td_fail(err, TD_E_NOMEM, (int64_t)off, "POC");
        tcp->poc = np;
        for (size_t i = 0; i < cnt; i++, p += esz) {
            j2k_poc *e = &np[tcp->npoc++];
            e->rs = p[0];
            e->cs = comp_field(p + 1, nc);
            e->lye = td_load_be16(p + 1 + csz);
            e->re = p[3 + csz];
            e->ce = comp_field(p + 4 + csz, nc);
            if (e->ce == 0) e->ce = nc < 257 ? 256 : 16384;
            e->order = p[4 + 2 * csz];
            if (e->order > 4) return td_fail(err, TD_E_CORRUPT, (int64_t)off, "POC progression order %u", e->order);
        }
        return TD_OK;
    }
    default:
        return TD_OK;
    }
}

static int tcp_copy(const j2k_tcp *src, uint32_t ncomps, j2k_tcp *dst)
{
    *dst = *src;
    dst->tccp = malloc(ncomps * sizeof *dst->tccp);
    dst->poc = NULL;
    if (src->npoc) dst->poc = malloc(src->npoc * sizeof *dst->poc);
    if (!dst->tccp || (src->npoc && !dst->poc)) {
        j2k_tcp_free(dst);
        return TD_E_NOMEM;
    }
    memcpy(dst->tccp, src->tccp, ncomps * sizeof *dst->tccp);
    if (src->npoc) memcpy(dst->poc, src->poc, src->npoc * sizeof *dst->poc);
    for (uint32_t c = 0; c < ncomps; c++) dst->tccp[c].tile_coc = dst->tccp[c].tile_qcc = 0;
    return TD_OK;
}

/* Walk the marker segments of a header [p, end): calls apply for each. */
static int header_markers(const td_j2kdec *dec, j2k_tcp *tcp, const uint8_t *p, size_t n,
                          int tile, int *has_poc, td_error *err)
{
    size_t pos = 0;
    while (pos + 4 <= n) {
        uint32_t m = td_load_be16(p + pos), l = td_load_be16(p + pos + 2);
        if (m >= 0xFF30 && m <= 0xFF3F) { pos += 2; continue; }
        size_t off = (size_t)(p + pos - dec->cs);
        if (l < 2 || pos + 2 + l > n) return td_fail(err, TD_E_CORRUPT, (int64_t)off, "marker %04X length %u", m, l);
        if (m == M_POC && tile && !*has_poc) { /* a tile's POC replaces the main header's */
            free(tcp->poc);
            tcp->poc = NULL;
            tcp->npoc = 0;
            *has_poc = 1;
        }
        int rc = apply_marker(dec, tcp, m, p + pos + 4, l - 2u, tile, off, err);
        if (rc != TD_OK) return rc;
        pos += 2 + (size_t)l;
    }
    return TD_OK;
}

int j2k_tile_tcp(const td_j2kdec *dec, uint32_t tile, j2k_tcp *tcp, td_error *err)
{
    if (tcp_copy(&dec->tcp, dec->ncomps, tcp) != TD_OK) return td_fail(err, TD_E_NOMEM, -1, "tile parameters");
    int has_poc = 0;
    for (uint32_t k = dec->tile_first[tile]; k < dec->tile_first[tile + 1]; k++) {
        const j2k_tilepart *tp = &dec->parts[dec->tile_parts[k]];
        if (tp->header_len == 0) continue;
        int rc = header_markers(dec, tcp, tp->header, tp->header_len, 1, &has_poc, err);
        if (rc != TD_OK) {
            j2k_tcp_free(tcp);
            return rc;
        }
    }
    for (uint32_t c = 0; c < dec->ncomps; c++) {
        const j2k_tccp *t = &tcp->tccp[c];
        uint32_t need = t->qstyle == 1 ? 1u : 3u * t->levels + 1u;
        if (t->nsteps < need) {
            uint32_t have = t->nsteps;
            j2k_tcp_free(tcp);
            return td_fail(err, TD_E_CORRUPT, -1, "component %u: %u step sizes for %u bands", c, have, need);
        }
    }
    return TD_OK;
}

/* ---- td_j2kdec_open ---- */

static int read_siz(td_j2kdec *d, const uint8_t *p, size_t n, size_t off, td_error *err)
{
    if (n < 36 + 3) return td_fail(err, TD_E_CORRUPT, (int64_t)off, "SIZ too short");
    d->x1 = td_load_be32(p + 2);
    d->y1 = td_load_be32(p + 6);
    d->x0 = td_load_be32(p + 10);
    d->y0 = td_load_be32(p + 14);
    d->tw = td_load_be32(p + 18);
    d->th = td_load_be32(p + 22);
    d->tx0 = td_load_be32(p + 26);
    d->ty0 = td_load_be32(p + 30);
    d->ncomps = td_load_be16(p + 34);
    if (d->x1 > INT32_MAX || d->y1 > INT32_MAX)
        return td_fail(err, TD_E_UNSUPPORTED, (int64_t)off, "reference grid beyond 2^31");
    if (d->x1 <= d->x0 || d->y1 <= d->y0)
        return td_fail(err, TD_E_CORRUPT, (int64_t)off, "empty image area");
    if (d->tw == 0 || d->th == 0 || d->tx0 > d->x0 || d->ty0 > d->y0 ||
        (uint64_t)d->tx0 + d->tw <= d->x0 || (uint64_t)d->ty0 + d->th <= d->y0)
        return td_fail(err, TD_E_CORRUPT, (int64_t)off, "impossible tile grid");
    if (d->ncomps == 0 || d->ncomps > 16384)
        return td_fail(err, TD_E_CORRUPT, (int64_t)off, "Csiz %u", d->ncomps);
    if (n < 36 + 3 * (size_t)d->ncomps) return td_fail(err, TD_E_CORRUPT, (int64_t)off, "SIZ too short for %u components", d->ncomps);
    uint64_t ntx = j2k_ceildiv((uint64_t)d->x1 - d->tx0, d->tw), nty = j2k_ceildiv((uint64_t)d->y1 - d->ty0, d->th);
    if (ntx * nty > J2K_MAX_TILES) return td_fail(err, TD_E_CORRUPT, (int64_t)off, "%llu tiles (at most 65535)", (unsigned long long)(ntx * nty));
    d->ntx = (uint32_t)ntx;
    d->nty = (uint32_t)nty;
    d->ntiles = (uint32_t)(ntx * nty);
    d->prec = malloc(4 * (size_t)d->ncomps);
    d->tcp.tccp = calloc(d->ncomps, sizeof *d->tcp.tccp);
    if (!d->prec || !d->tcp.tccp) return td_fail(err, TD_E_NOMEM, (int64_t)off, "SIZ");
    d->sgnd = d->prec + d->ncomps;
    d->dx = d->sgnd + d->ncomps;
    d->dy = d->dx + d->ncomps;
    for (uint32_t c = 0; c < d->ncomps; c++) {
        const uint8_t *q = p + 36 + 3 * c;
        uint32_t prec = (uint32_t)(q[0] & 0x7F) + 1;
        if (prec > 38) return td_fail(err, TD_E_CORRUPT, (int64_t)off, "component %u precision %u", c, prec);
        if (q[1] == 0 || q[2] == 0) return td_fail(err, TD_E_CORRUPT, (int64_t)off, "component %u subsampling 0", c);
        d->prec[c] = (uint8_t)prec;
        d->sgnd[c] = q[0] >> 7;
        d->dx[c] = q[1];
        d->dy[c] = q[2];
    }
    return TD_OK;
}

int td_j2kdec_open(const uint8_t *src, size_t len, td_j2kdec **out, td_error *err)
{
    if (!out || (!src && len)) return td_fail(err, TD_E_INVALID_ARGUMENT, -1, "NULL argument");
    *out = NULL;
    td_j2kdec *d = calloc(1, sizeof *d);
    if (!d) return td_fail(err, TD_E_NOMEM, -1, "decoder");
    int rc = TD_OK;
    d->src = src;
    d->src_len = len;
    size_t csoff = 0, cslen = len;
    if (len >= 12 && td_load_be32(src) == 12 && td_load_be32(src + 4) == 0x6A502020u) {
        if ((rc = find_jp2c(src, len, &csoff, &cslen, err)) != TD_OK) goto fail;
        d->info.format = TD_J2KDEC_FORMAT_JP2;
    }
    d->cs = src + csoff;
    d->cs_len = cslen;
    d->info.codestream_offset = csoff;
    d->info.codestream_length = cslen;
    const uint8_t *cs = d->cs;
    if (cslen < 4) { rc = td_fail(err, TD_E_TRUNCATED, 0, "codestream shorter than SOC + SIZ"); goto fail; }
    if (td_load_be16(cs) != M_SOC || td_load_be16(cs + 2) != M_SIZ) {
        rc = td_fail(err, TD_E_CORRUPT, (int64_t)csoff, "no SOC, SIZ at the start of the codestream");
        goto fail;
    }
    /* main header */
    size_t pos = 2, ppm_total = 0;
    int have_cod = 0, have_qcd = 0, have_siz = 0, ppm = 0;
    for (;;) {
        if (pos + 2 > cslen) { rc = td_fail(err, TD_E_TRUNCATED, (int64_t)(csoff + pos), "main header ends before SOT"); goto fail; }
        uint32_t m = td_load_be16(cs + pos);
        if (m == M_SOT) break;
        if (m == M_EOC) { rc = td_fail(err, TD_E_TRUNCATED, (int64_t)(csoff + pos), "EOC before any tile"); goto fail; }
        if (m >= 0xFF30 && m <= 0xFF3F) { pos += 2; continue; } /* A.1.3: markers without segment */
        if (pos + 4 > cslen) { rc = td_fail(err, TD_E_TRUNCATED, (int64_t)(csoff + pos), "marker segment cut short"); goto fail; }
        uint32_t l = td_load_be16(cs + pos + 2);
        if ((m >> 8) != 0xFF || l < 2 || pos + 2 + l > cslen) {
            rc = td_fail(err, pos + 2 + l > cslen ? TD_E_TRUNCATED : TD_E_CORRUPT, (int64_t)(csoff + pos), "marker %04X length %u", m, l);
            goto fail;
        }
        const uint8_t *p = cs + pos + 4;
        size_t n = l - 2u;
        if (m == M_SIZ) {
            if (have_siz) { rc = td_fail(err, TD_E_CORRUPT, (int64_t)(csoff + pos), "second SIZ"); goto fail; }
            if ((rc = read_siz(d, p, n, csoff + pos, err)) != TD_OK) goto fail;
            have_siz = 1;
        } else if (!have_siz) {
            rc = td_fail(err, TD_E_CORRUPT, (int64_t)(csoff + pos), "marker %04X before SIZ", m);
            goto fail;
        } else if (m == M_PPM) {
            ppm = 1;
            ppm_total += n > 0 ? n - 1 : 0;
        } else if (m == M_CAP) {
            if (n >= 4 && (td_load_be32(p) & 0x00020000u)) {
                /* Ccap15 follows one Ccap per Pcap bit set before it (T.814 A.3) */
                uint32_t pcap = td_load_be32(p), idx = (uint32_t)__builtin_popcount(pcap & 0xFFFC0000u);
                d->info.htj2k = 1;
                if (n >= 4 + 2 * (size_t)(idx + 1)) d->ccap15 = td_load_be16(p + 4 + 2 * idx);
            }
        } else {
            if (m == M_COD) have_cod = 1;
            if (m == M_QCD) have_qcd = 1;
            if ((rc = apply_marker(d, &d->tcp, m, p, n, 0, csoff + pos, err)) != TD_OK) goto fail;
        }
        pos += 2 + (size_t)l;
    }
    if (!have_cod || !have_qcd) { rc = td_fail(err, TD_E_CORRUPT, (int64_t)(csoff + pos), "main header without %s", have_cod ? "QCD" : "COD"); goto fail; }
    size_t main_end = pos;
    /* tile-parts */
    size_t cap = 0;
    while (pos + 2 <= cslen) {
        uint32_t m = td_load_be16(cs + pos);
        if (m == M_EOC) break;
        if (m != M_SOT) {
            if (d->nparts) break; /* trailing garbage after the last tile-part */
            rc = td_fail(err, TD_E_CORRUPT, (int64_t)(csoff + pos), "marker %04X where SOT belongs", m);
            goto fail;
        }
        if (pos + 12 > cslen) { d->info.truncated = 1; break; }
        uint32_t lsot = td_load_be16(cs + pos + 2), isot = td_load_be16(cs + pos + 4);
        uint64_t psot = td_load_be32(cs + pos + 6);
        if (lsot != 10 || isot >= d->ntiles) {
            rc = td_fail(err, TD_E_CORRUPT, (int64_t)(csoff + pos), "SOT length %u tile %u of %u", lsot, isot, d->ntiles);
            goto fail;
        }
        if (psot != 0 && psot < 14) { rc = td_fail(err, TD_E_CORRUPT, (int64_t)(csoff + pos), "Psot %llu", (unsigned long long)psot); goto fail; }
        int truncated = 0;
        size_t end;
        if (psot == 0 || psot > cslen - pos) {
            truncated = psot != 0;
            end = cslen;
            if (end >= pos + 14 && psot == 0 && td_load_be16(cs + end - 2) == M_EOC) end -= 2;
        } else {
            end = pos + (size_t)psot;
        }
        /* tile-part header up to SOD */
        size_t h = pos + 12;
        while (h + 2 <= end && td_load_be16(cs + h) != M_SOD) {
            if (td_load_be16(cs + h) >= 0xFF30 && td_load_be16(cs + h) <= 0xFF3F) { h += 2; continue; }
            if (h + 4 > end) break;
            uint32_t l = td_load_be16(cs + h + 2);
            if (l < 2 || h + 2 + l > end) { rc = td_fail(err, TD_E_CORRUPT, (int64_t)(csoff + h), "tile-part marker length %u", l); goto fail; }
            h += 2 + (size_t)l;
        }
        if (h + 2 > end || td_load_be16(cs + h) != M_SOD) {
            if (truncated || end == cslen) { d->info.truncated = 1; break; }
            rc = td_fail(err, TD_E_CORRUPT, (int64_t)(csoff + h), "tile-part without SOD");
            goto fail;
        }
        if (d->nparts == cap) {
            cap = cap ? 2 * cap : 16;
            j2k_tilepart *np = realloc(d->parts, cap * sizeof *np);
            if (!np) { rc = td_fail(err, TD_E_NOMEM, -1, "tile-part table"); goto fail; }
            d->parts = np;
        }
        j2k_tilepart *tp = &d->parts[d->nparts++];
        memset(tp, 0, sizeof *tp);
        tp->tile = isot;
        tp->index = cs[pos + 10];
        tp->sot_offset = pos;
        tp->header = cs + pos + 12;
        tp->header_len = h - (pos + 12);
        tp->body = cs + h + 2;
        tp->body_len = end - (h + 2);
        tp->truncated = truncated;
        if (truncated) d->info.truncated = 1;
        pos = end;
        if (truncated) break;
    }
    /* PPM: concatenate (Zppm order = order of appearance) and split into Nppm chunks, the
     * i-th for the i-th tile-part (A.7.4). */
    if (ppm) {
        d->ppm_buf = malloc(ppm_total ? ppm_total : 1);
        if (!d->ppm_buf) { rc = td_fail(err, TD_E_NOMEM, -1, "PPM"); goto fail; }
        size_t q = 2, w = 0;
        while (q < main_end) {
            uint32_t m = td_load_be16(cs + q), l = td_load_be16(cs + q + 2);
            if (m == M_PPM && l > 3) {
                memcpy(d->ppm_buf + w, cs + q + 5, l - 3u);
                w += l - 3u;
            }
            q += 2 + (size_t)l;
        }
        size_t r = 0;
        for (size_t i = 0; i < d->nparts; i++) {
            if (r + 4 > w) break;
            size_t nppm = td_load_be32(d->ppm_buf + r);
            r += 4;
            if (nppm > w - r) nppm = w - r;
            d->parts[i].ppm = d->ppm_buf + r;
            d->parts[i].ppm_len = nppm;
            r += nppm;
        }
        for (size_t i = 0; i < d->nparts; i++)
            if (!d->parts[i].ppm) { d->parts[i].ppm = d->ppm_buf; d->parts[i].ppm_len = 0; }
    }
    /* tile-part index by tile (counting sort), so a tile's parts are found without a scan */
    d->tile_first = calloc((size_t)d->ntiles + 1, sizeof *d->tile_first);
    d->tile_parts = malloc((d->nparts ? d->nparts : 1) * sizeof *d->tile_parts);
    if (!d->tile_first || !d->tile_parts) { rc = td_fail(err, TD_E_NOMEM, -1, "tile-part index"); goto fail; }
    for (size_t i = 0; i < d->nparts; i++) d->tile_first[d->parts[i].tile + 1]++;
    for (uint32_t t = 0; t < d->ntiles; t++) d->tile_first[t + 1] += d->tile_first[t];
    {
        uint32_t *fill = malloc(((size_t)d->ntiles + 1) * sizeof *fill);
        if (!fill) { rc = td_fail(err, TD_E_NOMEM, -1, "tile-part index"); goto fail; }
        memcpy(fill, d->tile_first, ((size_t)d->ntiles + 1) * sizeof *fill);
        for (size_t i = 0; i < d->nparts; i++) d->tile_parts[fill[d->parts[i].tile]++] = (uint32_t)i;
        free(fill);
    }
    /* info */
    td_j2kdec_info *in = &d->info;
    in->rows = d->y1 - d->y0;
    in->columns = d->x1 - d->x0;
    in->x_offset = d->x0;
    in->y_offset = d->y0;
    in->components = d->ncomps;
    in->is_signed = d->sgnd[0];
    in->uniform = 1;
    uint32_t minlev = 255;
    for (uint32_t c = 0; c < d->ncomps; c++) {
        if (d->prec[c] > in->precision) in->precision = d->prec[c];
        if (d->prec[c] != d->prec[0] || d->sgnd[c] != d->sgnd[0] || d->dx[c] != 1 || d->dy[c] != 1)
            in->uniform = 0;
        if (d->tcp.tccp[c].levels < minlev) minlev = d->tcp.tccp[c].levels;
        if (d->tcp.tccp[c].cblk_style & J2K_CBLK_HT) in->htj2k = 1;
    }
    in->reversible = d->tcp.tccp[0].reversible;
    in->mct = (int)d->tcp.mct;
    in->layers = d->tcp.layers;
    in->progression_order = d->tcp.order;
    in->decomposition_levels = minlev;
    in->tiles = d->ntiles;
    in->tile_parts = (uint32_t)d->nparts;
    *out = d;
    return TD_OK;
fail:
    td_j2kdec_close(d);
    return rc;
}

void td_j2kdec_close(td_j2kdec *d)
{
    if (!d) return;
    j2k_tcp_free(&d->tcp);
    free(d->prec);
    free(d->parts);
    free(d->tile_parts);
    free(d->tile_first);
    free(d->ppm_buf);
    free(d);
}

const td_j2kdec_info *td_j2kdec_get_info(const td_j2kdec *dec) { return &dec->info; }
