"""What the benchmark tables say about the machine they ran on."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def machine_line() -> str:
    """OS, CPU model, CPU count and Python version, on one line."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} CPUs, "
        f"CPython {platform.python_version()}"
    )
