"""``python -m nascost``: the command line, where the ``nascost`` script is not on PATH."""

from nascost.cli import main

if __name__ == "__main__":
    main()
