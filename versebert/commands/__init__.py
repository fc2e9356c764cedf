"""Subcommands of the ``versebert`` command line; each module exposes ``register(subparsers)``."""
