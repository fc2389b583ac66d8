"""Sun–Abraham and TWFE event studies (fiproxy.did method="sunab"/"twfe") and the event-study plot.

References computed in the same process with pyfixest 0.60 on mpdta: its
saturated (cohort × relative-time) event study aggregated with cohort shares
for Sun–Abraham, and ``feols`` with event-time dummies for the TWFE event study.
Tolerances: estimates 1e-8, standard errors 1e-8 (both CRV1 by county, same
small-sample correction). The regressions go through fiproxy.twfe; the two
feature tests that need extra regressions are marked slow.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from fiproxy.estimators.did import did

pytestmark = pytest.mark.realdata
pytest.importorskip("fiproxy.estimators.twfe", reason="fiproxy.twfe is needed for the regression event studies")

ARGS = dict(y="lemp", unit="county_id", time="year", cohort="first_treat")


@pytest.fixture(scope="module")
def sunab(mpdta):
    return did(mpdta, **ARGS, method="sunab")


@pytest.fixture(scope="module")
def twfe_es(mpdta):
    return did(mpdta, **ARGS, method="twfe")


def test_sunab_matches_pyfixest_saturated_event_study(mpdta, sunab):
    pf = pytest.importorskip("pyfixest")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = pf.event_study(data=mpdta, yname="lemp", idname="county_id", tname="year", gname="first_treat",
                             estimator="saturated").aggregate()
    ref.index = [f"e={int(e)}" for e in ref.index]
    assert list(sunab.params.index) == list(ref.index)
    np.testing.assert_allclose(sunab.params, ref["Estimate"].astype(float), atol=1e-8)
    np.testing.assert_allclose(sunab.se, ref["Std. Error"].astype(float), atol=1e-8)


def test_sunab_post_periods_equal_cs_with_never_treated(sunab):
    # With never-treated controls and no covariates, the IW estimates for e >= 0 equal CS event effects
    for e, v in {0: -0.019932, 1: -0.050957, 2: -0.137259, 3: -0.100811}.items():
        assert sunab.params[f"e={e}"] == pytest.approx(v, abs=1e-6)
    assert sunab.stats["att"] == pytest.approx(-0.039951, abs=1e-6)
    w = sunab.extra["event_weights"]
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    assert sunab.model == "did-sunab"


@pytest.mark.slow
def test_sunab_cohort_effects_and_last_treated_control(mpdta):
    res = did(mpdta, **ARGS, method="sunab", aggregate="cohort", control="lasttreated")
    # last-treated control: cohort 2007 is the comparison, 2007 dropped; CATT(2004, 0) is a 2x2 DiD
    sub = mpdta[mpdta["year"] < 2007]
    m = sub.pivot(index="county_id", columns="year", values="lemp")
    g = mpdta.groupby("county_id")["first_treat"].first()
    dy = m[2004] - m[2003]
    manual = dy[g == 2004].mean() - dy[g.isin([0, 2007])].mean()
    # the regression pools 2003 as reference with other pre periods unavailable for 2004: CATT(2004,0) = 2x2
    assert res.params["CATT(2004,0)"] == pytest.approx(manual, abs=1e-10)
    assert any("comparison group" in w for w in res.warnings)


def test_twfe_event_study_matches_pyfixest(mpdta, twfe_es):
    pf = pytest.importorskip("pyfixest")
    d = mpdta.assign(rel=np.where(mpdta["first_treat"] > 0, mpdta["year"] - mpdta["first_treat"], -1000))
    for k in (-4, -3, -2, 0, 1, 2, 3):
        d[f"d{k + 10}"] = (d["rel"] == k).astype(float)
    fml = "lemp ~ " + " + ".join(f"d{k + 10}" for k in (-4, -3, -2, 0, 1, 2, 3)) + " | county_id + year"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = pf.feols(fml, data=d, vcov={"CRV1": "county_id"})
    np.testing.assert_allclose(twfe_es.params, ref.coef().to_numpy(), atol=1e-8)
    np.testing.assert_allclose(twfe_es.se, ref.se().to_numpy(), atol=1e-8)
    assert twfe_es.model == "did-twfe-es"


@pytest.mark.slow
def test_twfe_window_bins_end_points(mpdta):
    res = did(mpdta, **ARGS, method="twfe", window=(-2, 2))
    assert list(res.params.index) == ["e=-2", "e=0", "e=1", "e=2"]
    assert res.spec["binned"] == (True, True)
    with pytest.raises(ValueError, match="reference period -1"):
        did(mpdta, **ARGS, method="twfe", window=(0, 2))


def test_event_plot_writes_figure(mpdta, sunab, twfe_es, tmp_path):
    from fiproxy.report.event_plot import event_plot, event_table

    cs = did(mpdta, **ARGS, seed=1)
    out = tmp_path / "es.png"
    fig = event_plot([cs, sunab, twfe_es], title="mpdta", path=out)
    assert out.stat().st_size > 10_000
    ax = fig.axes[0]
    assert len(ax.containers) == 3  # one errorbar series per estimator
    assert len(ax.collections) >= 1  # the uniform band of the CS result
    t = event_table(cs)
    assert (t["band_lower"] <= t["ci_lower"]).all()
    with pytest.raises(ValueError, match="event-time"):
        event_table(sunab.__class__(**{**sunab.__dict__, "params": sunab.params.set_axis(
            [f"b{i}" for i in range(len(sunab.params))])}))
