from demixui.cli import entry_point

entry_point()
