"""Synthetic district data: a realistic OneRoster roster (and, later, lab results).

Everything here is deterministic for a given seed and uses only the standard
library, so a Los Angeles-sized district can be written in seconds.
"""
