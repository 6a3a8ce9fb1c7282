"""Copy the console's npm assets into the package (`make install` runs this module).

The versions are pinned by deploy/console/package-lock.json; `npm ci` installs exactly them
into deploy/console/node_modules (git-ignored) and the files the pages load are copied to
static/vendor (git-ignored too). The console never loads anything from a CDN.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from annals.stack.settings import REPO_ROOT

NPM_DIR = REPO_ROOT / "deploy" / "console"
VENDOR = Path(__file__).parent / "static" / "vendor"
# What the pages load: node_modules path -> name under static/vendor.
FILES = {
    "htmx.org/dist/htmx.min.js": "htmx.min.js",
    "uplot/dist/uPlot.iife.min.js": "uPlot.iife.min.js",
    "uplot/dist/uPlot.min.css": "uPlot.min.css",
}


def missing() -> list[str]:
    """The vendor files not copied yet."""
    return [name for name in FILES.values() if not (VENDOR / name).is_file()]


def build(npm: str = "npm") -> None:
    """`npm ci` from the lockfile, then copy the files the pages load."""
    if shutil.which(npm) is None:
        raise SystemExit(
            "npm is needed to build the console's assets (Debian: apt-get install npm)"
        )
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NPM_DIR, check=True
    )
    VENDOR.mkdir(parents=True, exist_ok=True)
    for source, name in FILES.items():
        shutil.copyfile(NPM_DIR / "node_modules" / source, VENDOR / name)


if __name__ == "__main__":
    build(*sys.argv[1:2])
