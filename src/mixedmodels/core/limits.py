"""Sizes at which the core changes strategy (dense or sparse Schur block, pair map or product).

Read at run time through this module (``limits.DENSE_MAX_BYTES``) so that tests can lower them.
They are plain constants, not read from the environment at import (a value taken from the
environment would change a fit's path behind the caller's back, and differ between processes); a
program for a machine with little or much memory sets them before fitting, e.g.
``mixedmodels.core.limits.DENSE_MAX_BYTES = 2048 * limits.MB``.
"""

MB = 1024 * 1024
#: bytes for one dense (m x m) float64 Schur block
DENSE_MAX_BYTES = 512 * MB
#: entries of the pair map P (about 28 bytes each: P's value, column and row pointer, the pair's place
#: in the Schur block); beyond it A_r0 W A_0r is formed by a sparse product at each evaluation. At
#: 20 million (~560 MB) a crossed 10^5 x 10^3 design of 10^6 rows (5.5 million pairs) keeps the map:
#: 0.13 s per evaluation instead of 0.6 s for scipy's sparse product (measured, benchmarks/dask_scale.py)
PAIR_MAX = 20_000_000
#: bytes for the level groups' dense (mz x mz) blocks of a scalar first term (core.schur's "groups" mode)
GROUPS_MAX_BYTES = 1024 * MB
#: entries of A_r0 below which it is simply kept dense
SMALL_AR0 = 250_000
#: batched Cholesky of the first term by vectorized loops up to this p0
SMALL_BATCH_P = 8
#: rows per chunk when only the lower triangle of a dense block is needed
CHUNK = 192
#: the largest q + p + 1 for which PIRLS solves the whole system as one dense Cholesky
PLS_DENSE_MAX = 600
