/* libFuzzer target for td_ljpeg: header, then decode at both sample sizes and both layouts. */
#include "td_ljpeg.h"
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    td_ljpeg_info info;
    td_error err;
    if (td_ljpeg_read_header(data, size, &info, &err) != TD_OK)
        return 0;
    for (uint32_t bps = 1; bps <= 2; bps++) {
        size_t n = td_ljpeg_frame_size(&info, bps);
        if (n == 0 || n > ((size_t)16 << 20))
            continue;
        uint8_t *out = malloc(n);
        if (out == NULL)
            return 0;
        (void)td_ljpeg_decode(data, size, out, n, bps, 0, &err);
        (void)td_ljpeg_decode(data, size, out, n, bps, TD_LJPEG_PLANAR, NULL);
        free(out);
    }
    return 0;
}
