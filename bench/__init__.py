"""qlutui's performance bench: a generated cluster at scale and timed scenarios with targets.

Run it with `python -m bench` (the README's Performance section); it is not part of the
default test run.
"""
