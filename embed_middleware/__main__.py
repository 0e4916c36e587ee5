"""``python -m embed_middleware``: the command line (see cli.py), kept out of import-time code."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
