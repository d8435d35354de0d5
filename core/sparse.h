/* sparse.h — a dense layer on sparse input rows: Z (rows × out) = C + U · Wt, where most of a
 * row of U is 0 and Wt (in × out, row j = the weights of input j) is dense. This is the first
 * layer of a serving net on image-like inputs (core/net.c, net_prepare_serving): each row of U
 * lists its nonzero inputs, and only their rows of Wᵀ are read. cblas cannot express a
 * sparse-times-dense product, so this is the one hand-written product of core/.
 *
 * Layout. A row's list (sparse_gather) is either a pair list, nnz pairs (int32 index j in the
 * bits of a float slot, then u_j), for rows with at most in/2 nonzeros, or the full row (u_0 ..
 * u_{in-1}, zeros included, whose blocks of 8 zeros the product skips), marked by
 * nnz = SPARSE_FULL; both fit in `in` floats.
 *
 * Weights. Wᵀ (in × out: row j = the weights of input j) is stored in panels of 64 columns
 * (sparse_pack), each panel's in × 64 block contiguous.
 *
 * Arithmetic. Every output is c_i, then + u_j·W[i][j] for the listed j in ascending order, one
 * rounded multiply and one rounded add each (no fused multiply-add, so that every variant gives
 * the same bits). Outputs are computed panel by panel, all rows of a call per panel, and a panel
 * 64 inputs at a time, so that those weights (16 KiB) stay in L1 while the rows pass over them.
 * The x86-64 AVX2 and AVX-512 variants (chosen at run time) and the portable one run the same
 * operations in the same order: the same bits. A row's outputs depend only on that row, never on
 * the others of a call.
 *
 * Owns: nothing. Borrows: every array, for the call.
 * Threading: reentrant; sparse_isa sets a process-wide switch for tests and benches. */
#ifndef SPARSE_H
#define SPARSE_H

#include <stddef.h>

#define SPARSE_FULL (-1) /* sparse_gather: the list is the whole row */

/* Row x (in values) as the list the kernel reads: u_j = (x_j - m_j) · inv_j, kept where it is
 * not 0. list: `in` floats, written. Returns the number of pairs, or SPARSE_FULL. */
int sparse_gather(const float *x, const float *m, const float *inv, int in, float *list);

/* P (in × out floats, new layout) = W (out × in, row-major, a dense layer's weights) in panels:
 * columns [64p, 64p + w) of Wt = Wᵀ, w = min(64, out - 64p), as one in × w row-major block at
 * P + 64p·in. A panel's rows are contiguous, so a range of inputs is one contiguous piece. */
void sparse_pack(const float *W, int in, int out, float *P);

/* How many inputs of row x sparse_gather would keep (x_j != m_j), in fewer instructions. */
int sparse_count(const float *x, const float *m, int in);

/* Z[r] (out floats at Z + r·z_stride) = c + the row list lists + r·list_stride (nnz[r] pairs,
 * or SPARSE_FULL) times Wᵀ (P from sparse_pack), for r in 0 .. rows - 1. */
void sparse_rows(const float *P, int in, int out, const float *c, const float *lists,
                 size_t list_stride, const int *nnz, int rows, float *Z, size_t z_stride);

/* The share of nonzero inputs (0 .. 1) below which sparse_rows on a batch of rows beats a dense
 * sgemm of the same layer with the variant in use (bench/forward.sh batch: the break-even on a
 * 784 × 256 layer, 64 rows): 0.5 with AVX-512, 0.4 with AVX2, 0.3 portable. */
double sparse_batch_max_density(void);

/* Variants of sparse_rows, all giving the same bits. */
enum { SPARSE_PORTABLE = 0, SPARSE_AVX2 = 1, SPARSE_AVX512 = 2 };
/* Caps the variant sparse_rows may use at `max` (default SPARSE_AVX512: the best the CPU has);
 * returns the one it now uses. Process-wide, for tests and benches. */
int sparse_isa(int max);

#endif
