"""The native load generator (see README.md): `from bench.loadgen import Loadgen`."""

from bench.loadgen._loadgen import _Loadgen


class Loadgen(_Loadgen):
    """A WebRTC-lite client: one native I/O thread driving many peers (ICE, DTLS-SRTP or raw SRTP)."""


__all__ = ["Loadgen"]
