"""Moved to :mod:`convcli.jobs.job` (one input's job); this alias goes in the next release."""

# ruff: noqa: F822 (the names of __all__ are found by __getattr__)
from convcli._moved import moved

__all__ = [
    "FilterOptions",
    "Job",
    "run_job",
    "default_pad_mode",
    "apply_chain",
    "default_memory_budget",
    "working_set",
    "count_nonfinite",
    "MEMORY_BUDGET",
    "MAX_TAPS",
]

__getattr__ = moved(
    __name__,
    "convcli.jobs.job",
    {
        "default_pad_mode": "convcli.jobs.options",
        "apply_chain": "convcli.engine.chain",
        "default_memory_budget": "convcli.jobs.budget",
        "working_set": "convcli.jobs.budget",
        "count_nonfinite": "convcli.jobs.post",
        "MEMORY_BUDGET": "convcli.jobs.budget",
        "MAX_TAPS": "convcli.jobs.budget",
    },
)
