"""Real-time signaling: the WebSocket protocol and WHIP/WHEP."""
