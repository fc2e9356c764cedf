"""A ``versebert serve`` child process: a free port to start it on, and waiting until it is ready.

The benchmark and the tests both start real servers; a server loads its index (and model) before it
listens, so a caller polls ``/healthz`` and must notice a server that died instead of waiting out
the timeout.
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request


class ServerNotReady(RuntimeError):
    """The server exited, or did not answer ``/healthz`` in time."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_healthy(process: subprocess.Popen, url: str, timeout: float, *, poll: float = 0.2) -> None:
    """Return once ``url``/healthz answers 200; raise :class:`ServerNotReady` if ``process`` exits first
    or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerNotReady(f"the server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(poll)
    raise ServerNotReady(f"the server did not answer /healthz within {timeout:.0f} s")
