"""m.save(path) / load_result(path): nothing lost, nothing executed, nothing altered unnoticed."""
import gzip
import json
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import PersistError
from mixedmodels.io.format import FORMAT, digest as _digest
from mixedmodels.fit.load import load_result


def assert_same_fit(a, b):
    """Every number identical, not merely close."""
    assert a.formula == b.formula and a.reml == b.reml and a.data_name == b.data_name
    assert a.fixef.equals(b.fixef) and a.vcov.equals(b.vcov)
    assert a.sigma == b.sigma and a.loglik == b.loglik and a.deviance == b.deviance
    assert np.array_equal(a.theta, b.theta)
    assert a.coef_table().equals(b.coef_table())
    assert a.varcorr.equals(b.varcorr)
    for g, re in a.ranef().items():
        assert re.equals(b.ranef()[g])
    assert a.ranef_table().equals(b.ranef_table())
    assert a.fitted.equals(b.fitted) and a.residuals.equals(b.residuals)
    assert a.optinfo.as_dict() == b.optinfo.as_dict()
    assert a.control == b.control and a.fixed.dropped == b.fixed.dropped
    assert str(a.summary()) == str(b.summary())


@pytest.fixture(scope="module")
def rich_data(sleepstudy):
    """Missing values, a string index, levels out of alphabetical order, text, bool and nullable columns."""
    d = sleepstudy.copy()
    d.index = [f"row{i}" for i in range(len(d))]
    d.loc[d.index[[3, 50]], "Reaction"] = np.nan
    d["w"] = np.linspace(0.5, 2.0, len(d))
    d["half"] = pd.Categorical(np.where(d["Days"] < 5, "late", "early"), categories=["late", "early"])
    d["txt"] = d["Subject"].astype(str)
    d["flag"] = (d["Days"] % 3) == 0
    d["n"] = pd.array(d["Days"] + 1, dtype="Int64")
    d["unused"] = object()  # not in the formula: not saved, no harm
    return d


def test_round_trip_is_exact(tmp_path, slope_fit):
    path = slope_fit.save(tmp_path / "fit.json")
    assert_same_fit(slope_fit, load_result(path))


def test_round_trip_of_a_rich_model_is_exact(tmp_path, rich_data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mm.lmer("log(Reaction) ~ Days * half + flag + n + offset(Days / 100) + (1 | txt) + (0 + Days | txt)",
                    rich_data, REML=False, weights="w", offset=np.full(len(rich_data), 0.25),
                    control={"optimizer": "nelder_mead", "maxeval": 5000}, data_name="rich")
    assert m.fixed.dropped == ["n"]  # n = Days + 1: rank deficient, dropped again on load
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # loading repeats no fit-time warning
        m2 = load_result(m.save(tmp_path / "rich.json.gz"))
    assert_same_fit(m, m2)
    assert list(m2.frame.data["half"].cat.categories) == ["late", "early"]
    assert m2.nobs == 178 and "row3" not in m2.fitted.index
    np.testing.assert_array_equal(m2.frame.offset, m.frame.offset)
    np.testing.assert_array_equal(m2.frame.weights, m.frame.weights)


def test_nested_grouping_round_trip(tmp_path, sleepstudy):
    d = sleepstudy.assign(block=(sleepstudy["Days"] // 5).astype(str))
    m = mm.lmer("Reaction ~ Days + (1 | Subject/block)", d)
    assert_same_fit(m, load_result(m.save(tmp_path / "nested.json")))


def test_loading_does_not_refit(tmp_path, slope_fit):
    m2 = load_result(slope_fit.save(tmp_path / "fit.json"))
    assert m2.core.nevals <= 3  # a check of the criterion, no optimization (bobyqa took 43)
    assert m2.optinfo.nevals == 43
    np.testing.assert_array_equal(m2.optinfo.gradient, slope_fit.optinfo.gradient)
    # the loaded fit works like any other: refits, inference, prediction
    assert m2.refit(REML=False).deviance == pytest.approx(slope_fit.refit(REML=False).deviance, abs=1e-9)
    np.testing.assert_array_equal(m2.predict(), slope_fit.predict())


def test_the_file_is_plain_json_with_a_checksum(tmp_path, slope_fit):
    doc = json.loads(slope_fit.save(tmp_path / "fit.json").read_text())
    assert doc["format"] == FORMAT and len(doc["sha256"]) == 64
    p = doc["payload"]
    assert p["package_version"] == mm.__version__ and p["formula"] == slope_fit.formula
    assert p["REML"] is True and p["theta"] == slope_fit.theta.tolist()
    assert [c["name"] for c in p["data"]["columns"]] == ["Reaction", "Days", "Subject"]
    gz = slope_fit.save(tmp_path / "fit.json.gz")
    assert json.loads(gzip.decompress(gz.read_bytes()))["sha256"] == doc["sha256"]


def _rewrite(path, change, fix_checksum):
    doc = json.loads(path.read_text())
    change(doc["payload"])
    if fix_checksum:
        doc["sha256"] = _digest(doc["payload"])
    path.write_text(json.dumps(doc))


def test_tampered_file_is_refused(tmp_path, slope_fit):
    path = slope_fit.save(tmp_path / "fit.json")
    _rewrite(path, lambda p: p["theta"].__setitem__(0, p["theta"][0] * (1 + 1e-12)), fix_checksum=False)
    with pytest.raises(PersistError, match="does not match its checksum \\(SHA-256\\)"):
        load_result(path)


def test_file_from_another_version_is_refused(tmp_path, slope_fit):
    path = slope_fit.save(tmp_path / "fit.json")
    _rewrite(path, lambda p: p.__setitem__("package_version", "0.0.1"), fix_checksum=True)
    with pytest.raises(PersistError, match=f"saved by mixedmodels 0.0.1, this is {mm.__version__}"):
        load_result(path)


@pytest.mark.parametrize("formula", ["Reaction ~ __import__('os').system('touch {marker}') + (1 | Subject)",
                                     "Reaction ~ np.save('{marker}', Days) + (1 | Subject)",
                                     "Reaction ~ open('{marker}', 'w') + (1 | Subject)",
                                     "Reaction ~ eval(Days) + (1 | Subject)"])
def test_a_file_cannot_make_load_run_code(tmp_path, slope_fit, formula):
    # even with a valid checksum (anyone can recompute one), the formula is checked before evaluation
    marker = tmp_path / "ran"
    path = slope_fit.save(tmp_path / "fit.json")
    _rewrite(path, lambda p: p.__setitem__("formula", formula.format(marker=marker)), fix_checksum=True)
    with pytest.raises(PersistError, match="formula"):
        load_result(path)
    assert not marker.exists() and not (tmp_path / "ran.npy").exists()


def test_data_that_do_not_rebuild_the_model_are_refused(tmp_path, slope_fit):
    path = slope_fit.save(tmp_path / "fit.json")

    def shift(p):
        p["data"]["columns"][0]["values"][0] += 1.0  # a response value changed
    _rewrite(path, shift, fix_checksum=True)
    with pytest.raises(PersistError, match="do not rebuild the saved model"):
        load_result(path)


@pytest.mark.parametrize("content", [b"not json at all", b'{"format": "something else", "payload": {}}',
                                     b"[1, 2, 3]", gzip.compress(b"\x00\x01")])
def test_files_that_are_not_results_are_refused(tmp_path, content):
    path = tmp_path / "x.json"
    path.write_bytes(content)
    with pytest.raises(PersistError, match="not a saved mixedmodels result"):
        load_result(path)


def test_missing_file(tmp_path):
    with pytest.raises(PersistError, match="cannot read"):
        load_result(tmp_path / "nope.json")


def test_every_formula_that_fits_can_be_saved(tmp_path, sleepstudy):
    """Saving and loading use the same closed evaluator as fitting: what fits, saves and loads."""
    m = mm.lmer("Reaction ~ round(Days / 2) + as.numeric(Days > 3) + (1 | Subject)", sleepstudy)
    back = load_result(m.save(tmp_path / "x.json"))
    assert back.objective == m.objective and list(back.fixed.names) == list(m.fixed.names)
