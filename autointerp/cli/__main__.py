"""``python -m autointerp.cli`` is the ``autointerp`` command."""

import sys

from autointerp.cli.app import main

if __name__ == "__main__":
    sys.exit(main())
