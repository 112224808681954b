"""Start-up budget: `bybitctl` against bare Python, as ratios from one run.

Alternates the measured command and its baseline N times in this process (swapping which goes
first every other round) and prints, for each pair, the median wall time and its ratio, which
the targets apply to:

- `bybitctl --version` vs `python -c pass`                          (target: <= 3x)
- `bybitctl --base-url URL market server-time` vs a bare pybit script (target: <= 1.25x)

On a shared machine wall time also counts waiting for a CPU, so the report adds the median CPU
time (user + sys of the child, from `os.wait4`) and the best wall times: both move far less
with load and show real progress, though the verdict stays on the wall medians.

The query runs against the local exchange on loopback, started as `bybitctl sim serve --port 0`
in its own process (so serving does not compete with this one) with a throw-away config
directory. Both sides use this interpreter, with bytecode caching on as for an installed
package (PYTHONDONTWRITEBYTECODE is dropped). Usage: python benchmarks/startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BARE_PYBIT = """
import json, sys
from pybit.unified_trading import HTTP
session = HTTP()
session.endpoint = sys.argv[1]
print(json.dumps(session.get_server_time()["result"], indent=2))
"""


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one run; a failing run aborts the benchmark."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise subprocess.CalledProcessError(child.returncode, argv)
    return elapsed, usage.ru_utime + usage.ru_stime


def compare(
    name: str, argv: list[str], baseline: list[str], env: dict[str, str], runs: int, target: float
) -> str:
    """Alternate the two commands `runs` times; two lines of medians, bests and ratios."""
    for _ in range(2):  # warm the file cache and .pyc files
        timed(argv, env)
        timed(baseline, env)
    ours: list[tuple[float, float]] = []
    base: list[tuple[float, float]] = []
    for i in range(runs):
        if i % 2:
            base.append(timed(baseline, env))
            ours.append(timed(argv, env))
        else:
            ours.append(timed(argv, env))
            base.append(timed(baseline, env))
    wall_a, wall_b = (statistics.median(w for w, _ in xs) for xs in (ours, base))
    cpu_a, cpu_b = (statistics.median(c for _, c in xs) for xs in (ours, base))
    best_a, best_b = (min(w for w, _ in xs) for xs in (ours, base))
    verdict = "ok" if wall_a / wall_b <= target else "OVER"
    return (
        f"{name:<28} wall median {wall_a * 1000:6.1f} vs {wall_b * 1000:6.1f} ms, "
        f"ratio {wall_a / wall_b:4.2f} (target <= {target:g}x: {verdict})\n"
        f"{'':<28} CPU  median {cpu_a * 1000:6.1f} vs {cpu_b * 1000:6.1f} ms, "
        f"ratio {cpu_a / cpu_b:4.2f}; best wall {best_a * 1000:6.1f} vs "
        f"{best_b * 1000:6.1f} ms, ratio {best_a / best_b:4.2f}"
    )


def main() -> int:
    """Run both comparisons and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=41)
    runs = parser.parse_args().runs
    exe = shutil.which("bybitctl", path=str(Path(sys.executable).parent))
    if exe is None:
        print("bybitctl is not installed next to this interpreter", file=sys.stderr)
        return 1
    # As installed for users: bytecode caches on (pip compiles them at install time).
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("BYBIT") and k != "PYTHONDONTWRITEBYTECODE"
    }
    load = os.getloadavg()[0]
    print(
        f"bybitctl start-up, {runs} alternating runs; Python {platform.python_version()} "
        f"on {platform.machine()}, {os.cpu_count()} CPUs, load average {load:.1f}"
    )
    version = [exe, "--version"]
    print(compare("bybitctl --version", version, [sys.executable, "-c", "pass"], env, runs, 3.0))
    sys.stdout.flush()
    with tempfile.TemporaryDirectory() as config_home:
        server_env = {**env, "XDG_CONFIG_HOME": config_home}
        server = subprocess.Popen(
            [exe, "sim", "serve", "--port", "0", "--no-profile"],
            env=server_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert server.stdout is not None
            base_url = server.stdout.readline().strip()
            query = [exe, "--base-url", base_url, "market", "server-time"]
            bare = [sys.executable, "-c", BARE_PYBIT, base_url]
            print(compare("bybitctl market server-time", query, bare, server_env, runs, 1.25))
        finally:
            server.terminate()
            server.wait()
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
