"""Spatial weights matrices for panels of provinces or cities.

A :class:`SpatialWeights` holds an N × N matrix (dense ``ndarray`` or
``scipy.sparse``), the unit ids in row order, how it was built and, when it
was row-standardized, the row sums of the raw matrix (so that the symmetric
matrix behind a standardized contiguity or distance matrix can be recovered
for exact real eigenvalues).

Constructors
------------
- :meth:`SpatialWeights.from_adjacency` — binary contiguity from neighbour lists;
- :meth:`SpatialWeights.from_coordinates` — inverse great-circle distance
  (``d**-power``, optional cut-off in km) or k nearest neighbours;
- :meth:`SpatialWeights.from_attribute` — economic distance
  ``w_ij = 1 / |x_i - x_j|**power`` of a unit attribute such as mean GDP per
  capita over the sample (the "economic distance" matrix of the Chinese
  regional-economics literature, e.g. Lin, Long & Wu 2005, Economic Research
  Journal 12);
- :meth:`SpatialWeights.from_registry` — any of the above for the 31 provinces
  from :mod:`fiproxy.data.registry` (queen contiguity from land borders, with
  Hainan linked to Guangdong when ``island_links=True``; distances between
  provincial capitals).

Row standardization and the checks (isolates, asymmetry, connectivity) follow
Anselin (1988, *Spatial Econometrics: Methods and Models*, ch. 3) and LeSage &
Pace (2009, *Introduction to Spatial Econometrics*, ch. 4).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import connected_components

__all__ = ["SpatialWeights", "WeightsError", "as_weights", "great_circle_km", "EARTH_RADIUS_KM"]

EARTH_RADIUS_KM = 6371.0088  # IUGG mean Earth radius


class WeightsError(ValueError):
    """A spatial weights matrix is malformed or does not fit the data."""


def great_circle_km(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Pairwise great-circle distances (haversine formula) in km, shape (N, N)."""
    phi = np.radians(np.asarray(lat, dtype=float))
    lam = np.radians(np.asarray(lon, dtype=float))
    dphi = phi[:, None] - phi[None, :]
    dlam = lam[:, None] - lam[None, :]
    h = np.sin(dphi / 2) ** 2 + np.cos(phi)[:, None] * np.cos(phi)[None, :] * np.sin(dlam / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def _ids_list(ids: Iterable[Any]) -> list:
    out = [i.item() if isinstance(i, np.generic) else i for i in ids]
    if len(set(out)) != len(out):
        dup = pd.Series(out)[pd.Series(out).duplicated()].unique().tolist()
        raise WeightsError(f"unit ids must be unique; duplicated: {dup[:10]}")
    return out


@dataclass(frozen=True, eq=False)
class SpatialWeights:
    """An N × N spatial weights matrix with the unit ids of its rows/columns.

    Parameters
    ----------
    matrix : ndarray or scipy.sparse matrix (N, N)
        Non-negative weights, zero diagonal.
    ids : sequence
        Unit ids (e.g. ``prov_code``) in row order.
    kind : str
        How it was built (``"queen"``, ``"inverse_distance"``, ``"knn"``, ``"economic"``, ``"custom"``).
    transform : str
        ``"raw"`` or ``"row"`` (row-standardized).
    row_sums : ndarray or None
        Row sums of the raw matrix when ``transform == "row"``.
    info : dict
        Construction details (island rule, k, cut-off, power …).
    """

    matrix: Any
    ids: tuple
    kind: str = "custom"
    transform: str = "raw"
    row_sums: np.ndarray | None = None
    info: dict = field(default_factory=dict)
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        m = self.matrix
        if not sparse.issparse(m):
            m = np.asarray(m, dtype=float)
            object.__setattr__(self, "matrix", m)
        else:
            object.__setattr__(self, "matrix", sparse.csr_matrix(m, dtype=float))
        object.__setattr__(self, "ids", tuple(_ids_list(self.ids)))
        shape = self.matrix.shape
        if len(shape) != 2 or shape[0] != shape[1]:
            raise WeightsError(f"weights matrix must be square, got shape {shape}")
        if shape[0] != len(self.ids):
            raise WeightsError(f"weights matrix is {shape[0]} × {shape[1]} but {len(self.ids)} unit ids were given")
        dense = self.dense()
        if not np.isfinite(dense).all():
            raise WeightsError("weights matrix has NaN or infinite entries")
        if (dense < 0).any():
            raise WeightsError("weights matrix has negative entries")
        if np.any(np.diag(dense) != 0):
            bad = [self.ids[i] for i in np.flatnonzero(np.diag(dense))[:10]]
            raise WeightsError(f"weights matrix has non-zero diagonal (self-neighbours) for units {bad}")
        if self.transform not in ("raw", "row"):
            raise WeightsError(f"transform must be 'raw' or 'row', got {self.transform!r}")

    # ------------------------------------------------------------------ basics
    @property
    def n(self) -> int:
        return len(self.ids)

    def dense(self) -> np.ndarray:
        """The matrix as a dense ``ndarray`` (cached)."""
        if "dense" not in self._cache:
            m = self.matrix.toarray() if sparse.issparse(self.matrix) else self.matrix
            self._cache["dense"] = np.asarray(m, dtype=float)
        return self._cache["dense"]

    def sparse(self) -> sparse.csr_matrix:
        """The matrix as ``scipy.sparse.csr_matrix``."""
        return sparse.csr_matrix(self.matrix)

    def to_frame(self) -> pd.DataFrame:
        """Labelled dense matrix (rows and columns are the unit ids)."""
        return pd.DataFrame(self.dense(), index=list(self.ids), columns=list(self.ids))

    def lag(self, values: np.ndarray) -> np.ndarray:
        """Spatial lag ``W @ values`` along the first axis (length N)."""
        v = np.asarray(values, dtype=float)
        if v.shape[0] != self.n:
            raise WeightsError(f"spatial lag needs {self.n} rows (one per unit), got {v.shape[0]}")
        return np.asarray(self.matrix @ v)

    def __repr__(self) -> str:  # pragma: no cover - display only
        return f"SpatialWeights(kind={self.kind!r}, n={self.n}, transform={self.transform!r}, links={self.n_links})"

    # ------------------------------------------------------------------ properties and checks
    @property
    def n_links(self) -> int:
        return int(np.count_nonzero(self.dense()))

    @property
    def isolates(self) -> list:
        """Units with no neighbour (an all-zero row)."""
        rs = self.dense().sum(axis=1)
        return [self.ids[i] for i in np.flatnonzero(rs == 0)]

    def base_matrix(self) -> np.ndarray:
        """The raw matrix before row standardization (``diag(row_sums) @ W``)."""
        if self.transform == "row" and self.row_sums is not None:
            return self.row_sums[:, None] * self.dense()
        return self.dense()

    @property
    def is_symmetric(self) -> bool:
        """Whether the matrix itself is symmetric."""
        d = self.dense()
        return bool(np.allclose(d, d.T, rtol=1e-12, atol=1e-14))

    @property
    def symmetric_base(self) -> bool:
        """Whether the raw matrix behind a row-standardized one is symmetric.

        Then ``W = D^-1 C`` with symmetric ``C`` is similar to the symmetric
        ``D^-1/2 C D^-1/2`` and has real eigenvalues.
        """
        b = self.base_matrix()
        return bool(np.allclose(b, b.T, rtol=1e-12, atol=1e-14))

    @property
    def is_row_standardized(self) -> bool:
        return bool(np.allclose(self.dense().sum(axis=1), 1.0, rtol=0, atol=1e-12))

    def asymmetric_pairs(self) -> list[tuple]:
        """Pairs (i, j) with i linked to j but j not linked to i (first 50)."""
        a = self.base_matrix() > 0
        rows, cols = np.nonzero(a & ~a.T)
        return [(self.ids[i], self.ids[j]) for i, j in zip(rows[:50], cols[:50])]

    def check(self) -> dict:
        """Diagnostics: size, links, isolates, asymmetry, connected components.

        Returns a dict with ``n``, ``links``, ``mean_neighbors``, ``min_neighbors``,
        ``max_neighbors``, ``isolates`` (ids), ``asymmetric_links`` (count of
        one-directional links in the raw matrix), ``components`` (number of
        connected components of the undirected graph), ``row_standardized``,
        ``symmetric_base``.
        """
        d = self.dense()
        a = d > 0
        nn = a.sum(axis=1)
        ncomp, _ = connected_components(sparse.csr_matrix(a | a.T), directed=False)
        return {
            "kind": self.kind,
            "n": self.n,
            "links": int(a.sum()),
            "mean_neighbors": float(nn.mean()),
            "min_neighbors": int(nn.min()),
            "max_neighbors": int(nn.max()),
            "isolates": self.isolates,
            "asymmetric_links": int((a & ~a.T).sum()),
            "components": int(ncomp),
            "row_standardized": self.is_row_standardized,
            "symmetric_base": self.symmetric_base,
        }

    # ------------------------------------------------------------------ transformations
    def row_standardize(self) -> "SpatialWeights":
        """Rows divided by their sums (each row sums to one).

        Raises :class:`WeightsError` naming the isolates, which have no
        neighbours to average over.
        """
        if self.transform == "row":
            return self
        iso = self.isolates
        if iso:
            raise WeightsError(
                f"cannot row-standardize: {len(iso)} unit(s) have no neighbours: {iso[:20]}; "
                "link them (e.g. island_links=True, a larger distance cut-off or k-nearest neighbours) or drop them"
            )
        raw = self.dense()
        rs = raw.sum(axis=1)
        m = raw / rs[:, None]
        if sparse.issparse(self.matrix):
            m = sparse.csr_matrix(m)
        return SpatialWeights(m, self.ids, self.kind, "row", rs, dict(self.info))

    def subset(self, ids: Sequence) -> "SpatialWeights":
        """Weights restricted to ``ids`` (in that order); re-standardized if it was row-standardized."""
        idx = self._positions(ids)
        raw = self.base_matrix()[np.ix_(idx, idx)]
        out = SpatialWeights(raw, [self.ids[i] for i in idx], self.kind, "raw", None, dict(self.info))
        return out.row_standardize() if self.transform == "row" else out

    def align(self, ids: Sequence) -> "SpatialWeights":
        """The same weights with rows/columns ordered as ``ids``.

        The set of ids must equal the weights' units exactly; otherwise a
        :class:`WeightsError` lists the units missing on either side.
        """
        ids = _ids_list(ids)
        have = set(self.ids)
        want = set(ids)
        if have != want:
            in_data = sorted(want - have, key=str)
            in_w = sorted(have - want, key=str)
            msg = "spatial weights do not match the panel's units:"
            if in_data:
                msg += f" {len(in_data)} unit(s) in the data have no row in W: {in_data[:20]};"
            if in_w:
                msg += f" {len(in_w)} unit(s) of W are not in the data: {in_w[:20]};"
            raise WeightsError(msg + " use W.subset(ids) or fix the data")
        if list(self.ids) == ids:
            return self
        idx = self._positions(ids)
        m = self.dense()[np.ix_(idx, idx)]
        rs = None if self.row_sums is None else self.row_sums[idx]
        return SpatialWeights(m, ids, self.kind, self.transform, rs, dict(self.info))

    def _positions(self, ids: Sequence) -> np.ndarray:
        pos = {u: i for i, u in enumerate(self.ids)}
        ids = _ids_list(ids)
        missing = [u for u in ids if u not in pos]
        if missing:
            raise WeightsError(f"unit ids not in the weights matrix: {missing[:20]}")
        return np.array([pos[u] for u in ids], dtype=np.int64)

    # ------------------------------------------------------------------ spectrum
    def eigen(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Eigen decomposition ``W = V diag(lam) V^-1`` (cached).

        For a symmetric matrix, or a row-standardized one whose raw matrix is
        symmetric, the symmetric similar matrix is decomposed (real, stable);
        otherwise the general decomposition is used and its reconstruction
        error is checked.
        Returns ``(lam, V, Vinv)``; ``lam`` is real when all eigenvalues are.
        """
        if "eigen" in self._cache:
            return self._cache["eigen"]
        d = self.dense()
        if self.is_symmetric:
            lam, u = np.linalg.eigh(d)
            out = (lam, u, u.T)
        elif self.transform == "row" and self.row_sums is not None and self.symmetric_base:
            s = np.sqrt(self.row_sums)
            sym = (s[:, None] * d) / s[None, :]  # D^1/2 W D^-1/2 = D^-1/2 C D^-1/2
            sym = (sym + sym.T) / 2
            lam, u = np.linalg.eigh(sym)
            out = (lam, u / s[:, None], u.T * s[None, :])
        else:
            lam, v = np.linalg.eig(d)
            vinv = np.linalg.inv(v)
            err = np.abs((v * lam) @ vinv - d).max()
            if not np.isfinite(err) or err > 1e-8 * max(1.0, np.abs(d).max()):
                raise WeightsError(
                    f"the weights matrix is not diagonalizable to working precision (reconstruction error {err:.2e})"
                )
            if np.abs(lam.imag).max() < 1e-12:
                lam, v, vinv = lam.real, v.real, vinv.real
            out = (lam, v, vinv)
        self._cache["eigen"] = out
        return out

    def eigenvalues(self) -> np.ndarray:
        """Eigenvalues of W (real when the matrix is symmetric-similar)."""
        if "eigen" in self._cache:
            return self._cache["eigen"][0]
        if "eigvals" not in self._cache:
            if self.is_symmetric or (self.transform == "row" and self.row_sums is not None and self.symmetric_base):
                self._cache["eigvals"] = self.eigen()[0]
            else:
                lam = np.linalg.eigvals(self.dense())
                self._cache["eigvals"] = lam.real if np.abs(lam.imag).max() < 1e-12 else lam
        return self._cache["eigvals"]

    def rho_bounds(self) -> tuple[float, float]:
        """Interval (1/λ_min, 1/λ_max) on which ``I - ρW`` is non-singular (real spectrum).

        With complex eigenvalues the interval (-1/r, 1/r) with r the spectral radius is used.
        """
        lam = self.eigenvalues()
        if np.iscomplexobj(lam):
            r = float(np.abs(lam).max())
            return -1.0 / r, 1.0 / r
        lo, hi = float(lam.min()), float(lam.max())
        if lo >= 0 or hi <= 0:
            raise WeightsError("the weights matrix has no negative or no positive eigenvalue; is it all zero?")
        return 1.0 / lo, 1.0 / hi

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_adjacency(
        cls,
        neighbors: Mapping[Any, Iterable[Any]],
        *,
        ids: Sequence | None = None,
        symmetrize: bool = False,
        row_standardize: bool = True,
        kind: str = "contiguity",
        info: dict | None = None,
    ) -> "SpatialWeights":
        """Binary contiguity weights from neighbour lists ``{id: [neighbour ids]}``.

        A one-directional link is an error unless ``symmetrize=True`` (then the
        union of both directions is used). Isolates are an error when
        ``row_standardize=True``.
        """
        ids = _ids_list(ids if ids is not None else neighbors.keys())
        pos = {u: i for i, u in enumerate(ids)}
        unknown = sorted({v for u in neighbors for v in neighbors[u] if v not in pos} | {u for u in neighbors if u not in pos}, key=str)
        if unknown:
            raise WeightsError(f"neighbour lists name units that are not among the ids: {unknown[:20]}")
        a = np.zeros((len(ids), len(ids)))
        for u, vs in neighbors.items():
            for v in vs:
                if v == u:
                    raise WeightsError(f"unit {u!r} lists itself as a neighbour")
                a[pos[u], pos[v]] = 1.0
        one_way = np.argwhere((a > 0) & (a.T == 0))
        if len(one_way):
            if not symmetrize:
                pairs = [(ids[i], ids[j]) for i, j in one_way[:10]]
                raise WeightsError(
                    f"{len(one_way)} one-directional contiguity link(s), e.g. {pairs}; "
                    "contiguity must be mutual (pass symmetrize=True to take the union)"
                )
            a = np.maximum(a, a.T)
        w = cls(a, ids, kind, "raw", None, dict(info or {}))
        return w.row_standardize() if row_standardize else w

    @classmethod
    def from_coordinates(
        cls,
        lat: Sequence[float],
        lon: Sequence[float],
        ids: Sequence,
        *,
        kind: str = "inverse_distance",
        k: int = 5,
        cutoff_km: float | None = None,
        power: float = 1.0,
        row_standardize: bool = True,
    ) -> "SpatialWeights":
        """Distance-based weights from latitude/longitude (degrees).

        ``kind="inverse_distance"``: ``w_ij = d_ij**-power`` for ``d_ij <= cutoff_km``
        (all pairs when ``cutoff_km`` is None); ``kind="knn"``: ``w_ij = 1`` for
        the ``k`` nearest units of i (ties broken by the order of ``ids``), an
        asymmetric matrix in general. Distances are great-circle (haversine) km.
        """
        lat = np.asarray(lat, dtype=float)
        lon = np.asarray(lon, dtype=float)
        ids = _ids_list(ids)
        if not (len(lat) == len(lon) == len(ids)):
            raise WeightsError(f"lat ({len(lat)}), lon ({len(lon)}) and ids ({len(ids)}) must have the same length")
        bad = np.flatnonzero(~np.isfinite(lat) | ~np.isfinite(lon) | (np.abs(lat) > 90) | (np.abs(lon) > 180))
        if len(bad):
            raise WeightsError(f"invalid coordinates for units {[ids[i] for i in bad[:10]]}")
        d = great_circle_km(lat, lon)
        n = len(ids)
        off = ~np.eye(n, dtype=bool)
        if (d[off] == 0).any():
            i, j = np.argwhere((d == 0) & off)[0]
            raise WeightsError(f"units {ids[i]!r} and {ids[j]!r} have identical coordinates (zero distance)")
        if kind == "inverse_distance":
            if power <= 0:
                raise WeightsError(f"power must be positive, got {power}")
            w = np.zeros_like(d)
            keep = off if cutoff_km is None else off & (d <= cutoff_km)
            w[keep] = d[keep] ** (-power)
            info = {"cutoff_km": cutoff_km, "power": power, "distance": "great-circle km"}
        elif kind == "knn":
            if not 1 <= int(k) < n:
                raise WeightsError(f"k must be between 1 and N-1 = {n - 1}, got {k}")
            k = int(k)
            dd = d.copy()
            np.fill_diagonal(dd, np.inf)
            nearest = np.argsort(dd, axis=1, kind="stable")[:, :k]
            w = np.zeros_like(d)
            np.put_along_axis(w, nearest, 1.0, axis=1)
            w = sparse.csr_matrix(w)
            info = {"k": k, "distance": "great-circle km"}
        else:
            raise WeightsError(f"kind must be 'inverse_distance' or 'knn', got {kind!r}")
        out = cls(w, ids, kind, "raw", None, info)
        return out.row_standardize() if row_standardize else out

    @classmethod
    def from_attribute(
        cls,
        values: Sequence[float] | pd.Series,
        ids: Sequence | None = None,
        *,
        power: float = 1.0,
        row_standardize: bool = True,
    ) -> "SpatialWeights":
        """Economic-distance weights ``w_ij = 1 / |x_i - x_j|**power``.

        ``values`` is one number per unit (e.g. mean real GDP per capita over
        the sample period, so that the matrix is exogenous to the model).
        Equal values (zero distance) are an error naming the units.
        """
        if isinstance(values, pd.Series) and ids is None:
            ids = values.index
            values = values.to_numpy()
        x = np.asarray(values, dtype=float)
        if ids is None:
            raise WeightsError("ids are required when values is not a pandas Series")
        ids = _ids_list(ids)
        if len(x) != len(ids):
            raise WeightsError(f"values ({len(x)}) and ids ({len(ids)}) must have the same length")
        if not np.isfinite(x).all():
            raise WeightsError(f"attribute has missing values for units {[ids[i] for i in np.flatnonzero(~np.isfinite(x))[:10]]}")
        diff = np.abs(x[:, None] - x[None, :])
        off = ~np.eye(len(x), dtype=bool)
        if (diff[off] == 0).any():
            i, j = np.argwhere((diff == 0) & off)[0]
            raise WeightsError(f"units {ids[i]!r} and {ids[j]!r} have the same attribute value: economic distance is zero")
        w = np.zeros_like(diff)
        w[off] = diff[off] ** (-power)
        out = cls(w, ids, "economic", "raw", None, {"power": power, "distance": "|x_i - x_j|"})
        return out.row_standardize() if row_standardize else out

    @classmethod
    def from_registry(
        cls,
        kind: str = "queen",
        *,
        island_links: bool = True,
        k: int = 4,
        cutoff_km: float | None = None,
        power: float = 1.0,
        attribute: pd.Series | None = None,
        codes: Sequence[int] | None = None,
        row_standardize: bool = True,
    ) -> "SpatialWeights":
        """Weights for the 31 provinces from the province registry.

        kind
            ``"queen"``: land-border contiguity (the registry's ``neighbors``);
            island rule: Hainan, which has no land border, is linked to
            Guangdong when ``island_links=True`` (the convention of the
            Chinese provincial literature; it is across the Qiongzhou Strait);
            with ``island_links=False`` Hainan is an isolate and row
            standardization raises an error.
            ``"inverse_distance"`` / ``"knn"``: great-circle distances between
            provincial capitals (``cutoff_km``, ``power``, ``k``).
            ``"economic"``: ``attribute`` (a Series indexed by ``prov_code``).
        codes
            Restrict to these province codes (in this order); default all 31.
        """
        from fiproxy.data import registry

        prov = registry.provinces()
        ids = [int(c) for c in (prov.index if codes is None else codes)]
        missing = [c for c in ids if c not in prov.index]
        if missing:
            raise WeightsError(f"province codes not in the registry: {missing}")
        if kind == "queen":
            keep = set(ids)
            nb = {c: [int(v) for v in registry.neighbors(c, island_links=island_links) if int(v) in keep] for c in ids}
            info = {"island_links": island_links,
                    "island_rule": "Hainan (46) linked to Guangdong (44)" if island_links else "none (Hainan is an isolate)",
                    "source": "fiproxy.data.registry land borders"}
            return cls.from_adjacency(nb, ids=ids, kind="queen", row_standardize=row_standardize, info=info)
        if kind in ("inverse_distance", "knn"):
            sub = prov.loc[ids]
            w = cls.from_coordinates(sub["capital_lat"].to_numpy(), sub["capital_lon"].to_numpy(), ids, kind=kind,
                                     k=k, cutoff_km=cutoff_km, power=power, row_standardize=row_standardize)
            w.info["points"] = "provincial capitals (registry capital_lat/capital_lon)"
            return w
        if kind == "economic":
            if attribute is None:
                raise WeightsError("kind='economic' needs attribute=Series indexed by prov_code (e.g. mean GDP per capita)")
            attr = pd.Series(attribute)
            attr.index = [int(i) for i in attr.index]
            lacking = [c for c in ids if c not in attr.index]
            if lacking:
                raise WeightsError(f"attribute has no value for provinces {lacking}")
            return cls.from_attribute(attr.loc[ids].to_numpy(), ids, power=power, row_standardize=row_standardize)
        raise WeightsError(f"kind must be one of 'queen', 'inverse_distance', 'knn', 'economic'; got {kind!r}")


def as_weights(W: SpatialWeights | np.ndarray | pd.DataFrame) -> SpatialWeights:
    """Coerce a labelled DataFrame (ids on both axes) or a SpatialWeights."""
    if isinstance(W, SpatialWeights):
        return W
    if isinstance(W, pd.DataFrame):
        if list(W.index) != list(W.columns):
            raise WeightsError("a weights DataFrame must have the same unit ids, in the same order, on rows and columns")
        w = SpatialWeights(W.to_numpy(dtype=float), W.index)
        return replace(w, transform="row") if w.is_row_standardized else w
    raise WeightsError(
        f"W must be a SpatialWeights or a square DataFrame labelled by unit ids, got {type(W).__name__}; "
        "a bare array carries no unit ids to match against the panel"
    )
