"""No call changes global state: fits in several threads at once leave the warning filters as they
were, and one thread's silenced refits do not silence another thread's warnings."""
import pathlib
import threading
import tokenize
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels import errors
from mixedmodels.errors import SingularFitWarning

SRC = pathlib.Path(mm.__file__).parent


def _singular_data(seed=2):  # this seed gives a singular fit (theta 0)
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(10), 6)
    return pd.DataFrame({"y": rng.normal(size=60), "x": rng.normal(size=60), "g": g})


def test_the_package_never_touches_the_warning_filters():
    """catch_warnings/simplefilter swap process-wide state; the package uses errors.silenced/collected."""
    banned = {"catch_warnings", "simplefilter", "filterwarnings", "resetwarnings", "seterr", "showwarning"}
    found = []
    for path in SRC.rglob("*.py"):
        with path.open("rb") as fh:  # names in code only: docstrings and comments may mention them
            for tok in tokenize.tokenize(fh.readline):
                if tok.type == tokenize.NAME and tok.string in banned:
                    found.append(f"{path.relative_to(SRC)}:{tok.start[0]}: {tok.line.strip()}")
    assert not found, "\n".join(found)


def test_fits_in_threads_leave_the_filters_and_later_fits_warn(sleepstudy):
    m = mm.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)
    d = _singular_data()

    def work(k):
        if k % 4 == 0:
            return m.ranova()                      # refits with singular-fit warnings silenced
        if k % 4 == 1:
            return m.confint(method="profile", parm="theta_")
        if k % 4 == 2:
            with errors.collected():
                return mm.lmer("y ~ x + (1 | g)", d)
        return m.anova()

    before = list(warnings.filters)
    with ThreadPoolExecutor(4) as ex:
        list(ex.map(work, range(12)))
    assert list(warnings.filters) == before
    with pytest.warns(SingularFitWarning):
        mm.lmer("y ~ x + (1 | g)", d)


def test_silencing_in_one_thread_does_not_silence_another():
    d = _singular_data()
    inside, done = threading.Event(), threading.Event()
    seen: list = []

    def quiet():
        with errors.silenced(SingularFitWarning):
            inside.set()
            done.wait(30)

    def loud():
        inside.wait(30)
        with errors.collected() as caught:
            mm.lmer("y ~ x + (1 | g)", d)
        seen.extend(caught)
        done.set()

    a, b = threading.Thread(target=quiet), threading.Thread(target=loud)
    a.start(), b.start()
    a.join(60), b.join(60)
    assert any(isinstance(w, SingularFitWarning) for w in seen)


def test_silenced_and_collected_nest_and_restore():
    with errors.collected() as outer:
        with errors.silenced(SingularFitWarning):
            errors.warn("dropped", SingularFitWarning)
            errors.warn("kept", errors.ConvergenceWarning)
        with errors.collected() as inner:
            errors.warn("inner", SingularFitWarning)
        errors.warn("outer", SingularFitWarning)
    assert [str(w) for w in outer] == ["kept", "outer"]
    assert [str(w) for w in inner] == ["inner"]
    with pytest.warns(SingularFitWarning, match="after"):
        errors.warn("after", SingularFitWarning)
