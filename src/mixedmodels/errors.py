"""Every error and warning the package raises on purpose.

Messages say what was wrong, where, the value received and what to do.
"""


class MixedModelError(Exception):
    """Base of all errors raised on purpose by mixedmodels."""


class FormulaError(MixedModelError, ValueError):
    """The model formula cannot be parsed or does not describe a mixed model."""


class DataError(MixedModelError, ValueError):
    """The data do not fit the formula (missing columns, bad values, too few rows or levels)."""


class FamilyError(MixedModelError, ValueError):
    """Unknown family or link, or a response that the family cannot model."""


class FitError(MixedModelError, RuntimeError):
    """The model could not be fitted (e.g. the objective is not finite at the start)."""


class ArgumentError(MixedModelError, ValueError):
    """An argument has an invalid value."""


class MixedModelWarning(UserWarning):
    """Base of all warnings issued by mixedmodels."""


class SingularFitWarning(MixedModelWarning):
    """The fit is on the boundary: some variance is (nearly) zero or a correlation is +-1."""


class ConvergenceWarning(MixedModelWarning):
    """The optimizer did not report success or stopped at a doubtful point."""


class PersistError(MixedModelError, ValueError):
    """A saved result cannot be loaded: not a mixedmodels file, another version, or altered since saved."""


class RankDeficiencyWarning(MixedModelWarning):
    """Columns of the fixed-effects matrix depend on earlier ones and were dropped (lme4's message)."""


class ScaleWarning(MixedModelWarning):
    """Predictors on very different scales (lme4's check.scaleX): the fit may be poorly conditioned."""


class DataWarning(MixedModelWarning):
    """Rows were left out for a reason other than a missing value in the data (e.g. log of a negative number)."""
