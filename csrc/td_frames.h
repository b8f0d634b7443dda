/*
 * td_frames.h - encapsulated pixel data: items, Basic/Extended Offset Tables, frame boundaries
 * (DICOM PS3.5 Annex A.4, PS3.3 C.7.6.3.1 for the Extended Offset Table).
 *
 * Encapsulated pixel data is a sequence of items: the first is the Basic Offset Table (BOT,
 * possibly empty), the rest are fragments, ended by a Sequence Delimitation Item.  A frame is one
 * or more consecutive fragments.  Offsets in the BOT and the Extended Offset Table (EOT) count
 * from the first byte of the first fragment's item header.
 *
 * The rules for finding frames follow pydicom 3 (encaps.generate_fragmented_frames) so results
 * agree with it: EOT if given and consistent; else a non-empty BOT; else one fragment = one frame
 * when the counts agree, all fragments = one frame for single-frame data, and, when there are more
 * fragments than frames, a frame ends at a fragment whose last 10 bytes hold a JPEG EOI / J2K EOC
 * marker (FF D9).  Only item headers are read, never fragment contents (except those 10 bytes in
 * the last case).
 */
#ifndef TD_FRAMES_H
#define TD_FRAMES_H

#include "td.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A byte range of the input: [offset, offset + length). */
typedef struct td_span {
    int64_t offset;
    int64_t length;
} td_span;

/* Walk the items of encapsulated pixel data whose value starts at buf[pixel_offset].  *bot gets
 * the Basic Offset Table's value span; up to cap fragment value spans go to fragments (which may
 * be NULL with cap 0 to count); *nr_fragments gets the total number of fragments.  A missing
 * Sequence Delimitation Item at the end of the data is tolerated. */
int td_frames_scan(const uint8_t *buf, size_t len, size_t pixel_offset, int big_endian,
                   td_span *bot, td_span *fragments, size_t cap, size_t *nr_fragments,
                   td_error *err);

/* Assign the fragments found by td_frames_scan to frames.  eot / eotl are the raw values of
 * (7FE0,0001) and (7FE0,0002) (NULL when absent; 8-byte unsigned integers).  For each frame i
 * (i < *nr_frames <= cap) frame_first[i] and frame_count[i] give its fragments.  More frames than
 * number_of_frames can be found (pydicom's "excess frames"); *nr_frames says how many. */
int td_frames_assign(const uint8_t *buf, size_t len, int big_endian, td_span bot,
                     const td_span *fragments, size_t nr_fragments, const uint8_t *eot,
                     size_t eot_len, const uint8_t *eotl, size_t eotl_len,
                     int64_t number_of_frames, uint32_t *frame_first, uint32_t *frame_count,
                     size_t cap, size_t *nr_frames, td_error *err);

/* Find frame `index` alone, using the EOT or BOT to jump straight to it (reading only that
 * frame's item headers); returns TD_E_UNSUPPORTED (with no error recorded as corrupt) when
 * neither table is usable, so the caller falls back to td_frames_scan + td_frames_assign.
 * Up to cap fragment spans go to fragments, their number to *nr_out. */
int td_frames_locate(const uint8_t *buf, size_t len, size_t pixel_offset, int big_endian,
                     const uint8_t *eot, size_t eot_len, const uint8_t *eotl, size_t eotl_len,
                     int64_t number_of_frames, int64_t index, td_span *fragments, size_t cap,
                     size_t *nr_out, td_error *err);

#ifdef __cplusplus
}
#endif
#endif /* TD_FRAMES_H */
