# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Staggered policy adoption
#
# Callaway and Sant'Anna (2021) group-time effects with never-treated controls and their
# aggregations, compared with a Sun and Abraham (2021) event study and a TWFE event study.

# %% tags=["parameters"]
output_dir = "."  # set by the runner
data_dir = ""  # folder of real source files; empty means the SIMULATED default
seed = 20240601  # seed of the simulated panel and of the multiplier bootstrap
spec = "policy_did"  # analysis spec in analyses/
boot_draws = 0  # multiplier bootstrap draws; 0 means the B of the spec

# %%
import numpy as np
import pandas as pd

import fiproxy
from fiproxy.pipeline.estimate import fit_model
from fiproxy.report.event_plot import event_plot
from fiproxy.report.hypothesis import open_analysis, true_effects

S, panel, out = open_analysis(spec, data_dir, seed, output_dir, order=80)
y = S["outcome"]
m = next(m for m in S["models"] if m["estimator"] == "did")
cohort = m["cohort"]
available = cohort in panel.data and panel.data[cohort].notna().all() and panel.data[y].notna().all()
if not available:
    out.text(f"**Not estimated:** `{cohort}` or `{y}` is incomplete in this panel; policy adoption years are "
             "user-supplied on real data.")

# %%
if available:
    th = true_effects(panel, "POLICY")
    cs = fit_model(S, m, panel.data, seed=seed, draws=boot_draws)
    sa = fiproxy.did(panel.data, y, "prov_code", "year", cohort, method="sunab", aggregate="event")
    tw = fiproxy.did(panel.data, y, "prov_code", "year", cohort, method="twfe", window=(-4, 4))
    simple = cs.extra["aggregations"]["simple"]
    out.number("policy.cs.simple.estimate", float(simple["estimate"].iloc[0]), label="overall ATT (CS, simple)")
    out.number("policy.cs.simple.se", float(simple["se"].iloc[0]))
    print(cs.summary())

# %%
if available:
    ev = cs.extra["aggregations"]["event"]
    true_e = {}
    if th:  # true event-time effect: average of the true ATT(g,t) over cohorts, weighted by cohort size
        att = pd.Series(th["att_gt"])
        gt = pd.DataFrame([tuple(map(int, k.split(":"))) for k in att.index], columns=["g", "t"]).assign(att=att.values)
        sizes = panel.data.groupby(cohort)["prov_code"].nunique()
        gt["w"] = gt["g"].map(sizes)
        gt["e"] = gt["t"] - gt["g"]
        true_e = gt.groupby("e").apply(lambda d: np.average(d["att"], weights=d["w"]), include_groups=False).to_dict()
    rows, keys = [], []
    for e, r in ev.iterrows():
        k = f"policy.cs.event.e{int(e)}".replace("-", "m")
        out.number(f"{k}.estimate", r["estimate"], truth=true_e.get(int(e), 0.0 if int(e) < 0 else None) if th else None)
        out.number(f"{k}.se", r["se"])
        rows.append([f"{r['estimate']:.3f}", f"({r['se']:.3f})",
                     f"{true_e.get(int(e), 0.0 if int(e) < 0 else float('nan')):.3f}" if th else ""])
        keys.append([f"{k}.estimate", f"{k}.se", None])
    idx = pd.Index([f"e = {int(e)}" for e in ev.index], name="event time")
    cols = ["ATT(e)", "se", "true effect" if th else ""]
    tab = pd.DataFrame(rows, index=idx, columns=cols)
    if not th:
        tab = tab.drop(columns=[""])
    out.table("policy_event", tab, caption="Callaway–Sant'Anna event-study aggregation (never-treated controls, doubly "
              "robust), multiplier-bootstrap SEs.", keys=pd.DataFrame(keys, index=idx, columns=cols)[tab.columns])
    out.text("The overall average effect of the pilots on `" + y + "` is {{policy.cs.simple.estimate}} "
             "(SE {{policy.cs.simple.se}})" + (f"; the true average effect in the simulated panel is built from "
             f"τ₀ = {th['tau0']} at adoption plus {th['tau1']} per year of exposure." if th else "."))
    fig = event_plot([cs, sa, tw], labels=["Callaway–Sant'Anna", "Sun–Abraham", "TWFE event study"],
                     ylabel=f"effect on {y}")
    out.figure("policy_event_plot", fig, caption="Event-study estimates with 95% intervals (uniform band for "
               "Callaway–Sant'Anna); reference period e = −1.")
out.save()
