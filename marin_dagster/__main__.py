"""``python -m marin_dagster``: the ``marin-dagster`` command line."""

from marin_dagster.cli import main

if __name__ == "__main__":
    main(prog_name="marin-dagster")
