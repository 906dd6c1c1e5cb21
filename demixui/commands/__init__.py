"""One module per `demixui` subcommand: argument definitions and a `run(args) -> int`. Keep them thin."""
