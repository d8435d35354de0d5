/* le.h — little-endian byte order for the file formats (saved nets, training checkpoints, model
 * bundles, dataset matrices): every integer and float on disk is little-endian whatever the
 * host, and these are the only functions that convert. Static inline, like git's
 * compat/bswap.h, so a format's encoder compiles to plain stores on a little-endian host.
 * Floats travel as their IEEE-754 bit patterns (memcpy into an integer of the same width).
 *
 * Pointers are to bytes with no alignment requirement; callers check lengths first.
 * Owns: nothing. Threading: pure functions, reentrant. */
#ifndef LE_H
#define LE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline void le_put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static inline void le_put_u64(unsigned char *p, uint64_t v)
{
    le_put_u32(p, (uint32_t)v);
    le_put_u32(p + 4, (uint32_t)(v >> 32));
}

static inline uint32_t le_get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t le_get_u64(const unsigned char *p)
{
    return (uint64_t)le_get_u32(p) | (uint64_t)le_get_u32(p + 4) << 32;
}

static inline void le_put_f64(unsigned char *p, double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    le_put_u64(p, u);
}

static inline double le_get_f64(const unsigned char *p)
{
    uint64_t u = le_get_u64(p);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* n floats to 4n little-endian bytes at dst. */
static inline void le_put_f32s(unsigned char *dst, const float *src, size_t n)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (n) memcpy(dst, src, n * sizeof(float));
#else
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &src[i], sizeof u);
        le_put_u32(dst + 4 * i, u);
    }
#endif
}

/* 4n little-endian bytes at src to n floats. */
static inline void le_get_f32s(float *dst, const unsigned char *src, size_t n)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (n) memcpy(dst, src, n * sizeof(float));
#else
    for (size_t i = 0; i < n; i++) {
        uint32_t u = le_get_u32(src + 4 * i);
        memcpy(&dst[i], &u, sizeof u);
    }
#endif
}

/* n floats read raw from a little-endian file into v, converted in place to host order. */
static inline void le_f32s_to_host(float *v, size_t n)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    (void)v;
    (void)n;
#else
    unsigned char *p = (unsigned char *)v;
    for (size_t i = 0; i < n; i++) {
        uint32_t u = le_get_u32(p + 4 * i);
        memcpy(&v[i], &u, sizeof u);
    }
#endif
}

#endif
