"""``python -m boxwright``: the same command line as the ``boxwright`` console script."""

from boxwright.cli.main import main as main  # re-exported: the entry point

if __name__ == "__main__":
    main(prog_name="boxwright")
