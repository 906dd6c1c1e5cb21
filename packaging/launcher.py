"""Entry script of the PyInstaller bundle: the same `demixui` command as the installed console script."""

from demixui.cli import entry_point

if __name__ == "__main__":
    entry_point()
