"""Analysis specs: every shipped spec validates; malformed specs give errors naming file and field."""

from __future__ import annotations

import pytest
import yaml

from fiproxy.pipeline.specs import SpecError, list_specs, load_spec


def test_every_shipped_spec_is_valid_and_covers_the_hypotheses():
    specs = [load_spec(p) for p in list_specs()]
    assert {s["hypothesis"] for s in specs} >= {"H1", "H2", "H3", "H4", "H5", "SPATIAL", "POLICY", "ROBUSTNESS"}
    h1 = load_spec("h1_cost_access")
    assert {m["estimator"] for m in h1["models"]} >= {"twfe", "iv", "mediation"}
    assert load_spec("h2_fintech_default")["sign"] == "two-sided"


def _write(tmp_path, spec: dict, name: str = "bad"):
    p = tmp_path / f"{name}.yaml"
    p.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return p


BASE = {"id": "bad", "hypothesis": "H1", "title": "t", "question": "q", "outcome": "loans_gdp",
        "treatment": "dfi_index", "models": [{"id": "m", "estimator": "twfe"}]}


@pytest.mark.parametrize("change, message", [
    ({"outcome": "loans_gpd"}, r"outcome: unknown variable 'loans_gpd' \(did you mean \['loans_gdp'"),
    ({"hypothesis": "H9"}, r"hypothesis: 'H9' is not one of"),
    ({"models": [{"id": "m", "estimator": "probit"}]}, r"models.0: unknown estimator 'probit'"),
    ({"models": [{"id": "m", "estimator": "iv", "instruments": "z"}]}, r"models.0: 'z' is not of type 'array'"),
    ({"models": [{"id": "m", "estimator": "twfe", "B": 9}]}, r"Additional properties are not allowed \('B'"),
    ({"vcov": {"CRV2": "prov_code"}}, r"vcov"),
    ({"colour": "red"}, r"\(top level\): Additional properties"),
    ({"models": [{"id": "m", "estimator": "twfe"}, {"id": "m", "estimator": "twfe"}]}, "model ids must be unique"),
])
def test_bad_specs_are_rejected_with_field_names(tmp_path, change, message):
    with pytest.raises(SpecError, match=message) as e:
        load_spec(_write(tmp_path, {**BASE, **change}))
    assert str(e.value).startswith("bad.yaml: ")


def test_missing_required_field_and_wrong_file_name(tmp_path):
    spec = dict(BASE)
    del spec["treatment"]
    with pytest.raises(SpecError, match="'treatment' is a required property"):
        load_spec(_write(tmp_path, spec))
    with pytest.raises(SpecError, match="must equal the file name 'other'"):
        load_spec(_write(tmp_path, BASE, name="other"))


def test_unknown_spec_name_suggests_close_ones():
    with pytest.raises(SpecError, match="did you mean \\['h1_cost_access'\\]"):
        load_spec("h1_cost_acess")
