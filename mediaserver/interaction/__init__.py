"""What the audience does besides watching (issue 16): chat, Q&A, polls and tests, the call to action, raised
hands and reactions (R-INT-1..4, R-ROOM-3), up to a 5,000-person webinar (R-ROOM-1).

Every interaction event is appended once to the room's :class:`~mediaserver.interaction.log.RoomLog` with the
audience it is for; the signaling plane's fan-out takes what was appended since its last tick and sends each
audience one frame. The features keep their state; :class:`~mediaserver.interaction.room.Interaction` holds
them for one room, checks who may do what, and gives a late joiner a compact snapshot."""
