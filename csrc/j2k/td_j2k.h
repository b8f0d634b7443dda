/*
 * td_j2k.h (csrc/j2k/) - turbodicom's own JPEG 2000 Part 1 decoder (ITU-T T.800 | ISO/IEC
 * 15444-1), no library.  Included as "j2k/td_j2k.h" (csrc/td_j2k.h is the OpenJPEG adapter,
 * kept as the tests' oracle); functions and types are td_j2kdec_*.
 *
 * Decodes everything Part 1 allows: SIZ with any subsampling and precision 1..32 bits (33..38
 * is TD_E_UNSUPPORTED: it cannot fit a 4-byte container), COD/COC (five progression orders,
 * layers, MCT, 0..32 decomposition levels, code-block sizes, every code-block style flag,
 * precincts), QCD/QCC (none, scalar derived, scalar expounded, guard bits), RGN
 * (max-shift), POC, TLM/PLM/PLT (skipped: packets are walked), PPM/PPT, SOP/EPH, CRG, COM,
 * CAP (recognised), tiles and tile-parts in any order, a missing EOC, JP2/JPH boxes around the
 * codestream.  HTJ2K (T.814 | ISO/IEC 15444-15): HT code-blocks (ht.c) with several HT sets
 * and placeholder passes, VCAUSAL and ROI, and CAP's mixed mode (HT and Part 1 code-blocks
 * side by side).
 *
 * Flow: td_j2kdec_open (reads the boxes and every marker, no packet data; the decoder keeps
 * pointers into src, which must outlive it) -> td_j2kdec_get_info / td_j2kdec_component
 * -> td_j2kdec_decoded_size -> the caller allocates -> td_j2kdec_decode (any number of times,
 * e.g. with other options) -> td_j2kdec_close.  Kernels never allocate the output; working
 * memory is one tile's partition and coefficients at a time (about 4 bytes per tile sample
 * plus 48 bytes per code-block) plus the code-block scratch of each thread.
 *
 * Values: reversible (5-3) streams decode exactly as OpenJPEG 2.5 decodes them, irreversible
 * (9-7) ones within 1 (float lifting with T.800's constants, rounding to nearest).  A stream
 * that ends early (truncated packets or tile-parts, missing tiles) decodes what is present;
 * missing tiles are zero.
 *
 * Hostile input: every marker length, index, count and allocation is checked; structures are
 * sized from the tile being decoded (bounded by the output, and by TD_J2KDEC_MAX_TILE_SAMPLES
 * when `reduce` shrinks the output), never from a count the stream merely claims; integer
 * lifting wraps rather than overflows on absurd coefficients.  Fuzzed with libFuzzer under
 * ASan + UBSan (csrc/fuzz/fuzz_j2kdec.c).  Reentrant; the one global is a mutex-protected
 * cache of working buffers that decodes share (so that frame after frame reuses warm memory;
 * td_j2kdec_release_memory empties it); worker threads only inside td_j2kdec_decode
 * (code-blocks of a tile, then the rows / column strips of each DWT level).
 */
#ifndef TD_J2KDEC_H
#define TD_J2KDEC_H

#include "td.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TD_J2KDEC_FORMAT_CODESTREAM 0 /* raw codestream: SOC FF4F, SIZ FF51 */
#define TD_J2KDEC_FORMAT_JP2 1        /* JP2 / JPH box structure around a jp2c box */

/* What the main header says (T.800 A.5.1 SIZ, A.6.1 COD). */
typedef struct td_j2kdec_info {
    int format;                /* TD_J2KDEC_FORMAT_* */
    size_t codestream_offset;  /* where the codestream starts in src */
    size_t codestream_length;
    uint32_t rows, columns;    /* Ysiz - YOsiz, Xsiz - XOsiz (reference grid) */
    uint32_t x_offset, y_offset;
    uint32_t components;       /* Csiz 1..16384 */
    uint32_t precision;        /* largest component precision, 1..38 */
    int is_signed;             /* component 0 signed */
    int uniform;               /* every component like component 0 and none subsampled */
    int reversible;            /* COD: 5-3 filter (component 0) */
    int mct;                   /* COD: multiple component transform */
    int htj2k;                 /* CAP Part 15 bit or an HT code-block style */
    uint32_t layers;           /* COD number of quality layers */
    uint32_t progression_order;/* 0 LRCP 1 RLCP 2 RPCL 3 PCRL 4 CPRL */
    uint32_t decomposition_levels; /* smallest over the main header's COD / COCs */
    uint32_t tiles;
    uint32_t tile_parts;
    int truncated;             /* a tile-part's Psot runs past the end of the input */
} td_j2kdec_info;

/* One component's decoded geometry for a given reduce (T.800 B.2, B.5). */
typedef struct td_j2kdec_component {
    uint32_t rows, columns;    /* after discarding `reduce` resolution levels */
    uint32_t precision;        /* Ssiz & 0x7F + 1 */
    int is_signed;
    uint32_t dx, dy;           /* XRsiz, YRsiz */
} td_j2kdec_comp;

/* td_j2kdec_options.flags */
#define TD_J2KDEC_PLANAR 0x1u  /* one plane per component, each of its own size, one after the
                                * other (the layout for components that differ in size);
                                * otherwise pixel-interleaved, every component the same size */
#define TD_J2KDEC_STRICT 0x2u  /* a stream that ends early is TD_E_TRUNCATED */

typedef struct td_j2kdec_options {
    uint32_t bytes_per_sample; /* 0: the natural container of the largest precision (1 for
                                * 1..8 bits, 2 for 9..16, 4 for 17..32); else 1, 2 or 4, at
                                * least as wide.  Signed samples are sign-extended, unsigned
                                * ones zero-extended, little-endian. */
    uint32_t reduce;           /* discard this many resolution levels (0 = full size) */
    uint32_t layers;           /* decode only the first `layers` quality layers (0 = all) */
    uint32_t threads;          /* code-blocks of a tile in parallel; 0 or 1 = this thread */
    uint32_t flags;            /* TD_J2KDEC_* */
} td_j2kdec_options;

/* Largest tile (samples over all its components at full resolution) decoded: the partition
 * and coefficients of a tile are built whole, and with `reduce` a small output could
 * otherwise stand for an unbounded tile.  Beyond it td_j2kdec_decode says TD_E_LIMIT. */
#define TD_J2KDEC_MAX_TILE_SAMPLES ((uint64_t)1 << 30)

typedef struct td_j2kdec td_j2kdec;

/* Read src[0..len) (JP2 boxes if any, then every codestream marker up to EOC or the end) into
 * a new decoder *dec.  TD_E_TRUNCATED if the main header is cut short, TD_E_CORRUPT for
 * impossible values, TD_E_NOMEM.  *dec is NULL on failure. */
int td_j2kdec_open(const uint8_t *src, size_t len, td_j2kdec **dec, td_error *err);

/* The main-header facts (never NULL for an open decoder). */
const td_j2kdec_info *td_j2kdec_get_info(const td_j2kdec *dec);

/* Geometry of component c after discarding `reduce` resolution levels: TD_E_INVALID_ARGUMENT
 * for c out of range, TD_E_UNSUPPORTED when reduce exceeds the decomposition levels. */
int td_j2kdec_component(const td_j2kdec *dec, uint32_t c, uint32_t reduce,
                        td_j2kdec_comp *comp, td_error *err);

/* Bytes td_j2kdec_decode writes with these options (overflow-checked); in *bps the container.
 * Interleaved layout needs every component the same size (TD_E_UNSUPPORTED otherwise: ask
 * for TD_J2KDEC_PLANAR); precision > 32 is TD_E_UNSUPPORTED. */
int td_j2kdec_decoded_size(const td_j2kdec *dec, const td_j2kdec_options *opt, size_t *size,
                           uint32_t *bps, td_error *err);

/* Decode into out[0..out_len) (>= td_j2kdec_decoded_size, else TD_E_OUTPUT_TOO_SMALL before
 * anything is decoded).  On failure out may hold part of the image. */
int td_j2kdec_decode(td_j2kdec *dec, uint8_t *out, size_t out_len,
                     const td_j2kdec_options *opt, td_error *err);

void td_j2kdec_close(td_j2kdec *dec);

/* Free the working buffers that decodes keep for the next ones (tile-component coefficients,
 * code-block scratch: one process-wide cache, bounded by a multiple of the largest recent
 * request and by 128 MiB).  Safe at any time, also while other threads decode. */
void td_j2kdec_release_memory(void);

#ifdef __cplusplus
}
#endif
#endif /* TD_J2KDEC_H */
