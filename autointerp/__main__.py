"""``python -m autointerp`` is the ``autointerp`` command."""

import sys

from autointerp.cli import main

sys.exit(main())
