"""bin/supervise with throwaway commands: restarts what dies, backs off, stops everything."""

import importlib.machinery
import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import ROOT, free_port

SUPERVISE = ROOT / "bin" / "supervise"
PY = sys.executable


def supervise_module() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("supervise", str(SUPERVISE))
    spec = importlib.util.spec_from_loader("supervise", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["supervise"] = module  # its dataclass looks its module up while being defined
    loader.exec_module(module)
    return module


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


class Supervisor:
    def __init__(self, tmp: Path, *args: str) -> None:
        self.log_path = tmp / "supervise.log"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [PY, str(SUPERVISE), *args], stdout=log, stderr=subprocess.STDOUT
            )

    def log(self) -> str:
        return self.log_path.read_text()

    def wait_for(self, pattern: str, timeout: float = 10) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if match := re.search(pattern, self.log(), re.MULTILINE):
                return match
            time.sleep(0.05)
        raise AssertionError(f"no {pattern!r} within {timeout} s in:\n{self.log()}")

    def pids(self, name: str, count: int = 1, timeout: float = 10) -> list[int]:
        """The pids `name` was started with, once it was started `count` times."""
        deadline = time.monotonic() + timeout
        while True:
            found = re.findall(rf"^==> {name} started \(pid (\d+)\)$", self.log(), re.M)
            if len(found) >= count or time.monotonic() > deadline:
                return [int(pid) for pid in found]
            time.sleep(0.05)


@pytest.fixture
def supervisor(tmp_path: Path) -> Iterator[list[Supervisor]]:
    """Supervisors a test starts; whatever they left running is killed afterwards."""
    started: list[Supervisor] = []
    yield started
    for sup in started:
        orphans = children_of(sup.proc.pid)
        sup.proc.kill()
        sup.proc.wait()
        for pid in orphans:
            if alive(pid):
                os.killpg(pid, signal.SIGKILL)


def test_the_backoff_doubles_to_30_s_and_starts_over_after_a_long_run():
    module = supervise_module()
    waits, delay = [], 1.0
    for _ in range(7):
        wait, delay = module.backoff_next(delay, uptime=2.0)
        waits.append(wait)
    assert waits == [1, 2, 4, 8, 16, 30, 30]
    assert module.backoff_next(30.0, uptime=61.0) == (1, 2)


def test_a_killed_child_is_restarted_and_the_others_keep_running(tmp_path, supervisor):
    sup = Supervisor(tmp_path, "--proc", "a=sleep 300", "--proc", "b=sleep 301")
    supervisor.append(sup)
    [first_a], [b] = sup.pids("a"), sup.pids("b")
    os.kill(first_a, signal.SIGKILL)
    sup.wait_for(r"^==> a exited with code -9; restarting in 1 s$")
    second_a = sup.pids("a", count=2)[-1]
    os.kill(second_a, signal.SIGKILL)
    sup.wait_for(r"^==> a exited with code -9; restarting in 2 s$")  # it died quickly again
    assert second_a != first_a and alive(b) and sup.pids("b") == [b]


def test_sigint_stops_every_child_and_its_group_then_exits_0(tmp_path, supervisor):
    ignores_sigterm = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)"
    )
    sup = Supervisor(
        tmp_path,
        "--stop-timeout",
        "1",
        "--proc",
        "group=sh -c 'sleep 300 & wait'",
        "--proc",
        f"stubborn={PY} -c '{ignores_sigterm}'",
    )
    supervisor.append(sup)
    [leader], [stubborn_pid] = sup.pids("group"), sup.pids("stubborn")
    deadline = time.monotonic() + 5
    while not children_of(leader) and time.monotonic() < deadline:
        time.sleep(0.05)
    grandchildren = children_of(leader)
    assert grandchildren, "sh did not start its sleep"
    os.kill(sup.proc.pid, signal.SIGINT)
    assert sup.proc.wait(10) == 0
    assert "==> stubborn did not stop within 1 s; killing it" in sup.log()
    assert sup.log().rstrip().endswith("==> Stopped.")
    assert not [pid for pid in (leader, stubborn_pid, *grandchildren) if alive(pid)]


def test_a_command_that_cannot_start_is_retried_and_ready_is_announced(tmp_path, supervisor):
    port = free_port()
    sup = Supervisor(
        tmp_path,
        "--proc",
        "missing=/nonexistent/program",
        "--proc",
        f"web={PY} -m http.server --bind 127.0.0.1 {port}",
        "--ready-url",
        f"http://127.0.0.1:{port}/nothing-here",  # a 404 is an answer too
        "--ready-message",
        "web is up",
    )
    supervisor.append(sup)
    sup.wait_for(r"^==> missing could not start \(.*\); restarting in 1 s$")
    sup.wait_for(r"^==> web is up$")
    sup.wait_for(r"^==> missing could not start \(.*\); restarting in 2 s$")
    assert sup.proc.poll() is None and len(sup.pids("web")) == 1
