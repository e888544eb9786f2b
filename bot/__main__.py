"""`python -m bot`: the same `ooda` command line, for when the script is not on PATH."""

from bot.cli import main

if __name__ == "__main__":
    main()
