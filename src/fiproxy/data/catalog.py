"""Variable catalog: what every panel column measures, in which unit, from which source.

The catalog lives in ``data/catalog.yaml``. :func:`load_catalog` reads it, checks every entry
(known fields, allowed concepts and bounds, hypothesis tags, derivations that name known
transformations and catalog variables, no derivation cycles) and returns a :class:`Catalog`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

__all__ = ["Variable", "Catalog", "CatalogError", "load_catalog", "CATALOG_YAML", "CONCEPTS", "BOUNDS",
           "HYPOTHESES", "parse_derive"]

CATALOG_YAML = Path(__file__).resolve().parents[3] / "data" / "catalog.yaml"

CONCEPTS = ("access", "cost", "payment", "sme_credit", "fintech_share", "default", "divide", "control",
            "digital_finance", "ecommerce", "instrument", "policy", "base")
BOUNDS = ("nonnegative", "share", "binary", "none")
HYPOTHESES = ("H1", "H2", "H3", "H4", "H5", "SPATIAL", "POLICY")
USER_SUPPLIED = "user-supplied"

_REQUIRED = ("label", "unit", "concept", "hypotheses", "source", "bounds", "core")
_OPTIONAL = ("derive", "nominal", "notes")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_CALL = re.compile(r"^\s*([a-z_][a-z0-9_]*)\s*\((.*)\)\s*$")


class CatalogError(ValueError):
    """The catalog file is malformed; the message names the variable and the field."""


@dataclass(frozen=True)
class Variable:
    """One catalog entry."""

    name: str
    label: str
    unit: str
    concept: str
    hypotheses: tuple[str, ...]
    source: str
    bounds: str
    core: bool
    derive: str | None = None
    nominal: bool = False
    notes: str = ""

    @property
    def user_supplied(self) -> bool:
        """True when no shipped source carries the series (it must come from the user)."""
        return self.source.strip().lower() == USER_SUPPLIED

    @property
    def inputs(self) -> tuple[str, ...]:
        """Catalog variables the derivation reads (empty for published series)."""
        if self.derive is None:
            return ()
        _, args = parse_derive(self.derive)
        return tuple(a for a in args if isinstance(a, str))


def parse_derive(text: str) -> tuple[str, tuple]:
    """Split ``"ratio_to_gdp(loans)"`` into ``("ratio_to_gdp", ("loans",))``.

    Arguments are variable names (str) or numbers (int/float).
    """
    m = _CALL.match(text)
    if not m:
        raise CatalogError(f"derivation {text!r} is not of the form name(arg, ...)")
    args: list = []
    for raw in (a.strip() for a in m.group(2).split(",") if a.strip()):
        if _NAME.match(raw):
            args.append(raw)
            continue
        try:
            args.append(int(raw))
        except ValueError:
            try:
                args.append(float(raw))
            except ValueError:
                raise CatalogError(f"derivation {text!r}: argument {raw!r} is neither a variable name nor a number") from None
    return m.group(1), tuple(args)


@dataclass(frozen=True)
class Catalog:
    """Ordered collection of :class:`Variable` entries, keyed by name."""

    variables: dict[str, Variable]
    path: str = ""
    version: int = 1
    _order: tuple[str, ...] = field(default=(), repr=False)

    def __getitem__(self, name: str) -> Variable:
        try:
            return self.variables[name]
        except KeyError:
            import difflib

            close = difflib.get_close_matches(name, list(self.variables), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise KeyError(f"{name!r} is not in the variable catalog{hint}") from None

    def __contains__(self, name: object) -> bool:
        return name in self.variables

    def __iter__(self):
        return iter(self.variables.values())

    def __len__(self) -> int:
        return len(self.variables)

    @property
    def names(self) -> list[str]:
        return list(self.variables)

    def core(self) -> list[str]:
        """Variables the real 2011-2021 province panel carries for every province-year."""
        return [v.name for v in self if v.core]

    def by_concept(self, concept: str) -> list[str]:
        if concept not in CONCEPTS:
            raise KeyError(f"unknown concept {concept!r}; known: {', '.join(CONCEPTS)}")
        return [v.name for v in self if v.concept == concept]

    def for_hypothesis(self, tag: str) -> list[str]:
        if tag not in HYPOTHESES:
            raise KeyError(f"unknown hypothesis tag {tag!r}; known: {', '.join(HYPOTHESES)}")
        return [v.name for v in self if tag in v.hypotheses]

    def derivation_order(self) -> list[str]:
        """Derived variables in an order where every input comes before its use."""
        return list(self._order)

    def to_frame(self):
        import pandas as pd

        rows = [{"name": v.name, "label": v.label, "unit": v.unit, "concept": v.concept,
                 "hypotheses": ",".join(v.hypotheses), "source": v.source, "derive": v.derive or "",
                 "bounds": v.bounds, "core": v.core, "nominal": v.nominal, "notes": v.notes} for v in self]
        return pd.DataFrame(rows).set_index("name")


def _check_entry(name: str, entry, where: str) -> Variable:
    if not _NAME.match(str(name)):
        raise CatalogError(f"{where}: variable name {name!r} must be lower_snake_case")
    if not isinstance(entry, dict):
        raise CatalogError(f"{where}: entry {name!r} must be a mapping of fields, got {type(entry).__name__}")
    missing = [k for k in _REQUIRED if k not in entry]
    if missing:
        raise CatalogError(f"{where}: variable {name!r} lacks required field(s) {', '.join(missing)}")
    unknown = sorted(set(entry) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        import difflib

        hints = [f"{u} (did you mean {difflib.get_close_matches(u, _REQUIRED + _OPTIONAL, n=1)[0]}?)"
                 if difflib.get_close_matches(u, _REQUIRED + _OPTIONAL, n=1) else u for u in unknown]
        raise CatalogError(f"{where}: variable {name!r} has unknown field(s) {', '.join(hints)}")
    for key in ("label", "unit", "source"):
        if not isinstance(entry[key], str) or not entry[key].strip():
            raise CatalogError(f"{where}: variable {name!r}: {key} must be a non-empty string")
    if entry["concept"] not in CONCEPTS:
        raise CatalogError(f"{where}: variable {name!r}: concept {entry['concept']!r} is not one of {', '.join(CONCEPTS)}")
    if entry["bounds"] not in BOUNDS:
        raise CatalogError(f"{where}: variable {name!r}: bounds {entry['bounds']!r} is not one of {', '.join(BOUNDS)}")
    hyps = entry["hypotheses"]
    if not isinstance(hyps, list) or any(h not in HYPOTHESES for h in hyps):
        raise CatalogError(f"{where}: variable {name!r}: hypotheses must be a list drawn from {', '.join(HYPOTHESES)}, got {hyps!r}")
    for key in ("core", "nominal"):
        if key in entry and not isinstance(entry[key], bool):
            raise CatalogError(f"{where}: variable {name!r}: {key} must be true or false, got {entry[key]!r}")
    derive = entry.get("derive")
    if derive is not None and not isinstance(derive, str):
        raise CatalogError(f"{where}: variable {name!r}: derive must be a string such as log(gdp_pc)")
    notes = entry.get("notes", "") or ""
    return Variable(name=name, label=entry["label"].strip(), unit=entry["unit"].strip(), concept=entry["concept"],
                    hypotheses=tuple(hyps), source=entry["source"].strip(), bounds=entry["bounds"],
                    core=entry["core"], derive=derive, nominal=bool(entry.get("nominal", False)), notes=str(notes).strip())


def _topological(variables: dict[str, Variable], where: str) -> tuple[str, ...]:
    from fiproxy.data.transforms import TRANSFORMS

    for v in variables.values():
        if v.derive is None:
            continue
        try:
            fname, args = parse_derive(v.derive)
        except CatalogError as exc:
            raise CatalogError(f"{where}: variable {v.name!r}: {exc}") from None
        if fname not in TRANSFORMS:
            raise CatalogError(f"{where}: variable {v.name!r}: unknown transformation {fname!r}; known: {', '.join(sorted(TRANSFORMS))}")
        for a in args:
            if isinstance(a, str) and a not in variables:
                raise CatalogError(f"{where}: variable {v.name!r} derives from {a!r}, which is not in the catalog")
        if v.user_supplied:
            raise CatalogError(f"{where}: variable {v.name!r} is user-supplied and cannot also have a derivation")
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str, path: tuple[str, ...]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise CatalogError(f"{where}: derivation cycle {' -> '.join(path + (name,))}")
        state[name] = 1
        for dep in variables[name].inputs:
            visit(dep, path + (name,))
        state[name] = 2
        if variables[name].derive is not None:
            order.append(name)

    for name in variables:
        visit(name, ())
    return tuple(order)


def catalog_from_dict(doc, where: str = "<dict>") -> Catalog:
    """Build and check a catalog from the parsed YAML document."""
    if not isinstance(doc, dict) or "variables" not in doc:
        raise CatalogError(f"{where}: expected a mapping with a 'variables' key")
    extra = sorted(set(doc) - {"version", "variables"})
    if extra:
        raise CatalogError(f"{where}: unknown top-level key(s) {', '.join(extra)} (allowed: version, variables)")
    entries = doc["variables"]
    if not isinstance(entries, dict) or not entries:
        raise CatalogError(f"{where}: 'variables' must be a non-empty mapping name -> fields")
    variables = {str(n): _check_entry(str(n), e, where) for n, e in entries.items()}
    order = _topological(variables, where)
    return Catalog(variables=variables, path=where, version=int(doc.get("version", 1)), _order=order)


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML loader that rejects a variable defined twice (plain YAML keeps the last silently)."""


def _construct_mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise CatalogError(f"duplicate key {key!r} at line {key_node.start_mark.line + 1}")
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


@functools.lru_cache(maxsize=8)
def _load_cached(path: str, mtime: float) -> Catalog:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogError(f"variable catalog {path} not found") from None
    try:
        doc = yaml.load(text, Loader=_UniqueKeyLoader)
    except CatalogError as exc:
        raise CatalogError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path}: not valid YAML: {exc}") from None
    return catalog_from_dict(doc, where=str(path))


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Read and check the variable catalog (default ``data/catalog.yaml``).

    Raises :class:`CatalogError` naming the variable and field at fault.
    """
    p = Path(path) if path is not None else CATALOG_YAML
    mtime = p.stat().st_mtime if p.exists() else 0.0
    return _load_cached(str(p.resolve()), mtime)
