"""Command-line parse errors on one line: which key, what is wrong with it.

jsonargparse reports a bad value inside a subclass argument (``--data.batch_size 0``) as a nested, multi-line account
of every type it tried, after the whole usage text. ``condense`` digs out the key and the reason, and
``OneLineErrorParser`` prints them as one ``error:`` line with exit status 2, like every other user error.
"""

from __future__ import annotations

import re
import sys
from typing import NoReturn, Optional

from lightning.pytorch.cli import LightningArgumentParser

_KEY = re.compile(r'Parser key "([^"]+)":')
_NOISE = ("Given value type:", "Given value:", "Expected a <class 'NoneType'>", "Subtypes:", "Errors:",
          "Does not validate against any of the Union subtypes")


def condense(message: str) -> str:
    """The nested keys joined into one dotted key, with the innermost reason."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    keys: list[str] = []
    reason: Optional[str] = None
    for line in lines:
        match = _KEY.search(line)
        if match:
            keys.append(match.group(1))
            rest = line[match.end():].strip()
            reason = rest or None
            continue
        if keys and reason is None and not line.startswith(_NOISE) and not line.startswith("- Problem with given class_path"):
            reason = line.lstrip("- ").strip()
    if keys and reason:
        # a class_path key repeats its parent ("data" then "init_args"): keep the user's spelling
        dotted = ".".join(k for k in keys if k != "init_args")
        return f"--{dotted}: {reason}"
    return lines[0] if lines else message


class OneLineErrorParser(LightningArgumentParser):
    def error(self, message: str, ex: Optional[Exception] = None) -> NoReturn:
        if not self.exit_on_error:
            super().error(message, ex)
        prog = self.prog.replace(" [options]", "").replace("__main__.py", "python -m lightning_app")
        sys.stderr.write(f"error: {condense(message)} (see `{prog} --help`)\n")
        self.exit(2)
