"""A Jupyter kernel of the current environment, safe to start many at a time.

Kernels started in parallel over TCP race for ports (``ZMQError: Address
already in use``); IPC transport with the default socket path collides in the
working directory. Each kernel here gets IPC sockets under a private path.
"""

from __future__ import annotations

import sys
import tempfile
import uuid
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from traitlets import default

KERNEL_NAME = "fiproxy"

__all__ = ["KERNEL_NAME", "IPCKernelManager", "ensure_kernelspec"]

_SOCKET_DIR = Path(tempfile.gettempdir()) / "fiproxy-kernels"


class IPCKernelManager(AsyncKernelManager):
    """Kernel manager using IPC sockets with a unique path per kernel."""

    @default("transport")
    def _default_transport(self) -> str:
        return "ipc"

    @default("ip")
    def _default_ip(self) -> str:
        _SOCKET_DIR.mkdir(parents=True, exist_ok=True)
        return str(_SOCKET_DIR / f"k-{uuid.uuid4().hex}")

    async def _async_interrupt_kernel(self) -> None:
        # jupyter_client interrupts every kernel before shutting it down, which makes an idle
        # kernel log "KeyboardInterrupt caught in kernel"; the shutdown request (and the kill
        # that follows when a kernel does not answer it) is enough.
        if self.shutting_down:
            return
        await super()._async_interrupt_kernel()


def ensure_kernelspec() -> str:
    """Install (once) a kernelspec named ``fiproxy`` that runs this interpreter."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
        if Path(spec.argv[0]).resolve() == Path(sys.executable).resolve():
            return KERNEL_NAME
    except NoSuchKernel:
        pass
    from ipykernel.kernelspec import install

    install(prefix=sys.prefix, kernel_name=KERNEL_NAME, display_name="fiproxy (.venv)")
    return KERNEL_NAME
