/*
 * mct.c - inverse multiple component transformations (T.800 Annex G).
 */
#include "j2k_internal.h"

/* G.2.2 inverse reversible component transformation (RCT), in place. */
void j2k_mct_rct_inverse(int32_t *c0, int32_t *c1, int32_t *c2, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int32_t y = c0[i], u = c1[i], v = c2[i];
        int32_t g = j2k_wsub(y, j2k_wadd(u, v) >> 2);
        c0[i] = j2k_wadd(v, g);
        c1[i] = g;
        c2[i] = j2k_wadd(u, g);
    }
}

/* G.3.2 inverse irreversible component transformation (ICT), in place, float. */
void j2k_mct_ict_inverse(float *c0, float *c1, float *c2, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float y = c0[i], u = c1[i], v = c2[i];
        c0[i] = y + v * 1.402f;
        c1[i] = y - u * 0.34413f - v * 0.71414f;
        c2[i] = y + u * 1.772f;
    }
}
