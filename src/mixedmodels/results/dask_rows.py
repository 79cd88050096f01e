"""A Dask fit's rows on the cluster: the persisted chunks, what needs them, and the members that cannot.

Both Dask results (:class:`~mixedmodels.results.dask_lmer.DaskLmerResult`,
:class:`~mixedmodels.results.dask_glmer.DaskGlmerResult`) hold a :class:`DaskRows`; their members
that need the rows in one place are :func:`rows_needed` stubs that raise a FitError saying so.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import FitError

__all__ = ["DaskRows", "live_rows", "rows_needed"]


@dataclass
class DaskRows:
    """Where a Dask fit's rows are: the persisted chunks (one per partition, in the workers' memory),
    and what the fit learnt of them.

    Attributes
    ----------
    chunks : list of dask.delayed.Delayed
        One ``RowChunk`` per partition (the model rows, X with the kept columns, Z's columns and
        level codes), persisted unless too big for the workers' memory.
    n : int
        The number of rows the fit used.
    weighted : bool
        Whether the fit has prior weights.
    scale_problem : bool
        lme4's ``check.scaleX`` on all the rows: predictors on very different scales.
    partitions : int
        The number of partitions of the data.
    persisted : bool
        False: the chunks are formed afresh from the source in each round (data beyond memory).
    """

    chunks: list                 # dask.delayed RowChunk (persisted unless too big), X with the kept columns
    n: int
    weighted: bool
    scale_problem: bool          # lme4's check.scaleX on all the rows
    partitions: int = 0
    persisted: bool = True       # False: chunks formed afresh from the source in each round (data beyond memory)

    def release(self) -> None:
        """Drop the references to the persisted chunks (the cluster frees their memory).

        Examples
        --------
        >>> rows = DaskRows(chunks=[], n=0, weighted=False, scale_problem=False)
        >>> rows.release()
        >>> rows.chunks
        []
        """
        self.chunks = []

    def live(self, what: str) -> "DaskRows":
        """These rows, or a FitError saying that ``what`` needs them and they were released.

        Examples
        --------
        >>> DaskRows(chunks=[], n=0, weighted=False, scale_problem=False).live("the fitted values")
        Traceback (most recent call last):
            ...
        mixedmodels.errors.FitError: the fitted values needs the fit's rows on the Dask cluster, ...
        """
        if not self.chunks:
            raise FitError(f"{what} needs the fit's rows on the Dask cluster, which were released; "
                           "fit again to compute it")
        return self

    def unweighted_core(self, terms, p: int):
        """The core of these rows without their prior weights, from the blocks' passes once more on
        the cluster (a few rounds): pbkrtest builds Kenward-Roger's Sigma from the unweighted Z
        whatever the weights, as the in-memory fit does from its rows.

        Parameters
        ----------
        terms : list of ReTerm
            The fit's terms (levels and columns).
        p : int
            The number of columns of X.

        Returns
        -------
        LmmCore

        Examples
        --------
        >>> import dask.dataframe as dd
        >>> d = mm.load_dataset("sleepstudy").assign(w=lambda d: 1.0 + d["Days"] / 10)
        >>> dw = mm.lmer("Reaction ~ Days + (1 | Subject)", dd.from_pandas(d, npartitions=2), weights="w")
        >>> dw.rows.unweighted_core(dw.terms, 2).crossproducts()[2].tolist()
        [[180.0, 810.0], [810.0, 5130.0]]
        """
        import dataclasses

        import dask

        from ..core.dask_rows import DaskReduce
        from ..core.layout import ThetaLayout
        from ..core.lmm import LmmCore
        from ..core.rows import blocks_from_passes

        chunks = [dask.delayed(dataclasses.replace, pure=True)(ch, weights=None)
                  for ch in self.live("the unweighted crossproducts").chunks]
        layout = ThetaLayout.for_terms(terms)
        return LmmCore.from_blocks(terms, layout, blocks_from_passes(terms, layout, p, DaskReduce(chunks)))

    def quantiles(self, sorted_values, *args) -> np.ndarray:
        """Minimum, quartiles and maximum of one value per row, exactly (R's ``quantile(type = 7)``).

        ``sorted_values(chunk, *args)`` gives a chunk's values sorted, where the chunk lives;
        :func:`~mixedmodels.core.dask_rows.exact_quantiles` counts them in a few rounds. The values
        (8 bytes a row) are persisted for those rounds where they fit in the workers' memory, even
        when the chunks did not; else each round forms them afresh.

        Returns
        -------
        numpy.ndarray
            The five quantiles.

        Examples
        --------
        >>> import dask.dataframe as dd
        >>> ddf = dd.from_pandas(mm.load_dataset("sleepstudy"), npartitions=2)
        >>> dm = mm.lmer("Reaction ~ Days + (Days | Subject)", ddf)
        >>> from mixedmodels.core.dask_rows import chunk_residuals
        >>> dm.rows.quantiles(chunk_residuals, dm.beta, dm.b).round(2).tolist()
        [-101.18, -11.86, 0.59, 11.86, 132.55]
        """
        import dask

        from ..core.dask_rows import exact_quantiles, fits_in_memory

        rows = self.live("the quantiles")
        res = [dask.delayed(sorted_values, pure=True)(ch, *args) for ch in rows.chunks]
        if rows.persisted or fits_in_memory(8.0 * rows.n):
            res = dask.persist(*res)
        try:
            return exact_quantiles(list(res), rows.n)
        finally:
            del res


_LMER_EXAMPLE = """>>> import dask.dataframe as dd
        >>> ddf = dd.from_pandas(mm.load_dataset("sleepstudy"), npartitions=2)
        >>> dm = mm.lmer("Reaction ~ Days + (Days | Subject)", ddf)
        >>> dm.{name}()"""


def live_rows(rows: DaskRows | None, what: str) -> DaskRows:
    """A Dask fit's rows while they are on the cluster (:meth:`DaskRows.live`); a FitError once
    released (or where the result holds none)."""
    if rows is None:
        raise FitError(f"{what} needs the fit's rows on the Dask cluster, which were released; fit again to compute it")
    return rows.live(what)


def rows_needed(what: str, owner: str = "DaskLmerResult", fit: str = "mm.lmer(formula, ddf.compute())",
                example: str = _LMER_EXAMPLE):
    """A member of the in-memory fit that a Dask fit replaces with a FitError.

    Parameters
    ----------
    what : str
        The call, as the message names it ("resid()").
    owner : str
        The Dask result class ("DaskLmerResult").
    fit : str
        How to fit in memory instead, for the message.
    example : str
        The docstring example's lines up to the call (``{name}`` stands for the member).

    Returns
    -------
    callable
        The method, with its numpydoc docstring.
    """
    name = what.rstrip("()")

    def method(self, *args, **kwargs):
        raise FitError(f"{what} needs the model's rows in memory, which a fit to a Dask frame does not hold; "
                       f"fit in memory for it: {fit} (or a sample of the rows)")
    method.__name__ = name
    method.__qualname__ = f"{owner}.{name}"
    base = owner.removeprefix("Dask")
    method.__doc__ = f"""Not available from a Dask fit: ``{what}`` needs the model's rows in memory.

        The in-memory fit's ``{base}.{name}`` reads (or refits to) the model's rows, which a fit to
        a Dask frame leaves on the cluster; fit in memory for it: ``{fit}`` (or a sample of the
        rows).

        Parameters
        ----------
        *args, **kwargs : object
            What ``{base}.{name}`` takes; not looked at.

        Returns
        -------
        NoReturn
            Nothing: the call always raises.

        Raises
        ------
        FitError
            Always, saying so.

        Examples
        --------
        {example.format(name=name)}
        Traceback (most recent call last):
            ...
        mixedmodels.errors.FitError: {what} needs the model's rows in memory, ...
        """
    return method
