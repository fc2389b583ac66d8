"""fiproxy — panel-data research on digital finance and financial inclusion in China's provinces.

Public API (imported lazily so that ``import fiproxy`` stays fast):

- data: ``fiproxy.data.build_panel``, ``fiproxy.data.simulate_panel``, ``fiproxy.data.resolve_province``
- estimators: ``twfe``, ``wild_bootstrap``, ``iv``, ``mediation``, ``threshold``, ``gmm``,
  ``spatial_panel``, ``did``, ``etable`` and the common ``Result`` type
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_API = {
    "Result": "fiproxy.estimators.result",
    "twfe": "fiproxy.estimators.twfe",
    "etable": "fiproxy.report.etable",
    "wild_bootstrap": "fiproxy.estimators.inference.wild_bootstrap",
    "iv": "fiproxy.estimators.iv",
    "mediation": "fiproxy.estimators.mediation",
    "threshold": "fiproxy.estimators.threshold",
    "gmm": "fiproxy.estimators.gmm",
    "spatial_panel": "fiproxy.estimators.spatial",
    "SpatialWeights": "fiproxy.estimators.spatial_weights",
    "morans_i": "fiproxy.estimators.spatial_tests",
    "lm_tests": "fiproxy.estimators.spatial_tests",
    "did": "fiproxy.estimators.did",
    "spec_curve": "fiproxy.estimators.spec_curve",
}

__all__ = sorted(_API) + ["__version__"]


def __getattr__(name: str):
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'fiproxy' has no attribute {name!r}")


def __dir__():
    return __all__
