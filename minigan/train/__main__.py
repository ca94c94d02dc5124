"""``python -m minigan.train``: run the command and exit with its status."""

import sys

from . import main

sys.exit(main())
