"""Variable catalog: the shipped YAML is complete and consistent; malformed catalogs fail with clear errors."""

from __future__ import annotations

import textwrap

import pytest

from fiproxy.data.catalog import CONCEPTS, CatalogError, catalog_from_dict, load_catalog


def test_shipped_catalog_covers_every_concept_of_the_hypotheses():
    cat = load_catalog()
    for concept in ("access", "cost", "payment", "sme_credit", "fintech_share", "default", "divide", "control"):
        assert cat.by_concept(concept), concept
    assert {"dfi_breadth", "loans_gdp", "bank_outlets_pc"} <= set(cat.by_concept("access"))
    assert cat.by_concept("cost") == ["dfi_digitization", "ln_dfi_digitization"]
    assert {"dfi_payment", "mobile_internet_pc"} <= set(cat.by_concept("payment"))
    assert {"internet_penetration", "urbanization", "old_age_share"} <= set(cat.by_concept("divide"))
    assert {"ln_gdp_pc", "secondary_share", "fiscal_gdp", "marketization"} <= set(cat.by_concept("control"))
    assert cat["npl_ratio"].user_supplied and cat["npl_ratio"].concept == "default"
    assert all(v.concept in CONCEPTS for v in cat)
    for tag in ("H1", "H2", "H3", "H4", "H5"):
        assert cat.for_hypothesis(tag), tag


def test_derivations_come_after_their_inputs():
    cat = load_catalog()
    order = cat.derivation_order()
    assert set(order) == {v.name for v in cat if v.derive}
    seen = {v.name for v in cat if not v.derive}
    for name in order:
        assert set(cat[name].inputs) <= seen, name
        seen.add(name)
    assert cat["loans_gdp"].inputs == ("loans",)


def test_unknown_name_suggests_close_match():
    with pytest.raises(KeyError, match="did you mean loans_gdp"):
        load_catalog()["loan_gdp"]


def _doc(**entry):
    base = {"label": "x", "unit": "u", "concept": "access", "hypotheses": ["H1"], "source": "s", "bounds": "none",
            "core": False}
    base.update(entry)
    return {"version": 1, "variables": {"a": {**base, "derive": None} if "derive" not in entry else base,
                                       "x": {k: v for k, v in base.items() if k != "derive"}}}


@pytest.mark.parametrize("entry, message", [
    ({"concept": "acess"}, "variable 'a': concept 'acess' is not one of"),
    ({"bounds": "positive"}, "bounds 'positive' is not one of"),
    ({"hypotheses": ["H9"]}, "hypotheses must be a list drawn from"),
    ({"core": "yes"}, "core must be true or false"),
    ({"unti": "u"}, r"unknown field\(s\) unti \(did you mean unit\?\)"),
    ({"derive": "logg(x)"}, "unknown transformation 'logg'"),
    ({"derive": "log(nope)"}, "derives from 'nope', which is not in the catalog"),
    ({"derive": "log x"}, "is not of the form name"),
    ({"label": ""}, "label must be a non-empty string"),
])
def test_malformed_entries_are_named(entry, message):
    doc = _doc(**entry)
    if "derive" in entry:
        doc["variables"]["a"]["derive"] = entry["derive"]
    else:
        doc["variables"]["a"].pop("derive", None)
    with pytest.raises(CatalogError, match=message):
        catalog_from_dict(doc)


def test_missing_field_and_cycle_and_user_supplied_derivation():
    with pytest.raises(CatalogError, match=r"variable 'a' lacks required field\(s\) unit"):
        catalog_from_dict({"variables": {"a": {"label": "x", "concept": "access", "hypotheses": [], "source": "s",
                                               "bounds": "none", "core": False}}})
    v = {"label": "x", "unit": "u", "concept": "access", "hypotheses": [], "source": "s", "bounds": "none", "core": False}
    with pytest.raises(CatalogError, match="derivation cycle"):
        catalog_from_dict({"variables": {"a": {**v, "derive": "log(b)"}, "b": {**v, "derive": "log(a)"}}})
    with pytest.raises(CatalogError, match="user-supplied and cannot also have a derivation"):
        catalog_from_dict({"variables": {"a": {**v, "source": "user-supplied", "derive": "log(b)"}, "b": v}})
    with pytest.raises(CatalogError, match="unknown top-level key"):
        catalog_from_dict({"variables": {"a": v}, "extra": 1})


def test_yaml_file_errors(tmp_path):
    dup = tmp_path / "dup.yaml"
    dup.write_text(textwrap.dedent("""\
        variables:
          a: {label: x, unit: u, concept: access, hypotheses: [], source: s, bounds: none, core: false}
          a: {label: y, unit: u, concept: access, hypotheses: [], source: s, bounds: none, core: false}
        """))
    with pytest.raises(CatalogError, match="duplicate key 'a' at line 3"):
        load_catalog(dup)
    bad = tmp_path / "bad.yaml"
    bad.write_text("variables: [unclosed\n")
    with pytest.raises(CatalogError, match="not valid YAML"):
        load_catalog(bad)
    with pytest.raises(CatalogError, match="not found"):
        load_catalog(tmp_path / "absent.yaml")
