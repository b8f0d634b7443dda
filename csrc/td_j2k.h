/*
 * td_j2k.h - JPEG 2000 (ISO/IEC 15444-1 = ITU-T T.800) and High-Throughput JPEG 2000
 * (ISO/IEC 15444-15 = ITU-T T.814, "HTJ2K") decoding through the system OpenJPEG
 * (libopenjp2 >= 2.5.0, which decodes HT code-blocks too).
 *
 * DICOM transfer syntaxes (PS3.5 A.4.4, 10.6, 10.18): 1.2.840.10008.1.2.4.90 (lossless only),
 * .91 (lossless or lossy), .201 (HTJ2K lossless only), .202 (HTJ2K lossless RPCL), .203 (HTJ2K).
 * A DICOM frame holds a raw codestream (starts with SOC FF4F, SIZ FF51); some writers wrap it in
 * a JP2 file (signature box 0000000C 6A502020 0D0A870A).  Both are accepted: for JP2 the
 * contiguous codestream box ('jp2c') is located and decoded as a raw codestream, so JP2 palette,
 * channel-definition and colour-specification boxes are ignored - the DICOM Photometric
 * Interpretation, not the wrapper, says what the components mean.
 *
 * Flow: td_j2k_read_header (our own bounds-checked marker walk, no allocation, no OpenJPEG call)
 * -> td_j2k_decoded_size -> the caller allocates -> td_j2k_decode writes into the caller's
 * buffer.  Every call creates its own OpenJPEG codec and memory stream over the caller's bytes
 * (no temporary files, no callbacks into Python, no globals): any number of calls may run at
 * once on different threads.
 *
 * Output layout: little-endian samples in a bytes_per_sample container (1, 2 or 4), pixel-
 * interleaved (R0 G0 B0 R1 ...; planar configuration 0) unless planar is set, rows top to bottom.
 * Signed components are stored as two's complement sign-extended to the container; unsigned
 * ones zero-extended.  The natural container follows the codestream precision exactly as
 * pylibjpeg-openjpeg (and so pydicom's J2K plugins) choose it: precision 1..8 -> 1 byte,
 * 9..16 -> 2, 17..32 -> 4.  Components are the decoded ones: when the codestream applies the
 * multi-component transform (COD MCT = 1, DICOM YBR_RCT / YBR_ICT) OpenJPEG has already inverted
 * it and the samples are RGB.  No sign correction, bit masking or colour conversion beyond that
 * happens here (pydicom does them after the plugin; see PYDICOM.md).
 *
 * Header values are those of the main header: a tile-part header may override COD/COC for one
 * tile (T.800 A.6.1), which only matters for `reduce` (OpenJPEG then fails cleanly).
 */
#ifndef TD_J2K_H
#define TD_J2K_H

#include "td.h"

#ifdef __cplusplus
extern "C" {
#endif

/* td_j2k_info.format */
#define TD_J2K_FORMAT_CODESTREAM 0 /* raw J2K codestream: SOC FF4F then SIZ FF51 */
#define TD_J2K_FORMAT_JP2 1        /* JP2 file format box structure (T.800 Annex I) */

/* Number of components whose precision/signedness td_j2k_info lists one by one. */
#define TD_J2K_INFO_COMPONENTS 4

/* Largest tiles * components accepted by td_j2k_decode (TD_E_LIMIT beyond): OpenJPEG allocates
 * about 1 KiB of coding parameters per tile and component while reading the main header, so a
 * tiny hostile codestream could otherwise claim gigabytes.  Real DICOM frames use 1 tile. */
#define TD_J2K_MAX_TILE_COMPONENTS 65536u

/* td_j2k_options.flags */
#define TD_J2K_STRICT 0x1u /* Any truncation is an error: a frame whose tile-part chain runs
                            * past its end (info.truncated) is TD_E_TRUNCATED before decoding,
                            * and OpenJPEG runs in strict mode.  Without it (the default) a
                            * codestream lacking only its final EOC marker gets a virtual one
                            * (OpenJPEG refuses such an otherwise complete stream; some DICOM
                            * writers omit EOC), and the engine may keep what it decoded of a
                            * short stream, saying so in err->message with TD_OK.  OpenJPEG
                            * 2.5.0 still fails a tile-part cut short of its Psot length, as
                            * pylibjpeg-openjpeg and imagecodecs do. */

/* What the main header says (T.800 A.5.1 SIZ, A.6.1 COD, A.6.2 COC; T.800 (2019) A.5.2 CAP). */
typedef struct td_j2k_info {
    int format;                  /* TD_J2K_FORMAT_* */
    size_t codestream_offset;    /* where the codestream starts in src (0 for a raw one) */
    size_t codestream_length;    /* its length in bytes (to the end of src or of the jp2c box) */
    uint32_t rows;               /* Ysiz - YOsiz: full-resolution image height */
    uint32_t columns;            /* Xsiz - XOsiz: full-resolution image width */
    uint32_t x_offset, y_offset; /* XOsiz, YOsiz (0 in every DICOM file seen so far) */
    uint32_t components;         /* Csiz, 1..16384 */
    uint32_t precision;          /* largest component precision (Ssiz & 0x7F) + 1, 1..38 */
    int is_signed;               /* component 0 is signed (Ssiz & 0x80): what pydicom's
                                  * get_j2k_parameters() reports as is_signed */
    int uniform;                 /* 1: every component has component 0's precision and
                                  * signedness and none is subsampled */
    int subsampled;              /* 1: some component has XRsiz or YRsiz != 1 */
    uint8_t component_precision[TD_J2K_INFO_COMPONENTS]; /* first components (0 past Csiz) */
    uint8_t component_signed[TD_J2K_INFO_COMPONENTS];
    uint32_t bytes_per_sample;   /* natural container for `precision`: 1, 2 or 4; 0 when the
                                  * precision exceeds 32 bits (decode says TD_E_UNSUPPORTED) */
    int mct;                     /* COD SGcod: multiple component transform used (RCT with the
                                  * 5-3 wavelet, ICT with the 9-7), i.e. YBR_RCT / YBR_ICT */
    int reversible;              /* COD SPcod: 1 = 5-3 reversible wavelet, 0 = 9-7 irreversible */
    int htj2k;                   /* Part 15: CAP marker with Pcap bit 15, or HT code-block style
                                  * (bit 6) in COD/COC */
    uint32_t decomposition_levels; /* smallest over COD and main-header COCs, 0..32 */
    uint32_t resolution_levels;    /* decomposition_levels + 1: reduce may be 0..this-1 */
    uint32_t layers;             /* COD SGcod number of quality layers */
    uint32_t progression_order;  /* COD SGcod: 0 LRCP, 1 RLCP, 2 RPCL, 3 PCRL, 4 CPRL */
    uint32_t tiles;              /* number of tiles in the image */
    uint32_t tile_parts;         /* tile-parts found by following the SOT chain (Psot lengths) */
    int truncated;               /* 1: a tile-part's Psot runs past the end of src - the frame
                                  * was cut short (decode: TD_E_TRUNCATED with TD_J2K_STRICT) */
    size_t truncated_offset;     /* offset in src of that tile-part's SOT marker */
} td_j2k_info;

/* Decode options; a NULL pointer or an all-zero struct means the defaults. */
typedef struct td_j2k_options {
    uint32_t bytes_per_sample; /* 0 = natural container (info.bytes_per_sample); 1, 2 or 4 to
                                * ask for a container at least that wide (a 12-bit stream into
                                * 4 bytes is fine; into 1 byte is TD_E_UNSUPPORTED) */
    uint32_t planar;           /* 0 = pixel-interleaved, 1 = one contiguous plane per component */
    uint32_t reduce;           /* discard this many highest resolution levels (0 = full size);
                                * the output then has td_j2k_reduced_dims() rows and columns */
    uint32_t num_threads;      /* OpenJPEG worker threads for this one frame (code-blocks in
                                * parallel); 0 or 1 = the calling thread only.  Ignored when the
                                * library was built without thread support. */
    uint32_t flags;            /* TD_J2K_STRICT */
} td_j2k_options;

/* Parse the JP2 boxes (if any) and the codestream main header of src[0..len) into *info, then
 * hop along the tile-part chain (SOT to SOT, no packet data read) to flag a frame cut short.
 * Bounds-checked, allocation-free, does not call OpenJPEG.  TD_E_TRUNCATED if the main header
 * ends before SOT, TD_E_CORRUPT for impossible values (Csiz 0, Xsiz <= XOsiz, precision > 38,
 * marker lengths that overrun, a JP2 file without a jp2c box, ...).  Values not constrained by
 * DICOM (subsampling, mixed precision, precision > 32) are reported, not rejected. */
int td_j2k_read_header(const uint8_t *src, size_t len, td_j2k_info *info, td_error *err);

/* Rows and columns of the image after discarding `reduce` resolution levels (T.800 B.5:
 * ceil(Ysiz / 2^r) - ceil(YOsiz / 2^r), likewise for columns).  TD_E_UNSUPPORTED when reduce
 * exceeds info->decomposition_levels; TD_E_INVALID_ARGUMENT for NULL pointers. */
int td_j2k_reduced_dims(const td_j2k_info *info, uint32_t reduce, uint32_t *rows,
                        uint32_t *columns, td_error *err);

/* Bytes td_j2k_decode writes for these options: reduced rows * columns * components *
 * container, overflow-checked.  Errors as td_j2k_reduced_dims, plus TD_E_UNSUPPORTED for a
 * container narrower than the precision or a precision beyond 32 bits, and TD_E_LIMIT when the
 * size does not fit size_t. */
int td_j2k_decoded_size(const td_j2k_info *info, const td_j2k_options *opt, size_t *size,
                        td_error *err);

/* Decode one frame (codestream or JP2) into out[0..out_len); out_len must be at least
 * td_j2k_decoded_size() (TD_E_OUTPUT_TOO_SMALL otherwise, checked before any decoding).
 * Everything OpenJPEG reports is checked against the header before a byte is written
 * (dimensions, component count, precision, signedness, data present).  Subsampled components
 * are TD_E_UNSUPPORTED.  OpenJPEG failures are TD_E_BACKEND (TD_E_TRUNCATED when OpenJPEG says
 * the stream is too short, TD_E_NOMEM when it could not allocate) with OpenJPEG's own error
 * messages in err->message.  On TD_OK, err->message holds OpenJPEG's warnings if there were any
 * (e.g. a short last tile-part decoded as far as it goes without TD_J2K_STRICT), otherwise "". */
int td_j2k_decode(const uint8_t *src, size_t len, uint8_t *out, size_t out_len,
                  const td_j2k_options *opt, td_error *err);

/* The OpenJPEG version this code runs against, e.g. "2.5.0". */
const char *td_j2k_backend_version(void);

#ifdef __cplusplus
}
#endif
#endif /* TD_J2K_H */
