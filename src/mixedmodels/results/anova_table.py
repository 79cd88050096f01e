"""AnovaTable: the tables of anova(), ranova(), drop1() and lmerTest's F tests, a DataFrame that
prints as R prints an ``anova`` object (the printing itself is report/'s, :mod:`..report.anova_print`)."""
from __future__ import annotations

import pandas as pd

__all__ = ["AnovaTable"]


class AnovaTable(pd.DataFrame):
    """A DataFrame that prints as R prints an ``anova`` object: heading, table, significance codes.

    ``heading`` holds the lines R prints above the table. Indexing and arithmetic work as for any
    DataFrame; ``to_frame()`` gives a plain DataFrame.
    """

    _metadata = ["heading"]

    @property
    def _constructor(self):
        return AnovaTable

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self)

    def __str__(self) -> str:
        from ..report.anova_print import format_anova

        return format_anova(pd.DataFrame(self), getattr(self, "heading", None) or [])

    def __repr__(self) -> str:
        return self.__str__()

    def _repr_html_(self):  # notebooks: the plain table
        return pd.DataFrame(self)._repr_html_()
