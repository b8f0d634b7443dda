/*
 * td_rle.h - DICOM RLE Lossless (1.2.840.10008.1.2.5), DICOM PS3.5 Annex G.
 *
 * An RLE frame is a 64-byte header (segment count, then 15 little-endian uint32 segment offsets
 * from the frame start) followed by up to 15 PackBits segments.  Each segment holds one byte
 * plane of one sample: for BitsAllocated 16 and 3 samples the segments are
 * R-MSB, R-LSB, G-MSB, G-LSB, B-MSB, B-LSB (G.2: most significant byte first).
 *
 * Output layout (what pydicom's plugin contract expects): little-endian samples in a container of
 * bits_allocated/8 bytes, pixel-interleaved (planar configuration 0) unless TD_RLE_PLANAR is
 * given, in which case each sample plane is contiguous (planar configuration 1).
 * BitsAllocated 1 is accepted: there is then exactly one segment whose decoded bytes are the
 * bit-packed frame (ceil(rows*columns/8) bytes, least significant bit first, as native
 * BitsAllocated 1 pixel data); unpacking is the caller's job.
 */
#ifndef TD_RLE_H
#define TD_RLE_H

#include "td.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Flags for td_rle_decode_frame / td_rle_encode_frame. */
#define TD_RLE_PLANAR 0x1u            /* decode: write planar configuration 1 (sample planes) */
#define TD_RLE_SEGMENT_ORDER_LE 0x2u  /* decode: non-conformant LSB-first segment order ('<') */

/* Number of output bytes one decoded frame occupies, or 0 if the arguments are impossible or the
 * size overflows size_t.  bits_allocated is 1, 8, 16, 32 or 64. */
size_t td_rle_frame_size(uint32_t rows, uint32_t columns, uint32_t samples_per_pixel,
                         uint32_t bits_allocated);

/* Decode one RLE frame of src_len bytes into out (out_len >= td_rle_frame_size(...)).
 * A segment that decodes to more bytes than one plane holds is accepted (the excess is the
 * non-conformant padding some writers add, and is ignored); one that decodes to fewer is
 * TD_E_TRUNCATED.  The segment count must equal samples_per_pixel * bits_allocated / 8.
 * Every used header offset must lie in [64, src_len] and not decrease (segments are numbered
 * from 1 in messages, as in G.5).  src and out must not overlap; on failure the contents of out
 * are unspecified.  Uses about 24 KB of stack and allocates nothing.
 * Returns TD_OK or a TD_E_* status with details in *err. */
int td_rle_decode_frame(const uint8_t *src, size_t src_len, uint32_t rows, uint32_t columns,
                        uint32_t samples_per_pixel, uint32_t bits_allocated, unsigned flags,
                        uint8_t *out, size_t out_len, td_error *err);

/* Largest encoded size of one frame (header, worst-case literal runs, padding). 0 on overflow. */
size_t td_rle_encode_bound(uint32_t rows, uint32_t columns, uint32_t samples_per_pixel,
                           uint32_t bits_allocated);

/* Encode one frame of little-endian, pixel-interleaved samples (src_len must equal
 * td_rle_frame_size(...); bits_allocated 8, 16, 32 or 64) as PS3.5 Annex G describes, producing
 * output byte-identical to pydicom's own RLE encoder: each row of each byte plane is encoded
 * separately, runs of two or more equal bytes become replicate runs, odd segments are padded
 * with one zero byte.  Writes at most out_cap bytes to out and the encoded length to *out_len;
 * an out_cap below the encoded size is TD_E_OUTPUT_TOO_SMALL.  Allocates only for rows wider
 * than 8192 columns (TD_E_NOMEM if that fails). */
int td_rle_encode_frame(const uint8_t *src, size_t src_len, uint32_t rows, uint32_t columns,
                        uint32_t samples_per_pixel, uint32_t bits_allocated, uint8_t *out,
                        size_t out_cap, size_t *out_len, td_error *err);

#ifdef __cplusplus
}
#endif
#endif /* TD_RLE_H */
