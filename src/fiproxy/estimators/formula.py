"""Parser for fixest-style model formulas.

Grammar (the subset of R fixest's formula language fiproxy supports)::

    formula   := depvar "~" rhs [ "|" fe ] [ "|" iv ]
    rhs       := term { ("+" | "-") term }
    term      := factor { (":" | "*") factor }   |  "1"  |  "0"
    factor    := name | l(name, k) | f(name, k) | log(name) | C(name) | i(name [, name] [, ref=v])
    fe        := fe_term { "+" fe_term } | "0"
    fe_term   := name { "^" name }            (combined fixed effect, e.g. prov_code^year)
    iv        := endog { "+" endog } "~" instr { "+" instr }

``a*b`` expands to ``a + b + a:b``; ``l(x, k)`` / ``f(x, k)`` are the k-th lag /
lead of ``x`` within the panel unit, ``k`` may be a range ``1:3``; ``C(v)`` are
treatment-coded dummies (first level is the reference) and ``i(v)`` fixest-style
dummies (``i(v, ref=r)`` drops level ``r``; ``i(v, x)`` interacts every level
with the numeric ``x``). ``-1`` / ``+0`` drop the intercept of a model without
fixed effects. The instrumental-variable part is parsed here and estimated
elsewhere. Anything outside this grammar is an error: no part of a formula is
silently ignored.

Reference: Bergé, L. (2018), "Efficient estimation of maximum likelihood
models with multiple fixed-effects: the R package FENmlm", CREA Discussion
Papers 13 (the formula syntax of fixest).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["Factor", "Term", "ParsedFormula", "parse_formula", "FormulaError"]


class FormulaError(ValueError):
    """The model formula is not valid fixest-style syntax."""


_NAME = re.compile(r"^[A-Za-z_.][A-Za-z0-9_.]*$")
_CALL = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\((.*)\)$", re.S)


@dataclass(frozen=True)
class Factor:
    """One building block of a regressor term.

    ``kind`` is ``"var"``, ``"lag"``, ``"lead"``, ``"log"``, ``"C"`` or ``"i"``;
    ``var`` the data column; ``k`` the lag/lead order; ``by`` the numeric
    variable of ``i(var, by)``; ``ref`` the omitted level of ``i(var, ref=…)``.
    """

    kind: str
    var: str
    k: int = 0
    by: str | None = None
    ref: str | None = None

    @property
    def categorical(self) -> bool:
        return self.kind in ("C", "i")

    @property
    def label(self) -> str:
        if self.kind == "var":
            return self.var
        if self.kind in ("lag", "lead"):
            return f"{'l' if self.kind == 'lag' else 'f'}({self.var},{self.k})"
        if self.kind == "log":
            return f"log({self.var})"
        if self.kind == "C":
            return f"C({self.var})"
        return self.var  # "i": levels are named var::level

    @property
    def columns(self) -> tuple[str, ...]:
        """Data columns this factor reads."""
        return (self.var,) if self.by is None else (self.var, self.by)


@dataclass(frozen=True)
class Term:
    """A product of factors (a main effect when it has one factor)."""

    factors: tuple[Factor, ...]

    @property
    def label(self) -> str:
        return ":".join(f.label for f in self.factors)


@dataclass(frozen=True)
class ParsedFormula:
    """Parts of a formula. ``fe`` holds one tuple of column names per fixed effect
    (``("prov_code", "year")`` for ``prov_code^year``)."""

    formula: str
    depvar: Factor
    terms: tuple[Term, ...]
    intercept: bool
    fe: tuple[tuple[str, ...], ...] = ()
    endog: tuple[Term, ...] = ()
    instruments: tuple[Term, ...] = ()
    columns: tuple[str, ...] = field(default=())

    @property
    def fe_names(self) -> list[str]:
        return ["^".join(f) for f in self.fe]

    @property
    def is_iv(self) -> bool:
        return bool(self.endog)


def _split_top(text: str, seps: str) -> list[tuple[str, str]]:
    """Split at separators outside parentheses; returns (separator-before, piece)."""
    out, depth, start, sep = [], 0, 0, "+"
    for pos, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise FormulaError(f"unbalanced ')' in {text!r}")
        elif depth == 0 and ch in seps:
            out.append((sep, text[start:pos].strip()))
            sep, start = ch, pos + 1
    if depth != 0:
        raise FormulaError(f"unbalanced '(' in {text!r}")
    out.append((sep, text[start:].strip()))
    return out


def _check_name(name: str, where: str) -> str:
    if not _NAME.match(name):
        raise FormulaError(f"{name!r} is not a column name ({where})")
    return name


def _int_range(text: str, fn: str) -> list[int]:
    text = text.strip()
    try:
        if ":" in text:
            a, b = (int(v) for v in text.split(":"))
            if b < a:
                raise FormulaError(f"empty range {text!r} in {fn}()")
            return list(range(a, b + 1))
        return [int(text)]
    except ValueError:
        raise FormulaError(f"{fn}(): order must be an integer or a range a:b, got {text!r}") from None


def _parse_factor(text: str) -> list[Factor]:
    """One factor; lag ranges give several."""
    text = text.strip()
    if not text:
        raise FormulaError("empty term")
    m = _CALL.match(text)
    if m is None:
        return [Factor("var", _check_name(text, "regressor"))]
    fn, inner = m.group(1), m.group(2)
    args = [a for _, a in _split_top(inner, ",")]
    if fn in ("l", "f"):
        if len(args) not in (1, 2):
            raise FormulaError(f"{fn}() takes a variable and an order: {text!r}")
        var = _check_name(args[0], f"{fn}()")
        ks = _int_range(args[1], fn) if len(args) == 2 else [1]
        out = []
        for k in ks:
            kind = "lag" if fn == "l" else "lead"
            if k < 0:
                kind, k = ("lead" if kind == "lag" else "lag"), -k
            out.append(Factor(kind, var, k) if k else Factor("var", var))
        return out
    if fn == "log":
        if len(args) != 1:
            raise FormulaError(f"log() takes one variable: {text!r}")
        return [Factor("log", _check_name(args[0], "log()"))]
    if fn == "C":
        if len(args) != 1:
            raise FormulaError(f"C() takes one variable (no contrasts): {text!r}")
        return [Factor("C", _check_name(args[0], "C()"))]
    if fn == "i":
        pos = [a for a in args if "=" not in a]
        kw = dict(tuple(s.strip() for s in a.split("=", 1)) for a in args if "=" in a)
        unknown = set(kw) - {"ref"}
        if unknown or not 1 <= len(pos) <= 2:
            raise FormulaError(f"i() takes i(var), i(var, x) and ref=level: {text!r}")
        ref = kw.get("ref")
        if ref is not None:
            ref = ref.strip("\"'")
        by = _check_name(pos[1], "i()") if len(pos) == 2 else None
        return [Factor("i", _check_name(pos[0], "i()"), by=by, ref=ref)]
    raise FormulaError(
        f"unknown function {fn}() in {text!r}; supported: l(), f(), log(), C(), i()"
    )


def _parse_terms(rhs: str, *, allow_intercept: bool) -> tuple[list[Term], bool | None]:
    """Terms of a right-hand side; second value: explicit intercept choice or None."""
    terms: list[Term] = []
    intercept: bool | None = None
    for sign, piece in _split_top(rhs, "+-"):
        if piece in ("0", "1"):
            if not allow_intercept:
                raise FormulaError(f"'{sign}{piece}' is not allowed here: {rhs!r}")
            intercept = (piece == "1") == (sign == "+")
            continue
        if sign == "-":
            raise FormulaError(f"only '-1' may be subtracted in a formula, got '-{piece}'")
        # a*b*c -> all sub-products; a:b -> one product
        groups = [[_parse_factor(f) for _, f in _split_top(p, ":")] for _, p in _split_top(piece, "*")]
        products: list[list[list[Factor]]] = [[]]
        for g in groups:
            products = products + [p + g for p in products] if len(groups) > 1 else [g]
        for prod in products:
            if not prod:
                continue
            expanded: list[tuple[Factor, ...]] = [()]
            for options in prod:  # lag ranges multiply out
                expanded = [e + (o,) for e in expanded for o in options]
            for fs in expanded:
                t = Term(fs)
                if t not in terms:
                    terms.append(t)
    return terms, intercept


def parse_formula(formula: str) -> ParsedFormula:
    """Parse a fixest-style formula into its parts (see module docstring)."""
    if not isinstance(formula, str) or "~" not in formula:
        raise FormulaError(f"a formula needs 'y ~ x …', got {formula!r}")
    parts = [p for _, p in _split_top(formula, "|")]
    main, rest = parts[0], parts[1:]
    lhs, sep, rhs = main.partition("~")
    if "~" in rhs:
        raise FormulaError(f"more than one '~' in the main part of {formula!r}")
    dep = _parse_factor(lhs)
    if len(dep) != 1 or dep[0].categorical:
        raise FormulaError(f"the dependent variable must be one numeric variable, got {lhs.strip()!r}")
    terms, intercept = _parse_terms(rhs, allow_intercept=True)
    fe: list[tuple[str, ...]] = []
    endog: list[Term] = []
    instr: list[Term] = []
    if len(rest) > 2:
        raise FormulaError(f"too many '|' parts in {formula!r} (at most: rhs | fe | endog ~ instruments)")
    for k, part in enumerate(rest):
        if "~" in part:
            if k != len(rest) - 1:
                raise FormulaError(f"the IV part 'endog ~ instruments' must come last: {formula!r}")
            el, _, er = part.partition("~")
            endog, _ = _parse_terms(el, allow_intercept=False)
            instr, _ = _parse_terms(er, allow_intercept=False)
            if not endog or not instr:
                raise FormulaError(f"IV part needs endogenous variables and instruments: {part!r}")
        else:
            if k != 0:
                raise FormulaError(f"unexpected part {part!r} in {formula!r}")
            if part == "0":
                continue
            for _, piece in _split_top(part, "+"):
                names = tuple(_check_name(n.strip(), "fixed effect") for n in piece.split("^"))
                if names in fe:
                    raise FormulaError(f"fixed effect {piece!r} is listed twice")
                fe.append(names)
    if fe and intercept:
        raise FormulaError("an explicit intercept '+1' cannot be combined with fixed effects (it is absorbed)")
    cols: list[str] = [dep[0].var]
    for t in [*terms, *endog, *instr]:
        for f in t.factors:
            cols.extend(f.columns)
    for names in fe:
        cols.extend(names)
    return ParsedFormula(
        formula=formula.strip(),
        depvar=dep[0],
        terms=tuple(terms),
        intercept=(not fe) if intercept is None else intercept,
        fe=tuple(fe),
        endog=tuple(endog),
        instruments=tuple(instr),
        columns=tuple(dict.fromkeys(cols)),
    )
