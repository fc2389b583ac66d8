# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # H2 — Fintech credit share and default risk
#
# Two-sided test with two-way fixed effects (linear and quadratic), wild cluster bootstrap, and a
# Hansen (1999) panel threshold in the fintech share itself.

# %% tags=["parameters"]
output_dir = "."  # set by the runner
data_dir = ""  # folder of real source files; empty means the SIMULATED default
seed = 20240601  # seed of the simulated panel and of the bootstraps
spec = "h2_fintech_default"  # analysis spec in analyses/
boot_draws = 0  # wild cluster bootstrap draws; 0 means the B of the spec
threshold_draws = 0  # threshold bootstrap replications; 0 means the B of the spec

# %%
from fiproxy.report.hypothesis import open_analysis, threshold_section, true_effects, twfe_section

S, panel, out = open_analysis(spec, data_dir, seed, output_dir, order=30)
x, y = S["treatment"], S["outcome"]
available = panel.data[y].notna().any()
if not available:
    out.text(f"**Not estimated:** `{y}` is missing in this panel (it is user-supplied on real data).")
else:
    truth_h = true_effects(panel, S["hypothesis"])
    truth = {x: truth_h["theta1"], f"{x}:{x}": truth_h["theta2"]} if truth_h else None

# %%
if available:
    fits, wild = twfe_section(out, S, panel.data, truth=truth, boot_draws=boot_draws, seed=seed)
    quad = [r for r in fits.values() if f"{x}:{x}" in r.params.index]
    if quad:
        q = quad[0]
        b1, b2 = q.params[x], q.params[f"{x}:{x}"]
        out.number("h2.turning_point", -b1 / (2 * b2), truth=truth_h.get("turning_point") if truth else None,
                   label="fintech share at which the effect on default changes sign")
        out.text("The quadratic model puts the turning point of default risk at a fintech credit share of "
                 "{{h2.turning_point}}" + (" (true value " + f"{truth_h['turning_point']:.3f}" + ")." if truth else "."))

# %%
if available:
    threshold_section(out, S, panel.data, draws=threshold_draws, seed=seed)
    out.text("The threshold model approximates the smooth nonlinearity with regimes: a sign change of the slope "
             "across the estimated threshold is the pattern a two-sided H2 allows.")
out.save()
