# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Robustness: specification curve
#
# Every combination of outcome proxy, digital-finance proxy, control set, fixed effects, sample
# and clustering choice, with the joint test of Simonsohn, Simmons and Nelson (2020).

# %% tags=["parameters"]
output_dir = "."  # set by the runner
data_dir = ""  # folder of real source files; empty means the SIMULATED default
seed = 20240601  # seed of the simulated panel and of the joint test
spec = "robustness"  # analysis spec in analyses/
joint_draws = 0  # draws of the joint test; 0 means the B of the spec
backend = "serial"  # serial, processes, threads or dask

# %%
import pandas as pd

from fiproxy.pipeline.estimate import fit_model
from fiproxy.report.hypothesis import open_analysis

S, panel, out = open_analysis(spec, data_dir, seed, output_dir, order=90)
m = next(m for m in S["models"] if m["estimator"] == "spec_curve")
curve = fit_model(S, m, panel.data, seed=seed, draws=joint_draws, backend=backend)
print(curve.summary())

# %%
ok = curve.ok
out.number("robustness.n_specs", len(ok), fmt="{:.0f}", label="specifications estimated")
out.number("robustness.n_failed", len(curve.failed), fmt="{:.0f}", label="specifications that could not be estimated")
out.number("robustness.median", curve.median_estimate, label="median estimate")
out.number("robustness.share_pos", curve.share_positive, fmt="{:.2f}", label="share significantly positive")
out.number("robustness.share_neg", curve.share_negative, fmt="{:.2f}", label="share significantly negative")
text = ("Across {{robustness.n_specs}} specifications the median coefficient of the digital-finance proxy is "
        "{{robustness.median}}; a share {{robustness.share_pos}} are significantly positive and "
        "{{robustness.share_neg}} significantly negative at the 5% level.")
if curve.joint is not None:
    keys = {}
    for stat, r in curve.joint.iterrows():
        keys[stat] = "robustness.joint." + "".join(ch if ch.isalnum() else "_" for ch in stat) + ".p"
        out.number(keys[stat], r["p_value"], fmt="p", label=f"joint test p-value ({stat})")
    text += (" Under the null of no effect in any specification (Simonsohn, Simmons and Nelson 2020; "
             f"{int(curve.joint['B'].iloc[0])} cluster-bootstrap draws) the joint p-values are "
             + ", ".join("{{" + k + "}} (" + s + ")" for s, k in keys.items()) + ".")
if len(curve.failed):
    text += " {{robustness.n_failed}} specifications could not be estimated (listed in the run directory)."
out.text(text)

# %%
choices = [c for c in ["outcome", "treatment", "controls", "fe", "sample", "vcov"] if c in ok.columns]
rows, idx = [], []
for c in choices:
    for level, g in ok.groupby(c, sort=False):
        idx.append(f"{c}: {level}")
        rows.append([f"{g['estimate'].median():.3f}", f"{(g['p'] < curve.alpha).mean():.2f}", f"{len(g)}"])
tab = pd.DataFrame(rows, index=pd.Index(idx, name="choice"), columns=["median estimate", "share significant", "specs"])
out.table("robustness_by_choice", tab, caption="Median estimate and share significant (5%) by each analytic choice.")
out.figure("robustness_curve", curve.plot(), caption="Specification curve: estimates sorted by size with 95% "
           "intervals (top) and the choices behind each (bottom).")
out.save()
