"""Data layer: province registry, source loaders, panel assembly, validation, simulated default.

Names are imported lazily from the module that defines them.
"""

from __future__ import annotations

import importlib

_API = {
    # registry
    "provinces": "fiproxy.data.registry",
    "resolve_province": "fiproxy.data.registry",
    "resolve_city": "fiproxy.data.registry",
    "UnknownProvinceError": "fiproxy.data.registry",
    # source loaders
    "SourceTable": "fiproxy.data.sources.base",
    "ColumnMeta": "fiproxy.data.sources.base",
    "load_pku_dfiic": "fiproxy.data.sources.pku_dfiic",
    "load_nbs": "fiproxy.data.sources.nbs",
    "load_tidy_csv": "fiproxy.data.sources.tidy",
    # catalog, assembly, validation, simulation
    "load_catalog": "fiproxy.data.catalog",
    "build_panel": "fiproxy.data.assemble",
    "Panel": "fiproxy.data.assemble",
    "validate_panel": "fiproxy.data.validate",
    "simulate_panel": "fiproxy.data.simulate",
}

__all__ = sorted(_API)


def __getattr__(name: str):
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'fiproxy.data' has no attribute {name!r}")


def __dir__():
    return __all__
