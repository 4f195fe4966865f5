"""qlutui's performance bench: a generated cluster at scale and timed scenarios with targets.

Run it with `python -m bench` (see bench/README.md); it is not part of the default test run.
"""
