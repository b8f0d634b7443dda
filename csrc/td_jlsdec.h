/*
 * td_jlsdec.h - turbodicom's own JPEG-LS decoder (ISO/IEC 14495-1 = ITU-T T.87), no library.
 *
 * The same contract as td_jls.h (the CharLS adapter), so a codec switches engines by swapping
 * the three calls: td_jlsdec_read_header -> td_jlsdec_decoded_size -> the caller allocates ->
 * td_jlsdec_decode writes into the caller's buffer.  The td_jls_info / td_jls_options structs
 * and TD_JLS_SIGN_EXTEND are td_jls.h's (that header needs no library).
 *
 * Decodes: P = 2..16, lossless and near-lossless (NEAR > 0, possibly different per scan),
 * 1..255 components in interleave mode 0 (one scan per component), 1..4 components per scan
 * in modes 1 (line) and 2 (sample), restart intervals (DRI, RSTm), LSE preset coding
 * parameters (id 1: MAXVAL, T1, T2, T3, RESET; zero means the default of T.87 C.2.4.1.1).
 * SPIFF headers, APPn and COM segments are skipped.  Not decoded (TD_E_UNSUPPORTED with a
 * message): mapping tables (LSE id 2/3), oversize dimensions (LSE id 4), the HP "mrfx" colour
 * transforms, point transform (Al) != 0, DNL (Y = 0 in SOF55).
 *
 * Output: exactly td_jls_decode's (and CharLS's) samples: pixel-interleaved whatever the
 * interleave mode, rows top to bottom, little-endian samples in the natural container (1 byte
 * for P <= 8, else 2) or a wider one on request; unsigned as coded unless TD_JLS_SIGN_EXTEND.
 * Bytes after EOI are ignored; zero bytes between the last scan's data and EOI are tolerated.
 *
 * Hostile input: every read is bounds-checked, every loop is bounded by the image or the
 * input, working memory is two lines per component plus a gradient table (at most ~2 MiB),
 * a corrupt stream gives TD_E_CORRUPT and a short one TD_E_TRUNCATED with the byte offset.
 * No globals; reentrant.
 */
#ifndef TD_JLSDEC_H
#define TD_JLSDEC_H

#include "td.h"
#include "td_jls.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Read SOF55 and the first scan header of src[0..len) into *info (T.87 C.2.2, C.2.3).
 * color_transformation is always 0 (a stream that asks for one is TD_E_UNSUPPORTED). */
int td_jlsdec_read_header(const uint8_t *src, size_t len, td_jls_info *info, td_error *err);

/* Bytes td_jlsdec_decode writes with these options (as td_jls_decoded_size). */
/* The container td_jlsdec_decode / td_jls_decode write for these options (opt NULL or its
 * bytes_per_sample 0: the natural one for P), in *bps; TD_E_UNSUPPORTED for a container
 * narrower than P, TD_E_INVALID_ARGUMENT for one other than 0, 1, 2 or 4.  Shared by both
 * engines. */
int td_jlsdec_container(const td_jls_info *info, const td_jls_options *opt, uint32_t *bps,
                        td_error *err);

int td_jlsdec_decoded_size(const td_jls_info *info, const td_jls_options *opt, size_t *size,
                           td_error *err);

/* Decode one frame into out[0..out_len) (at least td_jlsdec_decoded_size bytes, else
 * TD_E_OUTPUT_TOO_SMALL before anything is decoded).  On failure out may hold part of the
 * image.  TD_E_NOMEM if the working lines cannot be allocated. */
int td_jlsdec_decode(const uint8_t *src, size_t len, uint8_t *out, size_t out_len,
                     const td_jls_options *opt, td_error *err);

#ifdef __cplusplus
}
#endif
#endif /* TD_JLSDEC_H */
