# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Limitations
#
# What the data cannot carry, stated plainly from the panel's own gap report.

# %% tags=["parameters"]
output_dir = "."  # set by the runner
data_dir = ""  # folder of real source files; empty means the SIMULATED default
seed = 20240601  # seed of the simulated panel

# %%
import pandas as pd

from fiproxy.data import load_catalog
from fiproxy.pipeline.panel import load_panel
from fiproxy.pipeline.record import Outputs

panel = load_panel(data_dir, seed)
catalog = load_catalog()
out = Outputs(output_dir, "limitations", "Limitations", order=95, panel=panel)

# %%
df = panel.data
missing = df.drop(columns=["prov_code", "year"]).isna().mean()
absent = [v for v in catalog.names if v in df.columns and missing[v] == 1.0]
partial = [v for v in catalog.names if v in df.columns and 0 < missing[v] < 1.0]
user_supplied = [v for v in catalog.names if "user-supplied" in (catalog[v].source or "")]

if panel.simulated:
    out.text(
        "**Simulated data.** Every estimate in this draft comes from a simulated panel. It shows that the "
        "estimators recover known effects on data shaped like the real series; it is not evidence about China's "
        "provinces. Rerun with `--data` on real files for substantive results."
    )
out.text(
    "**Series not in the shipped sources.** Provincial non-performing-loan (NPL) or default rates and the fintech "
    "share of credit are not published in the official provincial sources fiproxy reads; on real data they must be "
    "supplied by the user (" + ", ".join(f"`{v}`" for v in user_supplied) + "). Without them the H2 analysis "
    "cannot run on real data, and the panel reports the cells as missing instead of filling them."
)
if absent:
    out.text("**Missing entirely in this panel:** " + ", ".join(f"`{v}`" for v in absent) + ".")
if partial:
    tab = pd.DataFrame({"missing": [f"{100 * missing[v]:.0f}%" for v in partial],
                        "source": [panel.meta[v].source[:60] for v in partial]}, index=pd.Index(partial, name="variable"))
    out.table("gaps", tab, caption="Variables with gaps (share of province-years missing); gaps are never imputed.")
out.text(
    "**Measurement.** PKU-DFIIC values are re-estimated at each release (by up to 22 index points); the release "
    "used is recorded per column and releases are never mixed. The PKU-DFIIC credit sub-index proxies SME credit "
    "because provincial bank lending by firm size is not in the shipped sources. With 31 provinces, cluster-robust "
    "inference rests on few clusters; wild cluster bootstrap p-values are reported beside the analytical ones."
)
out.save()
