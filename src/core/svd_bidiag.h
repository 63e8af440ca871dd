/* svd_bidiag.h - what the bidiagonal route's two files share (private to
 * src/core): svd_bidiag.c reduces to the bidiagonal, forms the vectors and
 * drives; svd_bidiag_qr.c runs the implicit-shift QR on the bidiagonal.
 * include/core/svd.h has the algorithm and what it promises.
 *
 * Dimension key: k rows of w, each len long (k <= len).
 */
#ifndef LORA_DEMO_CORE_SVD_BIDIAG_H
#define LORA_DEMO_CORE_SVD_BIDIAG_H

#include <stddef.h>

#include "core/svd.h"
#include "kernels/bidiag.h"
#include "kernels/pool.h"
#include "status.h"

/* Rotations buffered per side before they are applied. */
#define ROT_CAP 32768L

typedef struct {
    int k, len;
    double *w;            /* (k, len): the input, then the reflectors */
    double *d, *e;        /* (k) diagonal, (k) the off-diagonal e[0..k-2] */
    double *ta, *tb;      /* (k) scales of H_i and of G_i */
    double *zcur, *znext; /* (len) the pending left reflector's product; the next one's */
    double *v;            /* (REFL_BLOCK, k) left reflectors, gathered */
    double *p;            /* (k, len) P, or NULL */
    double *z;            /* (k, k) z (the caller's), or NULL */
    bidiag_rot *rl, *rr;  /* left rotations (for P), right ones (for z) */
    long nl, nr;
    int *rank;            /* (k) starting positions, for a stable sort */
    pool *pool;           /* or NULL: forming z and P on its threads */
    long max_steps;       /* QR inner steps allowed; 0: 6 k^2 */
    void *mem;
} bidiag;

/* svd_bidiag.c: x (rows, len) <- the rotations rot[0..n_rot) applied in
 * order, split by columns between b's pool's threads (the same bits). */
void svd_bidiag_rots(const bidiag *b, double *x, int rows, int len, const bidiag_rot *rot,
                     long n_rot);

/* svd_bidiag_qr.c: the upper bidiagonal (d, e) reduced to diagonal by
 * implicit-shift QR (e = 0, d the values with signs); with P or z, every
 * rotation is buffered and applied to them (the last buffer is left for
 * the caller: nl, nr). LD_ESTATE at the step limit. */
ld_status svd_bidiag_qr(bidiag *b, svd_info *info, char *err, size_t errlen);

#endif /* LORA_DEMO_CORE_SVD_BIDIAG_H */
