"""Moved to :mod:`convcli.jobs.stream` (slabs with halos); this alias goes in the next release."""

from convcli._moved import moved

__getattr__ = moved(__name__, "convcli.jobs.stream")
