"""Estimators: one module per family, all returning :class:`fiproxy.estimators.result.Result`."""

from fiproxy.estimators.result import Result

__all__ = ["Result"]
