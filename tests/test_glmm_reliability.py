"""glmer on hard input: complete separation fails as lme4 fails, with a message that names it."""
import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import FamilyError, FitError


def test_complete_separation_is_a_clear_error():
    rng = np.random.default_rng(1)
    x = rng.normal(size=200)
    d = pd.DataFrame({"y": (x > 0).astype(int), "x": x, "g": rng.integers(0, 10, 200).astype(str)})
    # lme4: "pwrssUpdate did not converge in (maxit) iterations"
    with pytest.raises(FitError, match="complete separation"):
        mm.glmer("y ~ x + (1 | g)", d, family="binomial")


def test_response_outside_the_family_is_a_clear_error():
    d = pd.DataFrame({"y": [0, 1, 2, -1] * 10, "g": list("abcd") * 10})
    with pytest.raises(FamilyError, match="negative"):
        mm.glmer("y ~ 1 + (1 | g)", d, family="poisson")
