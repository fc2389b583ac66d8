"""Regression tables: values, stars, fixed-effect and statistic rows, four output formats."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import fiproxy
from fiproxy.estimators.result import Result


@pytest.fixture(scope="module")
def fits():
    rng = np.random.default_rng(3)
    d = pd.DataFrame([(p, t) for p in range(31) for t in range(2011, 2024)], columns=["prov_code", "year"])
    n = len(d)
    d["dfi"] = rng.normal(size=n)
    d["net"] = rng.normal(size=n)
    d["y"] = 0.5 * d.dfi + 0.02 * d.net + rng.normal(size=n)
    a = fiproxy.twfe("y ~ dfi | prov_code", d, vcov={"CRV1": "prov_code"})
    b = fiproxy.twfe("y ~ dfi + net | prov_code + year", d, vcov="HC1")
    return a, b


def test_frame_values_and_stars(fits):
    a, b = fits
    tab = fiproxy.etable([a, b])
    assert list(tab.columns) == ["(1)", "(2)"]
    est = tab.loc[("coef", "dfi"), "(1)"]
    p = float(a.pvalue["dfi"])
    expect_stars = "***" if p < 0.01 else "**" if p < 0.05 else "*" if p < 0.1 else ""
    assert est == f"{a.params['dfi']:.3f}{expect_stars}"
    assert tab.loc[("se", "dfi"), "(2)"] == f"({b.se['dfi']:.3f})"
    assert tab.loc[("coef", "net"), "(1)"] == ""  # not in model 1
    assert tab.loc[("fe", "prov_code")].tolist() == ["Yes", "Yes"]
    assert tab.loc[("fe", "year")].tolist() == ["No", "Yes"]
    assert tab.loc[("stat", "Observations")].tolist() == ["403", "403"]
    assert tab.loc[("stat", "Within R²"), "(2)"] == f"{b.r2_within:.3f}"
    assert tab.loc[("stat", "Covariance"), "(1)"].startswith("CRV1 by prov_code")


def test_star_thresholds():
    params = pd.Series([1.0, 1.0, 1.0, 1.0], index=list("abcd"))
    se = np.array([1 / 3.0, 1 / 2.2, 1 / 1.8, 1 / 1.0])  # z = 3, 2.2, 1.8, 1
    r = Result(params=params, vcov=pd.DataFrame(np.diag(se ** 2), index=params.index, columns=params.index),
               nobs=100, model="other", spec={})
    tab = fiproxy.etable(r, digits=1)
    assert [tab.loc[("coef", k), "(1)"] for k in "abcd"] == ["1.0***", "1.0**", "1.0*", "1.0"]
    assert "R²" not in tab.index.get_level_values("row")  # no statistics, no row
    plain = fiproxy.etable(r, stars=None, digits=1)
    assert plain.loc[("coef", "a"), "(1)"] == "1.0"


def test_keep_labels_names(fits):
    a, b = fits
    tab = fiproxy.etable([a, b], keep=["net", "^d"], labels={"dfi": "Digital finance", "prov_code": "Province FE"},
                         model_names=["Base", "Two-way"])
    assert [r for p, r in tab.index if p == "coef"] == ["net", "Digital finance"]
    assert ("fe", "Province FE") in tab.index and list(tab.columns) == ["Base", "Two-way"]


def test_text_formats(fits):
    a, b = fits
    tex = fiproxy.etable([a, b], fmt="latex", labels={"dfi": "DFI_index"})
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex
    assert r"DFI\_index" in tex
    starred = [c for c in fiproxy.etable([a, b]).to_numpy().ravel() if c.endswith("*")]
    assert starred and all(f"{c.rstrip('*')}$^{{{'*' * (len(c) - len(c.rstrip('*')))}}}$" in tex for c in starred)
    assert f"({a.se['dfi']:.3f})" in tex
    html = fiproxy.etable([a, b], fmt="html")
    assert html.startswith("<table") and "<td>prov_code</td>" in html and "Standard errors in parentheses" in html
    md = fiproxy.etable([a, b], fmt="markdown")
    lines = md.splitlines()
    assert lines[0].startswith("|  | (1) | (2) |") and lines[1] == "|---|:---:|:---:|"
    assert any(line.startswith("| Observations | 403 | 403 |") for line in lines)


def test_bad_arguments(fits):
    with pytest.raises(ValueError, match="fmt must be"):
        fiproxy.etable(list(fits), fmt="docx")
    with pytest.raises(TypeError):
        fiproxy.etable(["not a result"])
    with pytest.raises(ValueError, match="model names"):
        fiproxy.etable(list(fits), model_names=["one"])
