"""``nectar-collector`` / ``python -m collector``: run the collector service until SIGTERM or SIGINT."""

from __future__ import annotations

import sys

from collector.service import Collector


def main(argv: list[str] | None = None) -> int:
    """Run the service (its options: ``--help``); exit 0 after a clean shutdown."""
    return Collector.main(argv)


if __name__ == "__main__":
    sys.exit(main())
