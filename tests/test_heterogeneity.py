"""Heterogeneity: interaction marginal effects vs refits at a re-centred moderator, split-sample
estimates vs separate twfe fits, stacked covariance vs the fully interacted twfe model, region and
tercile groupings, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import fiproxy
from fiproxy.data import simulate_panel
from fiproxy.data.registry import provinces
from fiproxy.estimators.design import DesignError
from fiproxy.estimators.heterogeneity import by_groups, compare_groups, group_labels, interaction
from fiproxy.estimators.inference.vcov import VcovError

F = "ln_loans_gdp ~ ln_dfi_index + ln_gdp_pc | prov_code + year"
CL = {"CRV1": "prov_code"}


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return simulate_panel(seed=21).data


def test_marginal_effects_equal_recentred_refits(panel):
    """Effect at m0 and its SE equal the treatment slope of a refit with the moderator centred at
    m0 (exact reparametrisation, 1e-9)."""
    r = interaction(F, panel, "ln_dfi_index", "internet_penetration", vcov=CL, at=[0.3, 0.6])
    me = r.extra["marginal_effects"]
    for _, row in me.iterrows():
        ref = interaction(F, panel, "ln_dfi_index", "internet_penetration", vcov=CL, center=row["moderator"])
        assert row["effect"] == pytest.approx(ref.params["ln_dfi_index"], rel=1e-9)
        assert row["se"] == pytest.approx(ref.se["ln_dfi_index"], rel=1e-9)
        assert row["p"] == pytest.approx(ref.pvalue["ln_dfi_index"], rel=1e-7)
    assert "ln_dfi_index:internet_penetration_c" in r.params.index
    assert r.model == "twfe-interaction"


def test_split_sample_equals_separate_fits_and_block_factor(panel):
    """Group estimates equal separate twfe fits (1e-10). Province clusters are nested in regions:
    cross-group covariances are zero and each block is the group's CRV1 covariance rescaled from
    its own factor G_g/(G_g-1) (n_g-1)/(n_g-K_g) to the stacked one G/(G-1) (n-1)/(n-K), where K
    counts all groups' slopes and fixed effects, nested province effects counting once (fixest)."""
    r = by_groups(F, panel, "region4", vcov=CL)
    groups = r.extra["groups"]
    lab = group_labels(panel, "region4")
    n, G = r.nobs, 31
    n_prov = {g: int(fit.extra["design"].fe_codes[:, 0].max()) + 1 for g, fit in groups.items()}
    K_all = sum(len(f.params) + f.stats["df_fe"] for f in groups.values()) - G + 1
    f_all = G / (G - 1) * (n - 1) / (n - K_all)
    for g, fit in groups.items():
        sep = fiproxy.twfe(F, panel[lab == g], vcov=CL)
        np.testing.assert_allclose(fit.params, sep.params, rtol=1e-10)
        names = [f"{p}[{g}]" for p in fit.params.index]
        Gg, n_g = fit.stats["n_clusters"]["prov_code"], fit.nobs
        K_g = len(fit.params) + fit.stats["df_fe"] - n_prov[g] + 1
        f_g = Gg / (Gg - 1) * (n_g - 1) / (n_g - K_g)
        np.testing.assert_allclose(r.vcov.loc[names, names].to_numpy(), sep.vcov.to_numpy() * f_all / f_g,
                                   rtol=1e-9)
    others = [c for c in r.vcov.columns if not c.endswith("[east]")]
    east = [c for c in r.vcov.columns if c.endswith("[east]")]
    assert np.abs(r.vcov.loc[east, others].to_numpy()).max() == 0.0
    assert r.df_t == 30


def test_stacked_covariance_equals_fully_interacted_model(panel):
    """Clustering by year (clusters span regions): the stacked covariance is proportional to that
    of the fully interacted twfe model y ~ i(g, x) + i(g, z) | prov_code + year^g (the two differ
    only in the count of redundant fixed effects in the (n-1)/(n-K) factor)."""
    lab = group_labels(panel, "belt3")
    df = panel.assign(g=lab.to_numpy())
    r = compare_groups(F, df, "g", vcov={"CRV1": "year"})
    full = fiproxy.twfe("ln_loans_gdp ~ i(g, ln_dfi_index) + i(g, ln_gdp_pc) | prov_code + g^year", df,
                        vcov={"CRV1": "year"})
    mapping = {f"{v}[{g}]": f"g::{g}:{v}" for g in r.spec["groups"] for v in ("ln_dfi_index", "ln_gdp_pc")}
    ours = r.vcov.loc[list(mapping), list(mapping)].to_numpy()
    theirs = full.vcov.loc[list(mapping.values()), list(mapping.values())].to_numpy()
    np.testing.assert_allclose(r.params[list(mapping)].to_numpy(), full.params[list(mapping.values())].to_numpy(),
                               rtol=1e-9)
    ratio = ours / theirs
    assert np.allclose(ratio, ratio[0, 0], rtol=1e-8)
    assert 0.9 < ratio[0, 0] < 1.1
    assert np.abs(ours[0, 2]) > 0  # years span the groups: cross-group covariance present
    # equality test of the ln_dfi_index slope equals the Wald test on the interacted model (same
    # covariance up to the common factor)
    R = np.zeros((2, len(full.params)))
    names = list(full.params.index)
    gs = r.spec["groups"]
    for i, g in enumerate(gs[1:]):
        R[i, names.index(f"g::{g}:ln_dfi_index")] = 1
        R[i, names.index(f"g::{gs[0]}:ln_dfi_index")] = -1
    w_full = full.wald_test(R)["stat"]
    w_ours = r.stats["equality_tests"].loc["ln_dfi_index", "stat"]
    assert w_ours == pytest.approx(w_full / ratio[0, 0], rel=1e-8)


def test_group_labels(panel):
    reg = provinces()
    lab = group_labels(panel, "region4")
    assert (lab.to_numpy() == panel["prov_code"].map(reg["region4"]).to_numpy()).all()
    t = group_labels(panel, "terciles:internet_penetration")
    per_prov = t.groupby(panel["prov_code"]).first()
    assert sorted(per_prov.value_counts().tolist()) == [10, 10, 11]
    means = panel.groupby("prov_code")["internet_penetration"].mean()
    assert means[per_prov == "low"].max() < means[per_prov == "mid"].min()
    assert means[per_prov == "mid"].max() < means[per_prov == "high"].min()
    r = by_groups(F, panel, "terciles:internet_penetration", vcov=CL)
    assert set(r.spec["groups"]) == {"low", "mid", "high"}
    assert r.stats["joint_equality"]["df"][0] == 4  # 2 slopes x 2 differences


def test_bad_input(panel):
    with pytest.raises(DesignError, match="did you mean"):
        by_groups(F, panel, "terciles:internet_penetratio")
    with pytest.raises(ValueError, match="region4"):
        by_groups(F, panel, "region3")
    with pytest.raises(DesignError, match="missing values"):
        compare_groups(F, panel.assign(g=np.where(panel.index == 3, np.nan, 1.0)), "g")
    with pytest.raises(DesignError, match="single group"):
        compare_groups(F, panel.assign(g=1), "g")
    with pytest.raises(VcovError, match="missing value"):
        bad = panel.assign(cl=panel["prov_code"].astype(float))
        bad.loc[0, "cl"] = np.nan
        by_groups(F, bad, "region4", vcov={"CRV1": "cl"})
    with pytest.raises(DesignError, match="not numeric"):
        interaction(F, panel.assign(mm="a"), "ln_dfi_index", "mm")
    with pytest.raises(DesignError, match="not a regressor"):
        interaction(F, panel, "ln_npl_ratio", "internet_penetration")
    with pytest.raises(DesignError, match="collinear"):
        interaction(F, panel.assign(tc=panel["prov_code"] * 1.0), "ln_dfi_index", "tc", collinear="raise")
    with pytest.raises(DesignError, match="not province codes"):
        group_labels(panel.assign(prov_code=99), "belt3")
