"""The ``autointerp`` command line (the console script and ``python -m autointerp``).

Modules: ``app`` (the top-level parser, the command table, ``main``), ``options`` (the
options that build a run config, shared by ``run`` and ``submit``), and one module per
group of commands, each with ``add_commands(subparsers)`` and its ``COMMANDS`` table:
``run_commands`` (run, inspect, scores, serve, config, list), ``service_commands``
(submit, status, cancel, worker, beat, up), ``compare_commands`` (compare,
search-explanations), ``interop_commands`` (export, import). The command modules import
``options`` only; ``app`` imports them; nothing imports ``app`` but this package.
"""

from autointerp.cli.app import main

__all__ = ["main"]
