"""BLAS threads during a fit: one thread where the matrices are small.

A fit factors one dense matrix many times: the Schur block of the random-effects terms after the
first and ``[X y]`` (``mz + p + 1`` square, :class:`~mixedmodels.core.lmm.LmmCore`), or for
glmer's dense PIRLS the whole ``q + p + 1`` system. Below a few thousand rows and columns such a
factor takes micro- to milliseconds, and OpenBLAS's worker threads gain little on it; on a busy
machine they lose a great deal, since each call waits for threads that are not scheduled (on a
2-core machine kept busy by two other processes, a 403-row Poisson glmer took 85 s with the
default threads and 6 s with one). So a fit runs inside :func:`fit_threads`: on one BLAS thread
from its start, and on the caller's threads again from the moment it finds its largest dense
block to be :data:`SMALL_BLOCK` or more (:meth:`FitThreads.block`).

What the user chose is kept: where one of the thread-count variables (``OPENBLAS_NUM_THREADS``,
``OMP_NUM_THREADS``, ...) is set, BLAS is left alone; the limit only ever lowers the thread count
(to 1), so a limit the caller set with ``threadpoolctl.threadpool_limits`` is never raised; and the
thread counts in force before the fit are restored after it (threadpoolctl restores them), also
when the fit raises.

:data:`SMALL_BLOCK` is a module constant, not read from the environment; set
``mixedmodels.threads.SMALL_BLOCK = 0`` to run every fit's optimization on the caller's threads.
"""
from __future__ import annotations

import os
from contextlib import contextmanager

__all__ = ["SMALL_BLOCK", "USER_VARIABLES", "FitThreads", "fit_threads", "pirls_block", "user_set_threads"]

#: the side of the largest dense block below which a fit runs BLAS on one thread. Measured on a
#: 2-core machine (the core's step, a numpy product and LAPACK ``dpotrf``, at sizes 25 to 2500):
#: under load the default threads were 1.7x (2500) to several hundred times (100 to 800) slower
#: than one thread; on an idle machine two threads gain at most 2x, only above several hundred.
#: InstEval's ML fit (a 1157-square block) is below it.
SMALL_BLOCK = 2000

#: environment variables by which a user sets the BLAS/OpenMP thread count; where any is set,
#: the fit leaves BLAS's threads as the user set them
USER_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                  "GOTO_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")

_controller = None   # threadpoolctl's view of the loaded BLAS libraries, found once per process


def user_set_threads() -> bool:
    """Whether the user set the BLAS thread count by one of :data:`USER_VARIABLES`.

    Returns
    -------
    bool
        True when one of them is set and not empty (read at the call, so a variable set after
        import counts).
    """
    return any(os.environ.get(v) for v in USER_VARIABLES)


def pirls_block(qs, p: int, dense_max: int) -> int:
    """The side of the largest dense block glmer's PIRLS factors.

    Parameters
    ----------
    qs : sequence of int
        The random-effects terms' numbers of columns (levels times columns per level), in the
        core's order (the first is eliminated level by level).
    p : int
        The number of fixed effects.
    dense_max : int
        The largest ``q + p + 1`` that PIRLS factors as one dense system
        (:data:`mixedmodels.core.limits.PLS_DENSE_MAX`).

    Returns
    -------
    int
        ``q + p + 1`` where PIRLS may factor the whole system densely; otherwise the Schur block of
        the terms after the first, ``q - q_1 + p + 1``, which every other solver factors.
    """
    whole = int(sum(qs)) + p + 1
    if whole <= dense_max or not len(qs):
        return whole
    return whole - int(qs[0])


def _blas_controller():
    """threadpoolctl's controller of the BLAS libraries loaded now (numpy's and scipy's, which a
    fit has imported by the time it gets here); found once: the search takes milliseconds."""
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller


class FitThreads:
    """The BLAS thread limit of one fit, as :func:`fit_threads` yields it.

    The fit starts on one BLAS thread (unless the user set a thread-count variable); once it knows
    the side of its largest dense block it calls :meth:`block`, which gives the caller's thread
    counts back for the rest of the fit when the block is not small.
    """

    def __init__(self, limiter):
        self._limiter = limiter
        self.limited = limiter is not None  # whether BLAS runs on one thread now

    def block(self, side: int) -> bool:
        """Keep one BLAS thread for the rest of the fit if its largest dense block is small.

        Parameters
        ----------
        side : int
            The side of the largest dense matrix the fit factors (``mz + p + 1`` for lmer,
            :func:`pirls_block` for glmer).

        Returns
        -------
        bool
            Whether the fit goes on with one BLAS thread.
        """
        if self.limited and side >= SMALL_BLOCK:
            self._limiter.restore_original_limits()
            self.limited = False
        return self.limited


@contextmanager
def fit_threads():
    """One BLAS thread for a fit, the caller's thread counts restored after it (also on error).

    Yields
    ------
    FitThreads
        Its :meth:`~FitThreads.block` decides, once the model's size is known, whether the rest
        of the fit keeps the one thread.

    Notes
    -----
    The stages before the size is known (the model frame, X and its rank check, the crossproducts)
    are passes over the rows whose dense parts are ``p``-wide, where worker threads gain little
    and on a busy machine lose much (InstEval's stages: 3.4 s on one thread, 7 to 17 s with two
    under load). Where a thread-count variable is set (:data:`USER_VARIABLES`) BLAS is left alone.
    threadpoolctl's limiter, entered in the fitting thread, restores the counts it found; while it
    holds OpenBLAS's process-wide pool, limits set from other Python threads are ignored
    (threadpoolctl's rule), and a fit inside a fit sets and restores the same single thread.
    """
    if user_set_threads():
        yield FitThreads(None)
        return
    with _blas_controller().limit(limits=1, user_api="blas") as limiter:
        yield FitThreads(limiter)
