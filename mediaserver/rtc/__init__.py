"""The media side of rooms: SDP, rooms and their rules, join tokens, avatars, and the binding to the native
media engine."""
