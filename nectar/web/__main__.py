"""``python -m nectar.web``: the same as ``nectar-web``."""

import sys

from nectar.web.server import main

sys.exit(main())
