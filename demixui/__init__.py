"""demixui: separate music into stems while it plays, and remix it live."""

__version__ = "0.1.0"
