"""An account's subscription (R-ACC-1, -4; R-BILL-2, -4, -5): the limits its plan, package and add-ons
give, the trial's end, the billing data each user sees, a change of plan and buying add-ons (which reach
the open rooms at once). The plans' numbers are in mediaserver.billing.plans; paid tickets in
mediaserver.billing.payments."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from mediaserver.accounts.identity import Principal, deactivated
from mediaserver.billing import plans
from mediaserver.errors import ControlError, forbidden, not_found
from mediaserver.outbox import webhooks
from mediaserver.store.db import utcnow
from mediaserver.store.models import Account, Event, Session, User

if TYPE_CHECKING:
    from mediaserver.rtc.rooms import RoomManager

# R-ACC-4: "additional users and sub-account users cannot see the billing data of the main account" (seed FAQ:
# "не могут просматривать данные для выставления счетов"). The original's billing page ("Платежные сведения")
# shows the plan size, payment terms, price, free minutes and the renewal date, with payment methods, add-ons
# and invoices: so /me shows them the plan, its period and end (trialEndsAt) and the sub-account's package
# only to the main account, and never the add-ons or what the plan lets one buy. The working limits
# (attendees, presenters, cameras, recording minutes, storage) stay: they say what the user can do, as the
# room and the storage bar show everyone in the original, and are not payment data.
BILLING_LIMITS = ("additional_users",)


def account_limits(account: Account, parent: Account | None) -> plans.Limits:
    """The effective limits of an account (a sub-account's ``parent`` is its main account)."""
    return plans.limits(account.plan, account.package, account.addons or {}, parent.plan if parent else None)


def subaccount_limits(p: Principal, sub: Account) -> plans.Limits:
    """A sub-account's limits as its main account sees them: its package under the main account's plan
    (R-ACC-3)."""
    return account_limits(sub, p.main)


def trial_expired(main: Account, now: dt.datetime | None = None) -> bool:
    return main.plan == "trial" and main.trial_ends_at is not None and main.trial_ends_at <= (now or utcnow())


def require_active(main: Account) -> None:
    """402 ``trial_expired`` once the main account's trial is over and no plan is chosen (R-ACC-1,
    R-BILL-2)."""
    if trial_expired(main):
        raise ControlError(
            "trial_expired",
            f"the 7-day trial ended on {main.trial_ends_at:%Y-%m-%d}; the "
            "main account can choose a plan to go on (R-ACC-1, R-BILL-2)",
            402,
        )


def require_active_plan(p: Principal) -> None:
    require_active(p.main)


# ---------------------------------------------------------------- billing data, plan, add-ons (R-ACC-4)


@dataclass
class Visible:
    """What a user sees of their account's subscription (R-ACC-4): None where it is billing data they may
    not see; the limits (what they can do) without what the plan lets one buy, unless they are the main
    account."""

    plan: str | None
    package: str | None
    trial_ends_at: dt.datetime | None
    limits: dict[str, Any]


def visible(p: Principal) -> Visible:
    """The plan, package, trial end and limits of the signed-in user's account, as far as they may see them
    (R-ACC-4; see BILLING_LIMITS)."""
    limits = dict(account_limits(p.account, p.main if p.account.kind == "sub" else None).__dict__)
    if p.role == "main":
        return Visible(p.account.plan, p.account.package, p.account.trial_ends_at, limits)
    return Visible(None, None, None, {k: v for k, v in limits.items() if k not in BILLING_LIMITS})


def billing(p: Principal) -> dict[str, Any]:
    """What the main account sees of its subscription (R-ACC-4): plan, period, trial end, add-ons, limits."""
    p.require_main("see billing data")
    return billing_of(p.main)


def billing_of(main: Account) -> dict[str, Any]:
    """A main account's plan, period, trial end, add-ons and limits."""
    lim = account_limits(main, None)
    return {
        "plan": main.plan,
        "period": main.period,
        "trialEndsAt": main.trial_ends_at,
        "addons": dict(main.addons or {}),
        "limits": lim.__dict__,
    }


def operator_only(what: str) -> ControlError:
    """Issue 14 finding 1: until a billing engine takes payment, a plan or an add-on is the operator's act
    (the server's api_key on /api/v1/admin/accounts/{id}/billing/...); the account only reads its billing."""
    return forbidden(
        f"{what} is done by the server's operator while this server takes no payment for plans: ask them; "
        "GET /api/v1/billing shows your plan and add-ons"
    )


async def main_account(s: AsyncSession, account_id: int) -> Account:
    """The main account ``account_id`` (the operator's billing routes); 404 for a sub-account or none."""
    account = await s.get(Account, account_id)
    if account is None or account.kind != "main":
        raise not_found("main account")
    return account


@dataclass
class PlanChange:
    """The additional users a change of plan switched off or back on (R-ACC-2)."""

    deactivated: list[int]
    reactivated: list[int]

    @property
    def notice(self) -> str | None:
        if self.deactivated:
            return (
                f"{len(self.deactivated)} additional user(s) switched off: this plan has no additional users "
                "(R-ACC-2: Live or Automated). Their events stay in the account; they come back when the "
                "plan "
                "is Live or Automated again."
            )
        if self.reactivated:
            return f"{len(self.reactivated)} additional user(s) switched back on (R-ACC-2)."
        return None


async def refresh_rooms(s: AsyncSession, main: Account, rooms: RoomManager) -> int:
    """After a change of plan or an add-on (R-BILL-4: an upgrade takes effect at once, also from inside a full
    room): the open rooms of the account's events and of its sub-accounts' get the new limits now, and people
    waiting for a seat come in (R-ROOM-8). How many rooms changed."""
    ids = [main.id, *(await s.scalars(select(Account.id).where(Account.parent_id == main.id)))]
    n = 0
    for ev in await s.scalars(
        select(Event).where(Event.account_id.in_(ids), Event.status.in_(("live", "planned")))
    ):
        room = rooms.find(ev.room_id)
        if room is None or room.settings.state == "ended":
            continue
        account = main if ev.account_id == main.id else await s.get(Account, ev.account_id)
        if account is None:
            continue
        lim = account_limits(account, None if account is main else main)
        room.settings.hd = lim.hd
        room.apply_caps(plans.room_caps(lim, room.settings.type))
        n += 1
    return n


async def change_plan(
    s: AsyncSession, main: Account, plan: str, period: str, rooms: RoomManager
) -> dict[str, Any]:
    """R-BILL-2/-4: the operator moves a main account from the trial to a paid plan (or between paid plans);
    never back to the trial (issue 14 finding 1: the account cannot; taking payment is a billing engine's
    part). The webhook billing.plan_changed goes out, the open rooms get the new limits at once, even a full
    one (:func:`refresh_rooms`); returns :func:`billing_of`
    with a ``notice`` of what the change did to the additional users.

    R-ACC-2: additional users need the Live or Automated plan. The original lets the main account move down to
    "any available paid plan" (seed FAQ: "можно также понизить категорию тарифного плана и перейти на любую
    доступную платную подписку"), so a move to a plan without them is not refused: the additional users are
    switched off (no sign-in, their sessions end, their API keys stop working; pending invitations cannot be
    activated), keeping their data, which deleting a user would remove irreversibly (R-ACC-3). Moving back to
    Live or Automated switches them on again, as many as the extra_users add-on allows."""
    if plan not in plans.PAID_PLANS:
        raise ControlError(
            "bad_request",
            f"'plan' must be one of {', '.join(plans.PAID_PLANS)} (there is no "
            "way back to the trial, R-BILL-4)",
        )
    main.plan, main.period, main.trial_ends_at = plan, period, None
    extra = list(
        await s.scalars(
            select(User).where(User.account_id == main.id, User.role == "additional").order_by(User.id)
        )
    )
    change = PlanChange([], [])
    if not plans.PLANS[plan].additional_users:
        for user in extra:
            if user.active:
                user.active = False
                change.deactivated.append(user.id)
        if change.deactivated:
            await s.execute(delete(Session).where(Session.user_id.in_(change.deactivated)))
    else:
        free = min(plans.MAX_ADDITIONAL_USERS, int((main.addons or {}).get("extra_users", 0)))
        free -= sum(1 for u in extra if u.active or not deactivated(u))  # active or still invited
        for user in extra:
            if free > 0 and deactivated(user):
                user.active = True
                change.reactivated.append(user.id)
                free -= 1
    await webhooks.emit(
        s,
        main.id,
        "billing.plan_changed",
        {
            "plan": plan,
            "period": period,
            "deactivatedUsers": change.deactivated,
            "reactivatedUsers": change.reactivated,
        },
    )
    await refresh_rooms(s, main, rooms)
    return {**billing_of(main), "notice": change.notice}


async def add_addon(
    s: AsyncSession, main: Account, addon: str, quantity: int, rooms: RoomManager
) -> dict[str, Any]:
    """The operator adds ``quantity`` of an add-on to a main account (a negative one takes back what was
    added); add-ons need a paid plan (payment details, R-BILL-2), and an account holds at most
    plans.ADDON_MAX of each (issue 14 finding 1). The webhook billing.addon_added goes out and the open rooms
    get the new limits at once (e.g. extra cameras); returns :func:`billing_of`."""
    if quantity == 0:
        raise ControlError("bad_request", "'quantity' must not be 0")
    if main.plan == "trial":
        raise ControlError(
            "plan_required",
            "add-ons are bought on a paid plan; the trial has no payment details (R-ACC-1, R-BILL-2)",
            402,
        )
    if addon == "extra_users" and not plans.PLANS[main.plan].additional_users:
        raise ControlError("plan_required", "additional users need the Live or Automated plan (R-ACC-2)", 402)
    addons = dict(main.addons or {})
    total = int(addons.get(addon, 0)) + quantity
    if total < 0:
        raise ControlError(
            "bad_request", f"the account has {addons.get(addon, 0)} {addon}: cannot remove more"
        )
    if addon == "extra_users" and total > plans.MAX_ADDITIONAL_USERS:
        raise ControlError(
            "limit_reached", f"at most {plans.MAX_ADDITIONAL_USERS} additional users (R-ACC-2)", 409
        )
    if addon == "extra_cameras" and total > 3:
        raise ControlError("limit_reached", "at most 3 extra camera feeds (7 in all, R-MEDIA-5)", 409)
    if total > plans.ADDON_MAX[addon]:
        raise ControlError(
            "limit_reached",
            f"an account holds at most {plans.ADDON_MAX[addon]} {addon} (it has {addons.get(addon, 0)})",
            409,
        )
    addons[addon] = total
    main.addons = addons
    await webhooks.emit(s, main.id, "billing.addon_added", {"addon": addon, "quantity": quantity})
    await refresh_rooms(s, main, rooms)
    return billing_of(main)
