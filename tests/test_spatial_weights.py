"""Spatial weights: construction against libpysal, registry rules, checks and errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fiproxy.estimators.spatial_weights import SpatialWeights, WeightsError, as_weights, great_circle_km


@pytest.fixture(scope="module")
def points():
    rng = np.random.default_rng(0)
    return rng.uniform(20, 45, 40), rng.uniform(90, 125, 40), list(range(100, 140))


@pytest.fixture(scope="module")
def registry():
    return pytest.importorskip("fiproxy.data.registry", reason="province registry not available")


def test_great_circle_beijing_shanghai():
    # Beijing (39.9042 N, 116.4074 E) – Shanghai (31.2304 N, 121.4737 E): 1067 km (haversine, R = 6371.0088 km)
    d = great_circle_km(np.array([39.9042, 31.2304]), np.array([116.4074, 121.4737]))
    assert d[0, 1] == pytest.approx(1067.3, abs=0.5)
    assert d[0, 0] == 0 and d[0, 1] == d[1, 0]


def test_knn_matches_libpysal(points):
    libpysal = pytest.importorskip("libpysal")
    lat, lon, ids = points
    w = SpatialWeights.from_coordinates(lat, lon, ids, kind="knn", k=4, row_standardize=False)
    ref = libpysal.weights.KNN.from_array(np.column_stack([lon, lat]), k=4, radius=6371.0088)
    np.testing.assert_array_equal(w.dense(), ref.full()[0])  # exact: same neighbour sets
    assert w.check()["asymmetric_links"] > 0 and not w.is_symmetric


def test_inverse_distance_cutoff_matches_libpysal(points):
    libpysal = pytest.importorskip("libpysal")
    lat, lon, ids = points
    w = SpatialWeights.from_coordinates(lat, lon, ids, kind="inverse_distance", cutoff_km=800, row_standardize=False)
    with np.errstate(divide="ignore"):
        ref = libpysal.weights.DistanceBand.from_array(np.column_stack([lon, lat]), threshold=800, binary=False,
                                                       alpha=-1.0, radius=6371.0088, silence_warnings=True)
    np.testing.assert_allclose(w.dense(), ref.full()[0], rtol=1e-12, atol=1e-15)


def test_row_standardize_and_eigen(points):
    lat, lon, ids = points
    for kind in ("inverse_distance", "knn"):
        w = SpatialWeights.from_coordinates(lat, lon, ids, kind=kind, k=5)
        assert w.transform == "row" and w.is_row_standardized
        np.testing.assert_allclose(w.dense().sum(axis=1), 1.0, atol=1e-14)
        lam, V, Vinv = w.eigen()
        # symmetric-similar (inverse distance): exact to rounding; asymmetric kNN: general eig, ~1e-9
        np.testing.assert_allclose((V * lam) @ Vinv, w.dense(), atol=1e-14 if w.symmetric_base else 1e-8)
        assert np.max(np.abs(lam)) == pytest.approx(1.0, abs=1e-10)  # row-stochastic: spectral radius 1
    w = SpatialWeights.from_coordinates(lat, lon, ids, kind="inverse_distance")
    assert w.symmetric_base and not w.is_symmetric
    assert np.isrealobj(w.eigenvalues())  # D^-1 C with symmetric C: real spectrum
    lo, hi = w.rho_bounds()
    assert lo < -1 and hi == pytest.approx(1.0, abs=1e-10)


def test_economic_distance():
    x = pd.Series([1.0, 2.0, 4.0], index=[11, 12, 13])
    w = SpatialWeights.from_attribute(x, row_standardize=False)
    np.testing.assert_allclose(w.dense(), [[0, 1, 1 / 3], [1, 0, 1 / 2], [1 / 3, 1 / 2, 0]])
    with pytest.raises(WeightsError, match="same attribute value"):
        SpatialWeights.from_attribute(pd.Series([1.0, 1.0, 2.0], index=[1, 2, 3]))


def test_adjacency_errors():
    with pytest.raises(WeightsError, match="one-directional"):
        SpatialWeights.from_adjacency({1: [2], 2: [], 3: [2]})
    w = SpatialWeights.from_adjacency({1: [2], 2: [], 3: [2]}, symmetrize=True)
    assert w.is_symmetric is False and w.symmetric_base  # row-standardized from a symmetric base
    with pytest.raises(WeightsError, match=r"no neighbours: \[3\]"):
        SpatialWeights.from_adjacency({1: [2], 2: [1], 3: []})
    with pytest.raises(WeightsError, match="not among the ids"):
        SpatialWeights.from_adjacency({1: [9]})
    with pytest.raises(WeightsError, match="lists itself"):
        SpatialWeights.from_adjacency({1: [1]})


def test_align_subset_and_mismatch():
    w = SpatialWeights.from_adjacency({1: [2, 3], 2: [1], 3: [1, 4], 4: [3]})
    a = w.align([4, 3, 2, 1])
    assert a.ids == (4, 3, 2, 1)
    np.testing.assert_allclose(a.to_frame().loc[1, 3], w.to_frame().loc[1, 3])
    with pytest.raises(WeightsError, match=r"in the data have no row in W: \[5\].*not in the data: \[4\]"):
        w.align([1, 2, 3, 5])
    s = w.subset([1, 2, 3])
    np.testing.assert_allclose(s.dense(), [[0, .5, .5], [1, 0, 0], [1, 0, 0]])
    with pytest.raises(WeightsError, match="no neighbours"):
        w.subset([2, 4])
    with pytest.raises(WeightsError, match="bare array"):
        as_weights(np.eye(3))
    df = as_weights(w.to_frame())
    assert df.transform == "row" and df.ids == w.ids


def test_matrix_validation():
    with pytest.raises(WeightsError, match="square"):
        SpatialWeights(np.zeros((2, 3)), [1, 2])
    with pytest.raises(WeightsError, match="diagonal"):
        SpatialWeights(np.eye(2), [1, 2])
    with pytest.raises(WeightsError, match="negative"):
        SpatialWeights(np.array([[0, -1.0], [1, 0]]), [1, 2])
    with pytest.raises(WeightsError, match="unique"):
        SpatialWeights(np.zeros((2, 2)), [1, 1])
    with pytest.raises(WeightsError, match="identical coordinates"):
        SpatialWeights.from_coordinates([30, 30], [110, 110], [1, 2])


def test_registry_queen_island_rule(registry):
    w = SpatialWeights.from_registry("queen")
    chk = w.check()
    assert chk["n"] == 31 and chk["isolates"] == [] and chk["asymmetric_links"] == 0 and chk["components"] == 1
    f = w.to_frame()
    assert f.loc[46, 44] == 1.0  # Hainan's only link: Guangdong (island rule)
    assert f.loc[44, 46] > 0
    raw = SpatialWeights.from_registry("queen", island_links=False, row_standardize=False)
    assert raw.isolates == [46]
    with pytest.raises(WeightsError, match=r"no neighbours: \[46\]"):
        SpatialWeights.from_registry("queen", island_links=False)
    # land borders from the registry, e.g. Beijing–Tianjin–Hebei
    assert raw.to_frame().loc[11, [12, 13]].tolist() == [1.0, 1.0]


def test_registry_distance_kinds(registry):
    prov = registry.provinces()
    wd = SpatialWeights.from_registry("inverse_distance", row_standardize=False)
    d = great_circle_km(prov["capital_lat"].to_numpy(), prov["capital_lon"].to_numpy())
    i, j = list(wd.ids).index(11), list(wd.ids).index(31)
    assert wd.dense()[i, j] == pytest.approx(1 / d[i, j], rel=1e-12)
    wk = SpatialWeights.from_registry("knn", k=3)
    assert wk.check()["max_neighbors"] == 3
    we = SpatialWeights.from_registry("economic", attribute=pd.Series(np.arange(31.0) + 1, index=prov.index))
    assert we.n == 31 and we.is_row_standardized
    with pytest.raises(WeightsError, match="attribute"):
        SpatialWeights.from_registry("economic")
    with pytest.raises(WeightsError, match="kind must be"):
        SpatialWeights.from_registry("rook")
