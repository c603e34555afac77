"""Command-line interface: one module per command, assembled in ``cli.main``."""
