"""Recording and live streaming: capture of a room's packets, record files, recordings, live feeds and RTMP
streams."""
