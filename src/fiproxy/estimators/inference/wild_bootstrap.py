"""Wild cluster bootstrap tests and confidence intervals for one linear restriction.

Tests ``H0: R·β = r`` in the linear model ``y = Xβ + u`` with errors clustered
in one or several dimensions, by the wild cluster bootstrap of Cameron,
Gelbach & Miller (2008, "Bootstrap-based improvements for inference with
clustered errors", Review of Economics and Statistics 90: 414–427):

- restricted (WCR, ``impose_null=True``): bootstrap samples
  ``y* = Xβ̃ + ũ ⊙ v`` built from the estimate and residuals under H0;
- unrestricted (WCU, ``impose_null=False``): ``y* = Xβ̂ + û ⊙ v``, the
  bootstrap t centred at β̂
  (MacKinnon & Webb 2018, "The wild bootstrap for few (treated) clusters",
  Econometrics Journal 21: 114–135).

Every observation of bootstrap cluster g gets the same weight ``v_g``
(:mod:`~fiproxy.estimators.inference.bootstrap_weights`). The statistic is the
cluster-robust t of the fitted result: CRV1 with factor ``G/(G-1)·(n-1)/(n-K)``,
``K`` the slope parameters plus the absorbed fixed-effect degrees of freedom,
a fixed effect nested in a cluster variable counting once (fixest's default,
as :mod:`fiproxy.estimators.inference.vcov`). With several clustering
dimensions the covariance is the Cameron, Gelbach & Miller (2011, "Robust
inference with multiway clustering", Journal of Business & Economic
Statistics 29: 238–249) inclusion–exclusion sum, every term scaled with the
smallest ``G`` (``cluster_df="min"``, fixest) or each with its own
(``cluster_df="own"``, Stata's boottest). With one clustering dimension these
factors cancel from every p-value and confidence interval; they only scale
the reported t (pyfixest's ``wildboottest()`` counts every fixed-effect level
in ``K`` and so reports a slightly smaller t with the same p-value).

Computation follows Roodman, MacKinnon, Nielsen & Webb (2019, "Fast and wild:
Bootstrap inference in Stata using boottest", Stata Journal 19: 4–60): all
data enter through cluster-level sums (``Σ_{i∈g} a_i u_i`` with
``a_i = x_i'(X'X)⁻¹R'``, cell sums for every clustering dimension and
``Σ_{i∈h} a_i x_i'``), so one draw costs O(G·H) and all draws are one matrix
product, done in chunks to bound memory. Because the restricted residuals are
affine in ``r``, the bootstrap numerators and denominators are stored as
coefficients of a linear and a quadratic in ``r``; re-evaluating the p-value at
a new ``r`` is then O(B), which makes confidence intervals by test inversion
(bisection for ``p(r) = 1 - level`` on both sides of β̂) cheap.

Fixed effects: the bootstrap runs on the fixed-effect-demeaned design. A
fixed effect nested within the bootstrap clusters needs nothing more (the
demeaning commutes with the cluster weights); the dummies of a fixed effect
that is not nested (e.g. year effects when bootstrapping by province) are kept
as explicit regressors, demeaned by the nested ones, so that the result equals
the bootstrap on the full dummy design (as in pyfixest ``wildboottest()``).

Execution back ends (``backend=``, :mod:`fiproxy.parallel`): the random draws
are split into fixed chunks of ``BACKEND_CHUNK`` draws, chunk ``i`` drawing its
weights from child ``i`` of ``SeedSequence(seed)``; each worker turns its chunk
into the per-draw coefficients above from the shared cluster sums, and the
chunks are joined in order. P-value and test inversion then run locally on
the joined coefficients, so every back end and worker count gives the same
bits. Full enumeration is deterministic and always runs locally. Without a
back end (``backend=None``) the weights come from one generator as before.
"""

from __future__ import annotations

import difflib
import itertools
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import linalg as _la
from scipy import sparse as _sparse
from scipy import stats as _st

from fiproxy.estimators.demean import demean
from fiproxy.estimators.design import check_columns
from fiproxy.estimators.inference.vcov import cluster_codes, nested_fe_count, parse_vcov
from fiproxy.estimators.inference.bootstrap_weights import bootstrap_draws, draw_weights, n_distinct

__all__ = [
    "WildBootstrapTest",
    "WildClusterProblem",
    "BootstrapWarning",
    "wild_bootstrap",
    "wild_cluster_bootstrap",
    "bootstrap_pvalue",
    "problem_from_result",
    "chunk_sizes",
    "seed_root",
    "uses_enumeration",
    "map_chunks",
    "BACKEND_CHUNK",
]

PVALUE_TYPES = ("symmetric", "equal-tail", "lower", "upper")
_MAX_FE_DUMMIES = 2000
_CHUNK_ELEMENTS = 4_000_000  # draws × cluster cells per matrix product (≈32 MB in float64)
BACKEND_CHUNK = 1000  # random draws per task on an execution back end (fixed: results do not depend on workers)


class BootstrapWarning(UserWarning):
    """The bootstrap ran but its resolution or assumptions are limited (few clusters …)."""


# ---------------------------------------------------------------------------- result type
@dataclass(frozen=True)
class WildBootstrapTest:
    """Wild cluster bootstrap test of ``param = null`` with its confidence interval.

    ``pvalue`` counts bootstrap statistics at least as extreme as the sample
    statistic (ties within 1e-9 relative count as extreme, so the draw that
    reproduces the sample under full enumeration of a WCR bootstrap is
    included and the p-value is never below ``smallest_pvalue``).
    ``conf_int`` inverts the same test (WCR) or is the percentile-t interval
    (WCU); a bound is ±inf when the p-value never falls below ``1 - level``.
    """

    param: str
    estimate: float
    null: float
    t_stat: float
    pvalue: float
    conf_int: tuple[float, float]
    level: float
    B: int
    weights: str
    impose_null: bool
    pvalue_type: str
    cluster: tuple[str, ...]
    bootcluster: str
    n_clusters: int
    full_enumeration: bool
    smallest_pvalue: float
    warnings: tuple = ()
    t_boot: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def method(self) -> str:
        return "WCR" if self.impose_null else "WCU"

    def to_frame(self) -> pd.DataFrame:
        """One-row table: estimate, t, bootstrap p-value and CI, bootstrap settings."""
        return pd.DataFrame(
            {
                "estimate": [self.estimate],
                "null": [self.null],
                "t": [self.t_stat],
                "p_boot": [self.pvalue],
                "ci_lower": [self.conf_int[0]],
                "ci_upper": [self.conf_int[1]],
                "level": [self.level],
                "method": [self.method],
                "weights": [self.weights],
                "B": [self.B],
                "full_enumeration": [self.full_enumeration],
                "bootcluster": [self.bootcluster],
                "G_boot": [self.n_clusters],
                "cluster": ["+".join(self.cluster)],
                "pvalue_type": [self.pvalue_type],
            },
            index=pd.Index([self.param], name="param"),
        )

    def __str__(self) -> str:
        lo, hi = self.conf_int
        lines = [
            f"Wild cluster bootstrap ({self.method}, {self.weights} weights, "
            f"{'full enumeration of ' if self.full_enumeration else ''}B={self.B})",
            f"H0: {self.param} = {self.null:g}; clusters: {'+'.join(self.cluster)}; "
            f"bootstrap clusters: {self.bootcluster} (G={self.n_clusters})",
            f"estimate {self.estimate:.6g}  t {self.t_stat:.4f}  p ({self.pvalue_type}) {self.pvalue:.4f}  "
            f"{self.level:.0%} CI [{lo:.6g}, {hi:.6g}]",
        ]
        lines += [f"Warning: {w}" for w in self.warnings]
        return "\n".join(lines)


# ---------------------------------------------------------------------------- p-values
def bootstrap_pvalue(t: np.ndarray | float, t_boot: np.ndarray, kind: str = "symmetric") -> np.ndarray | float:
    """Bootstrap p-value(s) of the statistic(s) ``t`` given draws ``t_boot`` (last axis).

    ``kind``: ``"symmetric"`` P(|t*| ≥ |t|); ``"equal-tail"`` 2·min(P(t* ≤ t), P(t* ≥ t));
    ``"lower"`` (H1: below the null) P(t* ≤ t); ``"upper"`` (H1: above) P(t* ≥ t).
    Ties within 1e-9·max(1, |t|) count as at least as extreme.
    """
    if kind not in PVALUE_TYPES:
        raise ValueError(f"unknown p-value type {kind!r}; choose one of {', '.join(PVALUE_TYPES)}")
    t = np.asarray(t, dtype=float)
    tb = np.asarray(t_boot, dtype=float)
    tt = t[..., None]
    tol = 1e-9 * np.maximum(1.0, np.abs(tt))
    if kind == "symmetric":
        p = np.mean(np.abs(tb) >= np.abs(tt) - tol, axis=-1)
    elif kind == "lower":
        p = np.mean(tb <= tt + tol, axis=-1)
    elif kind == "upper":
        p = np.mean(tb >= tt - tol, axis=-1)
    else:
        p = np.minimum(1.0, 2 * np.minimum(np.mean(tb <= tt + tol, axis=-1), np.mean(tb >= tt - tol, axis=-1)))
    return float(p) if p.ndim == 0 else p


# ---------------------------------------------------------------------------- the aggregated problem
def _groupsum(codes: np.ndarray, n_groups: int, M: np.ndarray) -> np.ndarray:
    """Column sums of M (n, k) within groups 0..n_groups-1: (n_groups, k).

    Rows sorted by group (panels usually are) use one contiguous ``reduceat``
    pass; otherwise a sparse indicator product.
    """
    M2 = M[:, None] if M.ndim == 1 else M
    if np.all(codes[1:] >= codes[:-1]):
        starts = np.searchsorted(codes, np.arange(n_groups))
        out = np.zeros((n_groups, M2.shape[1]))
        present = np.bincount(codes, minlength=n_groups) > 0
        out[present] = np.add.reduceat(M2, starts[present], axis=0)
    else:
        ind = _sparse.csr_matrix((np.ones(len(codes)), (codes, np.arange(len(codes)))),
                                 shape=(n_groups, len(codes)))
        out = np.asarray(ind @ M2)
    return out[:, 0] if M.ndim == 1 else out


def _labels(labels: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of one label vector and its sorted distinct labels; NaN is an error naming ``what``."""
    c, uniq = pd.factorize(pd.Series(np.asarray(labels)), sort=True)
    if (c < 0).any():
        bad = np.flatnonzero(c < 0)
        raise ValueError(
            f"cluster variable {what!r} has {bad.size} missing value(s) (rows {bad[:5].tolist()} …); "
            "drop those rows before estimation or fill the cluster id"
        )
    return c.astype(np.int64), np.asarray(uniq)


def _codes(labels: Any, what: str) -> tuple[np.ndarray, int]:
    c, uniq = _labels(labels, what)
    return c, len(uniq)


class WildClusterProblem:
    """Cluster-level sums of one regression and one restriction ``R·β = r``.

    Built once from (Z, y, cluster codes); :meth:`moments` turns a weight matrix
    into per-draw coefficients from which bootstrap t statistics at any ``r``
    follow in O(B). Works on plain arrays so other estimators (mediation, IV
    reduced forms) can reuse it.

    Parameters
    ----------
    Z : (n, k) design (already FE-demeaned and multiplied by √weights when weighted).
    y : (n,) outcome transformed the same way.
    R : (k,) restriction vector; ``r``: null value.
    cluster : (n, m) integer codes of the m clustering dimensions.
    boot : (n,) integer codes 0..G-1 of the bootstrap clusters.
    k_dof : number of parameters in the (n-1)/(n-k) factor (regressors + absorbed FE levels).
    """

    def __init__(
        self,
        Z: np.ndarray,
        y: np.ndarray,
        R: np.ndarray,
        r: float,
        cluster: np.ndarray,
        boot: np.ndarray,
        *,
        impose_null: bool = True,
        k_dof: int | None = None,
        cluster_df: str = "min",
    ) -> None:
        Z = np.asarray(Z, dtype=float)
        y = np.asarray(y, dtype=float).ravel()
        R = np.asarray(R, dtype=float).ravel()
        n, k = Z.shape
        if y.shape[0] != n or R.shape[0] != k:
            raise ValueError(f"shapes do not conform: Z {Z.shape}, y {y.shape}, R {R.shape}")
        if not np.all(np.isfinite(Z)) or not np.all(np.isfinite(y)):
            raise ValueError("the design or the outcome has NaN/inf values; drop incomplete rows first")
        if not np.any(R):
            raise ValueError("the restriction vector R is all zeros")
        if cluster_df not in ("own", "min"):
            raise ValueError(f"cluster_df must be 'own' or 'min', got {cluster_df!r}")
        cluster = np.asarray(cluster).reshape(n, -1)
        boot = np.asarray(boot, dtype=np.int64).ravel()
        G = int(boot.max()) + 1
        try:
            cf = _la.cho_factor(Z.T @ Z)
        except _la.LinAlgError:
            raise ValueError("singular design: the regressors are collinear (after absorbing fixed effects)") from None
        AR = _la.cho_solve(cf, R)
        RAR = float(R @ AR)
        beta = _la.cho_solve(cf, Z.T @ y)
        uhat = y - Z @ beta
        a = Z @ AR  # a_i = z_i'(Z'Z)^{-1}R'
        self.n, self.k, self.G = n, k, G
        self.estimate = float(R @ beta)
        self.r0 = float(r)
        self.impose_null = bool(impose_null)
        k_dof = k if k_dof is None else int(k_dof)
        if n - k_dof <= 0:
            raise ValueError(f"no residual degrees of freedom (n={n}, k={k_dof})")

        # clustering dimensions and their inclusion–exclusion terms
        m = cluster.shape[1]
        dims = [_dense_codes(cluster[:, j]) for j in range(m)]
        n_dim = [int(d.max()) + 1 for d in dims]
        for j, Gj in enumerate(n_dim):
            if Gj < 2:
                raise ValueError(f"clustering dimension {j + 1} has a single cluster; cluster-robust inference needs G ≥ 2")
        G_min = min(n_dim)
        small = (n - 1) / (n - k_dof)
        self.terms: list[tuple[np.ndarray, int, float]] = []
        for size in range(1, m + 1):
            for subset in itertools.combinations(range(m), size):
                h = dims[subset[0]] if size == 1 else _dense_codes(_combine([dims[j] for j in subset]))
                H = int(h.max()) + 1
                Gt = H if cluster_df == "own" else G_min
                sign = 1.0 if size % 2 else -1.0
                self.terms.append((h, H, sign * Gt / (Gt - 1) * small))
        self.n_dim = n_dim

        # Cell sums (h ∩ g) of z_i·û_i and z_i·a_i carry all the data the bootstrap needs:
        # C0[h,g] = Σ a_i û_i, C1[h,g] = Σ a_i²/RAR, P_h = Σ_{i∈h} a_i z_i', S0_g = Z_g'û_g,
        # q_g = Z_g'Z_g d with d = AR'/RAR (restricted residuals: ũ = û - s·Z d).
        ZUA = np.empty((n, 2 * k))
        np.multiply(Z, uhat[:, None], out=ZUA[:, :k])
        np.multiply(Z, a[:, None], out=ZUA[:, k:])
        boot_sums = None
        cell_sums = []
        for h, H, _w in self.terms:
            if H == G and np.array_equal(h, boot):  # the term's clusters are the bootstrap clusters
                boot_sums = _groupsum(boot, G, ZUA) if boot_sums is None else boot_sums
                cell_sums.append(None)
            else:
                if H * G * 2 * k > 5e7:
                    raise ValueError(f"too many cluster cells ({H} × {G}) for the dense bootstrap algebra")
                cs = _groupsum(h * G + boot, H * G, ZUA).reshape(H, G, 2 * k)
                cell_sums.append(cs)
                if boot_sums is None:
                    boot_sums = cs.sum(axis=0)
        inv_rar = 1.0 / RAR
        S0, q = boot_sums[:, :k], boot_sums[:, k:] * inv_rar
        self.c0, self.c1 = S0 @ AR, q @ AR
        self.K0: list[np.ndarray] = []
        self.K1: list[np.ndarray] = []
        var = 0.0
        for (h, H, w), cs in zip(self.terms, cell_sums):
            if cs is None:
                C0, C1, P = np.diag(self.c0), np.diag(self.c1), q * RAR
            else:
                C0, C1, P = cs[:, :, :k] @ AR, cs[:, :, k:] @ AR * inv_rar, cs[:, :, k:].sum(axis=1)
            var += w * np.sum(C0.sum(axis=1) ** 2)  # sample CRV of R·β: Σ_h (Σ_{i∈h} a_i û_i)²
            Q = _la.cho_solve(cf, P.T).T  # (H, k) = P_h (Z'Z)⁻¹
            self.K0.append(C0 - Q @ S0.T)
            self.K1.append(C1 - Q @ q.T)
        if not var > 0:
            raise ValueError("the cluster-robust variance of R·β is not positive; the restriction is not identified")
        self.se = float(np.sqrt(var))

    # -- statistic at r ---------------------------------------------------------------------
    def t_stat(self, r: float | np.ndarray | None = None) -> float | np.ndarray:
        """Sample t statistic of ``R·β = r`` (default: the null given at construction)."""
        r = self.r0 if r is None else r
        return (self.estimate - np.asarray(r, dtype=float)) / self.se

    def moments(self, V: np.ndarray) -> dict[str, np.ndarray]:
        """Per-draw coefficients for weights V (B, G).

        Bootstrap t at ``s = r - R·β̂`` is ``(N0 - s·N1) / sqrt(a - 2 s b + s² c)`` (WCR);
        WCU has ``N1 = b = c = 0`` and ``a`` the denominator.
        """
        V = np.asarray(V, dtype=float)
        B = V.shape[0]
        if V.shape[1] != self.G:
            raise ValueError(f"weight matrix has {V.shape[1]} columns for {self.G} bootstrap clusters")
        out = {k: np.zeros(B) for k in ("N0", "N1", "a", "b", "c")}
        out["N0"] = V @ self.c0
        wcr = self.impose_null
        if wcr:
            out["N1"] = V @ self.c1
        cells = sum(H for _, H, _ in self.terms)
        step = max(1, _CHUNK_ELEMENTS // max(cells, self.G))
        for lo in range(0, B, step):
            Vc = V[lo:lo + step]
            sl = slice(lo, lo + Vc.shape[0])
            for (_, _, w), K0, K1 in zip(self.terms, self.K0, self.K1):
                E0 = Vc @ K0.T
                out["a"][sl] += w * np.einsum("ij,ij->i", E0, E0)
                if wcr:
                    E1 = Vc @ K1.T
                    out["b"][sl] += w * np.einsum("ij,ij->i", E0, E1)
                    out["c"][sl] += w * np.einsum("ij,ij->i", E1, E1)
        return out

    def t_boot(self, mom: Mapping[str, np.ndarray], r: float | np.ndarray | None = None) -> np.ndarray:
        """Bootstrap t statistics at null value(s) r: shape (B,) or (len(r), B)."""
        r = self.r0 if r is None else r
        r = np.asarray(r, dtype=float)
        if not self.impose_null:
            # WCU: the bootstrap DGP does not depend on r; t* centred at β̂
            tb = _ratio(mom["N0"], mom["a"])
            return np.broadcast_to(tb, r.shape + tb.shape)
        s = (r - self.estimate)[..., None]
        den = mom["a"] - 2 * s * mom["b"] + s * s * mom["c"]
        return _ratio(mom["N0"] - s * mom["N1"], den)

    def pvalue(self, mom: Mapping[str, np.ndarray], r: float | np.ndarray | None = None,
               kind: str = "symmetric") -> float | np.ndarray:
        r = self.r0 if r is None else r
        return bootstrap_pvalue(self.t_stat(r), self.t_boot(mom, r), kind)

    def conf_int(self, mom: Mapping[str, np.ndarray], level: float = 0.95,
                 kind: str = "symmetric") -> tuple[float, float]:
        """Invert the bootstrap test: the set of r with p(r) ≥ 1 - level (Roodman et al. 2019, §3.5)."""
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level!r}")
        alpha = 1 - level
        half = _st.t.ppf(1 - alpha / 2, max(min(self.n_dim) - 1, 1)) * self.se
        bounds = []
        for side in (-1.0, 1.0):
            if (kind == "lower" and side < 0) or (kind == "upper" and side > 0):
                bounds.append(side * np.inf)  # one-sided test: no bound on this side
                continue
            bounds.append(self._search(mom, side, half, alpha, kind))
        return float(bounds[0]), float(bounds[1])

    def _search(self, mom, side: float, half: float, alpha: float, kind: str) -> float:
        """Outermost r on one side with p(r) ≥ alpha next to the first r with p(r) < alpha.

        A grid walking outward from β̂ brackets the crossing; bisection (the p-value is
        a step function of r) narrows it to 1e-8 of the Wald half-width and returns the
        inner end, where the test does not reject.
        """
        inside = 0.0
        grid = half * np.linspace(0.25, 2.0, 8)
        for _ in range(40):
            p = self.pvalue(mom, self.estimate + side * grid, kind)
            below = np.flatnonzero(p < alpha)
            if below.size:
                j = below[0]
                lo, hi = (inside if j == 0 else grid[j - 1]), grid[j]
                while hi - lo > 1e-8 * half:
                    mid = 0.5 * (lo + hi)
                    if self.pvalue(mom, self.estimate + side * mid, kind) >= alpha:
                        lo = mid
                    else:
                        hi = mid
                return self.estimate + side * lo
            inside = grid[-1]
            grid = grid * 2.0
        return side * np.inf


def _dense_codes(c: np.ndarray) -> np.ndarray:
    """Codes 0..H-1 with every value used (renumbered only when needed)."""
    c = np.asarray(c, dtype=np.int64)
    if c.min() >= 0 and np.all(np.bincount(c) > 0):
        return c
    return np.unique(c, return_inverse=True)[1].astype(np.int64).reshape(-1)


def _combine(cols: Sequence[np.ndarray]) -> np.ndarray:
    """One code per distinct combination of several code vectors."""
    out = np.zeros(len(cols[0]), dtype=np.int64)
    for c in cols:
        out = out * (int(c.max()) + 1) + c
    return out


def _ratio(num: np.ndarray, var: np.ndarray) -> np.ndarray:
    """num / sqrt(var); a non-positive multiway variance (possible with inclusion–exclusion)
    gives an infinite |t*|, counted as extreme (conservative)."""
    if np.all(var > 0):
        return num / np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / np.sqrt(np.where(var > 0, var, 0.0))
    return np.where(np.isnan(out), np.inf, out)


# ---------------------------------------------------------------------------- array interface
def wild_cluster_bootstrap(
    X: np.ndarray,
    y: np.ndarray,
    cluster: Any,
    R: np.ndarray,
    r: float = 0.0,
    *,
    obs_weights: np.ndarray | None = None,
    bootcluster: Any = None,
    B: int = 9999,
    weights: str = "rademacher",
    impose_null: bool = True,
    pvalue: str = "symmetric",
    level: float = 0.95,
    conf_int: bool = True,
    seed: int | np.random.Generator | None = None,
    full_enumeration: bool | str = "auto",
    k_dof: int | None = None,
    cluster_df: str = "min",
    return_draws: bool = False,
    backend: Any = None,
    param: str = "R·β",
    cluster_names: Sequence[str] | None = None,
    bootcluster_name: str | None = None,
) -> WildBootstrapTest:
    """Wild cluster bootstrap of ``R·β = r`` on plain arrays (see module docstring).

    ``cluster`` is an (n,) or (n, m) array of cluster labels (m clustering
    dimensions); ``bootcluster`` the labels of the bootstrap clusters (default:
    the clustering dimension with the fewest clusters, as recommended by
    MacKinnon, Nielsen & Webb 2021 for multiway clustering). ``obs_weights``
    turns the model into WLS. ``k_dof`` is the parameter count of the
    (n-1)/(n-k) factor (default: columns of X). ``backend`` as in :func:`wild_bootstrap`.
    """
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    y = np.asarray(y, dtype=float).ravel()
    n = X.shape[0]
    if isinstance(cluster, pd.DataFrame):
        cols = [cluster[c].to_numpy() for c in cluster.columns]
    else:
        arr = np.asarray(cluster)
        cols = [arr] if arr.ndim == 1 else [arr[:, j] for j in range(arr.shape[1])]
    if any(len(c) != n for c in cols):
        raise ValueError(f"cluster ids must have one row per observation ({n})")
    names = list(cluster_names) if cluster_names is not None else [f"cluster{j + 1}" for j in range(len(cols))]
    codes = np.column_stack([_codes(c, names[j])[0] for j, c in enumerate(cols)])
    if bootcluster is None:
        sizes = [int(codes[:, j].max()) + 1 for j in range(codes.shape[1])]
        jb = int(np.argmin(sizes))
        boot, G = codes[:, jb], sizes[jb]
        bname = bootcluster_name or names[jb]
    else:
        boot, G = _codes(bootcluster, bootcluster_name or "bootcluster")
        bname = bootcluster_name or "bootcluster"
    if obs_weights is not None:
        w = np.asarray(obs_weights, dtype=float).ravel()
        if w.shape[0] != n or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError("obs_weights must be n finite non-negative numbers")
        sw = np.sqrt(w)
        X, y = X * sw[:, None], y * sw
    problem = WildClusterProblem(X, y, R, r, codes, boot, impose_null=impose_null, k_dof=k_dof, cluster_df=cluster_df)
    return _run(problem, param=param, cluster=tuple(names), bootcluster=bname, B=B, weights=weights,
                pvalue=pvalue, level=level, conf_int=conf_int, seed=seed,
                full_enumeration=full_enumeration, return_draws=return_draws, backend=backend)


def _check_G(G: int, weights: str) -> list[str]:
    if G < 2:
        raise ValueError("there is a single bootstrap cluster: the wild cluster bootstrap needs at least 2 clusters")
    notes = []
    distinct = n_distinct(weights, G)
    if distinct < 2000:
        notes.append(
            f"only G={G} bootstrap clusters: {weights} weights give {int(distinct)} distinct draws, so the "
            f"smallest attainable p-value is about {min(1.0, 2 / distinct):.3g}"
            + ("; Webb weights (weights='webb') give finer p-values" if weights == "rademacher" else "")
        )
    return notes


# ---------------------------------------------------------------------------- execution back ends
def chunk_sizes(B: int, size: int = BACKEND_CHUNK) -> list[int]:
    """Sizes of the fixed chunks of ``B`` draws (all ``size`` but the last)."""
    return [min(size, B - lo) for lo in range(0, B, size)]


def seed_root(seed: int | np.random.Generator | np.random.SeedSequence | None) -> np.random.SeedSequence | int | None:
    """Seed whose ``SeedSequence`` children seed the chunks; a Generator gives one drawn from it
    (so a Generator advances and a repeated call gives new draws, as without a back end)."""
    if isinstance(seed, np.random.Generator):
        return np.random.SeedSequence([int(x) for x in seed.integers(0, 2**63, size=2)])
    return seed


def uses_enumeration(weights: str, G: int, B: int, full_enumeration: bool | str) -> bool:
    """Whether :func:`bootstrap_draws` would enumerate (it validates the arguments when called);
    checks B and ``full_enumeration`` here for the random-draw path, which does not call it."""
    if not isinstance(B, (int, np.integer)) or B < 1:
        raise ValueError(f"the number of bootstrap draws B must be a positive integer, got {B!r}")
    if full_enumeration not in ("auto", True, False):
        raise ValueError(f"full_enumeration must be 'auto', True or False, got {full_enumeration!r}")
    return full_enumeration is True or (full_enumeration == "auto" and n_distinct(weights, G) <= B)


def _chunk_task(_unused: None, task: tuple, seed: np.random.SeedSequence) -> Any:
    fn, shared, size = task
    return fn(shared, size, seed)


def map_chunks(backend: Any, fn, sizes: Sequence[int], seed, shared: Any) -> list:
    """``[fn(shared, size_i, seed_i)]`` on ``backend`` with ``seed_i`` child i of ``SeedSequence(seed)``.

    ``shared`` travels with the tasks (one pickled copy per batch) rather than as a Dask
    scattered object: scattered objects released by one call were seen to be lost by the
    next call's tasks ("lost dependencies") on a LocalCluster.
    """
    from fiproxy.parallel import backend_scope

    with backend_scope(backend) as be:
        return be.map_seeded(_chunk_task, [(fn, shared, s) for s in sizes], seed_root(seed))


def _moments_chunk(shared: tuple, size: int, seed: np.random.SeedSequence) -> dict[str, np.ndarray]:
    """Per-draw coefficients of one chunk of ``size`` draws with weights from ``seed`` (worker task)."""
    problem, weights = shared
    return problem.moments(draw_weights(weights, problem.G, size, np.random.default_rng(seed)))


def _moments(problem: WildClusterProblem, weights: str, B: int, seed, full_enumeration,
             backend) -> tuple[dict[str, np.ndarray], int, bool]:
    """Per-draw coefficients, number of draws and whether they enumerate all weight vectors."""
    if backend is None or uses_enumeration(weights, problem.G, B, full_enumeration):
        V, enum = bootstrap_draws(weights, problem.G, B, seed, full_enumeration)
        return problem.moments(V), V.shape[0], enum
    parts = map_chunks(backend, _moments_chunk, chunk_sizes(int(B)), seed, (problem, weights))
    return {key: np.concatenate([m[key] for m in parts]) for key in parts[0]}, int(B), False


def _run(problem: WildClusterProblem, *, param, cluster, bootcluster, B, weights, pvalue, level, conf_int,
         seed, full_enumeration, return_draws, backend=None) -> WildBootstrapTest:
    if pvalue not in PVALUE_TYPES:
        raise ValueError(f"unknown p-value type {pvalue!r}; choose one of {', '.join(PVALUE_TYPES)}")
    notes = _check_G(problem.G, weights)
    mom, n_draws, enum = _moments(problem, weights, B, seed, full_enumeration, backend)
    tb = problem.t_boot(mom)
    t = float(problem.t_stat())
    p = bootstrap_pvalue(t, tb, pvalue)
    ci = problem.conf_int(mom, level, pvalue) if conf_int else (np.nan, np.nan)
    smallest = 2.0 / n_draws if (enum and problem.impose_null and pvalue in ("symmetric", "equal-tail")) \
        else 1.0 / n_draws
    for msg in notes:
        warnings.warn(msg, BootstrapWarning, stacklevel=3)
    return WildBootstrapTest(
        param=param, estimate=problem.estimate, null=problem.r0, t_stat=t, pvalue=float(p),
        conf_int=ci, level=level, B=int(n_draws), weights=weights, impose_null=problem.impose_null,
        pvalue_type=pvalue, cluster=tuple(cluster), bootcluster=str(bootcluster), n_clusters=problem.G,
        full_enumeration=enum, smallest_pvalue=smallest, warnings=tuple(notes),
        t_boot=np.asarray(tb) if return_draws else None,
    )


# ---------------------------------------------------------------------------- Result adapter
def _restriction(param: Any, coefnames: Sequence[str]) -> tuple[np.ndarray, str]:
    names = list(coefnames)
    combo = {param: 1.0} if isinstance(param, str) else dict(param) if isinstance(param, Mapping) else None
    if not combo:
        raise TypeError("param must be a coefficient name or a dict {name: weight} of a linear combination")
    R = np.zeros(len(names))
    for name, wgt in combo.items():
        if name not in names:
            close = difflib.get_close_matches(str(name), names, n=3)
            hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
            raise KeyError(f"unknown parameter {name!r}{hint}; the model's parameters are: {', '.join(names)}")
        R[names.index(name)] = float(wgt)
    label = param if isinstance(param, str) else " + ".join(f"{v:g}*{k}" for k, v in combo.items())
    return R, label


def _cluster_columns(result: Any, cluster: Any) -> list[str]:
    """Clustering variables: ``cluster`` if given, else those of the result's covariance request."""
    if cluster is not None:
        return list(parse_vcov({"CRV1": cluster}).clusters)
    req = result.spec.get("vcov") if isinstance(getattr(result, "spec", None), Mapping) else None
    parsed = parse_vcov(req) if req is not None else None
    if parsed is None or not parsed.clusters:
        raise ValueError(
            f"the result's covariance {req!r} is not clustered; pass cluster='column' (or 'col1+col2')"
        )
    return list(parsed.clusters)


def _nonnested_dummies(fe_codes: np.ndarray, fe_names: Sequence[str], boot: np.ndarray,
                       w: np.ndarray | None) -> np.ndarray:
    """Dummies of the FE dimensions not nested in the bootstrap clusters, demeaned by the nested ones."""
    m = fe_codes.shape[1]
    nested = []
    for j in range(m):
        pairs = np.unique(np.column_stack([fe_codes[:, j], boot]), axis=0)
        nested.append(pairs.shape[0] == int(fe_codes[:, j].max()) + 1)
    free = [j for j in range(m) if not nested[j]]
    if not free:
        return np.empty((fe_codes.shape[0], 0))
    levels = sum(int(fe_codes[:, j].max()) + 1 for j in free)
    if levels > _MAX_FE_DUMMIES:
        names = ", ".join(str(fe_names[j]) for j in free)
        raise ValueError(
            f"fixed effects {names} are not nested in the bootstrap clusters and have {levels} levels "
            f"(more than {_MAX_FE_DUMMIES}); bootstrap by a cluster variable in which they are nested"
        )
    D = np.column_stack([(fe_codes[:, j][:, None] == np.arange(int(fe_codes[:, j].max()) + 1)).astype(float)
                         for j in free])
    nested_codes = fe_codes[:, [j for j in range(m) if nested[j]]]
    D, _ = demean(D, nested_codes, w)
    # drop linearly dependent dummy columns (pivoted QR)
    _, Rq, piv = _la.qr(D * (np.sqrt(w)[:, None] if w is not None else 1.0), mode="economic", pivoting=True)
    diag = np.abs(np.diag(Rq))
    rank = int(np.sum(diag > 1e-9 * max(diag.max(initial=0.0), 1.0)))
    return D[:, np.sort(piv[:rank])]


def problem_from_result(result: Any, param: Any, r: float = 0.0, *, cluster: Any = None,
                        bootcluster: str | None = None, impose_null: bool = True,
                        cluster_df: str = "min") -> tuple[WildClusterProblem, dict]:
    """Build the bootstrap problem of a fitted linear model from ``result.extra["design"]``.

    Returns the problem and a dict with the parameter label, cluster names,
    bootstrap-cluster name and the bootstrap-cluster labels (for drawing
    common weights across models).
    """
    design = getattr(result, "extra", {}).get("design") if hasattr(result, "extra") else None
    if design is None:
        raise ValueError(
            f"this result ({getattr(result, 'model', type(result).__name__)}) carries no linear design "
            "(result.extra['design']); the wild bootstrap needs a linear model such as fiproxy.twfe"
        )
    R, label = _restriction(param, design.coefnames)
    cols = _cluster_columns(result, cluster)
    frame = design.frame
    coded = [cluster_codes(frame, c) for c in cols]
    codes = np.column_stack([c for c, _ in coded])
    bname = cols[int(np.argmin([G for _, G in coded]))] if bootcluster is None else bootcluster
    if bname not in frame.columns:
        check_columns(frame, [bname])
    if bname in cols:  # codes already made (sorted labels): recover the labels in one pass
        boot, G = coded[cols.index(bname)]
        values = frame[bname].to_numpy()
        blabels = np.empty(G, dtype=values.dtype)
        blabels[boot] = values
    else:
        boot, blabels = _labels(frame[bname].to_numpy(), bname)
    w = None if design.weights is None else np.asarray(design.weights, dtype=float)
    X = np.asarray(design.X, dtype=float)
    fe_codes = getattr(design, "fe_codes", None)
    if fe_codes is not None and np.asarray(fe_codes).size:
        fe_codes = np.asarray(fe_codes).reshape(X.shape[0], -1)
        D = _nonnested_dummies(fe_codes, list(getattr(design, "fe_names", range(fe_codes.shape[1]))), boot, w)
    else:
        D = np.empty((X.shape[0], 0))
    Z = np.hstack([X, D]) if D.shape[1] else X
    y = np.asarray(design.y, dtype=float)
    if w is not None:
        sw = np.sqrt(w)
        Z, y = Z * sw[:, None], y * sw
    Rz = np.concatenate([R, np.zeros(D.shape[1])])
    # parameter count of the CRV1 factor as in the result's covariance (fixest: FE nested in a cluster count once)
    k_dof = X.shape[1] + int(getattr(design, "df_fe", 0) or 0)
    if fe_codes is not None and fe_codes.size:
        nested_levels, nested_n = nested_fe_count(fe_codes, [c for c, _ in coded])
        k_dof += nested_n - nested_levels
    problem = WildClusterProblem(Z, y, Rz, r, codes, boot, impose_null=impose_null, k_dof=k_dof,
                                 cluster_df=cluster_df)
    return problem, {"param": label, "cluster": tuple(cols), "bootcluster": bname,
                     "boot_labels": blabels}


def wild_bootstrap(
    result: Any,
    param: Any,
    *,
    r: float = 0.0,
    B: int = 9999,
    weights: str = "rademacher",
    impose_null: bool = True,
    cluster: Any = None,
    bootcluster: str | None = None,
    pvalue: str = "symmetric",
    level: float = 0.95,
    conf_int: bool = True,
    seed: int | np.random.Generator | None = None,
    full_enumeration: bool | str = "auto",
    cluster_df: str = "min",
    return_draws: bool = False,
    backend: Any = None,
) -> WildBootstrapTest:
    """Wild cluster bootstrap test and confidence interval for one parameter of a fitted linear model.

    Parameters
    ----------
    result : Result
        A fitted linear model whose ``extra["design"]`` holds the FE-demeaned
        design (e.g. from :func:`fiproxy.twfe`).
    param : str or dict
        Coefficient name, or ``{name: weight}`` for a linear combination.
    r : float
        Null value of ``H0: param = r``.
    B : int
        Bootstrap draws (9,999 by default). With ``full_enumeration="auto"``
        all 2^G Rademacher (6^G Webb) weight vectors are used when that is ≤ B.
    weights : {"rademacher", "webb", "mammen", "normal"}
    impose_null : bool
        True: restricted bootstrap WCR (recommended); False: WCU.
    cluster : str or list of str, optional
        Clustering variable(s) of the t statistic (``"prov_code+year"`` for
        two-way); default: those of the result's ``{"CRV1": ...}`` covariance.
    bootcluster : str, optional
        Variable whose clusters receive the bootstrap weights; default: the
        clustering variable with the fewest clusters.
    pvalue : {"symmetric", "equal-tail", "lower", "upper"}
    level : float
        Confidence level of the interval obtained by inverting the test.
    conf_int : bool
        Compute that interval (False skips the test inversion).
    seed : int or numpy Generator
        Seed of the weight draws; the same seed gives the same draws.
    full_enumeration : {"auto", True, False}
        Use all 2^G (6^G) weight vectors: when that is ≤ ``B`` ("auto"), always
        (True; error beyond 2^22 vectors or for Mammen/normal weights) or never (False).
    cluster_df : {"own", "min"}
        G/(G-1) factor of each multiway term: its own G, or the smallest G.
    return_draws : bool
        Keep the bootstrap t statistics in ``t_boot``.
    backend : optional
        Execution back end for the random draws (:func:`fiproxy.parallel.get_backend`:
        ``"serial"``, ``"processes"``, ``"dask"``, a ``distributed.Client``, an address or a
        ``Backend``). The draws then run in chunks of ``BACKEND_CHUNK`` with chunk seeds
        ``SeedSequence(seed).spawn(n_chunks)``: identical results on every back end and
        worker count, but other draws than ``backend=None`` (one generator, the default).
        A full enumeration always runs locally.
    """
    problem, info = problem_from_result(result, param, r, cluster=cluster, bootcluster=bootcluster,
                                        impose_null=impose_null, cluster_df=cluster_df)
    return _run(problem, param=info["param"], cluster=info["cluster"], bootcluster=info["bootcluster"], B=B,
                weights=weights, pvalue=pvalue, level=level, conf_int=conf_int, seed=seed,
                full_enumeration=full_enumeration, return_draws=return_draws, backend=backend)
