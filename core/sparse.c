/* sparse.c — the sparse-input dense layer of sparse.h: row lists and the blocked product.
 *
 * One body (rows_body), compiled three times: as portable C (row32n: 4 floats a register, as
 * SSE and NEON hold them), with target("avx2") (one 256-bit register) and with
 * target("avx512f") (row128w: two panels, 16 floats a register). None fuses a multiply with an add
 * (core/ is built -std=c11, where GCC does not contract, and the x86 variants do not enable FMA),
 * so all round the same way, element by element: the same bits. */
#include "sparse.h"

#include <assert.h>
#include <stdint.h>
#include <string.h>

typedef float v8f __attribute__((vector_size(32)));
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

#define BLOCK 64 /* output columns per block: 8 accumulators of 8 */
/* inputs per range: 64 × 64 floats = 16 KiB of weights a panel, 32 KiB for two */
#define KSPAN 64
#define GROUP 64 /* rows that share a block's ranges */

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
    int k = 0, j = 0;
    /* 8 inputs at a time: all 0 (an image's background) costs one test */
    for (; j + 8 <= in; j += 8) {
        /* two halves of 4: SSE compares them as vectors, 8 wide it would go lane by lane */
        v4f x0, x1, m0, m1, i0, i1;
        memcpy(&x0, x + j, sizeof x0);
        memcpy(&x1, x + j + 4, sizeof x1);
        memcpy(&m0, m + j, sizeof m0);
        memcpy(&m1, m + j + 4, sizeof m1);
        memcpy(&i0, inv + j, sizeof i0);
        memcpy(&i1, inv + j + 4, sizeof i1);
        v4f u0 = (x0 - m0) * i0, u1 = (x1 - m1) * i1;
        v4i zero = (u0 == 0.0f) & (u1 == 0.0f); /* -1 where both are 0 (never for a NaN) */
        uint64_t bits[2];
        memcpy(bits, &zero, sizeof bits);
        if ((bits[0] & bits[1]) == UINT64_MAX) continue;
        if (k + 8 > cap) break; /* near the cap: one at a time below */
        float u[8];
        memcpy(u, &u0, sizeof u0);
        memcpy(u + 4, &u1, sizeof u1);
        /* write every pair, keep those with u != 0: no branch on the data */
        for (int t = 0; t < 8; t++) {
            int32_t jj = j + t;
            memcpy(list + 2 * (size_t)k, &jj, sizeof jj);
            list[2 * (size_t)k + 1] = u[t];
            k += u[t] != 0.0f;
        }
    }
    for (; j < in; j++) {
        if (k == cap) goto full;
        float u = (x[j] - m[j]) * inv[j];
        int32_t jj = j;
        memcpy(list + 2 * (size_t)k, &jj, sizeof jj);
        list[2 * (size_t)k + 1] = u;
        k += u != 0.0f;
    }
    return k;
full:
    for (j = 0; j < in; j++) list[j] = (x[j] - m[j]) * inv[j];
    return SPARSE_FULL;
}

/* 1 when the 8 values at u are all 0: a whole row's list skips its runs of zeros 8 at a time
 * (every variant the same way, so the bits stay equal). */
static inline int zero8(const float *u)
{
    int any = 0;
    for (int t = 0; t < 8; t++) any |= u[t] != 0.0f; /* a NaN counts */
    return !any;
}

/* One row, 64 columns, inputs [j0, j1): z = init + Σ u_j·P[j] over the row's listed j in that
 * range (P: a panel, rows `out` floats apart); *cur is the row's position in its pair list, moved
 * past the range. init is c for the first range, z (the sum so far) for the others. */
static inline __attribute__((always_inline)) void row64(const float *P, size_t out,
                                                        const float *init, const float *list,
                                                        int nnz, int *cur, int j0, int j1, float *z)
{
    v8f a0, a1, a2, a3, a4, a5, a6, a7;
    LD8(a0, init);
    LD8(a1, init + 8);
    LD8(a2, init + 16);
    LD8(a3, init + 24);
    LD8(a4, init + 32);
    LD8(a5, init + 40);
    LD8(a6, init + 48);
    LD8(a7, init + 56);
#define ROW64_STEP(j, u)                                                                           \
    do {                                                                                           \
        const float *w = P + (size_t)(j)*out;                                                      \
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
    if (nnz == SPARSE_FULL) {
        for (int j = j0; j < j1; j += 8) {
            if (j + 8 <= j1 && zero8(list + j)) continue;
            for (int t = j; t < j + 8 && t < j1; t++) ROW64_STEP(t, list[t]);
        }
    } else {
        int k = *cur;
        for (int32_t j; k < nnz && (j = list_index(list, k)) < j1; k++)
            ROW64_STEP(j, list[2 * (size_t)k + 1]);
        *cur = k;
    }
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

/* row64's 64 columns as two halves of 32, each with eight 4-float accumulators: the portable
 * variant's form, which fits the 16 registers of 128-bit SSE or NEON (8 floats a vector would
 * need 16 accumulator registers and spill). The same operations on the same elements. */
static inline __attribute__((always_inline)) void row32n(const float *P, const float *init,
                                                         const float *list, int nnz, int *cur,
                                                         int j0, int j1, float *z)
{
    v4f a0, a1, a2, a3, a4, a5, a6, a7;
    memcpy(&a0, init + 0, sizeof a0);
    memcpy(&a1, init + 4, sizeof a1);
    memcpy(&a2, init + 8, sizeof a2);
    memcpy(&a3, init + 12, sizeof a3);
    memcpy(&a4, init + 16, sizeof a4);
    memcpy(&a5, init + 20, sizeof a5);
    memcpy(&a6, init + 24, sizeof a6);
    memcpy(&a7, init + 28, sizeof a7);
#define ROW32N_STEP(j, u)                                                                          \
    do {                                                                                           \
        const float *w = P + (size_t)(j)*BLOCK;                                                    \
        const float u1 = (u);                                                                      \
        const v4f uu = {u1, u1, u1, u1}; /* a shuffle, not 4 stores and a load */                  \
        v4f w0, w1, w2, w3, w4, w5, w6, w7;                                                        \
        memcpy(&w0, w + 0, sizeof w0);                                                             \
        memcpy(&w1, w + 4, sizeof w1);                                                             \
        memcpy(&w2, w + 8, sizeof w2);                                                             \
        memcpy(&w3, w + 12, sizeof w3);                                                            \
        memcpy(&w4, w + 16, sizeof w4);                                                            \
        memcpy(&w5, w + 20, sizeof w5);                                                            \
        memcpy(&w6, w + 24, sizeof w6);                                                            \
        memcpy(&w7, w + 28, sizeof w7);                                                            \
        a0 += uu * w0;                                                                             \
        a1 += uu * w1;                                                                             \
        a2 += uu * w2;                                                                             \
        a3 += uu * w3;                                                                             \
        a4 += uu * w4;                                                                             \
        a5 += uu * w5;                                                                             \
        a6 += uu * w6;                                                                             \
        a7 += uu * w7;                                                                             \
    } while (0)
    if (nnz == SPARSE_FULL) {
        for (int j = j0; j < j1; j += 8) {
            if (j + 8 <= j1 && zero8(list + j)) continue;
            for (int t = j; t < j + 8 && t < j1; t++) ROW32N_STEP(t, list[t]);
        }
    } else {
        int k = *cur;
        for (int32_t j; k < nnz && (j = list_index(list, k)) < j1; k++)
            ROW32N_STEP(j, list[2 * (size_t)k + 1]);
        *cur = k;
    }
#undef ROW32N_STEP
    memcpy(z + 0, &a0, sizeof a0);
    memcpy(z + 4, &a1, sizeof a1);
    memcpy(z + 8, &a2, sizeof a2);
    memcpy(z + 12, &a3, sizeof a3);
    memcpy(z + 16, &a4, sizeof a4);
    memcpy(z + 20, &a5, sizeof a5);
    memcpy(z + 24, &a6, sizeof a6);
    memcpy(z + 28, &a7, sizeof a7);
}

/* row64 for two panels at once (P0, P1: 128 columns) with eight 16-float accumulators: the same
 * operations on the same elements as row64 on each panel, in fewer instructions where 512-bit
 * vectors run at full width (the AVX-512 variant), and enough independent sums to hide the
 * latency of the adds. */
typedef float v16f __attribute__((vector_size(64)));
#define LD16(v, p) memcpy(&(v), (p), sizeof(v16f))
#define ST16(p, v) memcpy((p), &(v), sizeof(v16f))
static inline __attribute__((always_inline)) void row128w(const float *P0, const float *P1,
                                                          const float *init0, const float *init1,
                                                          const float *list, int nnz, int *cur,
                                                          int j0, int j1, float *z0, float *z1)
{
    v16f a0, a1, a2, a3, b0, b1, b2, b3;
    LD16(a0, init0);
    LD16(a1, init0 + 16);
    LD16(a2, init0 + 32);
    LD16(a3, init0 + 48);
    LD16(b0, init1);
    LD16(b1, init1 + 16);
    LD16(b2, init1 + 32);
    LD16(b3, init1 + 48);
#define ROW128W_STEP(j, u)                                                                         \
    do {                                                                                           \
        const float *w = P0 + (size_t)(j)*BLOCK, *v = P1 + (size_t)(j)*BLOCK;                      \
        const float uu = (u);                                                                      \
        v16f w0, w1, w2, w3, v0, v1, v2, v3;                                                       \
        LD16(w0, w);                                                                               \
        LD16(w1, w + 16);                                                                          \
        LD16(w2, w + 32);                                                                          \
        LD16(w3, w + 48);                                                                          \
        LD16(v0, v);                                                                               \
        LD16(v1, v + 16);                                                                          \
        LD16(v2, v + 32);                                                                          \
        LD16(v3, v + 48);                                                                          \
        a0 += uu * w0;                                                                             \
        a1 += uu * w1;                                                                             \
        a2 += uu * w2;                                                                             \
        a3 += uu * w3;                                                                             \
        b0 += uu * v0;                                                                             \
        b1 += uu * v1;                                                                             \
        b2 += uu * v2;                                                                             \
        b3 += uu * v3;                                                                             \
    } while (0)
    if (nnz == SPARSE_FULL) {
        for (int j = j0; j < j1; j += 8) {
            if (j + 8 <= j1 && zero8(list + j)) continue;
            for (int t = j; t < j + 8 && t < j1; t++) ROW128W_STEP(t, list[t]);
        }
    } else {
        int k = *cur;
        for (int32_t j; k < nnz && (j = list_index(list, k)) < j1; k++)
            ROW128W_STEP(j, list[2 * (size_t)k + 1]);
        *cur = k;
    }
#undef ROW128W_STEP
    ST16(z0, a0);
    ST16(z0 + 16, a1);
    ST16(z0 + 32, a2);
    ST16(z0 + 48, a3);
    ST16(z1, b0);
    ST16(z1 + 16, b1);
    ST16(z1 + 32, b2);
    ST16(z1 + 48, b3);
}

/* One row, 8 columns (the part of `out` past the last full block). */
static inline __attribute__((always_inline)) void row8(const float *P, size_t out, const float *c,
                                                       const float *list, int nnz, int in, float *z)
{
    v8f a, w;
    LD8(a, c);
    if (nnz == SPARSE_FULL)
        for (int j = 0; j < in; j++) {
            LD8(w, P + (size_t)j * out);
            a += list[j] * w;
        }
    else
        for (int k = 0; k < nnz; k++) {
            LD8(w, P + (size_t)list_index(list, k) * out);
            a += list[2 * (size_t)k + 1] * w;
        }
    ST8(z, a);
}

/* One row, one column (the last out % 8). */
static inline __attribute__((always_inline)) void row1(const float *P, size_t out, const float *c,
                                                       const float *list, int nnz, int in, float *z)
{
    float a = *c;
    if (nnz == SPARSE_FULL)
        for (int j = 0; j < in; j++) a += list[j] * P[(size_t)j * out];
    else
        for (int k = 0; k < nnz; k++)
            a += list[2 * (size_t)k + 1] * P[(size_t)list_index(list, k) * out];
    *z = a;
}

/* Panel by panel, every row per panel, and within a full panel input range by input range
 * (KSPAN inputs: 16 KiB of contiguous weights a panel, kept in L1 (48 KiB) while the rows pass over
 * them; one range for one row, whose weights are read once anyway). Each output still adds its
 * terms in ascending j. */
static inline __attribute__((always_inline)) void
rows_body(const float *P, int in, int out, const float *c, const float *lists, size_t list_stride,
          const int *nnz, int rows, float *Z, size_t z_stride, int wide)
{
    const int span = rows == 1 ? in : KSPAN;
    int cur[GROUP];
    int b = 0;
    for (; b + BLOCK <= out; b += wide > 0 && b + 2 * BLOCK <= out ? 2 * BLOCK : BLOCK) {
        const int two = wide > 0 && b + 2 * BLOCK <= out; /* panels b and b + 64 together */
        const float *panel = P + (size_t)b * (size_t)in, *next = panel + (size_t)BLOCK * in;
        for (int r0 = 0; r0 < rows; r0 += GROUP) {
            const int g = rows - r0 < GROUP ? rows - r0 : GROUP;
            for (int r = 0; r < g; r++) cur[r] = 0;
            for (int j0 = 0; j0 < in; j0 += span) {
                const int j1 = in - j0 < span ? in : j0 + span;
                for (int r = r0; r < r0 + g; r++) {
                    float *z = Z + (size_t)r * z_stride + b;
                    const float *init = j0 == 0 ? c + b : z,
                                *list = lists + (size_t)r * list_stride;
                    if (two) {
                        row128w(panel, next, init, init + BLOCK, list, nnz[r], &cur[r - r0], j0, j1,
                                z, z + BLOCK);
                    } else if (wide < 0) { /* two halves; the second moves the cursor */
                        int c0 = cur[r - r0];
                        row32n(panel, init, list, nnz[r], &c0, j0, j1, z);
                        row32n(panel + 32, init + 32, list, nnz[r], &cur[r - r0], j0, j1, z + 32);
                    } else {
                        row64(panel, BLOCK, init, list, nnz[r], &cur[r - r0], j0, j1, z);
                    }
                }
            }
        }
    }
    /* the last panel, narrower than BLOCK: its rows are out - b wide */
    const float *panel = P + (size_t)b * (size_t)in;
    const size_t wp = (size_t)(out - b);
    for (int i = 0; b + i + 8 <= out; i += 8)
        for (int r = 0; r < rows; r++)
            row8(panel + i, wp, c + b + i, lists + (size_t)r * list_stride, nnz[r], in,
                 Z + (size_t)r * z_stride + b + i);
    for (int i = (out - b) / 8 * 8; b + i < out; i++)
        for (int r = 0; r < rows; r++)
            row1(panel + i, wp, c + b + i, lists + (size_t)r * list_stride, nnz[r], in,
                 Z + (size_t)r * z_stride + b + i);
}

void sparse_pack(const float *W, int in, int out, float *P)
{
    assert(W && P && in >= 1 && out >= 1);
    for (int i = 0; i < out; i++) {
        const int p0 = i / BLOCK * BLOCK;
        const size_t wp = (size_t)(out - p0 < BLOCK ? out - p0 : BLOCK);
        float *dst = P + (size_t)p0 * (size_t)in + (size_t)(i - p0);
        const float *src = W + (size_t)i * (size_t)in;
        for (int j = 0; j < in; j++) dst[(size_t)j * wp] = src[j];
    }
}

static void rows_portable(const float *P, int in, int out, const float *c, const float *lists,
                          size_t list_stride, const int *nnz, int rows, float *Z, size_t z_stride)
{
    rows_body(P, in, out, c, lists, list_stride, nnz, rows, Z, z_stride, -1);
}

#if defined(__GNUC__) && defined(__x86_64__)
#define SPARSE_X86 1
__attribute__((target("avx2"))) static void rows_avx2(const float *P, int in, int out,
                                                      const float *c, const float *lists,
                                                      size_t list_stride, const int *nnz, int rows,
                                                      float *Z, size_t z_stride)
{
    rows_body(P, in, out, c, lists, list_stride, nnz, rows, Z, z_stride, 0);
}

__attribute__((target("avx512f"))) static void rows_avx512(const float *P, int in, int out,
                                                           const float *c, const float *lists,
                                                           size_t list_stride, const int *nnz,
                                                           int rows, float *Z, size_t z_stride)
{
    rows_body(P, in, out, c, lists, list_stride, nnz, rows, Z, z_stride, 1);
}
#endif

static int isa_cap = SPARSE_AVX512; /* sparse_isa */

/* The variant sparse_rows uses: the best the CPU has, at most isa_cap. */
static int isa_in_use(void)
{
#ifdef SPARSE_X86
    if (isa_cap >= SPARSE_AVX512 && __builtin_cpu_supports("avx512f")) return SPARSE_AVX512;
    if (isa_cap >= SPARSE_AVX2 && __builtin_cpu_supports("avx2")) return SPARSE_AVX2;
#endif
    return SPARSE_PORTABLE;
}

int sparse_isa(int max)
{
    isa_cap = max;
    return isa_in_use();
}

int sparse_count(const float *x, const float *m, int in)
{
    assert(x && m && in >= 1);
    int used = 0, j = 0;
    for (; j + 8 <= in; j += 8) { /* 8 at a time, which GCC vectorises */
        int c = 0;
        for (int t = 0; t < 8; t++) c += x[j + t] != m[j + t]; /* a NaN counts */
        used += c;
    }
    for (; j < in; j++) used += x[j] != m[j];
    return used;
}

double sparse_batch_max_density(void)
{
    switch (isa_in_use()) {
    case SPARSE_AVX512:
        return 0.5;
    case SPARSE_AVX2:
        return 0.4;
    default:
        return 0.3;
    }
}

void sparse_rows(const float *P, int in, int out, const float *c, const float *lists,
                 size_t list_stride, const int *nnz, int rows, float *Z, size_t z_stride)
{
    assert(P && c && lists && nnz && Z && in >= 1 && out >= 1 && rows >= 0);
    switch (isa_in_use()) {
#ifdef SPARSE_X86
    case SPARSE_AVX512:
        rows_avx512(P, in, out, c, lists, list_stride, nnz, rows, Z, z_stride);
        return;
    case SPARSE_AVX2:
        rows_avx2(P, in, out, c, lists, list_stride, nnz, rows, Z, z_stride);
        return;
#endif
    default:
        rows_portable(P, in, out, c, lists, list_stride, nnz, rows, Z, z_stride);
        return;
    }
}
