/* bidiag_rows.h - the AVX2 build of the bidiagonal route's row pass and
 * reflector blocks (bidiag_rows.c), several rows side by side; private to
 * src/kernels. Each has the contract and the bits of the public function in
 * kernels/bidiag.h that calls it on the AVX2 path: bidiag_rows and
 * bidiag_reflect_block.
 */
#ifndef LORA_DEMO_BIDIAG_ROWS_H
#define LORA_DEMO_BIDIAG_ROWS_H

#include "kernels/bidiag.h"

#include "gemm.h" /* GEMM_AVX2, GEMM_AVX2_TARGET */

#ifdef GEMM_AVX2
void bidiag_rows_avx2(double *w, long ld, int rows, const double *z, const double *hb,
                      const double *va, double ta, double *acc, double *g, int n);
void bidiag_reflect_avx2(double *y, int r_lo, int r_hi, long ld, const bidiag_refl *h, int nh,
                         int n);
#endif

#endif /* LORA_DEMO_BIDIAG_ROWS_H */
