"""Smoke test in a real terminal: start `advisor tui` in tmux, press keys, read the screen."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytest.importorskip("textual")
TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux not installed")
REPO = Path(__file__).resolve().parent.parent


def tmux(*args: str) -> str:
    assert TMUX is not None
    return subprocess.run([TMUX, *args], capture_output=True, text=True, check=False).stdout


def wait_for(session: str, text: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = tmux("capture-pane", "-p", "-t", session)
        if text in screen:
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not on screen after {timeout}s:\n{screen}")


def test_tui_in_tmux() -> None:
    session = f"advisor-smoke-{uuid.uuid4().hex[:8]}"
    command = f"{sys.executable} -m advisor tui --vram 24GB --theme dark; sleep 5"
    tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24", "-c", str(REPO), command)
    try:
        screen = wait_for(session, "usable")  # the status line after the first ranking
        assert "Budget" in screen and "24GB" in screen
        assert "model" in screen and "memory" in screen
        tmux("send-keys", "-t", session, "?")
        wait_for(session, "advisor — keys")
        tmux("send-keys", "-t", session, "Escape")
        time.sleep(0.5)
        tmux("send-keys", "-t", session, "c")
        wait_for(session, "score vs memory")
        tmux("send-keys", "-t", session, "q")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "usable" in tmux("capture-pane", "-p", "-t", session):
            time.sleep(0.2)
        assert "usable" not in tmux("capture-pane", "-p", "-t", session)  # the app has quit
    finally:
        tmux("kill-session", "-t", session)


def test_tui_starts_from_the_detected_memory_in_tmux() -> None:
    """No budget given: the first ranking is of this machine's detected memory (or the
    screen says nothing was detected), never of an unexplained placeholder."""
    session = f"advisor-detect-{uuid.uuid4().hex[:8]}"
    command = f"{sys.executable} -m advisor tui --theme dark; sleep 5"
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "30", "-c", str(REPO), command)
    try:
        screen = wait_for(session, "usable")
        assert "(detected)" in screen or "nothing detected" in screen, screen
        assert "of system RAM of system RAM" not in screen
        tmux("send-keys", "-t", session, "q")
    finally:
        tmux("kill-session", "-t", session)
