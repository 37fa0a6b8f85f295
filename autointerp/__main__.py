"""``python -m autointerp`` is the ``autointerp`` command."""

import sys

from autointerp.cli import main

if __name__ == "__main__":
    sys.exit(main())
