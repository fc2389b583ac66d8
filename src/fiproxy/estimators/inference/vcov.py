"""Covariance matrices of linear (and linearised) estimators: one code path for all.

Every covariance is a sandwich ``c * B M B`` built from the *bread* ``B``
(``(X'WX)^{-1}`` for OLS/WLS, its analogue for IV or GMM) and per-observation
*scores* ``s_i = w_i x_i e_i`` (the estimator supplies both, see
:class:`VcovInputs`). Requests are parsed in one place, :func:`parse_vcov`:

=========================  ===========================================================
``"iid"``                  ``sigma^2 B``, ``sigma^2 = sum w e^2 / (n - K)``
``"HC1"``                  White (1980) with ``n / (n - K)``
``"HC2"``, ``"HC3"``       MacKinnon & White (1985): scores divided by ``sqrt(1-h)`` /
                           ``(1-h)``, ``h`` the leverage in the full dummy regression;
                           no further factor
``{"CRV1": "a"}``          Liang & Zeger (1986) cluster-robust, factor
                           ``G/(G-1) * (n-1)/(n-K)``
``{"CRV1": "a+b"}``        multiway clustering (Cameron, Gelbach & Miller 2011):
                           inclusion-exclusion over intersections, every term scaled
                           with ``G = min_j G_j``; ``"fix_psd": True`` clips negative
                           eigenvalues to zero (CGM 2011, section 2.3)
``{"CRV3": "a"}``          leave-one-cluster-out jackknife (MacKinnon, Nielsen & Webb
                           2023), ``(G-1)/G * sum_g (b_g - b)(b_g - b)'``
``"DK"``, ``{"DK": L}``    Driscoll & Kraay (1998): Newey-West with Bartlett weights
                           ``1 - l/(L+1)`` on the cross-sectional sums of scores per
                           period, factor ``T/(T-1) * (n-1)/(n-K)``; default bandwidth
                           ``L = floor(4 (T/100)^(2/9))`` (Hoechle 2007, Stata ``xtscc``)
=========================  ===========================================================

Small-sample conventions follow fixest's defaults ``ssc(adj = TRUE,
fixef.K = "nested", cluster.adj = TRUE, t.df = "min")`` (Bergé 2018): ``K``
counts the slope parameters plus the absorbed fixed-effect degrees of freedom
(sum of levels minus the number of fixed effects plus one); for cluster-robust
covariances, fixed effects nested in a cluster variable are not counted (each
nested one contributes one). The t reference distribution has ``n - K`` degrees
of freedom for iid/HC and ``G - 1`` (``min G - 1`` multiway, ``T - 1`` for DK)
otherwise. A missing value in a cluster variable is an error naming the rows;
a single cluster is an error.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

import numpy as np
import pandas as pd

from fiproxy.estimators.demean import factorize_fe, fe_leverage

__all__ = ["VcovRequest", "VcovInputs", "VcovOutcome", "VcovError", "parse_vcov", "compute_vcov",
           "cluster_codes", "dk_bandwidth", "nested_fe_count"]

_KINDS = ("iid", "HC1", "HC2", "HC3", "CRV1", "CRV3", "DK")


class VcovError(ValueError):
    """An invalid or impossible covariance request."""


@dataclass(frozen=True)
class VcovRequest:
    """A parsed covariance request: ``kind`` in iid/HC1/HC2/HC3/CRV1/CRV3/DK,
    cluster variable names, DK bandwidth (None = default rule) and time variable."""

    kind: str
    clusters: tuple[str, ...] = ()
    lag: int | None = None
    time: str | None = None
    fix_psd: bool = False

    @property
    def spec(self) -> Any:
        """The request in the user-facing form (as stored in ``Result.spec``)."""
        if self.clusters:
            out = {self.kind: "+".join(self.clusters)}
            if self.fix_psd:
                out["fix_psd"] = True
            return out
        if self.kind == "DK" and (self.lag is not None or self.time is not None):
            out = {"DK": self.lag}
            if self.time is not None:
                out["time"] = self.time
            return out
        return self.kind


def parse_vcov(request: Any) -> VcovRequest:
    """Parse ``"iid"``, ``"HC1"``, ``{"CRV1": "a+b"}``, ``{"DK": 2, "time": "year"}`` …"""
    if isinstance(request, VcovRequest):
        return request
    if isinstance(request, str):
        key = {"hetero": "HC1", "robust": "HC1", "dk": "DK"}.get(request.lower(), request)
        key = key.upper() if key.lower() != "iid" else "iid"
        if key not in ("iid", "HC1", "HC2", "HC3", "DK"):
            hint = " (clustered covariances need a dict such as {'CRV1': 'prov_code'})" if key in ("CRV1", "CRV3") else ""
            raise VcovError(f"unknown covariance {request!r}; choose from {list(_KINDS)}{hint}")
        return VcovRequest(key)
    if isinstance(request, dict):
        opts = dict(request)
        fix_psd = bool(opts.pop("fix_psd", False))
        time = opts.pop("time", None)
        kinds = [k for k in opts if str(k).upper() in ("CRV1", "CRV3", "DK")]
        extra = set(opts) - set(kinds)
        if len(kinds) != 1 or extra:
            raise VcovError(f"a covariance dict needs exactly one of CRV1/CRV3/DK (plus fix_psd / time), got {request!r}")
        kind = str(kinds[0]).upper()
        val = opts[kinds[0]]
        if kind == "DK":
            if val is not None and (not isinstance(val, (int, np.integer)) or isinstance(val, bool) or val < 0):
                raise VcovError(f"DK bandwidth must be a non-negative integer, got {val!r}")
            return VcovRequest("DK", lag=None if val is None else int(val), time=time)
        if time is not None:
            raise VcovError("'time' applies to DK only")
        names = tuple(val) if isinstance(val, (list, tuple)) else tuple(c.strip() for c in str(val).split("+"))
        if not names or any(not c for c in names):
            raise VcovError(f"no cluster variable in {request!r}")
        if kind == "CRV3" and len(names) > 1:
            raise VcovError("CRV3 supports one cluster variable")
        return VcovRequest(kind, clusters=names, fix_psd=fix_psd)
    raise VcovError(f"vcov must be a name such as 'HC1' or a dict such as {{'CRV1': 'prov_code'}}, got {request!r}")


@dataclass
class VcovInputs:
    """What a covariance needs from a fitted linear(ised) model.

    bread : (k, k) inverse Hessian, e.g. ``(X'WX)^{-1}``.
    scores : (n, k) per-observation scores ``w_i x_i e_i``.
    resid : (n,) residuals (for ``iid``).
    X : (n, k) the regressors the bread is built from (leverage for HC2/HC3).
    weights : (n,) or None.
    df_fe : absorbed fixed-effect degrees of freedom; fe_codes (n, m) their codes.
    frame : DataFrame of the estimation sample holding cluster / time columns.
    time : name of the time column (DK default).
    params : (k,) estimates; jackknife : callable(keep_mask) -> estimates
    without the dropped rows (CRV3); ``None`` disables CRV3.
    """

    bread: np.ndarray
    scores: np.ndarray
    resid: np.ndarray
    X: np.ndarray
    weights: np.ndarray | None
    df_fe: int
    fe_codes: np.ndarray
    frame: pd.DataFrame
    time: str | None = None
    params: np.ndarray | None = None
    jackknife: Callable[[np.ndarray], np.ndarray] | None = None
    _cluster_cache: dict = field(default_factory=dict, repr=False)

    def cluster(self, name: str) -> tuple[np.ndarray, int]:
        """Codes and count of a cluster variable of ``frame`` (cached; see :func:`cluster_codes`)."""
        if name not in self._cluster_cache:
            self._cluster_cache[name] = cluster_codes(self.frame, name)
        return self._cluster_cache[name]

    @property
    def n(self) -> int:
        return len(self.resid)

    @property
    def k(self) -> int:
        return self.bread.shape[0]


class VcovOutcome(NamedTuple):
    """Covariance matrix, t degrees of freedom, label and details (n_clusters, K, bandwidth …)."""

    V: np.ndarray
    df_t: float
    label: str
    info: dict


def cluster_codes(frame: pd.DataFrame, name: str) -> tuple[np.ndarray, int]:
    """Integer codes 0..G-1 of a cluster variable and G; errors on missing values or G < 2."""
    if name not in frame.columns:
        from fiproxy.estimators.design import check_columns
        check_columns(frame, [name])
    col = frame[name]
    miss = col.isna().to_numpy()
    if miss.any():
        rows = frame.index[miss][:10].tolist()
        raise VcovError(
            f"cluster variable {name!r} has {int(miss.sum())} missing value(s) in the estimation sample "
            f"(rows {rows}{' …' if miss.sum() > 10 else ''}); drop or fill those rows before fitting"
        )
    codes = pd.factorize(col.to_numpy())[0].astype(np.int64)
    G = int(codes.max()) + 1
    if G < 2:
        raise VcovError(f"cluster variable {name!r} has a single cluster; cluster-robust inference needs at least 2")
    return codes, G


def nested_fe_count(fe_codes: np.ndarray, cluster_code_list: list[np.ndarray]) -> tuple[int, int]:
    """(levels of fixed effects nested in some cluster variable, number of such fixed effects)."""
    levels, count = 0, 0
    for j in range(fe_codes.shape[1]):
        f = fe_codes[:, j]
        G_f = int(f.max()) + 1
        for c in cluster_code_list:
            first = np.empty(G_f, dtype=c.dtype)
            first[f] = c  # one cluster code per FE level; nested iff it is the only one
            if np.array_equal(first[f], c):
                levels += G_f
                count += 1
                break
    return levels, count


def dk_bandwidth(T: int) -> int:
    """Default Driscoll-Kraay bandwidth floor(4 (T/100)^(2/9)) (Newey-West 1994 plug-in as in xtscc)."""
    return int(np.floor(4 * (T / 100) ** (2 / 9)))


def _sandwich(bread: np.ndarray, meat: np.ndarray) -> np.ndarray:
    V = bread @ meat @ bread
    return (V + V.T) / 2


def _cluster_meat(scores: np.ndarray, codes: np.ndarray, G: int) -> np.ndarray:
    S = np.empty((G, scores.shape[1]))
    for j in range(scores.shape[1]):
        S[:, j] = np.bincount(codes, weights=scores[:, j], minlength=G)
    return S.T @ S


def _intersect(codes: list[np.ndarray]) -> np.ndarray:
    key = codes[0].astype(np.int64)
    for c in codes[1:]:
        key = key * (int(c.max()) + 1) + c
    return np.unique(key, return_inverse=True)[1].reshape(-1)


def compute_vcov(request: Any, inp: VcovInputs) -> VcovOutcome:
    """Covariance of the estimates for ``request`` (see the module docstring)."""
    req = parse_vcov(request)
    n, k = inp.n, inp.k
    K_full = k + inp.df_fe
    if n - K_full <= 0:
        raise VcovError(f"no residual degrees of freedom: n = {n}, parameters incl. fixed effects K = {K_full}")
    info: dict = {"K": K_full}
    if req.kind == "iid":
        w = 1.0 if inp.weights is None else inp.weights
        sigma2 = float(np.sum(w * inp.resid ** 2)) / (n - K_full)
        return VcovOutcome(sigma2 * inp.bread, float(n - K_full), "iid", info)
    if req.kind in ("HC1", "HC2", "HC3"):
        s = inp.scores
        if req.kind == "HC1":
            info["factor"] = n / (n - K_full)
            V = info["factor"] * _sandwich(inp.bread, s.T @ s)
        else:
            h = _leverage(inp)
            if np.any(h >= 1 - 1e-12):
                bad = inp.frame.index[h >= 1 - 1e-12][:5].tolist()
                raise VcovError(f"{req.kind}: observation(s) with leverage 1 (rows {bad}); use HC1")
            div = np.sqrt(1 - h) if req.kind == "HC2" else (1 - h)
            s = s / div[:, None]
            V = _sandwich(inp.bread, s.T @ s)
        return VcovOutcome(V, float(n - K_full), req.kind, info)
    if req.kind == "DK":
        return _driscoll_kraay(req, inp, K_full, info)
    codes = [inp.cluster(c) for c in req.clusters]
    Gs = [G for _, G in codes]
    nested_levels, nested_n = nested_fe_count(inp.fe_codes, [c for c, _ in codes])
    K = K_full - nested_levels + nested_n if nested_levels else K_full
    info.update(K=K, n_clusters=dict(zip(req.clusters, Gs)))
    if req.kind == "CRV3":
        return _crv3(req, inp, codes[0], n, K, info)
    Gmin = min(Gs)
    adj = Gmin / (Gmin - 1) * (n - 1) / (n - K)
    info["factor"] = adj
    V = np.zeros((k, k))
    for r in range(1, len(codes) + 1):
        for subset in itertools.combinations(range(len(codes)), r):
            c = codes[subset[0]][0] if r == 1 else _intersect([codes[j][0] for j in subset])
            sign = 1.0 if r % 2 else -1.0
            V += sign * _cluster_meat(inp.scores, c, int(c.max()) + 1)
    V = adj * _sandwich(inp.bread, V)
    if len(codes) > 1 and req.fix_psd:
        vals, vecs = np.linalg.eigh(V)
        V = (vecs * np.clip(vals, 0, None)) @ vecs.T
    gtxt = ", ".join(str(G) for G in Gs)
    label = f"CRV1 by {' + '.join(req.clusters)} (G={gtxt})"
    neg = np.flatnonzero(np.diag(V) < 0)
    if neg.size:
        info["negative_variance"] = neg.tolist()
        label += (f"; NOT PSD: negative variance of {neg.size} parameter(s), reported as SE NaN; "
                  "add 'fix_psd': True to the request")
    return VcovOutcome(V, float(Gmin - 1), label, info)


def _leverage(inp: VcovInputs) -> np.ndarray:
    """Leverage in the full dummy regression: fixed-effect part + within-regressor part."""
    X = inp.X if inp.weights is None else inp.X * np.sqrt(inp.weights)[:, None]
    h = np.einsum("ij,jk,ik->i", X, inp.bread, X)
    if inp.fe_codes.shape[1]:
        h = h + fe_leverage(inp.fe_codes, inp.weights)
    return h


def _crv3(req: VcovRequest, inp: VcovInputs, code: tuple[np.ndarray, int], n: int, K: int,
          info: dict) -> VcovOutcome:
    if inp.jackknife is None or inp.params is None:
        raise VcovError("CRV3 is not available for this estimator (it needs a leave-one-cluster-out refit)")
    c, G = code
    beta = np.asarray(inp.params, dtype=float)
    D = np.empty((G, len(beta)))
    for g in range(G):
        D[g] = inp.jackknife(c != g) - beta
    V = (G - 1) / G * (D.T @ D)
    return VcovOutcome((V + V.T) / 2, float(G - 1), f"CRV3 by {req.clusters[0]} (G={G})", info)


def _driscoll_kraay(req: VcovRequest, inp: VcovInputs, K: int, info: dict) -> VcovOutcome:
    time = req.time or inp.time
    if time is None:
        raise VcovError("Driscoll-Kraay needs the time variable: pass {'DK': lag, 'time': 'year'}")
    t = inp.frame[time]
    if t.isna().any():
        rows = inp.frame.index[t.isna().to_numpy()][:10].tolist()
        raise VcovError(f"time variable {time!r} has missing values (rows {rows})")
    tc = factorize_fe(t)[:, 0]  # sorted periods
    T = int(tc.max()) + 1
    if T < 2:
        raise VcovError("Driscoll-Kraay needs at least 2 time periods")
    L = dk_bandwidth(T) if req.lag is None else req.lag
    if L >= T:
        raise VcovError(f"DK bandwidth {L} must be smaller than the number of periods T={T}")
    S = np.empty((T, inp.k))
    for j in range(inp.k):
        S[:, j] = np.bincount(tc, weights=inp.scores[:, j], minlength=T)
    meat = S.T @ S
    for lag in range(1, L + 1):
        G = S[lag:].T @ S[:-lag]
        meat += (1 - lag / (L + 1)) * (G + G.T)
    n = inp.n
    info["factor"] = T / (T - 1) * (n - 1) / (n - K)
    V = info["factor"] * _sandwich(inp.bread, meat)
    info.update(bandwidth=L, n_periods=T)
    return VcovOutcome(V, float(T - 1), f"Driscoll-Kraay (bandwidth {L}, T={T})", info)
