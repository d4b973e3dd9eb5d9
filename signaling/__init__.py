"""asyncio signaling plane: WebSocket JSON protocol, WHIP/WHEP and the HTTP API (aiohttp)."""
