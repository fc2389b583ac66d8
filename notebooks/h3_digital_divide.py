# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # H3 — The digital divide
#
# Does the effect of digital finance on access depend on internet penetration? An interaction
# with marginal effects, split samples by region with cluster-robust equality tests, and a
# Hansen (1999) panel threshold in internet penetration.

# %% tags=["parameters"]
output_dir = "."  # set by the runner
data_dir = ""  # folder of real source files; empty means the SIMULATED default
seed = 20240601  # seed of the simulated panel and of the bootstraps
spec = "h3_digital_divide"  # analysis spec in analyses/
threshold_draws = 0  # threshold bootstrap replications; 0 means the B of the spec

# %%
import pandas as pd

from fiproxy.pipeline.estimate import fit_model
from fiproxy.report import figures
from fiproxy.report.hypothesis import coef_table, open_analysis, threshold_section, true_effects

S, panel, out = open_analysis(spec, data_dir, seed, output_dir, order=40)
x, y = S["treatment"], S["outcome"]
th = true_effects(panel, "H3")

# %% [markdown]
# ## Interaction with a moderator

# %%
mod = next(m for m in S["models"] if m["estimator"] == "heterogeneity" and "moderator" in m)
inter = fit_model(S, mod, panel.data)
ix = f"{x}:{mod['moderator']}_c"
coef_table(out, "h3_interaction", {"Interaction": inter}, [x, ix],
           caption=f"Two-way FE with {x} × {mod['moderator']} (moderator centred at its mean).",
           labels={x: f"{x} (at mean {mod['moderator']})", ix: f"{x} × {mod['moderator']}"})
me = inter.extra["marginal_effects"]
rows, keys = [], []
for i, r in me.iterrows():
    k = f"h3.marginal.p{i}"
    out.number(f"{k}.effect", r["effect"], label=f"effect of {x} at {mod['moderator']} = {r['moderator']:.3f}")
    out.number(f"{k}.se", r["se"])
    rows.append([f"{r['moderator']:.3f}", f"{r['effect']:.3f}", f"({r['se']:.3f})", f"[{r['ci_lower']:.3f}, {r['ci_upper']:.3f}]"])
    keys.append([None, f"{k}.effect", f"{k}.se", None])
idx = pd.Index(["10th", "25th", "50th", "75th", "90th"][: len(rows)], name="percentile")
cols = [mod["moderator"], "effect", "se", "95% CI"]
out.table("h3_marginal", pd.DataFrame(rows, index=idx, columns=cols),
          caption=f"Marginal effect of {x} along the distribution of {mod['moderator']}.",
          keys=pd.DataFrame(keys, index=idx, columns=cols))
fig = figures.coef_plot(me.set_index(me["moderator"].map(lambda v: f"{mod['moderator']} = {v:.2f}"))
                        [["effect", "ci_lower", "ci_upper"]].rename(columns={"effect": "estimate"}),
                        xlabel=f"marginal effect of {x}")
out.figure("h3_marginal", fig, caption=f"Marginal effect of {x} at percentiles of {mod['moderator']} (95% intervals).")

# %% [markdown]
# ## Regions

# %%
grp = next(m for m in S["models"] if m["estimator"] == "heterogeneity" and "groups" in m)
split = fit_model(S, grp, panel.data)
eq = split.stats["equality_tests"].loc[x]
out.number("h3.regions.equality_F", eq["stat"], fmt="{:.2f}", label=f"Wald F, equal effect of {x} in all regions")
out.number("h3.regions.equality_p", eq["pvalue"], fmt="p")
params = [p for p in split.params.index if p.startswith(x + "[")]
coef_table(out, "h3_regions", {"By region": split}, params,
           caption=f"Effect of {x} by NBS region (stacked regressions, cluster-robust covariance across groups).")
out.text("A cluster-robust Wald test of equal effects across regions gives F = {{h3.regions.equality_F}} "
         "(p-value {{h3.regions.equality_p}}).")

# %% [markdown]
# ## Panel threshold in internet penetration

# %%
truth = {"gamma": th["gamma"], "below": th["beta_low"], "above": th["beta_high"]} if th else None
res = threshold_section(out, S, panel.data, draws=threshold_draws, seed=seed, truth=truth)
if th:
    out.text(f"In the simulated panel the slope of {x} is {th['beta_low']} below internet penetration "
             f"{th['gamma']} and {th['beta_high']} above it.")
out.save()
