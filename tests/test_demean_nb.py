"""The compiled demeaning kernel imports and runs when numba cannot cache to disk.

numba raises ``RuntimeError("cannot cache function ...: no locator available")``
while decorating a ``cache=True`` function when no cache directory is writable
(a read-only site-packages and home). The child interpreter below removes every
cache locator before importing the kernel, then checks that the kernel compiled
without a disk cache and that the iterative demeaning agrees with the exact
(dummy-variable least squares) solution to 1e-8.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import numpy as np
    from numba.core import caching

    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl  # name differs across numba versions
    assert impl._locator_classes
    impl._locator_classes = []  # as if no cache directory were writable

    from fiproxy.estimators import _demean_nb
    from fiproxy.estimators.demean import _direct, _iterative

    assert isinstance(_demean_nb.demean_ap._cache, caching.NullCache), type(_demean_nb.demean_ap._cache)
    rng = np.random.default_rng(0)
    n = 400
    fe = np.column_stack([rng.integers(0, 30, n), rng.integers(0, 12, n)]).astype(np.int64)
    x = rng.normal(size=(n, 2)) + fe[:, :1] * 0.1
    ngs = [int(fe[:, j].max()) + 1 for j in range(2)]
    it_out, it = _iterative(x, fe, ngs, None, 1e-12, 10_000)
    exact = _direct(x, fe, ngs, None)
    assert it > 0
    np.testing.assert_allclose(it_out, exact, atol=1e-8)
    print("ok")
    """
)


def test_kernel_falls_back_to_no_disk_cache():
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "ok"
