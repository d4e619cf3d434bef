"""``python -m mammoclf`` runs the ``mammoclf`` command."""

from mammoclf.cli import main

if __name__ == "__main__":
    main()
