/*
 * td_parse.h - the DICOM element walker (PS3.5 Section 7, PS3.10 Section 7).
 *
 * Finds, in a Part 10 file or a bare dataset held in memory (typically a read-only memory map),
 * the transfer syntax, the Image Pixel module attributes and the position of the pixel data, so a
 * frame can be decoded without any other DICOM library and without touching the pixel bytes.
 * The walker never reads past `len`, limits sequence nesting to TD_PARSE_MAX_DEPTH, and stops at
 * the first top-level pixel data element.  Values inside sequences are skipped, never parsed.
 *
 * Encodings handled: explicit VR little endian, implicit VR little endian, explicit VR big endian
 * (PS3.5 7.1.2 / 7.1.3 / Annex A); defined- and undefined-length sequences and items; explicit VR
 * "UN" of undefined length, whose content is implicit VR little endian (PS3.5 6.2.2); files with
 * or without the 128-byte preamble, with or without file meta information (then the encoding is
 * inferred from the first element, as pydicom does).  A deflated dataset (1.2.840.10008.1.2.1.99)
 * is reported with encoding TD_ENC_DEFLATED and dataset_offset; the caller inflates the bytes from
 * there and calls td_parse_dataset() on the result with TD_ENC_EXPLICIT_LE.
 */
#ifndef TD_PARSE_H
#define TD_PARSE_H

#include "td.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TD_PARSE_MAX_DEPTH 64

/* How the main dataset is encoded. */
typedef enum td_encoding {
    TD_ENC_UNKNOWN = 0,
    TD_ENC_IMPLICIT_LE = 1,
    TD_ENC_EXPLICIT_LE = 2,
    TD_ENC_EXPLICIT_BE = 3,
    TD_ENC_DEFLATED = 4 /* explicit VR little endian, deflated (RFC 1951) after the file meta */
} td_encoding;

/* Bits of td_image_info.present: which attributes were found at the top level. */
#define TD_HAVE_ROWS (1u << 0)
#define TD_HAVE_COLUMNS (1u << 1)
#define TD_HAVE_SAMPLES_PER_PIXEL (1u << 2)
#define TD_HAVE_BITS_ALLOCATED (1u << 3)
#define TD_HAVE_BITS_STORED (1u << 4)
#define TD_HAVE_PIXEL_REPRESENTATION (1u << 5)
#define TD_HAVE_PLANAR_CONFIGURATION (1u << 6)
#define TD_HAVE_NUMBER_OF_FRAMES (1u << 7)
#define TD_HAVE_PHOTOMETRIC (1u << 8)
#define TD_HAVE_TRANSFER_SYNTAX (1u << 9)
#define TD_HAVE_FILE_META (1u << 10)
#define TD_HAVE_PIXEL_DATA (1u << 11)
#define TD_HAVE_EXTENDED_OFFSETS (1u << 12)
#define TD_HAVE_HIGH_BIT (1u << 13)

typedef struct td_image_info {
    uint32_t present;                    /* TD_HAVE_* bits */
    int encoding;                        /* td_encoding of the main dataset */
    int64_t dataset_offset;              /* first byte of the main dataset */
    char transfer_syntax_uid[65];        /* (0002,0010), trailing NUL/space padding removed */
    /* Image Pixel module (PS3.3 C.7.6.3), as stored; 0 / "" when absent */
    uint32_t rows, columns, samples_per_pixel, bits_allocated, bits_stored, high_bit;
    uint32_t pixel_representation, planar_configuration;
    int64_t number_of_frames;            /* (0028,0008) IS; 1 when absent, empty or 0 */
    char photometric_interpretation[17]; /* (0028,0004) CS, padding removed */
    /* The pixel data element: (7FE0,0010) Pixel Data, (7FE0,0008) Float Pixel Data or
     * (7FE0,0009) Double Float Pixel Data. */
    uint32_t pixel_tag;                  /* 0 when there is none */
    char pixel_vr[3];                    /* "OB", "OW", "OF", "OD", or "" (implicit VR) */
    int64_t pixel_offset;                /* offset of the element's value */
    int64_t pixel_length;                /* value length; -1 when undefined (encapsulated) */
    int64_t eot_offset, eot_length;      /* (7FE0,0001) Extended Offset Table value, -1 if absent */
    int64_t eotl_offset, eotl_length;    /* (7FE0,0002) Extended Offset Table Lengths value */
} td_image_info;

/* Parse a whole Part 10 file (or bare dataset) held in buf[0:len].  On TD_OK *info is filled;
 * for TD_ENC_DEFLATED only the file meta part is (see above).  Errors name the element and its
 * byte offset: "element (0028,0010) at offset 812: value length 4294967290 runs past the end of
 * the file (2048 bytes)". */
int td_parse_image(const uint8_t *buf, size_t len, td_image_info *info, td_error *err);

/* Parse a bare dataset buf[offset:len] with a known encoding (TD_ENC_IMPLICIT_LE, _EXPLICIT_LE or
 * _EXPLICIT_BE), updating the dataset fields of *info (file meta fields are left alone). */
int td_parse_dataset(const uint8_t *buf, size_t len, size_t offset, int encoding,
                     td_image_info *info, td_error *err);

/* The dataset encoding a transfer syntax UID implies: TD_ENC_IMPLICIT_LE for 1.2.840.10008.1.2,
 * TD_ENC_EXPLICIT_BE for 1.2.840.10008.1.2.2, TD_ENC_DEFLATED for the deflated syntaxes, and
 * TD_ENC_EXPLICIT_LE for everything else (all encapsulated syntaxes are explicit VR LE). */
int td_parse_encoding_for_syntax(const char *transfer_syntax_uid);

#ifdef __cplusplus
}
#endif
#endif /* TD_PARSE_H */
