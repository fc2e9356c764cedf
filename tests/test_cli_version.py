"""``versebert --version`` prints the installed version, without a subcommand and without torch."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version


def test_version_prints_the_installed_distribution_version():
    code = ("import sys; from versebert.cli import main\n"
            "try:\n    main(['--version'])\nexcept SystemExit as exit:\n    print('exit', exit.code)\n"
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.splitlines() == [f"versebert {version('versebert')}", "exit 0", "False"]
