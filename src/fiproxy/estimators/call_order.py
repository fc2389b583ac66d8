"""Guard for the argument order of formula-based estimators.

Every formula-based estimator takes the formula first and the data second,
as R fixest's ``feols(fml, data)`` and :func:`fiproxy.twfe`. ``threshold``,
``spatial_panel`` and ``lm_tests`` used to take the data first; a call in the
old order is refused with the corrected call instead of being reordered, so
that code written for either order never runs with swapped meaning.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["require_formula_first"]


def require_formula_first(func: str, formula, data, rest: str = "") -> None:
    """Raise ``TypeError`` if ``func`` was called as ``func(data, formula, ...)``.

    ``rest`` is the text of the further positional arguments shown in the
    corrected call (e.g. ``", W"``).
    """
    if isinstance(formula, pd.DataFrame) and isinstance(data, str):
        raise TypeError(
            f"{func}() takes the formula first: the argument order changed from "
            f"{func}(data, formula{rest}, ...) to {func}(formula, data{rest}, ...); "
            f"call {func}({data!r}, data{rest}, ...)"
        )
