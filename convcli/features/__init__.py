"""Feature maps: a bank of kernels applied side by side, as a convolutional layer applies them.

The layer, step by step (each a function of its own):

- :func:`correlate_bank` -- every map in one pass (blocked im2col + one matrix product per
  block, or one FFT of the input shared by every kernel; the cost rule is in
  :mod:`convcli.features._bank`); weights ``(F, *k)`` (shared by the channels, summed) or
  ``(F, C, *k)`` (``map[f] = sum_c x[c] (*) W[f, c] + b[f]``);
- :func:`activate` -- ``none``, ``relu``, ``abs``, ``tanh``, ``sigmoid``;
- :func:`pool` -- ``max`` or ``avg`` over windows (Dumoulin & Visin, relationship 7);
- :func:`feature_maps` -- all of the above in one call.

Around it: :func:`load_weights` reads ``.npy``/``.npz`` layer weights (never a pickle),
:func:`display` makes a map viewable (a documented diverging colour map for signed maps,
grey for maps of one sign), :func:`draw_montage` draws the labelled grid, and
:func:`run_features` is ``convcli features`` for one input.  Named banks (``edges``,
``compass``, ``gabor``, ``log-scales``) come from :func:`convcli.kernels.make_bank`.

Examples
--------
>>> import numpy as np
>>> from convcli.features import feature_maps
>>> from convcli.kernels import make_bank
>>> image = np.zeros((6, 6)); image[:, 3:] = 1.0          # a vertical edge
>>> labels, kernels = zip(*make_bank("edges:op=sobel", 2))
>>> maps = feature_maps(image, list(kernels), activation="abs", pad_mode="replicate")
>>> labels, maps.shape, maps[1, 2].tolist()
(('sobel-axis0', 'sobel-axis1'), (2, 6, 6), [0.0, 0.0, 4.0, 4.0, 0.0, 0.0])
"""

from convcli.features._bank import (
    BANK_METHODS,
    PER_CHANNEL,
    BankPlan,
    add_bias,
    correlate_bank,
    execute_bank,
    plan_bank,
    stack_kernels,
)
from convcli.features._display import (
    DIVERGING,
    DIVERGING_NAME,
    display,
    display_range,
    diverging_lut,
    peak_normalise,
    to_rgb,
    waveform,
)
from convcli.features._job import FeaturesOptions, run_features
from convcli.features._layer import (
    ACTIVATIONS,
    POOL_MODES,
    Pooling,
    activate,
    feature_maps,
    parse_pool,
    pool,
    pool_output_size,
)
from convcli.features._montage import MontageLayout, Tile, draw_montage, layout_montage
from convcli.features._weights import LayerWeights, check_weights, load_weights

__all__ = [
    "correlate_bank",
    "feature_maps",
    "plan_bank",
    "execute_bank",
    "BankPlan",
    "stack_kernels",
    "add_bias",
    "BANK_METHODS",
    "PER_CHANNEL",
    "activate",
    "ACTIVATIONS",
    "pool",
    "parse_pool",
    "pool_output_size",
    "Pooling",
    "POOL_MODES",
    "load_weights",
    "check_weights",
    "LayerWeights",
    "display",
    "display_range",
    "diverging_lut",
    "DIVERGING",
    "DIVERGING_NAME",
    "peak_normalise",
    "to_rgb",
    "waveform",
    "draw_montage",
    "layout_montage",
    "MontageLayout",
    "Tile",
    "run_features",
    "FeaturesOptions",
]
