"""Facts about the current process: memory from /proc, descriptor limits."""

from __future__ import annotations

import resource

__all__ = ["proc_status", "raise_fd_limit", "reset_peak_rss"]


def proc_status() -> dict[str, int]:
    """VmRSS and VmHWM of this process, in KiB (empty off Linux)."""
    out: dict[str, int] = {}
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    name, value = line.split(":", 1)
                    out[name] = int(value.split()[0])
    except OSError:
        pass
    return out


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False if refused."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


def raise_fd_limit() -> None:
    """Allow as many open sockets as the hard limit does (500 streams need it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass
