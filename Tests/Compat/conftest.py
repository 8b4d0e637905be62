"""Shared fixtures for the Kafka compatibility tests.

Run from the repository root:
    Scripts/python-venv.sh && .venv/bin/python -m pytest Tests/Compat -q

The hooklog binary comes from $HOOKLOG_BIN, or <repo>/.build/debug/hooklog
(build it with `swift build`). A missing binary is a test failure, not a skip:
these tests exist to prove the segment format, and silently skipping them
would hide that nothing was checked.
"""

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_HOOKLOG_BIN = REPO_ROOT / ".build" / "debug" / "hooklog"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def hooklog_bin() -> Path:
    """Absolute path of the hooklog executable under test."""
    configured = os.environ.get("HOOKLOG_BIN")
    path = Path(configured).expanduser() if configured else DEFAULT_HOOKLOG_BIN
    if not path.is_absolute():
        path = (Path.cwd() / path).resolve()
    source = "HOOKLOG_BIN" if configured else "default location"
    if not path.is_file():
        pytest.fail(
            f"hooklog binary not found at {path} ({source}). "
            "Build it first (`swift build` in the repository root) "
            "or point HOOKLOG_BIN at it.",
            pytrace=False,
        )
    if not os.access(path, os.X_OK):
        pytest.fail(f"hooklog binary at {path} ({source}) is not executable", pytrace=False)
    return path


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A fresh, not-yet-existing data directory for one test.

    It is deliberately not created: `hooklog append` must create it.
    """
    return tmp_path / "data"
