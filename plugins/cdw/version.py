"""The code version recorded with every load (audit.load_runs.code_version)."""

from __future__ import annotations

import functools
import os
import subprocess
from importlib.metadata import PackageNotFoundError, version

from cdw.settings import REPO_ROOT


@functools.cache
def code_version() -> str:
    """``CDW_CODE_VERSION`` if set (deployments), else the git commit of the checkout, else the package version."""
    if os.environ.get("CDW_CODE_VERSION"):
        return os.environ["CDW_CODE_VERSION"]
    try:
        commit = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short=12", "HEAD"],
                                capture_output=True, text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return f"git:{commit}{'-dirty' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        try:
            return f"cdw {version('cdw')}"
        except PackageNotFoundError:
            return "unknown"
