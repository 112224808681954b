"""Start-up budget (issue 2 §10): `bybitctl` against bare Python, as ratios from one run.

Alternates the measured command and its baseline N times in this process and prints the
median wall time of each and their ratio:

- `bybitctl --version` vs `python -c pass`                          (target: <= 3x)
- `bybitctl --base-url URL market server-time` vs a bare pybit script (target: <= 1.25x)

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


def wall(argv: list[str], env: dict[str, str]) -> float:
    """Seconds one run takes; a failing run aborts the benchmark."""
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def compare(
    name: str, argv: list[str], baseline: list[str], env: dict[str, str], runs: int, target: float
) -> str:
    """Alternate the two commands `runs` times; one line with medians, bests and ratios.

    The best-of figures are less sensitive to a busy machine than the medians.
    """
    for _ in range(2):  # warm the file cache and .pyc files
        wall(argv, env)
        wall(baseline, env)
    ours, base = [], []
    for _ in range(runs):
        ours.append(wall(argv, env))
        base.append(wall(baseline, env))
    a, b = statistics.median(ours), statistics.median(base)
    verdict = "ok" if a / b <= target else "OVER"
    return (
        f"{name:<28} median {a * 1000:6.1f} vs {b * 1000:6.1f} ms, ratio {a / b:4.2f} "
        f"(target <= {target:g}x: {verdict}); best {min(ours) * 1000:6.1f} vs "
        f"{min(base) * 1000:6.1f} ms, ratio {min(ours) / min(base):4.2f}"
    )


def main() -> int:
    """Run both comparisons and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
