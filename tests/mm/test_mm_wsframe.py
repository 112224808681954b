"""The trade socket's hand-built frames, read back by websocket-client's own frame parser."""

from __future__ import annotations

import pytest
import websocket
from hypothesis import given, settings
from hypothesis import strategies as st
from websocket._abnf import ABNF, frame_buffer

from bybitctl.mm.wsframe import FrameWriter, send_frame


def _parse(frame: bytes) -> ABNF:
    """websocket-client's reader (what a server does with a client frame: unmask it)."""
    data = memoryview(frame)
    at = 0

    def recv(n: int) -> bytes:
        nonlocal at
        chunk = bytes(data[at : at + n])
        at += n
        return chunk

    parsed = frame_buffer(recv, skip_utf8_validation=True).recv_frame()
    assert at == len(frame), "bytes left after the frame"
    return parsed


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=200),  # 7-bit lengths and the 125/126 edge
        st.integers(min_value=65530, max_value=65540).map(lambda n: b"q" * n),  # 16/64-bit
    )
)
def test_a_frame_is_one_final_masked_text_frame_carrying_the_payload(payload: bytes) -> None:
    frame = FrameWriter().frame(payload)
    parsed = _parse(frame)
    assert (parsed.fin, parsed.opcode, parsed.mask_value) == (1, ABNF.OPCODE_TEXT, 1)
    assert parsed.data == payload  # unmasked with the key the frame carries


def test_mask_keys_differ_and_survive_a_pool_refill() -> None:
    writer = FrameWriter()
    payload = b'{"op":"order.amend"}'
    keys = []
    for _ in range(3000):  # three pools' worth
        frame = writer.frame(payload)
        keys.append(frame[2:6])
        assert _parse(frame).data == payload
    assert len(set(keys)) > 2900  # random 32-bit keys: a few repeats at most


def test_sending_on_a_connection_that_is_not_open_raises_the_clients_closed_error() -> None:
    app = websocket.WebSocketApp("ws://127.0.0.1:9")  # never started: no connection
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        send_frame(app, FrameWriter().frame(b"{}"))
