"""R's printouts: tables (printCoefmat), lme4's summaries and anova, HTML for notebooks, plots.

The numbers in them are formatted by :mod:`mixedmodels.rformat` (a bottom module: stages below this
one format numbers too), and formulas are deparsed by :mod:`mixedmodels.formula.deparse`.
"""
