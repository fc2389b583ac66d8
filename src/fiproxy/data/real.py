"""Recipe for the real province panel from a folder laid out like ``../shared/data``.

It knows which file and column carries which catalog variable:

==========================================================  ==============================================
file (under ``data_dir``)                                   catalog variables
==========================================================  ==============================================
pku_dfiic/pku_dfiic_province_2011_2023.csv                  dfi_index, dfi_breadth, dfi_depth,
                                                            dfi_digitization, dfi_payment, dfi_credit
cn_prov_deposits_loans/cn_prov_deposits_loans_2000_2023.csv loans, deposits
cn_prov_gdp/cn_prov_gdp_1952_2021.csv                       gdp (first release), gdp_pc,
                                                            secondary_share_pct, tertiary_share_pct
cn_prov_population_fiscal/...marketization_2000_2023.csv    population, urbanization, marketization
cn_prov_population_fiscal/...fiscal_expenditure_2007_2023   budget_expenditure
cn_prov_banking_insurance/...bank_outlets_by_type...        bank_outlets_pc (bank type ``total`` rows)
cn_prov_banking_insurance/...insurance_2004_2019.csv        insurance_density
cn_prov_digital_infra/cn_prov_digital_infra_2013_2022.csv   mobile_internet_users, broadband_ports,
                                                            ecommerce_sales
==========================================================  ==============================================

GDP comes from the first-release NBS file only (the other files carry revised or mixed GDP
vintages, which are not read). NPL ratios, the fintech credit share, the old-age share and
the pilot schedule have no shipped source: the panel reports them missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


__all__ = ["RECIPE", "SourceSpec", "load_real_sources", "build_real_panel", "REAL_YEARS"]

REAL_YEARS = (2011, 2021)


@dataclass(frozen=True)
class SourceSpec:
    """One shipped file: where it is, what it is called, its release, and column -> catalog variable."""

    name: str
    path: str
    release: str
    mapping: dict[str, str]
    publisher: str
    row_filter: tuple[str, str] | None = None  # (column, value) to keep, e.g. bank type "total"


RECIPE: tuple[SourceSpec, ...] = (
    SourceSpec("pku_dfiic", "pku_dfiic/pku_dfiic_province_2011_2023.csv",
               "PKU-DFIIC 2011-2023 (index report 2024-10, files 2026-03)",
               {"index_aggregate": "dfi_index", "coverage_breadth": "dfi_breadth", "usage_depth": "dfi_depth",
                "digitization_level": "dfi_digitization", "payment": "dfi_payment", "credit": "dfi_credit"},
               "Institute of Digital Finance, Peking University (Guo et al. 2020)"),
    SourceSpec("cn_prov_deposits_loans", "cn_prov_deposits_loans/cn_prov_deposits_loans_2000_2023.csv",
               "provincial yearbooks / bulletins 2000-2023 (workbook of 2026-01)",
               {"loans_balance_100m_yuan": "loans", "deposits_balance_100m_yuan": "deposits"},
               "PBoC regional credit statistics via provincial statistical yearbooks"),
    SourceSpec("cn_prov_gdp", "cn_prov_gdp/cn_prov_gdp_1952_2021.csv",
               "NBS first release (2021/2022 yearbooks, before the 2023 census revision)",
               {"gdp_100m_yuan": "gdp", "gdp_per_capita_yuan": "gdp_pc", "secondary_share_pct": "secondary_share_pct",
                "tertiary_share_pct": "tertiary_share_pct"},
               "National Bureau of Statistics, China Statistical Yearbook"),
    SourceSpec("cn_prov_population", "cn_prov_population_fiscal/cn_prov_population_urbanization_marketization_2000_2023.csv",
               "NBS yearbooks; NERI marketization report 2021 (scores to 2019)",
               {"population_10k": "population", "urbanization_rate": "urbanization",
                "neri_marketization_index": "marketization"},
               "NBS / provincial yearbooks; NERI (Wang, Fan & Hu 2021)"),
    SourceSpec("cn_prov_fiscal", "cn_prov_population_fiscal/cn_prov_fiscal_expenditure_2007_2023.csv",
               "provincial final accounts 2007-2023",
               {"general_budget_expenditure_100m_yuan": "budget_expenditure"},
               "Ministry of Finance / provincial yearbooks"),
    SourceSpec("cn_prov_bank_outlets", "cn_prov_banking_insurance/cn_prov_bank_outlets_by_type_2004_2020.csv",
               "PBoC Regional Financial Performance Report appendix tables 2004-2020",
               {"outlets_per_10k_persons": "bank_outlets_pc"},
               "People's Bank of China", row_filter=("bank_type_en", "total")),
    SourceSpec("cn_prov_insurance", "cn_prov_banking_insurance/cn_prov_insurance_2004_2019.csv",
               "insurance regulator statistics 2004-2019",
               {"insurance_density_yuan_per_capita": "insurance_density"},
               "CIRC / CBIRC"),
    SourceSpec("cn_prov_digital_infra", "cn_prov_digital_infra/cn_prov_digital_infra_2013_2022.csv",
               "China Statistical Yearbook 2014-2023 (panel of 2026-05)",
               {"mobile_internet_users_10k": "mobile_internet_users", "broadband_access_ports_10k": "broadband_ports",
                "ecommerce_sales_100m_yuan": "ecommerce_sales"},
               "National Bureau of Statistics, China Statistical Yearbook"),
)


def _meta(spec: SourceSpec) -> dict:
    from fiproxy.data.catalog import load_catalog
    from fiproxy.data.sources.base import ColumnMeta

    cat = load_catalog()
    return {var: ColumnMeta(name=var, unit=cat[var].unit, source=f"{spec.publisher}; {spec.path}, column {col}",
                            release=spec.release, description=cat[var].label)
            for col, var in spec.mapping.items()}


def load_real_sources(data_dir) -> list:
    """Read every shipped province source under ``data_dir`` as ``SourceTable``s named by catalog variable."""
    from fiproxy.data.sources.tidy import load_tidy_csv

    root = Path(data_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder {root} does not exist (expected a folder laid out like ../shared/data)")
    missing = [s.path for s in RECIPE if not (root / s.path).is_file()]
    if missing:
        raise FileNotFoundError(f"{root}: missing source file(s) {', '.join(missing)}")
    tables = []
    for spec in RECIPE:
        where = dict([spec.row_filter]) if spec.row_filter else None
        tables.append(load_tidy_csv(root / spec.path, mapping=spec.mapping, meta=_meta(spec), release=spec.release,
                                    name=spec.name, where=where))
    return tables


def build_real_panel(data_dir, years=REAL_YEARS, **kwargs):
    """:func:`fiproxy.data.build_panel` on the shipped real sources (default 2011-2021)."""
    from fiproxy.data.assemble import build_panel

    return build_panel(data_dir=data_dir, years=years, **kwargs)
