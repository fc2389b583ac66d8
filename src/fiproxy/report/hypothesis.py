"""Building blocks of the hypothesis notebooks: formulas from specs, coefficient tables with
trace keys and (on simulated data) the true effect beside each estimate."""

from __future__ import annotations

from typing import Mapping

import pandas as pd

from fiproxy.estimators.result import Result
from fiproxy.pipeline.estimate import fit_model
from fiproxy.pipeline.record import Outputs

__all__ = ["open_analysis", "true_effects", "stars", "coef_table", "register_result", "twfe_section",
           "threshold_section"]


def open_analysis(spec: str, data_dir: str, seed: int, output_dir: str, order: int):
    """Start a hypothesis notebook: the validated spec, the panel and the paper section (whose
    first paragraph is the spec's question). Returns ``(S, panel, out)``."""
    from fiproxy.pipeline.panel import load_panel
    from fiproxy.pipeline.specs import load_spec

    S = load_spec(spec)
    panel = load_panel(data_dir, seed)
    out = Outputs(output_dir, spec, S["title"], order=order, spec=S, panel=panel)
    out.text(S["question"])
    return S, panel, out


def true_effects(panel, key: str) -> dict:
    """The simulated panel's true effects for ``key`` (``"H1"`` …); empty for real data."""
    return panel.truth.get("effects", {}).get(key, {}) if panel.simulated else {}


def stars(p: float) -> str:
    return "***" if p < 0.01 else "**" if p < 0.05 else "*" if p < 0.10 else ""


def register_result(out: Outputs, prefix: str, res: Result, params: list[str] | None = None,
                    truth: Mapping[str, float] | None = None) -> dict[str, str]:
    """Register estimate, se and p of ``params`` under ``prefix.param.{estimate,se,p}``; return the keys."""
    keys = {}
    t = res.to_frame()
    for p in params or list(res.params.index):
        k = f"{prefix}.{_safe(p)}"
        out.number(f"{k}.estimate", t.loc[p, "estimate"], truth=(truth or {}).get(p), label=f"{p} ({res.model})")
        out.number(f"{k}.se", t.loc[p, "se"], label=f"se of {p}")
        out.number(f"{k}.p", t.loc[p, "p"], fmt="p", label=f"p-value of {p}")
        keys[p] = k
    return keys


def coef_table(out: Outputs, name: str, results: Mapping[str, Result], params: list[str], caption: str, *,
               labels: Mapping[str, str] | None = None, truth: Mapping[str, float] | None = None,
               note: str = "") -> pd.DataFrame:
    """A regression table (estimate with stars, SE in parentheses) with one column per model.

    Every estimate and SE is registered as a number with key ``name.model.param.{estimate,se,p}``.
    With ``truth`` (simulated data) a column shows the true effect of each parameter.
    """
    labels = labels or {}
    cols: dict[str, list[str]] = {}
    keys: dict[str, list[str | None]] = {}
    index: list[str] = []
    for p in params:
        index += [labels.get(p, p), f"  ({labels.get(p, p)} se)"]
    for model, res in results.items():
        kmap = register_result(out, f"{name}.{_safe(model)}", res, [p for p in params if p in res.params.index],
                               truth)
        c, k = [], []
        for p in params:
            if p in kmap:
                est, se, pv = res.params[p], res.se[p], res.pvalue[p]
                c += [f"{est:.3f}{stars(pv)}", f"({se:.3f})"]
                k += [f"{kmap[p]}.estimate", f"{kmap[p]}.se"]
            else:
                c += ["", ""]
                k += [None, None]
        fe = res.spec.get("fe") or []
        fe = fe if isinstance(fe, str) else ", ".join(fe)
        c += [f"{res.nobs:d}", _fmt(res.stats.get("r2_within")), fe or "—", res.vcov_type or "—"]
        k += [None] * 4
        cols[model], keys[model] = c, k
    index += ["Observations", "R² (within)", "Fixed effects", "Std. errors"]
    frame = pd.DataFrame(cols, index=pd.Index(index, name="")).astype(str)
    key_frame = pd.DataFrame(keys, index=frame.index)
    if truth:
        tv = []
        for p in params:
            tv += [f"{truth[p]:.3f}" if p in truth else "", ""]
        frame["true effect"] = tv + [""] * 4
        key_frame["true effect"] = None
    out.table(name, frame, caption=caption, keys=key_frame,
              note=note or r"Standard errors in parentheses; \* p < 0.10, \*\* p < 0.05, \*\*\* p < 0.01.")
    return frame


def _fmt(v) -> str:
    return "—" if v is None else f"{float(v):.3f}"


def _safe(s: str) -> str:
    return "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in str(s))


def twfe_section(out: Outputs, S: dict, data: pd.DataFrame, *, truth: Mapping[str, float] | None = None,
                 boot_draws: int = 0, seed: int = 0):
    """The two-way FE block of a hypothesis: every ``twfe`` model of the spec in one table, the
    wild cluster bootstrap of the ``wild_bootstrap`` model, and a coefficient plot of the treatment.

    ``boot_draws`` overrides the spec's bootstrap draws ``B`` when positive.
    Returns ``(fits, wild)``: the fitted Results by label and the bootstrap test (or None).
    """
    from fiproxy.report import figures

    sid, x = S["id"], S["treatment"]
    fits = {m.get("label", m["id"]): fit_model(S, m, data) for m in S["models"] if m["estimator"] == "twfe"}
    params = [x] + [f"{x}:{x}"] * any(m.get("quadratic") for m in S["models"]) + list(S.get("controls", []))
    coef_table(out, f"{sid}_twfe", fits, params, caption=f"{S['title']}: two-way fixed-effects estimates.",
               truth=truth)
    base_label, base = next(iter(fits.items()))
    rows = base.to_frame().loc[[x], ["estimate", "ci_lower", "ci_upper"]].rename(index={x: f"{base_label} ({base.vcov_type})"})
    wild = None
    wm = next((m for m in S["models"] if m["estimator"] == "wild_bootstrap"), None)
    if wm is not None:
        wild = fit_model(S, wm, data, seed=seed, draws=boot_draws, base=base)
        k = f"{sid}.wild"
        out.number(f"{k}.p", wild.pvalue, fmt="p", label="wild cluster bootstrap p-value (restricted)")
        out.number(f"{k}.ci_lower", wild.conf_int[0])
        out.number(f"{k}.ci_upper", wild.conf_int[1])
        out.number(f"{k}.clusters", wild.n_clusters, fmt="{:.0f}")
        out.text(
            "With only {{" + k + ".clusters}} clusters, the restricted wild cluster bootstrap (" + wild.weights
            + " weights, " + str(wild.B) + " draws; Roodman et al. 2019) gives a p-value of {{" + k + ".p}} for the effect of `"
            + x + "` in the first model, with a 95% confidence interval from {{" + k + ".ci_lower}} to {{" + k
            + ".ci_upper}} by test inversion."
        )
        rows.loc[f"{base_label} (wild bootstrap)"] = [wild.estimate, *wild.conf_int]
    for label, r in list(fits.items())[1:]:
        if x in r.params.index and r.spec.get("formula", "").split("~")[0].strip() == S["outcome"]:
            rows.loc[f"{label} ({r.vcov_type})"] = r.to_frame().loc[x, ["estimate", "ci_lower", "ci_upper"]].values
    fig = figures.coef_plot(rows, truth={i: truth[x] for i in rows.index} if truth and x in truth else None,
                            xlabel=f"effect of {x} on {S['outcome']}")
    out.figure(f"{sid}_coefplot", fig, caption=f"Effect of `{x}` on `{S['outcome']}` with 95% intervals"
               + (" and the true effect (×)." if truth and x in truth else "."))
    return fits, wild


def threshold_section(out: Outputs, S: dict, data: pd.DataFrame, *, draws: int = 0, seed: int = 0,
                      truth: Mapping[str, float] | None = None) -> Result:
    """Hansen (1999) threshold model of the spec's ``threshold`` model: thresholds with LR
    confidence sets, bootstrap F tests, regime slopes (table) and the LR profile (figure).
    Year fixed effects of the spec enter as year dummies; the unit effect is absorbed.

    ``truth`` may hold ``gamma`` (the true threshold) and ``below`` / ``above`` (the true slopes
    of the regime-dependent regressor in the lowest and highest regime).
    """
    from fiproxy.report.threshold_plot import lr_profile_plot

    m = next(m for m in S["models"] if m["estimator"] == "threshold")
    sid = S["id"]
    res = fit_model(S, m, data, seed=seed, draws=draws)
    th = res.extra["thresholds"]
    tests = res.extra["tests"]
    rows, keys = [], []
    for label, r in th.iterrows():
        k = f"{sid}.threshold.{_safe(label)}"
        out.number(f"{k}.gamma", r["threshold"], fmt="{:.4f}", truth=(truth or {}).get("gamma"),
                   label=f"threshold {label} on {m['threshold_var']}")
        out.number(f"{k}.lower", r["lower"], fmt="{:.4f}")
        out.number(f"{k}.upper", r["upper"], fmt="{:.4f}")
        rows.append([f"{r['threshold']:.4f}", f"[{r['lower']:.4f}, {r['upper']:.4f}]",
                     f"{truth['gamma']:.4f}" if truth and "gamma" in truth else ""])
        keys.append([f"{k}.gamma", None, None])
    for label, r in tests.iterrows():
        k = f"{sid}.threshold.test_{_safe(label)}"
        out.number(f"{k}.F", r["F"], fmt="{:.2f}", label=f"F test, {label} threshold model")
        out.number(f"{k}.p", r["p"], fmt="p", label=f"bootstrap p-value, {label} ({int(r['B'])} draws)")
        rows.append([f"F = {r['F']:.2f}", f"p = {r['p']:.3f} (B = {int(r['B'])})",
                     f"crit. 5%: {r['crit5']:.2f}"])
        keys.append([f"{k}.F", f"{k}.p", None])
    index = [f"threshold {i}" for i in th.index] + [f"test: {i} vs fewer" for i in tests.index]
    cols = ["estimate", "95% LR set / bootstrap p", "true value / critical value"]
    out.table(f"{sid}_threshold", pd.DataFrame(rows, index=pd.Index(index, name=""), columns=cols),
              caption=f"Panel threshold model (Hansen 1999) in `{m['threshold_var']}`: thresholds, LR confidence sets "
                      "and bootstrap F tests.", keys=pd.DataFrame(keys, index=index, columns=cols))
    regime = [p for p in res.params.index if any(p.startswith(z + "[") for z in m["regime"])]
    slope_truth = None
    if truth and "below" in truth and "above" in truth:
        slope_truth = {regime[0]: truth["below"], regime[-1]: truth["above"]}
    coef_table(out, f"{sid}_regimes", {"Threshold model": res}, regime,
               caption="Regime-dependent slopes (cluster-robust SEs by province).", truth=slope_truth)
    out.figure(f"{sid}_lr_profile", lr_profile_plot(res),
               caption=f"Likelihood-ratio profile of the threshold in `{m['threshold_var']}`; the dashed line is "
                       "Hansen's critical value, the shaded band the confidence set.")
    return res
