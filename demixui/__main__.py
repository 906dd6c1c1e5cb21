from demixui.cli import entry_point

if __name__ == "__main__":  # not when a worker process of `separate --jobs` imports it
    entry_point()
