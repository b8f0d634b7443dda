/*
 * td_ljpeg.h - JPEG Lossless decoder: ITU-T T.81 Annex H, process 14 (SOF3, Huffman coding),
 * which DICOM calls JPEG Lossless (1.2.840.10008.1.2.4.57) and, for selection value 1,
 * JPEG Lossless SV1 (1.2.840.10008.1.2.4.70).
 *
 * What is decoded
 *   - SOF3 frames (B.2.2) with precision P 2..16, 1..4 components, any size up to 65535 x 65535.
 *     The number of lines may be 0 in the SOF and given by a DNL segment after the first scan
 *     (B.2.5); td_ljpeg_read_header finds it.
 *   - Any scan structure (B.2.3): one interleaved scan, one scan per component, or a mix; the
 *     output is the same whatever the scan structure.  Interleaved scans (Ns > 1) need sampling
 *     factors H = V = 1 for every component; frames whose components have different sampling
 *     factors are TD_E_UNSUPPORTED (DICOM never writes them).
 *   - Predictors (selection values Ss) 1..7 and point transforms Pt (Al) 0..P-1 (H.1.2.1,
 *     Table H.1).  Predictors 5 and 6 halve with an arithmetic right shift.
 *   - Restart intervals (DRI, B.2.4.4) and RST0..RST7 markers.  As in libjpeg-turbo, the
 *     interval must be a whole number of MCU rows (TD_E_UNSUPPORTED otherwise); the first row of
 *     each interval predicts like the first row of the scan (H.1.2.1).
 *   - Several Huffman tables per DHT segment, tables redefined between scans, DHT/DRI before or
 *     after the SOF; APPn, COM, DQT and unknown length-carrying markers are skipped; fill bytes
 *     (0xFF runs) before markers and byte stuffing (0xFF00) inside entropy-coded data (B.1.1.5).
 *   - The difference category SSSS = 16 (difference 32768, no additional bits, H.1.2.2).
 *
 * Arithmetic (H.1.2.1, H.2.1): each reconstructed sample is (prediction + difference) modulo
 * 2^16, and the predictors of the following samples use that 16-bit value.  Nothing is clamped
 * and nothing is masked to P: a sample is written as (value << Pt) truncated only to the output
 * container (16 or 8 bits).  This is what libjpeg-turbo, GDCM and liblj92 do, and what the
 * Philips and Samsung ultrasound encoders that emit differences relying on the wrap need
 * (pylibjpeg-libjpeg clamps and decodes those files wrongly).
 *
 * Tolerated damage: bytes after EOI, a missing EOI (decoding stops as soon as every component
 * has been decoded), extraneous bytes between the end of a restart interval and its marker,
 * non-zero Se/Ah in the scan header, AC-class tables in a DHT (ignored), Huffman tables whose
 * codes fill the whole code space (an all-ones code, which Annex C reserves; still decodable).
 * Not tolerated: entropy-coded data that ends before the image does (TD_E_TRUNCATED), an
 * unexpected marker inside a scan or a wrong RSTn (TD_E_CORRUPT), invalid Huffman codes.
 *
 * Not decoded (TD_E_UNSUPPORTED, with a message naming the marker, e.g. "JPEG SOF9 (arithmetic
 * coding) is not supported"): DCT processes (SOF0, SOF1, SOF2), hierarchical processes (SOF5,
 * SOF6, SOF7, DHP), arithmetic coding (SOF9..SOF15), JPEG-LS (SOF55), more than 4 components.
 *
 * Every function is reentrant and keeps no global state; the decoder allocates only its working
 * memory (Huffman lookup tables, at most two rows of samples) and never the output.
 */
#ifndef TD_LJPEG_H
#define TD_LJPEG_H

#include "td.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TD_LJPEG_MAX_COMPONENTS 4

/* Flags for td_ljpeg_decode. */
#define TD_LJPEG_PLANAR 0x1u /* write planar configuration 1: each component plane contiguous */

/* What td_ljpeg_read_header learns from the markers up to the first scan header (and, when the
 * SOF has 0 lines, from the DNL segment that follows the first scan). */
typedef struct td_ljpeg_info {
    uint32_t rows;             /* Y: lines, from the SOF or, when the SOF says 0, from the DNL */
    uint32_t columns;          /* X: samples per line */
    uint32_t components;       /* Nf: 1..4 */
    uint32_t precision;        /* P: bits per sample, 2..16 */
    uint32_t sof_marker;       /* 0xFFC3 */
    uint32_t predictor;        /* first scan's selection value Ss, 1..7 (Table H.1) */
    uint32_t point_transform;  /* first scan's Pt (Al), 0..P-1 */
    uint32_t scan_components;  /* first scan's Ns; equal to components when it is interleaved */
    uint32_t restart_interval; /* Ri (MCUs) in force at the first scan, 0 when none */
    uint32_t rows_from_dnl;    /* 1 when rows came from a DNL segment */
    uint8_t component_ids[TD_LJPEG_MAX_COMPONENTS]; /* Ci, in frame order */
    uint8_t sampling[TD_LJPEG_MAX_COMPONENTS];      /* Hi << 4 | Vi, in frame order */
} td_ljpeg_info;

/* Parse the codestream of src_len bytes up to the first scan header (SOS) and fill *info.
 * Validates what decoding would reject up front: a SOF other than SOF3 (TD_E_UNSUPPORTED),
 * impossible frame or scan parameters, a scan header that uses an undefined Huffman table.
 * When the SOF has 0 lines, the first scan's entropy-coded data is skipped to find the DNL
 * segment (TD_E_CORRUPT when there is none).  Returns TD_OK or a TD_E_* status. */
int td_ljpeg_read_header(const uint8_t *src, size_t src_len, td_ljpeg_info *info, td_error *err);

/* Bytes one decoded frame occupies: rows * columns * components * bytes_per_sample, or 0 when
 * an argument is impossible or the product overflows size_t. */
size_t td_ljpeg_frame_size(const td_ljpeg_info *info, uint32_t bytes_per_sample);

/* Decode the frame in src into out (out_len >= td_ljpeg_frame_size(info, bytes_per_sample)).
 * Samples are little-endian in a container of bytes_per_sample bytes: 2, or 1 when the
 * precision is at most 8 (otherwise TD_E_INVALID_ARGUMENT).  Components are pixel-interleaved
 * (planar configuration 0) whatever the scan structure, or planar with TD_LJPEG_PLANAR.
 * out needs no alignment (with 2-byte alignment 16-bit rows are decoded in place) and is
 * written only inside frame_size bytes; on failure its content is unspecified.
 * Returns TD_OK; TD_E_TRUNCATED, TD_E_CORRUPT or TD_E_UNSUPPORTED for the data;
 * TD_E_OUTPUT_TOO_SMALL when out_len is short; TD_E_LIMIT when the frame size overflows size_t;
 * TD_E_NOMEM when working memory (48 KiB per Huffman table in use, two rows of samples) cannot
 * be allocated; TD_E_INVALID_ARGUMENT for NULL pointers, bytes_per_sample other than 1 or 2, or
 * unknown flags.  Details (message, input offset) go to *err. */
int td_ljpeg_decode(const uint8_t *src, size_t src_len, uint8_t *out, size_t out_len,
                    uint32_t bytes_per_sample, unsigned flags, td_error *err);

#ifdef __cplusplus
}
#endif
#endif /* TD_LJPEG_H */
