"""Messages between the controller process and its Git worker processes.

A message is a 4-byte big-endian length followed by a pickle. Requests are
``(op_name, args)``; replies ``("ok", value)`` or ``("error", class_name,
message, non_fast_forward)``, where `class_name` is one of
`sluice.git.errors.BY_NAME`. Both ends are Sluice's own code, so pickle is
safe here; the values are the frozen dataclasses of `refs` and `auth`.

The blocking helpers serve the worker; the controller side reads the same
frames with the event loop's socket methods (`pool`).
"""

from __future__ import annotations

import pickle
import socket
import struct
from typing import Any

__all__ = ["HEADER", "PID", "decode", "encode", "recv_blocking"]

HEADER = struct.Struct(">I")
PID = struct.Struct(">i")  # a worker pid, in the zygote's control messages
MAX_MESSAGE = 64 << 20


def encode(value: Any) -> bytes:
    body = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(body)) + body


def decode(body: bytes) -> Any:
    return pickle.loads(body)


def _exactly(sock: socket.socket, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def recv_blocking(sock: socket.socket) -> Any | None:
    """The next message, or None at end of stream."""
    header = _exactly(sock, HEADER.size)
    if header is None:
        return None
    (size,) = HEADER.unpack(header)
    if size > MAX_MESSAGE:
        raise ValueError(f"message of {size} bytes is too large")
    body = _exactly(sock, size)
    return None if body is None else decode(body)
