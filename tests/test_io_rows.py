"""Rows decoded on a thread (convcli.io.rows.DecodedRows): order, reuse, errors, closing."""

from __future__ import annotations

import numpy as np
import pytest

from convcli.io.rows import DecodedRows, LoadedOnRead


def _counter(n_rows: int, width: int = 4, fail_at: int | None = None):
    state = {"row": 0}

    def decode(out):
        start = state["row"]
        if fail_at is not None and start + len(out) > fail_at:
            raise OSError(f"damaged at row {fail_at}")
        out[...] = np.arange(start, start + len(out))[:, None]
        state["row"] += len(out)

    return decode


def test_rows_come_in_order_across_blocks_and_blocks_are_reused():
    rows = DecodedRows((50, 4), np.dtype(np.int32), _counter(50), block_rows=3, blocks=2)
    out = np.empty((50, 4), np.int32)
    for start in range(0, 50, 7):
        rows.read_into(start, min(start + 7, 50), out[start : start + 7])
        rows.release(start)  # a window that reaches past two blocks adds blocks as needed
    rows.wait()
    rows.close()
    np.testing.assert_array_equal(out[:, 0], np.arange(50))
    assert rows.held_bytes >= 2 * 3 * 4 * 4


def test_rows_below_a_release_are_gone():
    rows = DecodedRows((20, 4), np.dtype(np.int32), _counter(20), block_rows=4, blocks=3)
    rows.read(0, 8)
    rows.release(8)
    with pytest.raises(RuntimeError, match="rows from 5"):
        rows.read(5, 9)
    rows.close()


def test_the_decoders_error_reaches_the_reader():
    rows = DecodedRows(
        (30, 4), np.dtype(np.int32), _counter(30, fail_at=10), block_rows=4, blocks=2
    )
    rows.read(0, 4)
    with pytest.raises(OSError, match="damaged at row 10"):
        rows.read(4, 12)
    rows.close()


def test_closing_before_reading_stops_nothing_started():
    closed = []
    rows = DecodedRows(
        (10, 4),
        np.dtype(np.int32),
        _counter(10),
        block_rows=4,
        blocks=2,
        close=lambda: closed.append(1),
    )
    rows.close()
    assert closed == [1]


def test_loaded_on_read_decodes_once_and_checks_the_header():
    calls = []
    source = LoadedOnRead(
        (3, 2), np.dtype(np.uint8), lambda: calls.append(1) or np.ones((3, 2), np.uint8)
    )
    assert source.held_bytes == 6 and calls == []
    assert source.read(1, 3).shape == (2, 2) and source.read(0, 1).shape == (1, 2)
    assert calls == [1]
    wrong = LoadedOnRead((3, 2), np.dtype(np.uint8), lambda: np.ones((2, 3), np.uint8))
    with pytest.raises(ValueError, match="not"):
        wrong.read(0, 1)


def test_a_mapped_image_gives_back_the_rows_a_job_has_read():
    from convcli.io.rows import anonymous_array

    want = np.arange(300 * 4096, dtype=np.int64).reshape(300, 4096) % 251
    data = anonymous_array(want.shape, np.dtype(np.uint8))
    data[...] = want
    src = LoadedOnRead(want.shape, np.dtype(np.uint8), lambda: data)
    out = np.empty((100, 4096), np.uint8)
    src.read_into(0, 100, out)
    np.testing.assert_array_equal(out, want[:100])
    src.release(100)  # rows 0..99 (whole pages: 4096 bytes a row) are given back
    assert not src.data[:100].any()
    src.read_into(100, 300, np.empty((200, 4096), np.uint8))
    np.testing.assert_array_equal(src.data[100:], want[100:])


def test_an_array_not_mapped_of_its_own_is_left_alone_by_release():
    want = np.arange(64 * 4096, dtype=np.int64).reshape(64, 4096) % 7
    data = want.astype(np.uint8)
    src = LoadedOnRead(want.shape, np.dtype(np.uint8), lambda: data)
    src.read(0, 1)
    src.release(64)
    np.testing.assert_array_equal(src.data, want)
