"""The command line: `siyu …` (see siyu.cli.main)."""

from siyu.cli.main import app

__all__ = ["app"]
