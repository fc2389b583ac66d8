"""Panel assembly: merge source tables on (prov_code, year), derive catalog variables, report gaps.

:func:`build_panel` puts every source column on the full province x year grid (the 31 registry
provinces plus any other code a source carries, so that validation can flag it), adds the
registry distance to Hangzhou, evaluates the catalog derivations through the one registry of
transformations in :mod:`fiproxy.data.transforms` (plus any the caller asks for, and real
values when a price index is supplied), and returns a :class:`Panel`: the data, one metadata
record per column (source, release, unit, transformation, concept), the sha256 of every input
file and the table of missing cells with the reason each is missing. Nothing is imputed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fiproxy.data.catalog import Catalog, Variable, load_catalog, parse_derive
from fiproxy.data.transforms import PRICE_INDEX, apply_transform, default_name

__all__ = ["Panel", "PanelColumn", "build_panel", "KEYS"]

KEYS = ("prov_code", "year")
GAP_COLUMNS = ("variable", "prov_code", "year", "reason")


@dataclass(frozen=True)
class PanelColumn:
    """Metadata of one panel column: catalog facts plus where this panel's values came from."""

    name: str
    label: str
    unit: str
    concept: str | None
    hypotheses: tuple[str, ...]
    source: str
    release: str
    transformation: str
    description: str = ""
    notes: str = ""
    core: bool = False
    bounds: str = "none"
    source_unit: str = ""

    def as_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


@dataclass
class Panel:
    """A province x year panel with its provenance.

    ``data`` holds ``prov_code``, ``year`` and the variables, sorted by (prov_code, year);
    ``meta`` maps every variable to a :class:`PanelColumn`; ``files`` maps input paths to their
    sha256; ``gaps`` lists every missing cell (variable, prov_code, year, reason); ``truth``
    holds the true effects of a simulated panel (empty for real data).
    """

    data: pd.DataFrame
    meta: dict[str, PanelColumn]
    files: dict[str, str]
    gaps: pd.DataFrame
    simulated: bool = False
    truth: dict = field(default_factory=dict)
    label: str = ""
    notes: tuple[str, ...] = ()

    @property
    def variables(self) -> list[str]:
        return [c for c in self.data.columns if c not in KEYS]

    @property
    def years(self) -> tuple[int, int]:
        y = self.data["year"]
        return (int(y.min()), int(y.max())) if len(y) else (0, 0)

    @property
    def n_provinces(self) -> int:
        return int(self.data["prov_code"].nunique())

    def to_frame(self) -> pd.DataFrame:
        """Copy of the data; ``attrs`` carry the label, the SIMULATED flag and column metadata."""
        out = self.data.copy()
        out.attrs = {"label": self.label, "simulated": self.simulated,
                     "meta": {k: v.as_dict() for k, v in self.meta.items()}}
        return out

    def meta_frame(self) -> pd.DataFrame:
        """One row per variable: unit, concept, source, release, transformation."""
        rows = [self.meta[v].as_dict() for v in self.variables]
        df = pd.DataFrame(rows).set_index("name")
        df["hypotheses"] = df["hypotheses"].map(",".join)
        return df

    def gap_summary(self) -> pd.DataFrame:
        """Missing cells per variable with the reasons (one row per variable that has gaps)."""
        if self.gaps.empty:
            return pd.DataFrame(columns=["missing", "cells", "share", "reasons"]).rename_axis("variable")
        cells = len(self.data)
        g = self.gaps.groupby("variable", sort=False)
        out = pd.DataFrame({
            "missing": g.size(),
            "reasons": g["reason"].agg(lambda r: "; ".join(pd.unique(r))),
        })
        out.insert(1, "cells", cells)
        out.insert(2, "share", out["missing"] / cells)
        return out

    def summary(self, max_rows: int | None = None) -> str:
        from fiproxy.data.summary import panel_summary

        return panel_summary(self, max_rows=max_rows)

    def __repr__(self) -> str:
        first, last = self.years
        return (f"<Panel {self.label!r}: {self.n_provinces} provinces x {first}-{last}, "
                f"{len(self.variables)} variables{' SIMULATED' if self.simulated else ''}>")


# ------------------------------------------------------------------------------------------------
def _registry_source():
    """The registry's distance to Hangzhou as a source table (time-invariant, repeated per year later)."""
    from fiproxy.data import registry
    from fiproxy.data.sources.base import sha256_file

    prov = registry.provinces()
    path = Path(registry.REGISTRY_CSV).resolve()
    return prov["dist_hangzhou_km"].astype("float64"), {str(path): sha256_file(path)}


def _catalog_meta(var: Variable, **kw) -> PanelColumn:
    base = dict(name=var.name, label=var.label, unit=var.unit, concept=var.concept, hypotheses=var.hypotheses,
                source=var.source, release="", transformation="as published", description=var.label,
                notes=var.notes, core=var.core, bounds=var.bounds)
    base.update(kw)
    return PanelColumn(**base)


def _coerce_deflator(deflator) -> pd.DataFrame:
    """Price index as a frame with ``year`` (and optionally ``prov_code``) and ``price_index``."""
    from fiproxy.data.sources.base import SourceTable

    if isinstance(deflator, SourceTable):
        if len(deflator.value_columns) != 1:
            raise ValueError(f"deflator source {deflator.name!r} must have exactly one value column (the price index), "
                             f"has {deflator.value_columns}")
        return deflator.data.rename(columns={deflator.value_columns[0]: PRICE_INDEX})
    if isinstance(deflator, pd.Series):
        if deflator.index.name != "year" and not np.issubdtype(deflator.index.dtype, np.integer):
            raise ValueError("a deflator Series must be indexed by year (price index, base year = 100)")
        return pd.DataFrame({"year": deflator.index.astype("int64"), PRICE_INDEX: deflator.to_numpy(dtype="float64")})
    if isinstance(deflator, pd.DataFrame):
        if "year" not in deflator.columns:
            raise ValueError(f"deflator frame needs a 'year' column; has {list(deflator.columns)}")
        vals = [c for c in deflator.columns if c not in KEYS]
        if len(vals) != 1:
            raise ValueError(f"deflator frame must have exactly one value column besides prov_code/year, has {vals}")
        return deflator.rename(columns={vals[0]: PRICE_INDEX})
    raise TypeError(f"deflator must be a Series indexed by year, a DataFrame or a SourceTable, got {type(deflator).__name__}")


def _parse_requests(derive) -> list[tuple[str, str, tuple]]:
    """``["lag(dfi_index)", {"x": "log(y)"}]`` -> [(output name, function, args)]."""
    if derive is None:
        return []
    if isinstance(derive, (str, dict)):
        derive = [derive]
    out: list[tuple[str, str, tuple]] = []
    for item in derive:
        pairs = item.items() if isinstance(item, dict) else [(None, item)]
        for name, expr in pairs:
            if not isinstance(expr, str):
                raise TypeError(f"derive entries are strings such as 'lag(dfi_index, 1)', got {expr!r}")
            fn, args = parse_derive(expr)
            out.append((name or default_name(fn, args), fn, args))
    return out


def _expr(fn: str, args: tuple) -> str:
    return f"{fn}({', '.join(str(a) for a in args)})"


class _Assembler:
    """Merges source tables on the grid and keeps, per column, its metadata and gap reasons."""

    def __init__(self, catalog: Catalog, provinces: np.ndarray, years: np.ndarray):
        self.catalog = catalog
        self.grid = pd.MultiIndex.from_product([provinces, years], names=list(KEYS))
        self.frame = self.grid.to_frame(index=False)
        self.frame["prov_code"] = self.frame["prov_code"].astype("int64")
        self.frame["year"] = self.frame["year"].astype("int64")
        self.meta: dict[str, PanelColumn] = {}
        # per column: callable(row mask) -> reason strings for its missing cells
        self.reason: dict[str, object] = {}
        self.files: dict[str, str] = {}
        self.notes: list[str] = []
        self.columns: dict[str, np.ndarray] = {}

    def add_source(self, table) -> None:
        if table.level != "province":
            raise ValueError(f"source {table.name!r} is at {table.level} level; aggregate it to provinces first")
        data = table.data.set_index(list(KEYS))
        for col in table.value_columns:
            if col in self.columns:
                raise ValueError(f"column {col!r} comes from two sources ({self.meta[col].source!r} and {table.name!r}); "
                                 f"keep one (sources and releases are never mixed)")
            values = data[col].reindex(self.grid).to_numpy(dtype="float64")
            self.columns[col] = values
            cm = table.columns[col]
            present = data[col].dropna()
            years = present.index.get_level_values("year")
            span = (int(years.min()), int(years.max())) if len(years) else None
            if col in self.catalog:
                self.meta[col] = _catalog_meta(self.catalog[col], source=f"{table.name}: {cm.source}", release=cm.release,
                                               transformation=cm.transformation, description=cm.description or self.catalog[col].label,
                                               source_unit=cm.unit)
            else:
                self.meta[col] = PanelColumn(name=col, label=cm.description or col, unit=cm.unit, concept=None, hypotheses=(),
                                             source=f"{table.name}: {cm.source}", release=cm.release,
                                             transformation=cm.transformation, description=cm.description,
                                             notes="not in the variable catalog", source_unit=cm.unit)
                self.notes.append(f"column {col!r} from {table.name!r} is not in the variable catalog (kept, no concept)")
            self.reason[col] = self._source_reason(table.name, span)
        self.files.update(table.files)
        self.notes.extend(f"{table.name}: {n}" for n in table.notes)

    def _source_reason(self, name: str, span):
        year = self.frame["year"].to_numpy()

        def reason(mask: np.ndarray) -> np.ndarray:
            if span is None:
                return np.full(mask.sum(), f"source {name} has no values for this variable", dtype=object)
            y = year[mask]
            outside = (y < span[0]) | (y > span[1])
            return np.where(outside, f"outside the years of {name} ({span[0]}-{span[1]})", f"missing in {name}").astype(object)

        return reason

    def add_registry(self) -> None:
        if "dist_hangzhou" not in self.catalog or "dist_hangzhou" in self.columns:
            return
        dist, files = _registry_source()
        self.columns["dist_hangzhou"] = dist.reindex(self.frame["prov_code"].to_numpy()).to_numpy(dtype="float64")
        self.meta["dist_hangzhou"] = _catalog_meta(self.catalog["dist_hangzhou"], source="fiproxy province registry",
                                                   release="data/provinces.csv (capital coordinates, haversine)",
                                                   transformation="great-circle distance capital -> Hangzhou")
        self.reason["dist_hangzhou"] = lambda m: np.full(m.sum(), "province not in the registry", dtype=object)
        self.files.update(files)

    def add_deflator(self, deflator) -> None:
        d = _coerce_deflator(deflator)
        if d[PRICE_INDEX].le(0).any():
            raise ValueError("the price index must be positive (base year = 100)")
        keys = [k for k in KEYS if k in d.columns]
        if d.duplicated(keys).any():
            raise ValueError(f"the deflator has duplicate {keys} keys")
        left = self.frame[keys]
        self.columns[PRICE_INDEX] = left.merge(d[keys + [PRICE_INDEX]], on=keys, how="left")[PRICE_INDEX].to_numpy(dtype="float64")
        self.meta[PRICE_INDEX] = PanelColumn(name=PRICE_INDEX, label="Price index (user-supplied deflator)", unit="base year = 100",
                                             concept="base", hypotheses=(), source="user-supplied deflator", release="",
                                             transformation="as supplied", description="price index used by deflate()")
        self.reason[PRICE_INDEX] = lambda m: np.full(m.sum(), "price index not supplied for this year", dtype=object)

    def _frame(self) -> pd.DataFrame:
        return self.frame.assign(**self.columns)

    def derive(self, name: str, fn: str, args: tuple, var: Variable | None) -> None:
        inputs = [args[0]] + (["population"] if fn == "per_capita" else ["gdp"] if fn == "ratio_to_gdp"
                              else [PRICE_INDEX] if fn == "deflate" else [])
        absent = [c for c in inputs if c not in self.columns]
        expr = _expr(fn, args)
        if absent:
            self.columns[name] = np.full(len(self.frame), np.nan)
            why = f"cannot derive {expr}: no data for {', '.join(absent)}"
            self.reason[name] = lambda m, why=why: np.full(m.sum(), why, dtype=object)
            release = ""
        else:
            frame = self.frame.assign(**{c: self.columns[c] for c in inputs})
            self.columns[name] = apply_transform(frame, fn, args).to_numpy()
            self.reason[name] = self._derived_reason(expr, inputs, fn, args)
            release = "; ".join(dict.fromkeys(f"{c}: {self.meta[c].release}" for c in inputs if self.meta[c].release))
        sources = " and ".join(dict.fromkeys(c for c in inputs))
        if var is not None:
            self.meta[name] = _catalog_meta(var, source=f"derived from {sources}", release=release, transformation=expr)
        else:
            parent = self.meta.get(args[0])
            self.meta[name] = PanelColumn(name=name, label=f"{expr}", unit=_derived_unit(fn, args, parent),
                                          concept=parent.concept if parent else None,
                                          hypotheses=parent.hypotheses if parent else (), source=f"derived from {sources}",
                                          release=release, transformation=expr, description=f"{expr} (requested derivation)",
                                          bounds="none")

    def _derived_reason(self, expr: str, inputs: list[str], fn: str, args: tuple):
        cols = {c: self.columns[c] for c in inputs}
        shifted = fn in ("lag", "lead", "growth")

        def reason(mask: np.ndarray) -> np.ndarray:
            out = np.full(mask.sum(), "", dtype=object)
            for c, v in cols.items():
                miss = np.isnan(v[mask])
                out[miss & (out == "")] = f"{expr}: input {c} missing"
            rest = out == ""
            out[rest] = (f"{expr}: the shifted year is missing or outside the data" if shifted
                         else f"{expr} undefined (e.g. log of a non-positive value or division by zero)")
            return out

        return reason

    def add_missing(self, var: Variable) -> None:
        self.columns[var.name] = np.full(len(self.frame), np.nan)
        if var.user_supplied:
            why = f"no shipped source (user-supplied series): {var.notes}" if var.notes else "no shipped source (user-supplied series)"
            src = "not supplied (user-supplied series)"
        else:
            why = f"no source table supplied for {var.name} ({var.source})"
            src = f"not supplied ({var.source})"
        self.meta[var.name] = _catalog_meta(var, source=src, release="", transformation="none (missing)")
        self.reason[var.name] = lambda m, why=why: np.full(m.sum(), why, dtype=object)


def _derived_unit(fn: str, args: tuple, parent: PanelColumn | None) -> str:
    unit = parent.unit if parent else "?"
    return {"log": f"log {unit}", "growth": "rate", "ratio_to_gdp": "ratio", "per_capita": f"{unit} per person",
            "deflate": f"{unit}, constant prices", "times_trend": f"{unit} x years"}.get(fn, unit)


def _gaps(frame: pd.DataFrame, keep: np.ndarray, reasons: dict, variables: list[str]) -> pd.DataFrame:
    """Missing cells of the kept rows; ``reasons`` work on full-grid row masks."""
    parts = []
    prov = frame["prov_code"].to_numpy()
    year = frame["year"].to_numpy()
    for v in variables:
        miss = frame[v].isna().to_numpy() & keep
        if miss.any():
            parts.append(pd.DataFrame({"variable": v, "prov_code": prov[miss], "year": year[miss],
                                       "reason": reasons[v](miss)}))
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c in KEYS else object) for c in GAP_COLUMNS})
    return pd.concat(parts, ignore_index=True).sort_values(["variable", "prov_code", "year"], kind="stable",
                                                           key=lambda s: s.map({v: i for i, v in enumerate(variables)})
                                                           if s.name == "variable" else s).reset_index(drop=True)


def _balance(frame: pd.DataFrame, keep: np.ndarray, balanced, catalog: Catalog) -> tuple[np.ndarray, list[str]]:
    """Row mask keeping only provinces complete in the balancing variables over the kept years."""
    cols = catalog.core() if balanced is True else list(balanced)
    absent = [c for c in cols if c not in frame.columns]
    if absent:
        raise KeyError(f"balanced=...: variables {absent} are not in the panel")
    sub = frame.loc[keep]
    complete = sub[cols].notna().all(axis=1).groupby(sub["prov_code"]).all()
    drop = complete.index[~complete].tolist()
    if len(drop) == len(complete):
        raise ValueError(f"balanced panel is empty: every province has a gap in {cols}; see Panel.gaps")
    notes = [f"balanced on {len(cols)} variables: dropped provinces {drop}"] if drop else []
    return keep & ~frame["prov_code"].isin(drop).to_numpy(), notes


def build_panel(sources=None, *, data_dir=None, years=(2011, 2021), derive=None, deflator=None, balanced=False,
                catalog: Catalog | str | Path | None = None) -> Panel:
    """Assemble a province x year panel from source tables.

    Parameters
    ----------
    sources
        ``SourceTable`` objects whose value columns are named after catalog variables
        (loaders take a ``mapping``); columns not in the catalog are kept without a concept.
    data_dir
        Folder laid out like ``../shared/data``: the real province sources are read with the
        recipe of :mod:`fiproxy.data.real` (added to ``sources``).
    years
        Inclusive ``(first, last)`` years of the returned panel. Lags, leads and growth rates
        use source years outside the range when the sources have them.
    derive
        Extra derivations, e.g. ``["lag(dfi_index)", "growth(gdp)", {"ln_loans": "log(loans)"}]``.
    deflator
        Price index (base year = 100) by year or by province-year: every nominal catalog
        variable present gets a ``<name>_real`` column (``deflate(name)``).
    balanced
        ``True`` keeps only provinces complete in the core catalog variables over ``years``;
        a list of variables balances on those. Dropped provinces are listed in ``notes``.

    Missing cells are never filled: they stay missing and are listed in ``Panel.gaps`` with
    the reason (outside a source's years, missing in the source, input of a derivation
    missing, no shipped source for a user-supplied series).
    """
    from fiproxy.data import registry

    cat = catalog if isinstance(catalog, Catalog) else load_catalog(catalog)
    first, last = _check_years(years)
    tables = list(sources or [])
    if data_dir is not None:
        from fiproxy.data.real import load_real_sources

        tables = load_real_sources(data_dir) + tables
    if not tables:
        raise ValueError("build_panel needs sources or data_dir (for the embedded default use simulate_panel())")

    codes = set(registry.provinces().index.astype(int))
    src_years: set[int] = set()
    for t in tables:
        codes.update(t.data["prov_code"].astype(int).unique().tolist())
        src_years.update(t.data["year"].astype(int).unique().tolist())
    lo, hi = min([first, *src_years]), max([last, *src_years])
    asm = _Assembler(cat, np.array(sorted(codes), dtype="int64"), np.arange(lo, hi + 1, dtype="int64"))
    for t in tables:
        asm.add_source(t)
    asm.add_registry()
    if deflator is not None:
        asm.add_deflator(deflator)

    for name in cat.derivation_order():
        if name not in asm.columns:
            fn, args = parse_derive(cat[name].derive)
            asm.derive(name, fn, args, cat[name])
    for var in cat:
        if var.name not in asm.columns:
            asm.add_missing(var)
    extra: list[str] = []
    if deflator is not None:
        for var in cat:
            if var.nominal and not np.isnan(asm.columns[var.name]).all():
                asm.derive(f"{var.name}_real", "deflate", (var.name,), None)
                extra.append(f"{var.name}_real")
    for name, fn, args in _parse_requests(derive):
        if name in asm.columns:
            raise ValueError(f"derived column {name!r} already exists; give the derivation another name with {{name: expr}}")
        asm.derive(name, fn, args, None)
        extra.append(name)

    order = [v.name for v in cat] + [c for c in asm.columns if c not in cat and c not in extra and c != PRICE_INDEX] + extra
    frame = asm._frame()
    keep = ((frame["year"] >= first) & (frame["year"] <= last)).to_numpy()
    notes = list(asm.notes)
    if balanced:
        keep, bal_notes = _balance(frame, keep, balanced, cat)
        notes += bal_notes
    gaps = _gaps(frame, keep, asm.reason, order)
    data = frame.loc[keep, list(KEYS) + order].reset_index(drop=True)
    label = "real province panel: " + "; ".join(
        f"{t.name} ({t.release})" if t.release else t.name for t in tables)
    return Panel(data=data, meta={c: asm.meta[c] for c in order}, files=dict(asm.files), gaps=gaps,
                 simulated=False, truth={}, label=label, notes=tuple(notes))


def _check_years(years) -> tuple[int, int]:
    try:
        first, last = (int(y) for y in years)
    except (TypeError, ValueError):
        raise ValueError(f"years must be a (first, last) pair of integers, got {years!r}") from None
    if first > last:
        raise ValueError(f"years=({first}, {last}): the first year is after the last")
    return first, last

