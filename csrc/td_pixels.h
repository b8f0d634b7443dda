/*
 * td_pixels.h - pixel post-processing shared by every codec, in place on decoded frames.
 *
 * These reproduce what pydicom 3 does to a decoded frame before handing it to the user, so that
 * turbodicom.decode() returns exactly pydicom's pixel_array:
 *  - PS3.5 8.1.1 unused high bits (Bits Stored < Bits Allocated) are not part of the value:
 *    pydicom's correct_unused_bits shifts them out, which masks unsigned samples and
 *    sign-extends signed ones (two's complement at bit Bits Stored - 1);
 *  - PS3.3 C.7.6.3.1.2 YBR_FULL to RGB, with pydicom's float32 arithmetic and rounding
 *    (pixels.processing._convert_YBR_FULL_to_RGB), bit for bit.
 */
#ifndef TD_PIXELS_H
#define TD_PIXELS_H

#include "td.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Mask (is_signed == 0) or sign-extend (is_signed != 0) nr_samples little-endian samples of
 * bytes_per_sample (1, 2, 4 or 8) bytes so only the low bits_stored bits carry the value.
 * Nothing happens when bits_stored is 0 or >= 8 * bytes_per_sample. */
void td_pixels_fix_unused_bits(uint8_t *buf, size_t nr_samples, uint32_t bytes_per_sample,
                               uint32_t bits_stored, int is_signed);

/* Convert nr_pixels pixel-interleaved 8-bit YBR_FULL triplets to RGB in place. */
void td_pixels_ybr_full_to_rgb(uint8_t *buf, size_t nr_pixels);

#ifdef __cplusplus
}
#endif
#endif /* TD_PIXELS_H */
