"""Write the shell completion scripts in completions/ (checked current by tests/cli).

Usage: python tools/gen_completions.py [--check]
"""

from __future__ import annotations

import sys
from pathlib import Path

from bybitctl.commands.completion import Shell, script

ROOT = Path(__file__).resolve().parent.parent
FILES = {Shell.bash: "bybitctl.bash", Shell.zsh: "_bybitctl", Shell.fish: "bybitctl.fish"}


def expected() -> dict[Path, str]:
    """Each completion file and the text it should hold."""
    return {ROOT / "completions" / name: script(shell.value) for shell, name in FILES.items()}


def main(argv: list[str]) -> int:
    """Write the files, or with --check list the stale ones and exit 1."""
    stale = [p for p, text in expected().items() if not p.exists() or p.read_text() != text]
    if "--check" in argv:
        for path in stale:
            print(f"stale: {path.relative_to(ROOT)}", file=sys.stderr)
        return 1 if stale else 0
    for path, text in expected().items():
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
