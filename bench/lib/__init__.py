"""Helpers of the load benchmarks: media clip and RTP packetization, SDP for the native client
transports, a minimal signaling client and /proc readers. Only bench code imports this package."""
