# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Spillovers across neighbouring provinces
#
# Moran's I and LM tests for spatial dependence, then spatial Durbin and spatial-lag panel
# models with two-way fixed effects (Lee–Yu corrected) and their direct, indirect and total
# effects (LeSage and Pace 2009) with simulation standard errors from the full covariance.

# %% tags=["parameters"]
output_dir = "."  # set by the runner
data_dir = ""  # folder of real source files; empty means the SIMULATED default
seed = 20240601  # seed of the simulated panel, the permutations and the effect simulations
spec = "spillovers"  # analysis spec in analyses/
permutations = 999  # Moran's I permutations
effect_draws = 1000  # parametric draws for the effect standard errors

# %%
import pandas as pd

from fiproxy.estimators.spatial_tests import lm_tests, morans_i
from fiproxy.estimators.spatial_weights import SpatialWeights
from fiproxy.pipeline.estimate import balanced_rows, fit_model
from fiproxy.report import figures
from fiproxy.report.hypothesis import coef_table, open_analysis, true_effects

S, panel, out = open_analysis(spec, data_dir, seed, output_dir, order=70)
x, y = S["treatment"], S["outcome"]
th = true_effects(panel, "H5")
data = balanced_rows(panel.data, [y, x, *S.get("controls", [])])  # spatial ML needs a balanced panel
dropped = sorted(set(panel.data["prov_code"]) - set(data["prov_code"]))
if dropped:
    out.text(f"Spatial models need a balanced panel: provinces {dropped} lack some of the years "
             f"{int(data['year'].min())}–{int(data['year'].max())} in these variables and are left out.")

# %%
models = [m for m in S["models"] if m["estimator"] == "spatial"]
W = SpatialWeights.from_registry(models[0].get("weights", "queen"))
mi = morans_i(data, y, W, permutations=permutations, seed=seed)
pooled = mi.loc["pooled"]
out.number("spillovers.moran.I", pooled["I"], label=f"pooled Moran's I of {y}")
out.number("spillovers.moran.p", pooled["p_perm"], fmt="p", label="permutation p-value")
rhs = " + ".join([x, *S.get("controls", [])])
lm = lm_tests(f"{y} ~ {rhs} | prov_code + year", data, W)
lm_tab = pd.DataFrame({"statistic": [f"{v:.2f}" for v in lm["stat"]], "p-value": [f"{v:.3f}" for v in lm["p"]]},
                      index=pd.Index(lm.index, name="test"))
for t, r in lm.iterrows():
    out.number(f"spillovers.lm.{t}.stat", r["stat"], fmt="{:.2f}")
lm_keys = pd.DataFrame({"statistic": [f"spillovers.lm.{t}.stat" for t in lm.index], "p-value": None}, index=lm_tab.index)
out.table("spillovers_lm", lm_tab, caption=f"LM tests for a spatial lag or error on the two-way FE residuals of `{y}`.",
          keys=lm_keys)
out.text(
    "Provinces with high `" + y + "` cluster in space: the pooled Moran's I of the within-year deviations is "
    "{{spillovers.moran.I}} (permutation p-value {{spillovers.moran.p}}, " + str(permutations) + " permutations)."
)

# %%
fits = {m["model"].upper(): fit_model(S, m, data, seed=seed, draws=effect_draws) for m in models}
truth = {x: th["beta"], f"W*{x}": th["theta"], "rho": th["rho"]} if th else None
params = [x, f"W*{x}", "rho"]
coef_table(out, "spillovers_models", fits, params, caption="Spatial panel models, two-way fixed effects, ML with Lee–Yu "
           "correction (queen contiguity, Hainan linked to Guangdong).", truth=truth)

# %%
rows, keys, plot = [], [], []
etruth = {"direct": th.get("direct_effect"), "indirect": th.get("indirect_effect"), "total": th.get("total_effect")}
for name, r in fits.items():
    eff = r.extra["effects"].loc[x]
    for kind, e in eff.iterrows():
        k = f"spillovers.effects.{name}.{kind}"
        out.number(f"{k}.estimate", e["estimate"], truth=etruth[kind] if th else None, label=f"{kind} effect ({name})")
        out.number(f"{k}.se", e["se"])
        rows.append([f"{e['estimate']:.3f}", f"({e['se']:.3f})", f"[{e['ci_lower']:.3f}, {e['ci_upper']:.3f}]"]
                    + ([f"{etruth[kind]:.3f}"] if th else []))
        keys.append([f"{k}.estimate", f"{k}.se", None] + ([None] if th else []))
        plot.append((f"{name} {kind}", e["estimate"], e["ci_lower"], e["ci_upper"], kind))
idx = pd.Index([p[0] for p in plot], name="")
cols = ["effect", "se", "95% CI"] + (["true effect"] if th else [])
out.table("spillovers_effects", pd.DataFrame(rows, index=idx, columns=cols),
          caption=f"Direct, indirect (spillover) and total effects of `{x}`; simulation SEs from the full parameter "
                  f"covariance ({effect_draws} draws).", keys=pd.DataFrame(keys, index=idx, columns=cols))
ptab = pd.DataFrame([p[1:4] for p in plot], index=idx, columns=["estimate", "ci_lower", "ci_upper"])
fig = figures.coef_plot(ptab, truth={p[0]: etruth[p[4]] for p in plot} if th else None, xlabel=f"effect of {x}")
out.figure("spillovers_effects", fig, caption=f"Effects of `{x}` on `{y}` with 95% intervals"
           + (" and the true effects (×)." if th else "."))
out.save()
