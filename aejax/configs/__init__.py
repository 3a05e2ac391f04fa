"""The configs that ship with aejax: `default.py` declares every key; each other file is a named experiment.

`aejax.get_config("<name>")` and `aejax train --config <name>` find them by name from any directory; in a checkout,
`experiments/<name>.py` re-exports each one, so `--config experiments/<name>.py` runs the same config.
"""
