/*
 * td_walk.h - internal: the element-header rules shared by the element walkers (td_parse.c,
 * which walks a buffer in memory, and td_scan.c, which walks a file through a sliding window).
 * Everything here is static inline; nothing is exported.
 *
 * PS3.5 7.1.1-7.1.3: a data element header is tag (4 bytes) + [VR (2 bytes)] + length.  In
 * explicit VR the VRs listed by td_walk_has_long_length() carry 2 reserved bytes and a 32-bit
 * length (12-byte header); the others a 16-bit length (8-byte header).  Item and delimiter tags
 * (group FFFE, PS3.5 7.5) never carry a VR.
 */
#ifndef TD_WALK_H
#define TD_WALK_H

#include "td_bytes.h"
#include "td_parse.h" /* TD_ENC_* */

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define TD_TAG(g, e) (((uint32_t)(g) << 16) | (uint32_t)(e))
#define TD_TAG_ITEM TD_TAG(0xFFFE, 0xE000)
#define TD_TAG_ITEM_END TD_TAG(0xFFFE, 0xE00D)
#define TD_TAG_SEQ_END TD_TAG(0xFFFE, 0xE0DD)

typedef struct td_walk_element {
    uint32_t tag;
    char vr[3];     /* "" for implicit VR and for item/delimiter tags */
    int64_t length; /* -1 = undefined length (0xFFFFFFFF) */
    size_t header;  /* bytes of tag + VR + length */
} td_walk_element;

static inline int td_walk_is_vr_letter(uint8_t c) { return c >= 'A' && c <= 'Z'; }

/* PS3.5 7.1.2: VRs whose explicit encoding has 2 reserved bytes and a 32-bit length. */
static inline int td_walk_has_long_length(const char *vr)
{
    static const char long_vrs[][3] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ",
                                       "SV", "UC", "UN", "UR", "UT", "UV"};
    for (size_t i = 0; i < sizeof long_vrs / sizeof long_vrs[0]; i++)
        if (vr[0] == long_vrs[i][0] && vr[1] == long_vrs[i][1]) return 1;
    return 0;
}

/* Decode the element header at p (avail >= 8 bytes readable).  Returns 0 on success, or 12 when
 * the header is a 12-byte explicit VR header and avail < 12 (el->tag and el->vr are then set).
 * An explicit VR whose two bytes are not upper-case letters is read as implicit VR, the
 * recovery pydicom applies. */
static inline int td_walk_header(const uint8_t *p, size_t avail, int big_endian, int explicit_vr,
                                 td_walk_element *el)
{
    uint16_t group = big_endian ? td_load_be16(p) : td_load_le16(p);
    uint16_t elem = big_endian ? td_load_be16(p + 2) : td_load_le16(p + 2);
    uint32_t raw;
    el->tag = TD_TAG(group, elem);
    el->vr[0] = el->vr[1] = el->vr[2] = '\0';
    el->header = 8;
    if (group == 0xFFFE || !explicit_vr ||
        !(td_walk_is_vr_letter(p[4]) && td_walk_is_vr_letter(p[5]))) {
        raw = big_endian ? td_load_be32(p + 4) : td_load_le32(p + 4);
    } else {
        el->vr[0] = (char)p[4];
        el->vr[1] = (char)p[5];
        if (td_walk_has_long_length(el->vr)) {
            if (avail < 12) return 12;
            raw = big_endian ? td_load_be32(p + 8) : td_load_le32(p + 8);
            el->header = 12;
        } else {
            raw = big_endian ? td_load_be16(p + 6) : td_load_le16(p + 6);
        }
    }
    el->length = raw == 0xFFFFFFFFu ? -1 : (int64_t)raw;
    return 0;
}

/* pydicom's check at the start of a dataset or item (filereader._is_implicit_vr): the two bytes
 * after the first tag are upper-case letters only if the encoding is explicit VR.  Returns the
 * new explicit_vr flag given the current one (unchanged for big endian, short data or an item
 * tag). */
static inline int td_walk_detect_explicit(const uint8_t *p, size_t avail, int big_endian,
                                          int explicit_vr)
{
    if (big_endian || avail < 6) return explicit_vr;
    if (td_load_le16(p) == 0xFFFE) return explicit_vr;
    return td_walk_is_vr_letter(p[4]) && td_walk_is_vr_letter(p[5]);
}

/* Copy a text value, dropping leading spaces and trailing spaces and NULs (PS3.5 6.2 padding),
 * truncated to cap - 1 bytes and NUL-terminated. */
static inline void td_walk_copy_text(char *dst, size_t cap, const uint8_t *src, size_t n)
{
    while (n > 0 && (src[n - 1] == ' ' || src[n - 1] == '\0')) n--;
    while (n > 0 && src[0] == ' ') { src++; n--; }
    if (n >= cap) n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* A dataset with no transfer syntax: infer its encoding from the first element as pydicom does
 * (filereader.read_partial): a VR-like pair of letters means explicit VR; a tag group that only
 * makes sense byte-swapped (>= 1024 read little endian) means big endian.  p holds at least 8
 * bytes.  Writes the matching transfer syntax UID to uid (65 bytes) and returns TD_ENC_*. */
static inline int td_walk_infer_encoding(const uint8_t *p, char *uid)
{
    static const char *const inferred[] = {"", "1.2.840.10008.1.2", "1.2.840.10008.1.2.1",
                                           "1.2.840.10008.1.2.2"};
    uint16_t group = td_load_le16(p);
    int explicit_vr = td_walk_is_vr_letter(p[4]) && td_walk_is_vr_letter(p[5]);
    int encoding;
    if (group >= 1024 && explicit_vr)
        encoding = TD_ENC_EXPLICIT_BE;
    else
        encoding = explicit_vr ? TD_ENC_EXPLICIT_LE : TD_ENC_IMPLICIT_LE;
    strcpy(uid, inferred[encoding]);
    return encoding;
}

/* A dataset with no transfer syntax (no file meta): accept it only when it starts where real
 * ones do - a command, file meta, directory or identifying group (0000, 0002, 0004, 0008),
 * read little endian, or 0002 / 0008 read big endian in explicit VR - so a text file or an
 * image is reported as not DICOM (by decode and scan alike) instead of as a damaged element.
 * p holds at least 8 bytes, found at offset pos.  Returns TD_OK or TD_E_CORRUPT. */
static inline int td_walk_check_dataset_start(const uint8_t *p, int64_t pos, td_error *err)
{
    uint16_t group = td_load_le16(p);
    uint16_t be_group = td_load_be16(p);
    int explicit_vr = td_walk_is_vr_letter(p[4]) && td_walk_is_vr_letter(p[5]);
    if (group == 0x0000 || group == 0x0002 || group == 0x0004 || group == 0x0008) return TD_OK;
    if (explicit_vr && (be_group == 0x0002 || be_group == 0x0008)) return TD_OK;
    return td_fail(err, TD_E_CORRUPT, pos,
                   "not a DICOM file: no 'DICM' preamble, no file meta, and the first element "
                   "(%04X,%04X) does not start a DICOM dataset",
                   group, td_load_le16(p + 2));
}

#endif /* TD_WALK_H */
