/* libFuzzer target for td_jpegdct: header, then decode at both container sizes, with and
 * without YCbCr -> RGB, into a buffer of exactly the frame size (ASan catches any write past
 * it).  Frames above 4 MiB of output are skipped to keep executions fast. */
#include "td_jpegdct.h"
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    td_jpegdct_info info;
    td_error err;
    if (td_jpegdct_read_header(data, size, &info, &err) != TD_OK)
        return 0;
    for (uint32_t bps = 1; bps <= 2; bps++) {
        size_t n = td_jpegdct_frame_size(&info, bps);
        if (n == 0 || n > ((size_t)4 << 20))
            continue;
        uint8_t *out = malloc(n);
        if (out == NULL)
            return 0;
        (void)td_jpegdct_decode(data, size, out, n, bps, 0, &err);
        if (info.components == 3)
            (void)td_jpegdct_decode(data, size, out, n, bps, TD_JPEGDCT_RGB, NULL);
        (void)td_jpegdct_decode(data, size, out, n - 1, bps, 0, NULL); /* too small */
        free(out);
    }
    return 0;
}
