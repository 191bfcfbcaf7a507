"""``python -m stack.deployed_sim [simulate options]``: the deployed-loop simulator on a throwaway server.

``banditops simulate --deployed`` needs a Redis-compatible server, and the library never starts
a process (the layering rule of docs/architecture.md), so the CLI takes ``--redis-url`` or
``BANDITOPS_REDIS_URL`` and nothing else. From a checkout this launcher supplies one: it starts a
server on a free loopback port with its data in a temporary folder (no persistence), runs
``banditops simulate --deployed --redis-url <it> <your options>`` in this process, and stops the
server whatever happens. The options are the CLI's, e.g.::

    python -m stack.deployed_sim --agents 4 --pulls-per-round 50 --horizon 20000 --seeds 3 --json \\
        --arms '[{"kind":"gaussian","mean":1},{"kind":"gaussian","mean":5}]' \\
        --changes '[{"t":10000,"arm":1,"mean":0}]'
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from banditops import cli
from stack.redis_server import RedisServer


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if any(a == "--redis-url" or a.startswith("--redis-url=") for a in args):
        print("stack.deployed_sim starts its own server; with --redis-url, run "
              "`banditops simulate --deployed` directly", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="banditops-deployed-sim-") as folder:
        server = RedisServer(data_dir=Path(folder)).start()
        try:
            return cli.main(["simulate", "--deployed", "--redis-url", server.url, *args])
        finally:
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
