"""Fit one model of an analysis spec: the single place where a spec entry becomes an estimator call.

Used by the hypothesis notebooks and by ``fiproxy estimate`` (one spec to the terminal).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["fit_model", "model_formula", "year_dummies", "balanced_rows", "ESTIMATORS", "SAMPLES"]

# Named samples a spec may use (pandas query strings on the province panel).
SAMPLES = {
    "all": None,
    "drop_municipalities": "prov_code not in [11, 12, 31, 50]",  # Beijing, Tianjin, Shanghai, Chongqing
    "drop_tibet": "prov_code != 54",
    "post2013": "year >= 2014",
}


def model_formula(spec: dict, model: dict | None = None, *, fe: bool = True) -> str:
    """fixest-style formula of a spec's model: outcome ~ treatment [+ treatment²] + controls | FE."""
    model = model or {}
    y = model.get("outcome", spec["outcome"])
    x = model.get("treatment", spec["treatment"])
    controls = model.get("controls", spec.get("controls", []))
    rhs = [x] + ([f"{x}:{x}"] if model.get("quadratic") else []) + list(controls)
    f = f"{y} ~ {' + '.join(rhs)}"
    fes = spec.get("fixed_effects", [])
    return f + (f" | {' + '.join(fes)}" if fe and fes else "")


def year_dummies(data: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Data with year dummies (first year omitted) for estimators whose formulas take plain columns."""
    d = pd.get_dummies(data["year"], prefix="yr", drop_first=True).astype(float)
    return pd.concat([data, d], axis=1), list(d.columns)


def balanced_rows(data: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Rows with all ``columns`` present, restricted to provinces observed in every remaining year."""
    d = data.dropna(subset=columns)
    return d[d.groupby("prov_code")["year"].transform("size") == d["year"].nunique()]


def _twfe(S, m, data, **_):
    import fiproxy

    return fiproxy.twfe(model_formula(S, m), data, vcov=S.get("vcov", "iid"))


def _wild(S, m, data, *, seed=0, draws=0, base=None, **_):
    import fiproxy

    base = base if base is not None else fiproxy.twfe(model_formula(S), data, vcov=S.get("vcov", "iid"))
    return fiproxy.wild_bootstrap(base, m.get("param", S["treatment"]), B=draws or m.get("B", 9999),
                                  weights=m.get("weights", "webb"), seed=seed)


def _heterogeneity(S, m, data, **_):
    from fiproxy.estimators.heterogeneity import by_groups, interaction

    f = model_formula(S, m)
    if "moderator" in m:
        return interaction(f, data, m.get("treatment", S["treatment"]), m["moderator"], vcov=S.get("vcov", "iid"))
    return by_groups(f, data, m.get("groups", "region4"), vcov=S.get("vcov", "iid"))


def _threshold(S, m, data, *, seed=0, draws=0, **_):
    import fiproxy

    controls = list(S.get("controls", []))
    d = data.dropna(subset=[S["outcome"], m["threshold_var"], *m["regime"], *controls])  # dummies of observed years
    d, years = year_dummies(d) if "year" in S.get("fixed_effects", []) else (d, [])
    rhs = " + ".join(controls + years) or "1"
    return fiproxy.threshold(f"{S['outcome']} ~ {rhs} | prov_code", d, q=m["threshold_var"], regime=m["regime"],
                             n_thresholds=m.get("n_thresholds", 1), trim=m.get("trim", 0.05),
                             grid=m.get("grid", "all"), bootstrap=draws or m.get("B", 300), seed=seed, time="year",
                             vcov={"CRV1": "prov_code"})


def _gmm(S, m, data, **_):
    import fiproxy

    x = m.get("treatment", S["treatment"])
    controls = list(m.get("controls", S.get("controls", [])))
    d = data.dropna(subset=[S["outcome"], x, *controls])
    return fiproxy.gmm(d, S["outcome"], panel=("prov_code", "year"), lags=m.get("lags", 1), predetermined=[x],
                       exog=controls or None,
                       system=m.get("system", False), collapse=m.get("collapse", True), steps=m.get("steps", 2),
                       max_lags=m.get("max_lags"))


def _spatial(S, m, data, *, seed=0, draws=0, **_):
    import fiproxy
    from fiproxy.estimators.spatial_weights import SpatialWeights

    rhs = " + ".join([S["treatment"], *S.get("controls", [])])
    d = balanced_rows(data, [S["outcome"], S["treatment"], *S.get("controls", [])])
    fe = {"twoways": "twoway", "individual": "individual", "time": "time"}[m.get("effects", "twoways")]
    return fiproxy.spatial_panel(f"{S['outcome']} ~ {rhs}", d, SpatialWeights.from_registry(m.get("weights", "queen")),
                                 model=m["model"], fe=fe, draws=draws or 1000, seed=seed)


def _did(S, m, data, *, seed=0, draws=0, **_):
    import fiproxy

    control = {"never_treated": "nevertreated", "not_yet_treated": "notyettreated"}[m.get("control_group", "never_treated")]
    return fiproxy.did(data, S["outcome"], "prov_code", "year", m["cohort"], method="cs", aggregate="event",
                       control=control, est_method=m.get("method", "dr"), biters=draws or m.get("B", 999), seed=seed)


def _iv(S, m, data, **_):
    import fiproxy

    endog = m.get("endogenous", [S["treatment"]])
    exog = [v for v in [m.get("treatment", S["treatment"]), *m.get("controls", S.get("controls", []))] if v not in endog]
    fe = " + ".join(S.get("fixed_effects", [])) or "0"
    f = (f"{m.get('outcome', S['outcome'])} ~ {' + '.join(exog) or '1'} | {fe} | "
         f"{' + '.join(endog)} ~ {' + '.join(m['instruments'])}")
    return fiproxy.iv(f, data, vcov=S.get("vcov", "iid"), method=m.get("method", "2sls"))


def _mediation(S, m, data, *, seed=0, draws=0, **_):
    import fiproxy

    return fiproxy.mediation(data, m.get("treatment", S["treatment"]), m["mediators"], m.get("outcome", S["outcome"]),
                             controls=m.get("controls", S.get("controls", [])),
                             fe=" + ".join(S.get("fixed_effects", [])) or None, vcov=S.get("vcov", "iid"),
                             bootstrap=m.get("bootstrap", "both"), B=draws or m.get("B", 999), seed=seed)


def _spec_curve(S, m, data, *, seed=0, draws=0, backend="serial", **_):
    import fiproxy

    fes = m.get("fixed_effects", [S.get("fixed_effects", [])])
    return fiproxy.spec_curve(data, outcomes=m.get("outcomes", [S["outcome"]]),
                              treatments=m.get("treatments", [S["treatment"]]),
                              controls=m.get("control_sets", [S.get("controls", [])]),
                              fixed_effects={" + ".join(f) or "none": list(f) for f in fes},
                              samples={k: SAMPLES[k] for k in m.get("samples", ["all"])},
                              vcov=m.get("vcovs", [S.get("vcov", "iid")]), B=draws or m.get("B", 0), seed=seed,
                              boot_cluster="prov_code", backend=backend)


ESTIMATORS = {"twfe": _twfe, "wild_bootstrap": _wild, "iv": _iv, "mediation": _mediation,
              "heterogeneity": _heterogeneity, "threshold": _threshold,
              "gmm": _gmm, "spatial": _spatial, "did": _did, "spec_curve": _spec_curve}


def fit_model(S: dict, model: dict | str, data: pd.DataFrame, *, seed: int = 0, draws: int = 0, **kw: Any):
    """Fit one model of spec ``S`` (a model dict or its id) on ``data``.

    ``draws`` overrides the spec's bootstrap/simulation draws when positive; ``kw`` passes
    estimator-specific objects (e.g. ``base=`` the fitted TWFE result for the wild bootstrap).
    """
    if isinstance(model, str):
        found = [m for m in S["models"] if m["id"] == model]
        if not found:
            raise KeyError(f"spec {S['id']!r} has no model {model!r}; models: {[m['id'] for m in S['models']]}")
        model = found[0]
    est = model["estimator"]
    if est not in ESTIMATORS:
        raise NotImplementedError(f"estimator {est!r} of spec {S['id']!r} has no fitting rule yet")
    return ESTIMATORS[est](S, model, data, seed=seed, draws=draws, **kw)
