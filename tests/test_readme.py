"""The README's scale-out recipe says what it shows: as many settings as it counts, and a
signing-key command that makes a key fluxhost takes."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

from fluxhost.storage import load_signing_key

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
COUNTS = {"three": 3, "four": 4, "five": 5, "six": 6}


def scale_out() -> str:
    return README.split("## Scale-out recipe", 1)[1].split("\n## ", 1)[0]


def test_the_settings_are_as_many_as_it_counts() -> None:
    # It said "the same four settings" above five exports.
    section = scale_out()
    said = re.search(r"the same (\w+) settings( \(a fifth)?", section)
    assert said is not None
    exports = re.findall(r"^export (FLUXHOST_\w+)=", section, flags=re.MULTILINE)
    assert len(exports) == COUNTS[said.group(1)] + (1 if said.group(2) else 0), exports


def test_the_signing_key_command_makes_a_key(tmp_path: Path) -> None:
    (command,) = re.findall(r"^(python3 -c .*secrets.*)$", scale_out(), flags=re.MULTILINE)
    argv = shlex.split(command)
    made = subprocess.run([sys.executable, *argv[1:]], capture_output=True, text=True,
                          timeout=30, check=True).stdout.strip()
    assert len(made) >= 43 and re.fullmatch(r"[A-Za-z0-9_-]+", made)
    assert load_signing_key(made, tmp_path) == made.encode()
    assert not list(tmp_path.iterdir())  # used as given: no key file generated
