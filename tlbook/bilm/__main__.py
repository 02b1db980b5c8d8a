"""``python -m tlbook.bilm train ...``: see :func:`tlbook.bilm.recipe.main`."""

import sys

from .recipe import main

sys.exit(main())
