/*
 * td_bytes.h - byte loads and checked size arithmetic, all static inline.
 *
 * Loads go through memcpy so they are safe at any alignment; compilers turn them into single
 * (byte-swapping where needed) moves.  The checked helpers return 0 on success and 1 on overflow.
 */
#ifndef TD_BYTES_H
#define TD_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint16_t td_load_le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint16_t td_load_be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t td_load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint32_t td_load_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}
static inline uint64_t td_load_le64(const uint8_t *p)
{
    return (uint64_t)td_load_le32(p) | ((uint64_t)td_load_le32(p + 4) << 32);
}
static inline uint64_t td_load_be64(const uint8_t *p)
{
    return ((uint64_t)td_load_be32(p) << 32) | (uint64_t)td_load_be32(p + 4);
}
static inline void td_store_le16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void td_store_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

/* *r = a * b; returns 1 on overflow. */
static inline int td_mul_overflow(size_t a, size_t b, size_t *r)
{
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_mul_overflow(a, b, r);
#else
    if (a != 0 && b > SIZE_MAX / a) return 1;
    *r = a * b;
    return 0;
#endif
}

/* *r = a + b; returns 1 on overflow. */
static inline int td_add_overflow(size_t a, size_t b, size_t *r)
{
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_add_overflow(a, b, r);
#else
    if (b > SIZE_MAX - a) return 1;
    *r = a + b;
    return 0;
#endif
}

#endif /* TD_BYTES_H */
