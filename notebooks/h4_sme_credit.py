# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # H4 — Lower costs and SME credit
#
# Two-way fixed effects with cluster-robust and wild-cluster-bootstrap inference, and a
# system-GMM check of persistence.

# %% tags=["parameters"]
output_dir = "."  # set by the runner
data_dir = ""  # folder of real source files; empty means the SIMULATED default
seed = 20240601  # seed of the simulated panel and of the bootstraps
spec = "h4_sme_credit"  # analysis spec in analyses/
boot_draws = 0  # wild cluster bootstrap draws; 0 means the B of the spec

# %%
from fiproxy.pipeline.estimate import fit_model
from fiproxy.report.hypothesis import coef_table, open_analysis, true_effects, twfe_section

S, panel, out = open_analysis(spec, data_dir, seed, output_dir, order=50)
truth_h = true_effects(panel, S["hypothesis"])
x = S["treatment"]
truth = {x: truth_h["delta"]} if truth_h else None

# %%
fits, wild = twfe_section(out, S, panel.data, truth=truth, boot_draws=boot_draws, seed=seed)
print(next(iter(fits.values())).summary())

# %%
g = next((m for m in S["models"] if m["estimator"] == "gmm"), None)
if g is not None:
    gm = fit_model(S, g, panel.data)
    print(gm.summary())
    lag = [p for p in gm.params.index if p.startswith("l(")][0]
    coef_table(out, "h4_gmm", {"GMM": gm}, [lag, x],
               caption=("Dynamic panel: " + ("Blundell–Bond system" if g.get("system") else "Arellano–Bond difference")
                        + " GMM (two-step, Windmeijer-corrected SEs" + (", collapsed instruments)." if g.get("collapse") else ").")),
               note=f"Instruments: {gm.stats['n_instruments']} for {gm.stats['n_groups']} provinces. "
                    f"AR(2) p = {gm.stats['ar2']['p']:.3f}; Hansen J p = {gm.stats['hansen_j']['p']:.3f}.")

out.save()
