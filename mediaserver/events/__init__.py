"""Events: their life cycle, automation and on-demand playback."""
