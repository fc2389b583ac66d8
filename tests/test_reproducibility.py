"""Reproducibility: the same inputs and seed give identical numbers and byte-identical tables.

Estimator level: the wild cluster bootstrap (draws, p-value, CI), the threshold bootstrap (F
draws and p-values, also with 2 workers), the DiD multiplier bootstrap (SEs and uniform-band
critical values), the spatial effects simulation and the mediation bootstraps are compared
with ``==`` on the arrays, not with a tolerance; a different seed must change the draws (so
the seed is really used). Table level: ``etable`` output (LaTeX, HTML, Markdown) built in two
separate Python processes with different hash seeds has the same sha256.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _sim_estimation import province_panel, staggered_panel
from _spatial_sim import ring_weights, simulate_sdm

import fiproxy

REPO = Path(__file__).resolve().parents[1]


def _panel() -> pd.DataFrame:
    return province_panel(12, 8, seed=5)


def _identical(a, b) -> None:
    """Bit-for-bit equality of arrays / frames (NaN equal to NaN)."""
    if isinstance(a, (pd.DataFrame, pd.Series)):
        pd.testing.assert_frame_equal(pd.DataFrame(a), pd.DataFrame(b), check_exact=True)
    else:
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_wild_bootstrap_same_seed_same_draws():
    r = fiproxy.twfe("y ~ x + m | prov_code + year", _panel(), vcov={"CRV1": "prov_code"})
    kw = dict(B=999, weights="webb", return_draws=True)
    a, b = (fiproxy.wild_bootstrap(r, "x", seed=42, **kw) for _ in range(2))
    _identical(a.t_boot, b.t_boot)
    assert (a.pvalue, a.conf_int, a.t_stat) == (b.pvalue, b.conf_int, b.t_stat)
    c = fiproxy.wild_bootstrap(r, "x", seed=43, **kw)
    assert not np.array_equal(a.t_boot, c.t_boot)


def test_threshold_bootstrap_same_seed_same_draws_across_workers():
    d = _panel()
    kw = dict(q="q", regime="x", bootstrap=60, seed=7)
    a = fiproxy.threshold("y ~ m | prov_code", d, **kw)
    b = fiproxy.threshold("y ~ m | prov_code", d, **kw)
    c = fiproxy.threshold("y ~ m | prov_code", d, n_jobs=2, **kw)
    for other in (b, c):
        _identical(a.extra["tests"], other.extra["tests"])
        for k in a.extra["bootstrap_F"]:
            _identical(a.extra["bootstrap_F"][k], other.extra["bootstrap_F"][k])
        assert a.stats == other.stats
    e = fiproxy.threshold("y ~ m | prov_code", d, q="q", regime="x", bootstrap=60, seed=8)
    first = next(iter(a.extra["bootstrap_F"]))
    assert not np.array_equal(np.asarray(a.extra["bootstrap_F"][first]), np.asarray(e.extra["bootstrap_F"][first]))


def test_did_bootstrap_same_seed_same_ses_and_bands():
    d = staggered_panel(40, seed=2)
    kw = dict(aggregate="event", biters=499)
    a, b = (fiproxy.did(d, "y", "unit", "year", "g", seed=11, **kw) for _ in range(2))
    _identical(a.vcov, b.vcov)
    _identical(a.extra["att_gt"], b.extra["att_gt"])
    assert a.extra["crit_values"] == b.extra["crit_values"]
    c = fiproxy.did(d, "y", "unit", "year", "g", seed=12, **kw)
    assert not np.array_equal(a.vcov.to_numpy(), c.vcov.to_numpy())


def test_spatial_effects_simulation_same_seed():
    W = ring_weights(31)
    d = simulate_sdm(W, T=5, seed=2)
    kw = dict(model="sdm", draws=300)
    a, b = (fiproxy.spatial_panel("y ~ x1 + x2", d, W, seed=3, **kw) for _ in range(2))
    _identical(a.extra["effects_simulation"], b.extra["effects_simulation"])
    _identical(a.params, b.params)
    c = fiproxy.spatial_panel("y ~ x1 + x2", d, W, seed=4, **kw)
    assert not a.extra["effects_simulation"].equals(c.extra["effects_simulation"])


def test_mediation_bootstraps_same_seed():
    d = _panel()
    kw = dict(bootstrap="both", B=199)
    a, b = (fiproxy.mediation(d, "x", "m", "y", seed=5, **kw) for _ in range(2))
    for kind in ("pairs", "wild"):
        _identical(a.extra["bootstrap"][kind], b.extra["bootstrap"][kind])
        _identical(a.extra["ci"][kind], b.extra["ci"][kind])
    c = fiproxy.mediation(d, "x", "m", "y", seed=6, **kw)
    assert not a.extra["bootstrap"]["pairs"].equals(c.extra["bootstrap"]["pairs"])


def table_digest() -> str:
    """sha256 of a results bundle: etables (LaTeX, HTML, Markdown) of twfe and threshold fits,
    a wild bootstrap row and the threshold bootstrap tests."""
    d = _panel()
    r1 = fiproxy.twfe("y ~ x | prov_code + year", d, vcov={"CRV1": "prov_code"})
    r2 = fiproxy.twfe("y ~ x + m | prov_code + year", d, vcov={"CRV1": "prov_code"})
    r3 = fiproxy.threshold("y ~ m | prov_code", d, q="q", regime="x", bootstrap=30, seed=7)
    w = fiproxy.wild_bootstrap(r2, "x", B=499, seed=9, weights="webb")
    out = "".join(fiproxy.etable([r1, r2, r3], fmt=f) for f in ("latex", "html", "markdown"))
    out += w.to_frame().to_csv() + r3.extra["tests"].to_csv()
    return hashlib.sha256(out.encode()).hexdigest()


def test_tables_are_byte_identical_across_processes():
    """The same bundle built here and in a fresh interpreter (another hash seed) has the same sha256."""
    script = f"import sys; sys.path.insert(0, {str(REPO / 'tests')!r}); " \
             "from test_reproducibility import table_digest; sys.stdout.write(table_digest())"
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert len(out.stdout) == 64 and out.stdout == table_digest()


@pytest.mark.parametrize("fmt", ["latex", "html", "markdown"])
def test_etable_same_results_same_bytes(fmt):
    d = _panel()
    tables = [fiproxy.etable([fiproxy.twfe("y ~ x + m | prov_code + year", d, vcov=v) for v in
                              ("iid", {"CRV1": "prov_code"})], fmt=fmt) for _ in range(2)]
    assert hashlib.sha256(tables[0].encode()).digest() == hashlib.sha256(tables[1].encode()).digest()
