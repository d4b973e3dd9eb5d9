"""Plans, packages and add-ons: the limits each account works within (R-ACC-1, -2, -3; R-FILE-1; R-REC-2;
R-ROOM-5; R-BILL-11). Plain data and functions; the numbers the original gives are cited, the others are
this server's defaults (marked "ours")."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from mediaserver.errors import ControlError
from mediaserver.rtc import room_rules

TRIAL_DAYS = 7  # R-ACC-1
MAX_ADDITIONAL_USERS = 3  # R-ACC-2
MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    attendees: int  # people in a webinar
    meeting_max: int  # people in a meeting or with discussion mode on
    presenters: int  # presenter seats
    cameras: int  # camera feeds
    recording_minutes: int
    storage_mb: int
    paid_webinars: bool
    toll_free: bool
    additional_users: bool  # may buy up to 3 additional users (R-ACC-2: Live or Automated)
    # R-MEDIA-4: HD video where the plan allows it; the original lets even the free trial try HD video
    # (seed FAQ: "высокой четкости" among what a trial can test), so every plan here allows it
    hd: bool = True
    # issue 14 finding 9: invitation e-mails the account (with its sub-accounts) may send in any hour; ours
    invitations_per_hour: int = 100


PLANS: dict[str, Limits] = {
    # R-ACC-1: 25 attendees, 5 in a meeting or discussion, 2 presenter seats with 4 cameras, 30 minutes of
    # recording, 500 MB, no paid webinars or toll-free numbers.
    "trial": Limits(25, 5, 2, 4, 30, 500, False, False, False),
    # Paid plans keep the original's names (R-BILL-1). Capacities and recording minutes are ours; storage goes
    # "up to 2 GB" (R-FILE-1); 25 in a meeting and 4 cameras (R-ROOM-1, R-MEDIA-5).
    "mywebinars": Limits(100, 25, 4, 4, 360, 1024, True, True, False, invitations_per_hour=1000),
    "mywebinars_pro": Limits(500, 25, 4, 4, 600, 2048, True, True, False, invitations_per_hour=2500),
    "live": Limits(1000, 25, 4, 4, 1200, 2048, True, True, True, invitations_per_hour=5000),
    "automated": Limits(1000, 25, 4, 4, 1200, 2048, True, True, True, invitations_per_hour=5000),
}
PAID_PLANS = tuple(p for p in PLANS if p != "trial")
PERIODS = ("monthly", "annual")  # R-BILL-1: every 30 or 365 days

# R-ACC-3: a sub-account has its own storage and recording allowance; these packages are ours.
SUB_PACKAGES: dict[str, tuple[int, int]] = {"small": (500, 60), "medium": (1024, 300), "large": (2048, 600)}

# R-BILL-5 add-ons that change limits. Counts, except the *_mb / *_minutes amounts.
ADDONS = (
    "parallel_sessions",
    "sub_accounts",
    "extra_users",
    "extra_storage_mb",
    "extra_recording_minutes",
    "extra_cameras",
)

# Issue 14 finding 1: the most of each add-on an account can hold in all (and so the most one operator call
# can add). extra_users and extra_cameras keep their rules' limits (R-ACC-2, R-MEDIA-5); the others are ours,
# far above any real use and far below what overflows a limit or fills a disk by mistake.
ADDON_MAX: dict[str, int] = {
    "parallel_sessions": 20,
    "sub_accounts": 200,
    "extra_users": MAX_ADDITIONAL_USERS,
    "extra_storage_mb": 1024 * 1024,  # 1 TB
    "extra_recording_minutes": 100_000,
    "extra_cameras": 3,
}

# R-BILL-11: the highest ticket price per currency.
TICKET_MAX: dict[str, int] = {
    "USD": 2000,
    "EUR": 2000,
    "GBP": 2000,
    "PLN": 8000,
    "RUB": 200000,
    "AUD": 3000,
    "CAD": 3000,
    "CZK": 46000,
    "DKK": 13000,
    "HKD": 20000,
    "ILS": 74000,
    "MXN": 40000,
    "NOK": 17000,
    "NZD": 3000,
    "PHP": 106000,
    "SGD": 2800,
    "SEK": 18000,
    "CHF": 2000,
    "THB": 66000,
}


def limits(plan: str, package: str | None, addons: dict[str, Any], parent_plan: str | None = None) -> Limits:
    """The effective limits of an account: its plan (a sub-account: its main account's plan with its own
    package's storage and recording, R-ACC-3) plus the add-ons bought."""
    base = PLANS[parent_plan or plan] if plan == "sub" else PLANS[plan]
    if plan == "sub":
        storage, minutes = SUB_PACKAGES.get(package or "small", SUB_PACKAGES["small"])
        base = replace(base, storage_mb=storage, recording_minutes=minutes)
    return replace(
        base,
        storage_mb=base.storage_mb + int(addons.get("extra_storage_mb", 0)),
        recording_minutes=base.recording_minutes + int(addons.get("extra_recording_minutes", 0)),
        cameras=min(7, base.cameras + int(addons.get("extra_cameras", 0))),
    )


def room_caps(lim: Limits, room_type: str) -> room_rules.PlanCaps:
    """What an event's room may hold on this plan (R-ACC-1, R-ROOM-1, R-MEDIA-5): the plan's attendees in a
    webinar (at most 5000) and its meeting size in a meeting (at most 25); the meeting size is also the
    most with discussion mode on; its presenter seats; its camera feeds, the extra_cameras add-on counting
    in meetings only (R-MEDIA-5: "extra camera feeds work only in meetings")."""
    meeting = room_type == "meeting"
    people = (
        min(room_rules.MEETING_MAX, lim.meeting_max)
        if meeting
        else min(room_rules.WEBINAR_MAX, lim.attendees)
    )
    cameras = min(lim.cameras, room_rules.CAMERAS_MAX_MEETING if meeting else room_rules.CAMERAS_DEFAULT)
    return room_rules.PlanCaps(
        capacity=people,
        discussion=min(room_rules.DISCUSSION_MAX, lim.meeting_max),
        presenters=lim.presenters,
        cameras=cameras,
    )


def live_slots(addons: dict[str, Any]) -> int:
    """R-ROOM-5: one live event at a time, more only with the parallel-sessions add-on."""
    return 1 + max(0, int(addons.get("parallel_sessions", 0)))


def trial_end(now: dt.datetime) -> dt.datetime:
    return now + dt.timedelta(days=TRIAL_DAYS)


def check_ticket(price: Any, currency: Any) -> tuple[str, str]:
    """A paid event's ticket: a positive price not above the currency's limit (R-BILL-11)."""
    if not isinstance(currency, str) or currency.upper() not in TICKET_MAX:
        raise ControlError("bad_request", f"'ticketCurrency' must be one of {', '.join(TICKET_MAX)}")
    currency = currency.upper()
    try:
        amount = Decimal(str(price))
    except (InvalidOperation, ValueError):
        raise ControlError("bad_request", "'ticketPrice' must be a number") from None
    exponent = amount.as_tuple().exponent  # an int, or 'n', 'N', 'F' for NaN, sNaN and infinity
    if (
        not amount.is_finite()
        or not isinstance(exponent, int)
        or amount <= 0
        or amount > TICKET_MAX[currency]
        or exponent < -2
    ):
        raise ControlError(
            "bad_request",
            f"a ticket costs more than 0 and at most {TICKET_MAX[currency]} {currency}, "
            "with at most 2 decimals (R-BILL-11)",
        )
    return f"{amount:.2f}", currency
