"""Run model-written programs (HumanEval, MBPP tests) away from the advisor process.

Each program runs in a fresh ``python -I -S`` subprocess, never in this process:

* its own session (process group), killed as a group on timeout or when it ends, so a
  child it forked cannot outlive it;
* a fresh temporary folder as working directory and ``HOME``, removed afterwards;
* limits set by the child on itself before the program is read: address space
  (``RLIMIT_AS``), CPU seconds, file size, open files, no core dumps;
* no network: the child moves itself into new user and network namespaces (only a
  loopback that is down), and, where the kernel refuses that, ``socket`` is disabled
  inside the interpreter instead; :func:`isolation` says which one this machine gets;
* an empty environment (no proxies, tokens or paths of ours).

Limits are set by the child rather than in ``preexec_fn``: the parent may be a worker
with llama.cpp threads running, and forking a threaded process into Python code can
deadlock. The guard is against accidents of generated code, not a hostile program
written to escape (that needs a container or a VM).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

MAX_PROGRAM_BYTES = 1 << 20
OUTPUT_BYTES = 16 << 20  # RLIMIT_FSIZE: the most a program may write to one file

# Runs first in the child: limits on itself, then the namespaces, then the program.
_LAUNCHER = r"""
import ctypes, os, resource, sys
mem, cpu, fsize = (int(x) for x in sys.argv[2:5])
resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
net = "socket-disabled"
try:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x10000000 | 0x40000000) == 0:  # CLONE_NEWUSER | CLONE_NEWNET
        net = "namespace"
except Exception:
    pass
if net != "namespace":
    import socket
    def _refuse(*a, **k):
        raise OSError("network access is disabled in the advisor sandbox")
    socket.socket = _refuse
    socket.create_connection = _refuse
    socket.getaddrinfo = _refuse
if sys.argv[5] == "probe":
    print(net)
    raise SystemExit(0)
with open(sys.argv[1], encoding="utf-8") as fh:
    code = compile(fh.read(), "program.py", "exec")
del ctypes, resource
exec(code, {"__name__": "__main__", "__builtins__": __builtins__})
"""


@dataclass(frozen=True)
class ExecutionResult:
    """How a program ended: ``passed`` (exit 0), ``failed`` (an exception, e.g. a failed
    assert), ``timeout`` (killed at the wall-clock limit), ``memory`` (hit the address
    space limit), ``error`` (could not be started)."""

    status: str
    seconds: float
    detail: str = ""  # the last line of its stderr, bounded

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def _env(folder: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": folder,
        "TMPDIR": folder,
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "LANG": "C.UTF-8",
    }


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        proc.kill()
    proc.wait()


def _last_line(path: Path) -> str:
    with contextlib.suppress(OSError):
        with path.open("rb") as fh:
            fh.seek(max(0, path.stat().st_size - 2000))
            tail = fh.read().decode("utf-8", errors="replace").strip().splitlines()
        return tail[-1][:300] if tail else ""
    return ""


def run_program(
    source: str, *, timeout_s: float = 10.0, memory_bytes: int = 1 << 30, _mode: str = "run"
) -> ExecutionResult:
    """Run ``source`` as a Python program in the sandbox; never raises for what the
    program does (only for bad arguments)."""
    if not isinstance(source, str):
        raise TypeError(f"source must be a str, not {type(source).__name__}")
    if not 0 < timeout_s <= 600:
        raise ValueError(f"timeout_s must be in (0, 600], not {timeout_s}")
    if not 32 << 20 <= memory_bytes <= 64 << 30:
        raise ValueError(f"memory_bytes must be between 32 MiB and 64 GiB, not {memory_bytes}")
    if len(source.encode("utf-8", errors="replace")) > MAX_PROGRAM_BYTES:
        return ExecutionResult("error", 0.0, f"program longer than {MAX_PROGRAM_BYTES} bytes")
    with tempfile.TemporaryDirectory(prefix="advisor-sandbox-") as folder:
        prog = Path(folder) / "program.py"
        prog.write_text(source, encoding="utf-8", errors="replace")
        launcher = Path(folder) / "launcher.py"
        launcher.write_text(_LAUNCHER, encoding="utf-8")
        err_path = Path(folder) / "stderr.txt"
        cpu = max(1, int(timeout_s) + 1)
        cmd = [sys.executable, "-I", "-S", "-B", str(launcher), str(prog),
               str(memory_bytes), str(cpu), str(OUTPUT_BYTES), _mode]  # fmt: skip
        t0 = time.perf_counter()
        with err_path.open("wb") as err, open(os.devnull, "wb") as out:
            try:
                proc = subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE if _mode == "probe" else out,
                    stderr=err,
                    cwd=folder,
                    env=_env(folder),
                    start_new_session=True,  # its own process group, killed as one
                    close_fds=True,
                )
            except OSError as exc:
                return ExecutionResult("error", 0.0, f"could not start python: {exc}")
            try:
                stdout, _ = proc.communicate(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                return ExecutionResult("timeout", time.perf_counter() - t0, f"over {timeout_s} s")
            finally:
                # Whatever it started in its group goes too.
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
        seconds = time.perf_counter() - t0
        detail = _last_line(err_path)
        if _mode == "probe":
            return ExecutionResult("passed", seconds, (stdout or b"").decode().strip())
        if proc.returncode == 0:
            return ExecutionResult("passed", seconds, "")
        if "MemoryError" in detail:
            return ExecutionResult("memory", seconds, detail)
        if proc.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
            return ExecutionResult("timeout", seconds, f"killed by signal {-proc.returncode}")
        return ExecutionResult("failed", seconds, detail)


@cache
def isolation() -> str:
    """How the sandbox cuts the network on this machine: ``namespace`` (the kernel's
    network namespace) or ``socket-disabled`` (inside the interpreter only)."""
    res = run_program("", timeout_s=20, _mode="probe")
    return res.detail if res.detail in {"namespace", "socket-disabled"} else "socket-disabled"
