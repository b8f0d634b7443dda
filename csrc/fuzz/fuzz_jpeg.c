/* libFuzzer target for td_jpeg (libjpeg-turbo): header, then decode in every colour mode at
 * the size the header gives and at a wrong one. */
#include "td_jpeg.h"
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    td_jpeg_info info;
    td_error err;
    if (td_jpeg_read_header(data, size, &info, &err) != TD_OK)
        return 0;
    size_t n = (size_t)info.rows * info.columns * info.components;
    if (n == 0 || n > ((size_t)16 << 20))
        return 0;
    uint8_t *out = malloc(n);
    if (out == NULL)
        return 0;
    static const unsigned modes[] = {0, TD_JPEG_ADOBE_RGB | TD_JPEG_YBR_TO_RGB, TD_JPEG_RGB};
    for (size_t k = 0; k < sizeof modes / sizeof modes[0]; k++)
        (void)td_jpeg_decode(data, size, info.rows, info.columns, info.components, modes[k],
                             out, n, &err);
    (void)td_jpeg_decode(data, size, info.rows, info.columns + 1, info.components, 0, out, n,
                         NULL);
    free(out);
    return 0;
}
