"""The invitation e-mail's buttons behind its links (R-ROOM-11: "download / accept / decline"): Accept is
the join link itself; Decline is ``/i/{token}/decline``, a page whose button records the decline (a GET
never changes anything, so a mail scanner that follows links declines nothing); Download is
``/i/{token}/calendar.ics``, the event as an iCalendar file. The invitation's token is the invitee's own
key (mediaserver.events.invitations)."""

from __future__ import annotations

import html

from aiohttp import web

from mediaserver.errors import ControlError
from mediaserver.events import invitations
from signaling import keys

TEXT = {
    "en": {
        "title": "Decline the invitation",
        "ask": "Decline the invitation to “{event}”? The organiser will see that you will not come.",
        "button": "Decline",
        "done": "You declined the invitation to “{event}”. Thank you for letting the organiser know.",
        "again": "You had already declined the invitation to “{event}”.",
        "missing": "This invitation does not exist or was withdrawn.",
    },
    "ru": {
        "title": "Отклонить приглашение",
        "ask": "Отклонить приглашение на «{event}»? Организатор увидит, что вы не придёте.",
        "button": "Отклонить",
        "done": "Вы отклонили приглашение на «{event}». Спасибо, что предупредили организатора.",
        "again": "Вы уже отклонили приглашение на «{event}».",
        "missing": "Такого приглашения нет, или его отозвали.",
    },
}


def _page(language: str, body: str, status: int = 200) -> web.Response:
    t = TEXT["ru" if language == "ru" else "en"]
    doc = (
        f'<!doctype html><html lang="{language}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, '
        f'initial-scale=1"><title>{html.escape(t["title"])}'
        "</title><style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 "
        "1rem;"
        "line-height:1.5}button{padding:.6rem 1.4rem;font-size:1rem;cursor:pointer}</style></head>"
        f"<body>{body}</body></html>"
    )
    return web.Response(
        text=doc,
        content_type="text/html",
        status=status,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


async def decline_page(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    async with request.app[keys.DB].read() as s:
        try:
            inv, ev = await invitations.invitation_by_token(s, token)
        except ControlError:
            return _page("en", f"<p>{html.escape(TEXT['en']['missing'])}</p>", 404)
    t = TEXT["ru" if ev.language == "ru" else "en"]
    if inv.declined_at is not None:
        return _page(ev.language, f"<p id='declined'>{html.escape(t['again'].format(event=ev.name))}</p>")
    return _page(
        ev.language,
        f"<h1>{html.escape(t['title'])}</h1><p>{html.escape(t['ask'].format(event=ev.name))}"
        f"</p><form method='post'><button type='submit' id='decline'>{html.escape(t['button'])}</button>"
        "</form>",
    )


async def decline(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    async with request.app[keys.DB].tx() as s:
        try:
            _inv, ev, new = await invitations.decline_invitation(s, token)
        except ControlError:
            return _page("en", f"<p>{html.escape(TEXT['en']['missing'])}</p>", 404)
        language, name = ev.language, ev.name
    t = TEXT["ru" if language == "ru" else "en"]
    return _page(
        language, f"<p id='declined'>{html.escape(t['done' if new else 'again'].format(event=name))}</p>"
    )


async def calendar(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    async with request.app[keys.DB].read() as s:
        try:
            inv, ev = await invitations.invitation_by_token(s, token)
            ics = invitations.calendar_ics(ev, inv, request.app[keys.SETTINGS].public_url)
        except ControlError as e:
            return web.json_response({"error": {"code": e.code, "message": e.message}}, status=e.status)
    return web.Response(
        body=ics.encode(),
        headers={
            "Content-Type": "text/calendar; charset=utf-8",
            "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="event-{ev.room_id}.ics"',
        },
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/i/{token}/decline", decline_page)
    app.router.add_post("/i/{token}/decline", decline)
    app.router.add_get("/i/{token}/calendar.ics", calendar)
