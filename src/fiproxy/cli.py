"""``fiproxy`` command line: ``data`` (build / inspect a panel) and the pipeline commands
``run``, ``paper``, ``trace``, ``verify`` (registered by :mod:`fiproxy.pipeline.commands`).

Exit codes: 0 success; 1 the panel failed validation (``data --validate``) or a pipeline step
failed; 2 invalid arguments or unreadable input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["main", "build_parser"]


def _add_data(sub) -> None:
    p = sub.add_parser("data", help="build the province panel (SIMULATED default, or real sources with --data-dir) "
                                    "and print its summary")
    p.add_argument("--data-dir", type=Path, default=None, metavar="DIR",
                   help="folder of real source files laid out like ../shared/data (default: the SIMULATED panel)")
    p.add_argument("--summary", action="store_true", help="print the panel summary (the default action)")
    p.add_argument("--years", type=int, nargs=2, default=None, metavar=("FIRST", "LAST"),
                   help="years to keep (default 2011 2023 simulated, 2011 2021 real)")
    p.add_argument("--seed", type=int, default=None, help="seed of the simulated panel")
    p.add_argument("--balanced", action="store_true", help="keep only provinces complete in the core variables")
    p.add_argument("--validate", action="store_true", help="exit with status 1 when validation finds errors")
    p.add_argument("--out", type=Path, default=None, metavar="FILE.csv",
                   help="write the panel as CSV and its metadata (sources, releases, hashes, gaps, truth) as FILE.meta.json")
    p.set_defaults(func=cmd_data)


def _build(args):
    from fiproxy.data import build_panel, simulate_panel

    if args.data_dir is not None:
        if args.seed is not None:
            raise ValueError("--seed applies to the simulated panel only; drop it or drop --data-dir")
        from fiproxy.data.real import REAL_YEARS

        return build_panel(data_dir=args.data_dir, years=tuple(args.years or REAL_YEARS), balanced=args.balanced)
    from fiproxy.data.simulate import DEFAULT_SEED, YEARS

    panel = simulate_panel(seed=DEFAULT_SEED if args.seed is None else args.seed, years=tuple(args.years or YEARS))
    if args.balanced:
        print("note: the simulated panel is complete; --balanced changes nothing", file=sys.stderr)
    return panel


def _write(panel, out: Path) -> None:
    from fiproxy.pipeline.atomic import write_json, write_text

    write_text(out, panel.data.to_csv(index=False))
    gaps = panel.gap_summary()
    write_json(out.with_suffix(".meta.json"), {
        "label": panel.label, "simulated": panel.simulated, "files": panel.files,
        "columns": {c: panel.meta[c].as_dict() for c in panel.variables},
        "gaps": {v: {"missing": int(r["missing"]), "reasons": r["reasons"]} for v, r in gaps.iterrows()},
        "truth": panel.truth, "notes": list(panel.notes),
    })


def cmd_data(args) -> int:
    from fiproxy.data import validate_panel
    from fiproxy.data.catalog import CatalogError
    from fiproxy.data.sources.base import SourceFormatError

    try:
        panel = _build(args)
    except (FileNotFoundError, SourceFormatError, CatalogError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(panel.summary())
    if args.out is not None:
        _write(panel, args.out)
        print(f"wrote {args.out} and {args.out.with_suffix('.meta.json')}" + (" (SIMULATED)" if panel.simulated else ""))
    if args.validate and not validate_panel(panel).ok:
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    from fiproxy import __version__

    parser = argparse.ArgumentParser(prog="fiproxy", description="Digital finance and financial inclusion in China's "
                                     "provinces: data, estimators, reproducible paper.")
    parser.add_argument("--version", action="version", version=f"fiproxy {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _add_data(sub)
    from fiproxy.pipeline.commands import add_commands

    add_commands(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
