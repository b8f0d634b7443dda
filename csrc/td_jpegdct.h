/*
 * td_jpegdct.h - turbodicom's own JPEG sequential DCT decoder: ITU-T T.81 Annex F with Huffman
 * coding, baseline (SOF0) and extended (SOF1) processes, 8 or 12 bits per sample.
 *
 * DICOM's JPEG Extended transfer syntax (1.2.840.10008.1.2.4.51, processes 2 and 4) carries
 * 12-bit frames, which Debian's libjpeg-turbo 2.1 (built for 8-bit samples only) cannot decode.
 * turbodicom decodes 8-bit frames with libjpeg-turbo (td_jpeg.c) and 12-bit frames with this
 * kernel, whose output equals libjpeg-turbo 3's default decompression of the same codestream:
 * the accurate integer IDCT (islow), fancy (triangular) upsampling of subsampled chroma, and
 * libjpeg's fixed-point YCbCr -> RGB conversion, each re-derived from T.81 and the JFIF
 * colour equations and checked sample for sample against libjpeg-turbo 3 (via imagecodecs).
 *
 * What is decoded
 *   - SOF0/SOF1 frames (B.2.2), precision 8 or 12 (also 12 in SOF0, which T.81 forbids and
 *     libjpeg accepts), 1..4 components, sampling factors 1..4,
 *     up to 65535 x 65535; 0 lines in the SOF with the count in a DNL segment after the first
 *     scan (B.2.5).
 *   - Any scan structure (B.2.3): one interleaved scan, one scan per component, or a mix, in
 *     any order.  As libjpeg does, a component's quantisation table is the one in force at the
 *     component's first scan (a DQT between scans affects only components not yet decoded).
 *   - Restart intervals (DRI before any scan, B.2.4.4) and RST0..RST7; DHT, DQT (Pq 0 and 1,
 *     8- and 16-bit values) and DRI segments anywhere before a scan; fill bytes before markers
 *     and byte stuffing in entropy-coded data (B.1.1.5); APPn, COM and unknown segments skipped.
 *   - Ss/Se/Ah/Al in a sequential scan header are ignored, as libjpeg-turbo ignores them (the
 *     WG04 JPLY images have Se = 0).
 *   - Upsampling: fancy for 2:1 horizontal (component wider than 2 samples), 2:1 both (same)
 *     and 2:1 vertical ratios; replication for other integer ratios; other ratios are
 *     TD_E_UNSUPPORTED (libjpeg refuses them too).
 *   - Colour: only with TD_JPEGDCT_RGB and 3 components (YCbCr -> RGB); otherwise samples are
 *     written as decoded.  Whether a frame is YCbCr (JFIF, Adobe transform, component ids) is
 *     the caller's decision; info.jfif, info.adobe_transform and info.component_ids help.
 *
 * Tolerated damage: bytes after the last scan (EOI missing or followed by garbage), fill bytes,
 * a Huffman table whose codes fill the whole code space.  Refused where libjpeg-turbo warns
 * and fills in (a medical decoder must not invent samples): an invalid Huffman code or a
 * coefficient run beyond the block (TD_E_CORRUPT), entropy-coded data that ends early
 * (TD_E_TRUNCATED), a missing, wrong or out-of-order RSTn or another marker inside a scan
 * (TD_E_CORRUPT), a component that no scan decodes (TD_E_TRUNCATED), a scan that uses an
 * undefined Huffman or quantisation table (TD_E_CORRUPT; libjpeg would substitute the Annex K
 * Huffman tables for a missing DHT), a DC table with symbols above 15.
 *
 * Not decoded (TD_E_UNSUPPORTED, with a message naming the SOF, e.g. "JPEG SOF2 (progressive
 * DCT) is not supported"): progressive, lossless, hierarchical and arithmetic-coded processes,
 * JPEG-LS, more than 4 components, precisions other than 8 and 12.
 *
 * Working memory: 8 Huffman lookup tables and, for one component, one row of 8 x 8 blocks; for
 * several components, one plane per component (its samples padded to whole MCUs, 16 bits
 * each), since upsampling and interleaving need every component of a row.
 *
 * Every function is reentrant and keeps no global state; the decoder allocates only its working
 * memory and never the output.
 */
#ifndef TD_JPEGDCT_H
#define TD_JPEGDCT_H

#include "td.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TD_JPEGDCT_MAX_COMPONENTS 4

/* Flags for td_jpegdct_decode. */
#define TD_JPEGDCT_RGB 0x1u /* 3 components: convert YCbCr to RGB; otherwise samples are raw */

/* What td_jpegdct_read_header learns from the markers up to the first scan header. */
typedef struct td_jpegdct_info {
    uint32_t rows;             /* Y: lines (from the DNL segment when the SOF says 0) */
    uint32_t columns;          /* X: samples per line */
    uint32_t components;       /* Nf: 1..4 */
    uint32_t precision;        /* P: 8 or 12 */
    uint32_t sof_marker;       /* 0xFFC0 or 0xFFC1 (other SOFs are reported, then refused) */
    uint32_t restart_interval; /* Ri in force at the first scan, 0 when none */
    uint32_t jfif;             /* 1 when an APP0 "JFIF" segment precedes the first SOS */
    int32_t adobe_transform;   /* APP14 "Adobe" transform flag (0, 1, 2), -1 when absent */
    uint8_t component_ids[TD_JPEGDCT_MAX_COMPONENTS]; /* Ci, in frame order */
    uint8_t sampling[TD_JPEGDCT_MAX_COMPONENTS];      /* Hi << 4 | Vi, in frame order */
} td_jpegdct_info;

/* Parse the codestream up to the first SOS and fill *info.  A SOF other than SOF0/SOF1 still
 * fills *info (sof_marker says which) and returns TD_E_UNSUPPORTED naming it, so a caller can
 * dispatch on it.  Returns TD_OK or a TD_E_* status. */
int td_jpegdct_read_header(const uint8_t *src, size_t src_len, td_jpegdct_info *info,
                           td_error *err);

/* Bytes one decoded frame occupies: rows * columns * components * bytes_per_sample, or 0 when
 * an argument is impossible or the product overflows size_t. */
size_t td_jpegdct_frame_size(const td_jpegdct_info *info, uint32_t bytes_per_sample);

/* Decode the frame in src into out, pixel-interleaved (planar configuration 0), little-endian
 * samples in a container of bytes_per_sample bytes (2; or 1 when the precision is 8).
 * flags: TD_JPEGDCT_RGB to convert a 3-component frame from YCbCr to RGB.
 * Returns TD_OK; TD_E_TRUNCATED / TD_E_CORRUPT / TD_E_UNSUPPORTED for the data;
 * TD_E_OUTPUT_TOO_SMALL; TD_E_LIMIT; TD_E_NOMEM; TD_E_INVALID_ARGUMENT for NULL pointers,
 * an impossible bytes_per_sample or unknown flags.  Details go to *err. */
int td_jpegdct_decode(const uint8_t *src, size_t src_len, uint8_t *out, size_t out_len,
                      uint32_t bytes_per_sample, unsigned flags, td_error *err);

#ifdef __cplusplus
}
#endif
#endif /* TD_JPEGDCT_H */
