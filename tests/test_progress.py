"""Progress bars: shown when asked for (tqdm), silent when turned off or not on a terminal."""
import pytest

import mixedmodels as mm
from mixedmodels.progress import NoBar, progress_bar


def test_no_bar_when_off_or_not_a_terminal():
    assert isinstance(progress_bar(10, False, "x"), NoBar)
    assert isinstance(progress_bar(10, None, "x"), NoBar)  # pytest's stderr is not a terminal


def test_bar_when_asked(capsys):
    pytest.importorskip("tqdm")
    bar = progress_bar(3, True, "allfit")
    for _ in range(3):
        bar.update(1)
    bar.close()
    assert "allfit" in capsys.readouterr().err


def test_allfit_and_profile_show_a_bar_when_asked(sleepstudy, capsys):
    pytest.importorskip("tqdm")
    m = mm.lmer("Reaction ~ Days + (1 | Subject)", sleepstudy)
    table = m.allfit(optimizers=["bobyqa", "nelder_mead"], progress=True)
    assert list(table["optimizer"]) == ["bobyqa", "nelder_mead"]
    prof = m.profile(which="theta_", progress=True)
    assert len(prof) > 5
    err = capsys.readouterr().err
    assert "allfit" in err and "profile" in err
