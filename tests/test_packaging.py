"""The bundled data travels with an installed wheel, not only with a checkout."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import REPO


def test_wheel_carries_profiles_and_measurements(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("advisor_llm-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for data in ("architectures.csv", "published.csv", "hardware.csv", "training_tokens.csv"):
        assert f"advisor/_profiles/{data}" in names
    assert "advisor/_measurements/README.md" in names
    assert "advisor/cli.py" in names
