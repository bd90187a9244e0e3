"""Rounding to integer outputs: convcli's half-even, and the peers' rules (``--rounding``)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from convcli.errors import ArgumentError
from convcli.io import ROUNDINGS, cast


@given(st.lists(st.floats(-300, 300, allow_nan=False), min_size=1, max_size=50))
def test_each_rule_is_its_definition(values):
    y = np.array(values)
    want = {
        "half-even": np.rint(y),
        "half-up": np.floor(y + 0.5),
        "toward-zero": np.trunc(y),
        "q16-down": np.floor(np.clip(np.floor(y * 257.0 + 0.5), 0, 65535) / 257.0),
    }
    for rounding in ROUNDINGS:
        got, clipped = cast(y, "uint8", rounding=rounding)
        np.testing.assert_array_equal(got, np.clip(want[rounding], 0, 255))
        assert clipped == int(np.sum((want[rounding] < 0) | (want[rounding] > 255)))


def test_halves():
    y = np.array([0.5, 1.5, 2.5, 2.4999, 253.5])
    assert cast(y, "uint8")[0].tolist() == [0, 2, 2, 2, 254]
    assert cast(y, "uint8", rounding="half-up")[0].tolist() == [1, 2, 3, 2, 254]
    assert cast(y, "int16", rounding="toward-zero")[0].tolist() == [0, 1, 2, 2, 253]
    # ImageMagick Q16's 8-bit PNG writer: through 16 bits, then truncated
    assert cast(np.array([2.5, 2.997, 2.9985]), "uint8", rounding="q16-down")[0].tolist() == [
        2,
        2,
        3,
    ]
    assert cast(np.array([2.5]), "uint16", rounding="q16-down")[0].tolist() == [3]


def test_audio_pcm_rounds_by_the_rule_too():
    y = np.array([[0.5 / 32768], [1.5 / 32768]])
    assert cast(y, "int16", audio_subtype="PCM_16")[0].ravel().tolist() == [0, 2]
    assert cast(y, "int16", audio_subtype="PCM_16", rounding="half-up")[0].ravel().tolist() == [
        1,
        2,
    ]


def test_an_unknown_rule_is_refused():
    with pytest.raises(ArgumentError, match="rounding 'banker' is not one of"):
        cast(np.zeros(2), "uint8", rounding="banker")
