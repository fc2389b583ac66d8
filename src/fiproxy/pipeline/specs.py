"""Hypothesis specifications (``analyses/*.yaml``) and their validation.

A spec names variables from the catalog (``data/catalog.yaml``), the
estimators to run and their options. It is checked against a JSON Schema
(structure and types) and then against the catalog (every variable exists);
both give errors that name the file and the offending field.
"""

from __future__ import annotations

import difflib
from functools import lru_cache
from pathlib import Path

import jsonschema
import yaml

from fiproxy.pipeline.cache import REPO_DIR

__all__ = ["SpecError", "load_spec", "list_specs", "SCHEMA", "ANALYSES_DIR"]

ANALYSES_DIR = REPO_DIR / "analyses"

_vars = {"type": "array", "items": {"type": "string"}}
_vcov = {"oneOf": [{"enum": ["iid", "HC1", "HC3", "DK"]},
                   {"type": "object", "minProperties": 1, "maxProperties": 1,
                    "properties": {"CRV1": {"type": "string"}, "CRV3": {"type": "string"},
                                   "DK": {"type": "integer", "minimum": 0}},
                    "additionalProperties": False}]}

_MODEL_OPTIONS = {
    "twfe": {"quadratic": {"type": "boolean"}},
    "wild_bootstrap": {"param": {"type": "string"}, "B": {"type": "integer", "minimum": 99},
                       "weights": {"enum": ["rademacher", "webb", "mammen"]}},
    "iv": {"endogenous": _vars, "instruments": _vars, "method": {"enum": ["2sls", "liml"]}},
    "mediation": {"mediators": _vars, "B": {"type": "integer", "minimum": 99},
                  "bootstrap": {"enum": ["none", "pairs", "wild", "both"]}},
    "heterogeneity": {"moderator": {"type": "string"}, "groups": {"enum": ["region4", "belt3", "terciles"]}},
    "threshold": {"threshold_var": {"type": "string"}, "regime": _vars, "n_thresholds": {"type": "integer", "minimum": 1, "maximum": 3},
                  "B": {"type": "integer", "minimum": 0}, "grid": {"type": ["integer", "string"]},
                  "trim": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 0.5}},
    "gmm": {"lags": {"type": "integer", "minimum": 1}, "system": {"type": "boolean"}, "collapse": {"type": "boolean"},
            "steps": {"enum": [1, 2]}, "max_lags": {"type": "integer", "minimum": 1}},
    "spatial": {"model": {"enum": ["sar", "sem", "sdm"]}, "weights": {"enum": ["queen", "inverse_distance", "knn", "economic"]},
                "effects": {"enum": ["individual", "time", "twoways"]}},
    "did": {"cohort": {"type": "string"}, "control_group": {"enum": ["never_treated", "not_yet_treated"]},
            "method": {"enum": ["reg", "ipw", "dr"]}, "B": {"type": "integer", "minimum": 99}},
    "spec_curve": {"outcomes": _vars, "treatments": _vars, "control_sets": {"type": "array", "items": _vars},
                   "fixed_effects": {"type": "array", "items": _vars}, "vcovs": {"type": "array", "items": _vcov},
                   "samples": {"type": "array", "items": {"enum": ["all", "drop_municipalities", "drop_tibet", "post2013"]}},
                   "B": {"type": "integer", "minimum": 0}},
}

SCHEMA = {
    "type": "object",
    "required": ["id", "hypothesis", "title", "question", "outcome", "treatment", "models"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string", "pattern": "^[a-z0-9_]+$"},
        "hypothesis": {"enum": ["H1", "H2", "H3", "H4", "H5", "SPATIAL", "POLICY", "ROBUSTNESS"]},
        "title": {"type": "string"},
        "question": {"type": "string"},
        "outcome": {"type": "string"},
        "treatment": {"type": "string"},
        "controls": _vars,
        "fixed_effects": _vars,
        "vcov": _vcov,
        "sign": {"enum": ["positive", "negative", "two-sided"]},
        "notes": {"type": "string"},
        "models": {
            "type": "array", "minItems": 1,
            "items": {"oneOf": [
                {"type": "object", "required": ["id", "estimator"], "additionalProperties": False,
                 "properties": {"id": {"type": "string", "pattern": "^[a-z0-9_]+$"}, "estimator": {"const": est},
                                "label": {"type": "string"}, "outcome": {"type": "string"},
                                "treatment": {"type": "string"}, "controls": _vars, **opts}}
                for est, opts in _MODEL_OPTIONS.items()]},
        },
    },
}

# Columns that are not catalog variables but may be named in specs.
PANEL_KEYS = {"prov_code", "year", "region4", "belt3"}


class SpecError(ValueError):
    """An analysis spec does not follow the schema or names unknown variables."""


@lru_cache(maxsize=1)
def _catalog_names() -> frozenset[str]:
    from fiproxy.data.catalog import load_catalog

    return frozenset(load_catalog().names)


def _variables(spec: dict) -> list[tuple[str, str]]:
    """(field path, variable name) pairs of every variable a spec names."""
    out = [("outcome", spec["outcome"]), ("treatment", spec["treatment"])]
    out += [(f"controls[{i}]", v) for i, v in enumerate(spec.get("controls", []))]
    out += [(f"fixed_effects[{i}]", v) for i, v in enumerate(spec.get("fixed_effects", []))]
    for j, m in enumerate(spec["models"]):
        for k, v in m.items():
            where = f"models[{j}].{k}"
            if k in ("outcome", "treatment", "moderator", "threshold_var", "cohort", "param"):
                out.append((where, v))
            elif k in ("controls", "endogenous", "instruments", "mediators", "regime", "outcomes", "treatments"):
                out += [(f"{where}[{i}]", x) for i, x in enumerate(v)]
            elif k in ("control_sets", "fixed_effects"):
                out += [(f"{where}[{i}][{h}]", x) for i, xs in enumerate(v) for h, x in enumerate(xs)]
    return out


def load_spec(name_or_path: str | Path) -> dict:
    """Read and validate one spec (a name in ``analyses/`` or a path)."""
    p = Path(name_or_path)
    if not p.suffix:
        p = ANALYSES_DIR / f"{name_or_path}.yaml"
    if not p.is_file():
        known = [q.stem for q in list_specs()]
        close = difflib.get_close_matches(str(name_or_path), known, n=3)
        raise SpecError(f"no analysis spec {str(name_or_path)!r}" + (f"; did you mean {close}?" if close else f"; specs: {known}"))
    try:
        spec = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise SpecError(f"{p.name}: not valid YAML: {e}") from e
    errors = sorted(jsonschema.Draft202012Validator(SCHEMA).iter_errors(spec), key=lambda e: list(e.absolute_path))
    if errors:
        def where(e):
            return ".".join(str(x) for x in e.absolute_path) or "(top level)"
        msgs = []
        for e in errors[:5]:
            detail = e.message
            if e.context:  # oneOf: report the branch for the model's own estimator
                est = e.instance.get("estimator") if isinstance(e.instance, dict) else None
                best = [c for c in e.context if est and c.schema_path and
                        _MODEL_OPTIONS.get(est) is not None and list(_MODEL_OPTIONS).index(est) == c.schema_path[0]]
                if est not in _MODEL_OPTIONS:
                    detail = f"unknown estimator {est!r}; known: {sorted(_MODEL_OPTIONS)}"
                elif best:
                    detail = best[0].message
            msgs.append(f"{where(e)}: {detail}")
        raise SpecError(f"{p.name}: " + "; ".join(msgs))
    known = _catalog_names() | PANEL_KEYS
    bad = [(w, v) for w, v in _variables(spec) if v not in known and not (w.endswith(".param"))]
    if bad:
        msgs = [f"{w}: unknown variable {v!r}" + (f" (did you mean {difflib.get_close_matches(v, known, n=2)}?)"
                                                   if difflib.get_close_matches(v, known, n=2) else "") for w, v in bad]
        raise SpecError(f"{p.name}: " + "; ".join(msgs) + ". Variables are listed in data/catalog.yaml")
    ids = [m["id"] for m in spec["models"]]
    if len(set(ids)) != len(ids):
        raise SpecError(f"{p.name}: model ids must be unique, got {ids}")
    if p.stem != spec["id"]:
        raise SpecError(f"{p.name}: id {spec['id']!r} must equal the file name {p.stem!r}")
    return spec


def list_specs() -> list[Path]:
    return sorted(q for q in ANALYSES_DIR.glob("*.yaml") if q.name != "pipeline.yaml")
