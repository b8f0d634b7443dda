/*
 * td_scan.h - the tag scanner: read the values of a few requested data elements from a DICOM
 * file without reading the rest of it (PS3.5 Section 7, PS3.10 Section 7).
 *
 * The scanner walks the same element structure as td_parse (td_walk.h holds the shared header
 * rules) but through a sliding window over the file: it reads the head of the file in growing
 * chunks into a caller-owned work buffer (first TD_SCAN_FIRST_READ bytes, then twice as much each
 * time the walk runs past the window, up to the work buffer's size), seeks over every value it
 * does not need, and stops as soon as the walk has passed the last requested tag.  Pixel data is
 * never read: a defined-length value is skipped by position, an undefined-length one (encapsulated
 * pixel data, sequences) by reading item headers only.
 *
 * Encodings: explicit VR little endian, implicit VR little endian, explicit VR big endian, and
 * deflated explicit VR little endian (raw deflate after the file meta, inflated through zlib into
 * the window, PS3.5 A.5); Part 10 files with or without the preamble, and bare datasets (the
 * encoding is then inferred from the first element as pydicom does).  Only top-level elements and
 * file meta elements (group 0002) can be requested; sequences are skipped.
 *
 * Hostile input gives a status, never a crash or a hang: every length is checked against the file
 * size, nesting is limited to TD_PARSE_MAX_DEPTH, and every step of the walk advances.
 *
 * The caller owns every buffer: the work buffer (at least TD_SCAN_WORK_MIN bytes; it may be reused
 * for any number of files, but not by two calls at once) and the arena the requested values are
 * copied into.  No globals; calls on different work buffers may run concurrently.
 */
#ifndef TD_SCAN_H
#define TD_SCAN_H

#include "td.h"
#include "td_parse.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TD_SCAN_FIRST_READ 4096
#define TD_SCAN_WORK_MIN 8192

/* One requested tag and what the scan found for it. */
typedef struct td_scan_value {
    uint32_t tag;        /* in: (group << 16) | element; the array is sorted ascending */
    int32_t found;       /* out: 1 if the element is present at the top level (or file meta) */
    char vr[3];          /* out: the explicit VR ("" in implicit VR or for file meta inferred) */
    int64_t offset;      /* out: where the value starts in the arena; -1 if not copied */
    int64_t length;      /* out: value length; -1 for undefined length (not copied) */
} td_scan_value;

/* Facts about the scanned file. */
typedef struct td_scan_info {
    int encoding;                 /* td_encoding of the main dataset (TD_ENC_DEFLATED if so) */
    int big_endian;               /* 1 when values are big endian (explicit VR big endian) */
    int has_file_meta;            /* 1 when group 0002 elements were found */
    char transfer_syntax_uid[65]; /* from the file meta, or inferred like td_parse_image */
    size_t arena_needed;          /* bytes the requested values need in the arena */
    int64_t bytes_read;           /* bytes read from the file (or inflated), for statistics */
} td_scan_info;

/* Scan the file at `path` for the nr_tags tags of values[] (sorted ascending, no duplicates).
 * Values are copied into arena[0:arena_cap]; when they do not fit, the walk still completes,
 * info->arena_needed says how much is needed and TD_E_OUTPUT_TOO_SMALL is returned (call again
 * with a larger arena).  `work` is the caller's window buffer of work_len >= TD_SCAN_WORK_MIN
 * bytes.  Errors name the element and byte offset; an I/O error is TD_E_BACKEND with errno's
 * text. */
int td_scan_file(const char *path, td_scan_value *values, size_t nr_tags, uint8_t *work,
                 size_t work_len, uint8_t *arena, size_t arena_cap, td_scan_info *info,
                 td_error *err);

/* The same for a file held in memory buf[0:len] (the work buffer is used only when the dataset
 * is deflated). */
int td_scan_buffer(const uint8_t *buf, size_t len, td_scan_value *values, size_t nr_tags,
                   uint8_t *work, size_t work_len, uint8_t *arena, size_t arena_cap,
                   td_scan_info *info, td_error *err);

#ifdef __cplusplus
}
#endif
#endif /* TD_SCAN_H */
