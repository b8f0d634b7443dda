/* libFuzzer target for csrc/j2k (turbodicom's own JPEG 2000 decoder): open, then decode with
 * options taken from the input length (reduce 0/1, all layers or the first, interleaved or
 * planar, one or two threads), once more into a buffer one byte short (must be refused). */
#include <stdlib.h>
#include "j2k/td_j2k.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    td_j2kdec *dec = NULL;
    td_error err;
    if (td_j2kdec_open(data, size, &dec, &err) != TD_OK) return 0;
    td_j2kdec_options opt = {0, (uint32_t)(size & 1), (uint32_t)((size >> 1) & 1),
                             (size >> 3) & 1 ? 2u : 1u, (size >> 2) & 1 ? TD_J2KDEC_PLANAR : 0u};
    size_t need;
    uint32_t bps;
    if (td_j2kdec_decoded_size(dec, &opt, &need, &bps, &err) == TD_OK && need <= ((size_t)1 << 16)) {
        uint8_t *out = malloc(need ? need : 1);
        if (out) {
            td_j2kdec_decode(dec, out, need, &opt, &err);
            if (need > 0 && td_j2kdec_decode(dec, out, need - 1, &opt, &err) != TD_E_OUTPUT_TOO_SMALL)
                abort();
            free(out);
        }
    }
    td_j2kdec_close(dec);
    return 0;
}
