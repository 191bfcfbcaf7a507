"""One writer of the result fragments that ``benchmarks.run.assemble`` reads.

Every bench writes its section as a pair, ``<results>/<section>.json`` (``{"<section>": result}``)
and ``<results>/<section>.md``; ``assemble`` puts the pairs together into ``RESULTS.*``. The format
lives here once, so a bench cannot write a pair that ``assemble`` reads differently.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_fragment(directory: Path, section: str, result: Any, markdown: str,
                   default: Callable[[Any], Any] | None = None) -> None:
    """Write ``section``'s pair into ``directory`` (created if missing); ``default`` as for ``json.dumps``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{section}.json").write_text(json.dumps({section: result}, indent=2, default=default) + "\n")
    (directory / f"{section}.md").write_text(markdown)
