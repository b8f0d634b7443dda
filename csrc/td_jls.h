/*
 * td_jls.h - JPEG-LS (ISO/IEC 14495-1 = ITU-T T.87) decoding through the system CharLS
 * (libcharls >= 2.2, its C API).
 *
 * DICOM transfer syntaxes (PS3.5 A.4.3, 10.9): 1.2.840.10008.1.2.4.80 (JPEG-LS Lossless,
 * NEAR = 0) and .81 (JPEG-LS Near-Lossless, NEAR >= 0).  A DICOM frame holds one JPEG-LS
 * interchange stream: SOI, optional SPIFF/APPn/COM/LSE segments, SOF55 (FFF7), one scan per
 * component (interleave mode 0, "none") or one scan for all (1 "line", 2 "sample"), EOI.
 *
 * Flow: td_jls_read_header -> td_jls_decoded_size -> the caller allocates -> td_jls_decode
 * writes into the caller's buffer.  Each call creates its own CharLS decoder over the caller's
 * bytes (no globals, no callbacks into Python): any number of calls may run at once on
 * different threads.
 *
 * Output layout: pixel-interleaved (R0 G0 B0 R1 ...; planar configuration 0) whatever the
 * interleave mode of the stream, rows top to bottom, little-endian samples in a
 * bytes_per_sample container: the natural one follows the precision P (SOF55) as CharLS and
 * every pydicom JPEG-LS plugin choose it (P 2..8 -> 1 byte, 9..16 -> 2); a wider container
 * (2 or 4 bytes) may be asked for.  JPEG-LS has no signedness: samples are the coded unsigned
 * values 0..MAXVAL, zero-extended - unless TD_JLS_SIGN_EXTEND asks for pydicom's JPEG-LS sign
 * correction (Pixel Representation 1: bit P-1 is the sign, extended through the container).
 * A colour transform signalled by the HP "mrfx" APP8 segment is inverted by CharLS.
 *
 * Input handling around CharLS: the stream is decoded up to its last EOI marker (FF D9) and
 * bytes after it (DICOM padding) are ignored; a stream without EOI is TD_E_TRUNCATED before
 * CharLS sees it (CharLS 2.x can loop forever on a stream that ends inside scan data).  Zero
 * bytes between the last scan's data and EOI (non-conforming; WG04's MR1_JLSL has one and
 * CharLS >= 2.3 rejects it) are skipped, with a note in err->message and TD_OK.
 */
#ifndef TD_JLS_H
#define TD_JLS_H

#include "td.h"

#ifdef __cplusplus
extern "C" {
#endif

/* td_jls_options.flags */
#define TD_JLS_SIGN_EXTEND 0x1u /* sign-extend each sample from bit P-1 through its container
                                 * (pydicom's JPEG-LS sign correction, Pixel Representation 1) */

/* What the frame header and first scan header say (T.87 C.2.2 SOF55, C.2.3 SOS). */
typedef struct td_jls_info {
    uint32_t rows;             /* Y (height) */
    uint32_t columns;          /* X (width) */
    uint32_t components;       /* Nf, 1..255 */
    uint32_t bits_per_sample;  /* P, 2..16 (pydicom's jls_precision) */
    uint32_t near;             /* NEAR of the first scan: 0 = lossless */
    uint32_t interleave_mode;  /* ILV: 0 none (one scan per component), 1 line, 2 sample */
    uint32_t color_transformation; /* 0 none, 1..3 = HP1..HP3 (inverted by the decoder) */
    uint32_t bytes_per_sample; /* natural container for P: 1 or 2 */
} td_jls_info;

/* Decode options; a NULL pointer or an all-zero struct means the defaults. */
typedef struct td_jls_options {
    uint32_t bytes_per_sample; /* 0 = natural container (info.bytes_per_sample); 1, 2 or 4 for a
                                * container at least that wide (P > 8 into 1 byte is
                                * TD_E_UNSUPPORTED) */
    uint32_t flags;            /* TD_JLS_SIGN_EXTEND */
} td_jls_options;

/* Read the headers up to the first scan of src[0..len) into *info through CharLS.
 * TD_E_TRUNCATED when the input ends inside the headers, TD_E_CORRUPT for what CharLS calls
 * invalid data (bad markers, impossible values), TD_E_UNSUPPORTED for valid features CharLS
 * does not decode; err->message carries CharLS's own message. */
int td_jls_read_header(const uint8_t *src, size_t len, td_jls_info *info, td_error *err);

/* Bytes td_jls_decode writes with these options: rows * columns * components * container,
 * overflow-checked (TD_E_LIMIT).  TD_E_UNSUPPORTED for a container narrower than P;
 * TD_E_INVALID_ARGUMENT for a container other than 0, 1, 2 or 4. */
int td_jls_decoded_size(const td_jls_info *info, const td_jls_options *opt, size_t *size,
                        td_error *err);

/* Decode one frame into out[0..out_len); out_len must be at least td_jls_decoded_size()
 * (TD_E_OUTPUT_TOO_SMALL otherwise, checked before decoding).  Interleave mode 0 with several
 * components is decoded into a working buffer (TD_E_NOMEM if it cannot be allocated) and
 * interleaved; everything else is decoded straight into out and widened or sign-extended in
 * place.  CharLS failures map to TD_E_TRUNCATED / TD_E_CORRUPT / TD_E_UNSUPPORTED /
 * TD_E_NOMEM with "CharLS: <its message>" in err->message. */
int td_jls_decode(const uint8_t *src, size_t len, uint8_t *out, size_t out_len,
                  const td_jls_options *opt, td_error *err);

/* The CharLS version this code runs against, e.g. "2.4.1". */
const char *td_jls_backend_version(void);

#ifdef __cplusplus
}
#endif
#endif /* TD_JLS_H */
