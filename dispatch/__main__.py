"""``nectar-dispatch`` / ``python -m dispatch``: run the Dispatch service until SIGTERM or SIGINT."""

from __future__ import annotations

import sys

from dispatch.service import Dispatcher


def main(argv: list[str] | None = None) -> int:
    """Run the service (its options: ``--help``); exit 0 after a clean shutdown."""
    return Dispatcher.main(argv)


if __name__ == "__main__":
    sys.exit(main())
