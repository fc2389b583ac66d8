"""Declared notebook parameters and their validation before execution.

papermill accepts a misspelt parameter silently (it logs "Passed unknown
parameter", injects it and runs on the defaults). fiproxy reads each notebook's
``parameters`` cell itself and rejects unknown names and wrong types before any
kernel starts.
"""

from __future__ import annotations

import ast
import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Parameter", "ParameterError", "declared_parameters", "validate_parameters", "read_notebook"]


class ParameterError(ValueError):
    """A notebook parameter is unknown or has the wrong type."""


@dataclass(frozen=True)
class Parameter:
    name: str
    default: Any
    type: type | None  # None: any type accepted (default is None or not a literal)
    comment: str = ""


def read_notebook(path: str | Path):
    """Read a jupytext percent-format ``.py`` (or ``.ipynb``) notebook into nbformat."""
    import jupytext

    nb = jupytext.read(str(path))
    nb.metadata["kernelspec"] = {"name": "fiproxy", "display_name": "fiproxy (.venv)", "language": "python"}
    nb.metadata.setdefault("language_info", {"name": "python"})
    return nb


def _parameters_cell(nb, path) -> str:
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            return cell.source
    raise ParameterError(f"{path}: no cell tagged 'parameters' (write `# %% tags=[\"parameters\"]`)")


def declared_parameters(path: str | Path) -> dict[str, Parameter]:
    """Parameters declared in a notebook's ``parameters`` cell, with defaults and types."""
    nb = read_notebook(path)
    src = _parameters_cell(nb, path)
    tree = ast.parse(src)
    lines = src.splitlines()
    out: dict[str, Parameter] = {}
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            target, value = node.target.id, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target, value = node.targets[0].id, node.value
        else:
            continue
        try:
            default = ast.literal_eval(value) if value is not None else None
        except ValueError:
            default = None
        line = lines[node.lineno - 1]
        comment = line.split("#", 1)[1].strip() if "#" in line else ""
        out[target] = Parameter(target, default, None if default is None else type(default), comment)
    return out


def _type_ok(expected: type | None, value: Any) -> bool:
    if expected is None or value is None:
        return True
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


def validate_parameters(path: str | Path, params: dict[str, Any]) -> dict[str, Parameter]:
    """Raise :class:`ParameterError` unless every name is declared and every type matches."""
    declared = declared_parameters(path)
    problems = []
    for name, value in params.items():
        if name not in declared:
            close = difflib.get_close_matches(name, list(declared), n=3, cutoff=0.5)
            hint = f" — did you mean {', '.join(close)}?" if close else ""
            problems.append(f"unknown parameter {name!r}{hint}")
        elif not _type_ok(declared[name].type, value):
            exp = declared[name].type.__name__
            problems.append(f"parameter {name!r} must be {exp}, got {type(value).__name__} ({value!r})")
    if problems:
        valid = ", ".join(f"{p.name} ({p.type.__name__ if p.type else 'any'})" for p in declared.values())
        raise ParameterError(f"{Path(path).name}: " + "; ".join(problems) + f". Valid parameters: {valid}")
    return declared
