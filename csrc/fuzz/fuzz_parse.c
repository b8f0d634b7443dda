/* libFuzzer target for the element walker and the frame table (td_parse, td_frames): parse a
 * whole file, then find every frame of encapsulated pixel data and each frame alone. */
#include <stdlib.h>

#include "td_frames.h"
#include "td_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    td_image_info info;
    td_error err;
    td_span bot, frag[8];
    size_t nfrag = 0, nframes = 0, n = 0;
    if (td_parse_image(data, size, &info, &err) != TD_OK) return 0;
    if (info.pixel_tag == 0 || info.pixel_length >= 0 || info.pixel_offset < 0) return 0;
    size_t pixel_offset = (size_t)info.pixel_offset;
    int big = info.encoding == TD_ENC_EXPLICIT_BE;
    const uint8_t *eot = NULL, *eotl = NULL;
    size_t eot_len = 0, eotl_len = 0;
    if (info.eot_offset >= 0 && info.eotl_offset >= 0) {
        eot = data + info.eot_offset;
        eot_len = (size_t)info.eot_length;
        eotl = data + info.eotl_offset;
        eotl_len = (size_t)info.eotl_length;
    }
    if (td_frames_scan(data, size, pixel_offset, big, &bot, NULL, 0, &nfrag, &err) != TD_OK)
        return 0;
    if (nfrag == 0 || nfrag > 100000) return 0;
    td_span *frags = malloc(nfrag * sizeof *frags);
    uint32_t *first = malloc(nfrag * sizeof *first), *count = malloc(nfrag * sizeof *count);
    if (frags && first && count &&
        td_frames_scan(data, size, pixel_offset, big, &bot, frags, nfrag, &nfrag, &err) == TD_OK)
        (void)td_frames_assign(data, size, big, bot, frags, nfrag, eot, eot_len, eotl, eotl_len,
                               info.number_of_frames, first, count, nfrag, &nframes, &err);
    free(frags);
    free(first);
    free(count);
    for (int64_t i = 0; i < info.number_of_frames && i < 8; i++)
        (void)td_frames_locate(data, size, pixel_offset, big, eot, eot_len, eotl, eotl_len,
                               info.number_of_frames, i, frag, 8, &n, &err);
    return 0;
}
