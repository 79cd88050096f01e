import json
import sys
import warnings
from pathlib import Path

import pytest

HERE = Path(__file__).parent
REF = HERE / "reference"
EXTRA = HERE / "reference_extra"
sys.path.insert(0, str(REF))  # refcheck.py: the shared comparison with R, copied in


def cases(root: Path, kinds=None):
    out = []
    for f in sorted((root / "cases").glob("*.json")) if (root / "cases").exists() else []:
        ref = json.loads(f.read_text())
        if kinds is None or ref["kind"] in kinds:
            out.append(pytest.param(ref, id=ref["name"]))
    return out


@pytest.fixture(scope="session")
def sleepstudy():
    import mixedmodels as mm

    return mm.load_dataset("sleepstudy")


@pytest.fixture(scope="session")
def slope_fit(sleepstudy):
    import mixedmodels as mm

    return mm.lmer("Reaction ~ 1 + Days + (1 + Days | Subject)", sleepstudy)


@pytest.fixture(autouse=True)
def _quiet_known_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        yield
