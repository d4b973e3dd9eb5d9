"""mediaserver: a self-hostable webinar and meeting platform with a native WebRTC SFU."""

__version__ = "0.1.0"
