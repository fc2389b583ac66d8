"""The panel a notebook analyses: the SIMULATED default or the real panel from a data folder."""

from __future__ import annotations

__all__ = ["load_panel"]


def load_panel(data_dir: str = "", seed: int = 0, years: tuple[int, int] = (2011, 2021)):
    """``simulate_panel(seed)`` when ``data_dir`` is empty, else ``build_panel(data_dir=...)``."""
    if data_dir:
        from fiproxy.data import build_panel

        return build_panel(data_dir=data_dir, years=years)
    from fiproxy.data import simulate_panel

    return simulate_panel(seed=seed)
