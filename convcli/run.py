"""Moved to :mod:`convcli.jobs.job` (one input's job); this alias goes in the next release."""

from convcli._moved import moved

__getattr__ = moved(__name__, "convcli.jobs.job")
