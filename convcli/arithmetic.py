"""Moved to :mod:`convcli.explain.arithmetic`; this alias goes in the next release."""

# ruff: noqa: F822 (the names of __all__ are found by __getattr__)
from convcli._moved import moved

__all__ = [
    "Case",
    "Relationship",
    "RELATIONSHIPS",
    "NoSolutionError",
    "PaddingSolution",
    "TransposedSolution",
    "axis_names",
    "case_of",
    "applicable",
    "relationship_for",
    "explain",
    "receptive_field",
    "equivalent_convolution",
    "geometry_record",
    "format_geometry_table",
    "solve_padding",
    "solve_transposed",
    "solve_geometry",
    "Equivalent",
]

__getattr__ = moved(__name__, "convcli.explain.arithmetic")
