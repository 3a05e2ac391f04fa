"""End-to-end benchmarks: aejax's command and API against hand-written JAX and PyTorch scripts.

`end_to_end.py` drives them; `peer_jax.py`, `peer_torch.py` (no aejax imports) and `fit_runner.py` are scripts it
runs as separate processes; `report.py` holds the arithmetic and the tables. Nothing here runs on import.
"""
