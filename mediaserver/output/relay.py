"""The connection of a live stream to its RTMP service, as a small process of its own (issue 14 finding 5).

FFmpeg (through PyAV) cannot be told which address to connect to: given the service's name it would resolve
it again, after the address policy checked it, which lets DNS rebinding through. So the server resolves and
checks the name (mediaserver.outbound), starts this process with the checked addresses, and this process
connects to one of them (with TLS for rtmps://, the certificate verified for the service's name), then
listens once on loopback; the encoder speaks plain RTMP to that listener and the bytes are relayed.

It is a process, not a thread, because PyAV holds Python's lock (the GIL) while FFmpeg connects: a relay in
the server's own process could not answer FFmpeg's handshake. The first line it prints is ``ok <port>`` or
``fail <coarse reason>``; it exits when either side closes.

    python -m mediaserver.output.relay HOSTNAME PORT TLS(0|1) ADDRESS [ADDRESS ...]
"""

from __future__ import annotations

import asyncio
import ssl
import sys

CONNECT_TIMEOUT = 10.0
ACCEPT_TIMEOUT = 30.0


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    try:
        while data := await src.read(65536):
            dst.write(data)
            await dst.drain()
    except OSError:
        pass
    finally:
        dst.close()


async def _connect(
    name: str, port: int, tls: bool, addresses: list[str]
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | str:
    """The connection to the first address that answers, or the coarse reason none did."""
    why = "connection failed"
    for address in addresses:
        try:
            return await asyncio.wait_for(
                asyncio.open_connection(
                    address,
                    port,
                    ssl=ssl.create_default_context() if tls else None,
                    server_hostname=name if tls else None,
                ),
                CONNECT_TIMEOUT,
            )
        except asyncio.TimeoutError:
            why = "timeout"
        except ssl.SSLError:
            why = "TLS failed"
        except OSError:
            why = "connection failed"
    return why


async def relay(name: str, port: int, tls: bool, addresses: list[str]) -> int:
    got = await _connect(name, port, tls, addresses)
    if isinstance(got, str):
        print(f"fail {got}", flush=True)
        return 1
    up_r, up_w = got
    done = asyncio.Event()
    taken = False

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal taken
        if taken:
            writer.close()
            return
        taken = True
        server.close()
        await asyncio.gather(_pipe(reader, up_w), _pipe(up_r, writer))
        done.set()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    print(f"ok {server.sockets[0].getsockname()[1]}", flush=True)
    try:
        await asyncio.wait_for(done.wait(), ACCEPT_TIMEOUT)
    except asyncio.TimeoutError:
        if not taken:  # the encoder never came
            up_w.close()
            return 1
        await done.wait()
    return 0


def main(argv: list[str]) -> int:
    name, port, tls, *addresses = argv
    return asyncio.run(relay(name, int(port), tls == "1", addresses))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
