/* sparse.c — the sparse-input dense layer of sparse.h: row lists and the blocked product.
 *
 * One body (rows_body), compiled twice: as portable C (GCC's generic vectors: two SSE
 * registers per 8 floats on x86-64) and with target("avx2") (one 256-bit register). Neither
 * fuses a multiply with an add (core/ is built -std=c11, where GCC does not contract, and the
 * AVX2 variant does not enable FMA), so both round the same way: the same bits. */
#include "sparse.h"

#include <assert.h>
#include <stdint.h>
#include <string.h>

typedef float v8f __attribute__((vector_size(32)));

#define BLOCK 64 /* output columns per block: 8 accumulators of 8 */

/* Unaligned loads and stores as macros: a function taking or returning a v8f would change the
 * ABI between the two variants (GCC's -Wpsabi). */
#define LD8(v, p) memcpy(&(v), (p), sizeof(v8f))
#define ST8(p, v) memcpy((p), &(v), sizeof(v8f))

static inline int32_t list_index(const float *list, int k)
{
    int32_t j;
    memcpy(&j, list + 2 * (size_t)k, sizeof j);
    return j;
}

int sparse_gather(const float *x, const float *m, const float *inv, int in, float *list)
{
    assert(x && m && inv && list && in >= 1);
    const int cap = in / 2; /* pairs that fit in `in` floats */
    int k = 0;
    for (int j = 0; j < in; j++) {
        if (k == cap) goto full;
        /* write the pair, keep it when u != 0 (a NaN is kept): no branch on the data */
        float u = (x[j] - m[j]) * inv[j];
        int32_t jj = j;
        memcpy(list + 2 * (size_t)k, &jj, sizeof jj);
        list[2 * (size_t)k + 1] = u;
        k += u != 0.0f;
    }
    return k;
full:
    for (int j = 0; j < in; j++) list[j] = (x[j] - m[j]) * inv[j];
    return SPARSE_FULL;
}

/* One row, 64 columns: z = c + Σ u_j·Wt[j] over the row's list. Wt, c, z start at the block. */
static inline __attribute__((always_inline)) void
row64(const float *Wt, size_t out, const float *c, const float *list, int nnz, int in, float *z)
{
    v8f a0, a1, a2, a3, a4, a5, a6, a7;
    LD8(a0, c);
    LD8(a1, c + 8);
    LD8(a2, c + 16);
    LD8(a3, c + 24);
    LD8(a4, c + 32);
    LD8(a5, c + 40);
    LD8(a6, c + 48);
    LD8(a7, c + 56);
#define ROW64_STEP(j, u)                                                                           \
    do {                                                                                           \
        const float *w = Wt + (size_t)(j)*out;                                                     \
        const float uu = (u);                                                                      \
        v8f w0, w1, w2, w3, w4, w5, w6, w7;                                                        \
        LD8(w0, w);                                                                                \
        LD8(w1, w + 8);                                                                            \
        LD8(w2, w + 16);                                                                           \
        LD8(w3, w + 24);                                                                           \
        LD8(w4, w + 32);                                                                           \
        LD8(w5, w + 40);                                                                           \
        LD8(w6, w + 48);                                                                           \
        LD8(w7, w + 56);                                                                           \
        a0 += uu * w0;                                                                             \
        a1 += uu * w1;                                                                             \
        a2 += uu * w2;                                                                             \
        a3 += uu * w3;                                                                             \
        a4 += uu * w4;                                                                             \
        a5 += uu * w5;                                                                             \
        a6 += uu * w6;                                                                             \
        a7 += uu * w7;                                                                             \
    } while (0)
    if (nnz == SPARSE_FULL)
        for (int j = 0; j < in; j++) ROW64_STEP(j, list[j]);
    else
        for (int k = 0; k < nnz; k++) ROW64_STEP(list_index(list, k), list[2 * (size_t)k + 1]);
#undef ROW64_STEP
    ST8(z, a0);
    ST8(z + 8, a1);
    ST8(z + 16, a2);
    ST8(z + 24, a3);
    ST8(z + 32, a4);
    ST8(z + 40, a5);
    ST8(z + 48, a6);
    ST8(z + 56, a7);
}

/* One row, 8 columns (the part of `out` past the last full block). */
static inline __attribute__((always_inline)) void row8(const float *Wt, size_t out, const float *c,
                                                       const float *list, int nnz, int in, float *z)
{
    v8f a, w;
    LD8(a, c);
    if (nnz == SPARSE_FULL)
        for (int j = 0; j < in; j++) {
            LD8(w, Wt + (size_t)j * out);
            a += list[j] * w;
        }
    else
        for (int k = 0; k < nnz; k++) {
            LD8(w, Wt + (size_t)list_index(list, k) * out);
            a += list[2 * (size_t)k + 1] * w;
        }
    ST8(z, a);
}

/* One row, one column (the last out % 8). */
static inline __attribute__((always_inline)) void row1(const float *Wt, size_t out, const float *c,
                                                       const float *list, int nnz, int in, float *z)
{
    float a = *c;
    if (nnz == SPARSE_FULL)
        for (int j = 0; j < in; j++) a += list[j] * Wt[(size_t)j * out];
    else
        for (int k = 0; k < nnz; k++)
            a += list[2 * (size_t)k + 1] * Wt[(size_t)list_index(list, k) * out];
    *z = a;
}

/* Block by block, every row per block: the block's weights stay in cache across the rows. */
static inline __attribute__((always_inline)) void rows_body(const float *Wt, int in, int out,
                                                            const float *c, const float *lists,
                                                            size_t list_stride, const int *nnz,
                                                            int rows, float *Z, size_t z_stride)
{
    const size_t o = (size_t)out;
    int b = 0;
    for (; b + BLOCK <= out; b += BLOCK)
        for (int r = 0; r < rows; r++)
            row64(Wt + b, o, c + b, lists + (size_t)r * list_stride, nnz[r], in,
                  Z + (size_t)r * z_stride + b);
    for (; b + 8 <= out; b += 8)
        for (int r = 0; r < rows; r++)
            row8(Wt + b, o, c + b, lists + (size_t)r * list_stride, nnz[r], in,
                 Z + (size_t)r * z_stride + b);
    for (; b < out; b++)
        for (int r = 0; r < rows; r++)
            row1(Wt + b, o, c + b, lists + (size_t)r * list_stride, nnz[r], in,
                 Z + (size_t)r * z_stride + b);
}

static void rows_portable(const float *Wt, int in, int out, const float *c, const float *lists,
                          size_t list_stride, const int *nnz, int rows, float *Z, size_t z_stride)
{
    rows_body(Wt, in, out, c, lists, list_stride, nnz, rows, Z, z_stride);
}

#if defined(__GNUC__) && defined(__x86_64__)
#define SPARSE_AVX2 1
__attribute__((target("avx2"))) static void rows_avx2(const float *Wt, int in, int out,
                                                      const float *c, const float *lists,
                                                      size_t list_stride, const int *nnz, int rows,
                                                      float *Z, size_t z_stride)
{
    rows_body(Wt, in, out, c, lists, list_stride, nnz, rows, Z, z_stride);
}
#endif

static int avx2_allowed = 1; /* sparse_use_avx2 */

int sparse_use_avx2(int allow)
{
    avx2_allowed = allow != 0;
#ifdef SPARSE_AVX2
    return avx2_allowed && __builtin_cpu_supports("avx2");
#else
    return 0;
#endif
}

void sparse_rows(const float *Wt, int in, int out, const float *c, const float *lists,
                 size_t list_stride, const int *nnz, int rows, float *Z, size_t z_stride)
{
    assert(Wt && c && lists && nnz && Z && in >= 1 && out >= 1 && rows >= 0);
#ifdef SPARSE_AVX2
    if (avx2_allowed && __builtin_cpu_supports("avx2")) {
        rows_avx2(Wt, in, out, c, lists, list_stride, nnz, rows, Z, z_stride);
        return;
    }
#endif
    rows_portable(Wt, in, out, c, lists, list_stride, nnz, rows, Z, z_stride);
}
