"""Files that ship inside the package (bot/assets/): the default topology and prompts, the demo's example tree.

In a checkout bot/assets/ links to the repository's topology.toml, prompts/ and examples/; the wheel carries
copies, so an installed etl-triage works outside any checkout.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)
ASSETS = Path(__file__).resolve().parent / "assets"
DEFAULT_TOPOLOGY = ASSETS / "topology.toml"
PROMPTS = ASSETS / "prompts"
EXAMPLES = ASSETS / "examples"
DEFAULT_TOPOLOGY_NAME = "topology.toml"


def topology_or_default(path: str | Path) -> Path:
    """`path`, unless it is the default name and there is no such file here: then the bundled topology (said
    at INFO), so `etl-triage run` works from any directory."""
    p = Path(path)
    if str(path) == DEFAULT_TOPOLOGY_NAME and not p.exists() and DEFAULT_TOPOLOGY.is_file():
        log.info("no ./topology.toml: using the bundled default %s (pass --topology, or `etl-triage init`)",
                 DEFAULT_TOPOLOGY)
        return DEFAULT_TOPOLOGY
    return p


def examples_or_default(path: str | Path) -> Path:
    """The demo's example tree: `path` when it exists, else the bundled one when `path` is the default."""
    p = Path(path)
    if str(path) == "examples" and not (p / "logs").is_dir() and EXAMPLES.is_dir():
        return EXAMPLES
    return p
