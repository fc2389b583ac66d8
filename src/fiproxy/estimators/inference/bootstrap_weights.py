"""Auxiliary weight distributions for the wild (cluster) bootstrap.

Each draw multiplies the residuals of one bootstrap cluster by one weight
``v_g``; all distributions have mean 0 and variance 1.

- ``"rademacher"``: ±1 with probability 1/2 (Davidson & Flachaire 2008,
  "The wild bootstrap, tamed at last", Journal of Econometrics 146: 162–169).
- ``"webb"``: six points ±√(1/2), ±1, ±√(3/2) with probability 1/6 each
  (Webb 2014, "Reworking wild bootstrap based inference for clustered errors",
  Queen's Economics Department WP 1315); recommended when G is small.
- ``"mammen"``: two points (1 ∓ √5)/2 with probabilities (√5 ± 1)/(2√5)
  (Mammen 1993, "Bootstrap and wild bootstrap for high dimensional linear
  models", Annals of Statistics 21: 255–285).
- ``"normal"``: standard normal.

With few clusters the Rademacher and Webb distributions have a finite number
of distinct weight vectors (2^G and 6^G); :func:`bootstrap_draws` then
enumerates them all instead of sampling when that is not more than the number
of draws requested (``full_enumeration="auto"``).
"""

from __future__ import annotations

import itertools

import numpy as np

__all__ = ["WEIGHT_TYPES", "bootstrap_draws", "draw_weights", "enumerate_weights", "n_distinct"]

_SQRT5 = np.sqrt(5.0)
_WEBB_POINTS = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])
_RADEMACHER_POINTS = np.array([-1.0, 1.0])
_MAMMEN_POINTS = np.array([(1 - _SQRT5) / 2, (1 + _SQRT5) / 2])
_MAMMEN_P_LOW = (_SQRT5 + 1) / (2 * _SQRT5)

#: equally likely support points of the discrete distributions that can be enumerated
_ENUMERABLE = {"rademacher": _RADEMACHER_POINTS, "webb": _WEBB_POINTS}
WEIGHT_TYPES = ("rademacher", "webb", "mammen", "normal")


def _check_type(kind: str) -> str:
    if not isinstance(kind, str) or kind.lower() not in WEIGHT_TYPES:
        raise ValueError(f"unknown bootstrap weight type {kind!r}; choose one of {', '.join(WEIGHT_TYPES)}")
    return kind.lower()


def n_distinct(kind: str, G: int) -> float:
    """Number of distinct weight vectors m^G for G clusters.

    ``inf`` for continuous or unequal-probability laws, and when m^G exceeds the
    largest float (G ≥ 1024 Rademacher or G ≥ 397 Webb clusters), so the count
    always compares correctly with a number of draws.
    """
    kind = _check_type(kind)
    if kind not in _ENUMERABLE:
        return float("inf")
    m = len(_ENUMERABLE[kind])
    if G * np.log2(m) >= 1024:  # m^G >= 2^1024 > largest float
        return float("inf")
    return float(m ** int(G))


def draw_weights(kind: str, G: int, B: int, rng: np.random.Generator) -> np.ndarray:
    """Draw a (B, G) matrix of i.i.d. bootstrap weights from ``rng``.

    The whole matrix is drawn in one call, so the draws depend only on the
    generator state, never on how the bootstrap is later split into chunks.
    """
    kind = _check_type(kind)
    if kind == "rademacher":
        return _RADEMACHER_POINTS[rng.integers(0, 2, size=(B, G))]
    if kind == "webb":
        return _WEBB_POINTS[rng.integers(0, 6, size=(B, G))]
    if kind == "mammen":
        return np.where(rng.random(size=(B, G)) < _MAMMEN_P_LOW, _MAMMEN_POINTS[0], _MAMMEN_POINTS[1])
    return rng.standard_normal(size=(B, G))


def enumerate_weights(kind: str, G: int) -> np.ndarray:
    """All m^G weight vectors of an m-point equal-probability law, shape (m^G, G)."""
    kind = _check_type(kind)
    if kind not in _ENUMERABLE:
        raise ValueError(f"full enumeration needs equally likely discrete weights (rademacher, webb), not {kind!r}")
    pts = _ENUMERABLE[kind]
    return np.array(list(itertools.product(pts, repeat=G)), dtype=float).reshape(-1, G)


def bootstrap_draws(
    kind: str,
    G: int,
    B: int,
    seed: int | np.random.Generator | None = None,
    full_enumeration: bool | str = "auto",
) -> tuple[np.ndarray, bool]:
    """Weight matrix (B_eff, G) for a wild bootstrap and whether it is a full enumeration.

    Rule for ``full_enumeration="auto"``: enumerate all m^G weight vectors when
    the law is Rademacher (m = 2) or Webb (m = 6) and m^G ≤ B; the number of
    draws then becomes m^G and the bootstrap distribution is exact (no Monte
    Carlo error). ``True`` forces enumeration (error if the law cannot be
    enumerated or m^G exceeds 2^22); ``False`` always samples B draws.
    """
    kind = _check_type(kind)
    if not isinstance(B, (int, np.integer)) or B < 1:
        raise ValueError(f"the number of bootstrap draws B must be a positive integer, got {B!r}")
    if full_enumeration not in ("auto", True, False):
        raise ValueError(f"full_enumeration must be 'auto', True or False, got {full_enumeration!r}")
    m_g = n_distinct(kind, G)
    if full_enumeration == "auto":
        enum = m_g <= B
    elif full_enumeration:
        if kind not in _ENUMERABLE:
            raise ValueError(f"full enumeration needs equally likely discrete weights (rademacher, webb), not {kind!r}")
        if m_g > 2**22:
            raise ValueError(f"cannot enumerate {len(_ENUMERABLE[kind])}^{G} = {m_g:.3g} weight vectors ({kind}); "
                             "use random draws")
        enum = True
    else:
        enum = False
    if enum:
        return enumerate_weights(kind, G), True
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return draw_weights(kind, G, int(B), rng), False
