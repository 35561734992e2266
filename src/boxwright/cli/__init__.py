"""The command line: click commands, each a thin shell over one library call.

Kept empty on purpose: ``boxwright --help`` imports only :mod:`boxwright.cli.main`, which
loads subcommands lazily (see :class:`boxwright.cli.main.LazyGroup`).
"""
