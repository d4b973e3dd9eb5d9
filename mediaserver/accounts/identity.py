"""Accounts, their users and who may do what (R-ACC-1..5): sign-up to a trial, additional users, sub-accounts
one level deep, sessions for the web UI, API keys for the API. What the account's plan allows and pays for is
mediaserver.billing.subscription's."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mediaserver import addresses
from mediaserver.accounts.passwords import hash_password, password_matches
from mediaserver.billing import plans
from mediaserver.errors import ControlError, forbidden, not_found
from mediaserver.outbox import mail
from mediaserver.ratelimit import Caller
from mediaserver.store.db import Database, utcnow
from mediaserver.store.models import Account, ApiKey, Email, LibraryFile, Session, User

SESSION_DAYS = 14
ACTIVATION_DAYS = 7

#: main (the main account's owner), additional (R-ACC-2) or sub (a sub-account's user, R-ACC-3)
Role = Literal["main", "additional", "sub"]


def digest(token: str) -> str:
    """Session tokens, API keys and activation tokens are stored as SHA-256 digests (they are random,
    long)."""
    return hashlib.sha256(token.encode()).hexdigest()


def check_email(email: Any) -> str:
    """One mailbox, parsed (issue 14 finding 14: not a list such as ``a@b.c,postmaster``), in lower case."""
    address = addresses.normalized(email)
    if address is None:
        raise ControlError("bad_request", "a valid e-mail address is required (one address)")
    return address.lower()


@dataclass
class Principal:
    """Who is asking: the acting user, their account and the main account above it."""

    user: User
    account: Account
    main: Account  # the account itself when it is a main account
    via: str  # session | api_key
    impersonator: User | None = None

    @property
    def role(self) -> Role:
        """main (the main account's owner), additional (R-ACC-2) or sub (a sub-account's user, R-ACC-3)."""
        if self.account.kind == "sub":
            return "sub"
        return "main" if self.user.role == "owner" else "additional"

    def require_main(self, what: str) -> None:
        """R-ACC-4: only the main account sees billing, pays and buys; and only it manages users and
        sub-accounts (R-ACC-2, -3)."""
        if self.role != "main":
            raise forbidden(
                f"only the main account can {what} (R-ACC-4); you are signed in as "
                f"{'an additional user' if self.role == 'additional' else 'a sub-account user'}"
            )

    def integrations(self) -> int:
        """The account whose integrations (webhooks) these are: the user's own, main or sub-account;
        additional users have none (403, R-ACC-5)."""
        if self.role == "additional":
            raise forbidden("integrations belong to the main account (R-ACC-5)")
        return self.account.id


async def _email_free(s: AsyncSession, email: str) -> None:
    if await s.scalar(select(User.id).where(User.email == email)) is not None:
        raise ControlError("email_taken", "an account with this e-mail address already exists", 409)


SIGNUP_MAILS_PER_HOUR = 3  # sign-up mails to one address in an hour (issue 14 finding 22); more are dropped


async def mails_within_an_hour(s: AsyncSession, email: str, kinds: tuple[str, ...], now: dt.datetime) -> int:
    """How many mails of these kinds went to ``email`` in the hour before ``now`` (a mailbox's budget)."""
    return (
        await s.execute(
            select(func.count())
            .select_from(Email)
            .where(
                Email.to_addr == email,
                Email.kind.in_(kinds),
                Email.created_at > now - dt.timedelta(hours=1),
            )
        )
    ).scalar_one()


async def signup(
    s: AsyncSession,
    name: str,
    email: str,
    page_name: str,
    language: str,
    base_url: str,
    caller: Caller,
    now: dt.datetime | None = None,
) -> None:
    """R-ACC-1: a 7-day trial, no payment details, the trial's limits. Issue 14 finding 22: the address is
    confirmed first, and the answer is the same whether it is registered or not. A new address gets an
    account whose owner is not active: the e-mailed activation link (POST /api/v1/activate) sets the password,
    signs in and starts the trial. A registered address gets, instead of an error, a mail telling its owner
    that someone tried to sign up with it (a sign-up still waiting for its activation gets a fresh link). At
    most SIGNUP_MAILS_PER_HOUR such mails go to one address in an hour, so sign-up cannot flood a mailbox.
    The address's sign-up budget is spent first (issue 14 finding 3); sign-up hashes no password."""
    now = now or utcnow()
    email = check_email(email)
    await caller.spend("signup")
    if await mails_within_an_hour(s, email, ("signup", "signup_taken"), now) >= SIGNUP_MAILS_PER_HOUR:
        return
    user = await s.scalar(select(User).where(User.email == email))
    if user is not None:
        account = await s.get(Account, user.account_id)
        assert account is not None
        if pending_signup(user, account):
            await _activation_mail(s, account, user, "signup", base_url, {})
        else:
            ctx = {"name": user.name, "link": f"{base_url}/dashboard"}
            await mail.queue(s, account.id, "signup_taken", email, user.language, ctx)
        return
    account = Account(
        kind="main",
        page_name=page_name or name,
        plan="trial",
        trial_ends_at=plans.trial_end(now),
        addons={},
        language=language,
        branding={},
        settings={},
        created_at=now,
    )
    s.add(account)
    await s.flush()
    user = User(
        account_id=account.id,
        email=email,
        name=name,
        role="owner",
        active=False,
        language=language,
        created_at=now,
    )
    s.add(user)
    try:
        async with s.begin_nested():
            await s.flush()
    except IntegrityError:  # the same address signing up at the same moment: the first one stands
        await s.delete(account)
        return
    await _activation_mail(s, account, user, "signup", base_url, {})


def pending_signup(user: User, account: Account) -> bool:
    """A main account's owner who signed up and has not followed the activation link yet."""
    return user.role == "owner" and account.kind == "main" and user.password_hash is None


async def login(db: Database, caller: Caller, email: Any, password: Any) -> User:
    """The user with this e-mail address and password (a detached row), or 401. Issue 14 finding 3: the
    address's sign-in budget and the account's budget of failures are checked first (429), and the password
    is checked after the read transaction has ended: a sign-in never holds a lock while it hashes."""
    email = email.strip().lower() if isinstance(email, str) else ""
    await caller.spend("login")
    async with caller.limits.failures("login_account", email, (401,)):
        async with db.read_only() as s:
            user = await s.scalar(select(User).where(User.email == email))
        ok = await password_matches(
            user.password_hash if user else None, password if isinstance(password, str) else ""
        )
        if not ok or user is None:
            raise ControlError("unauthorized", "wrong e-mail address or password", 401)
    return _may_sign_in(user)


def _may_sign_in(user: User) -> User:
    """The user, if they may sign in (the password was right), or 401 saying why not."""
    if not user.active:
        if deactivated(user):
            raise ControlError(
                "unauthorized",
                "this additional user is switched off: the main account's plan no "
                "longer includes additional users (R-ACC-2: Live or Automated); the main account "
                "can change the plan back",
                401,
            )
        raise ControlError(
            "unauthorized",
            "this user is not activated yet: follow the link in the activation e-mail to set a password",
            401,
        )
    return user


def deactivated(user: User) -> bool:
    """An additional user switched off by a downgrade (R-ACC-2): activated once (a password), now inactive."""
    return (
        user.role == "additional"
        and not user.active
        and user.password_hash is not None
        and user.activation_hash is None
    )


async def new_session(s: AsyncSession, user: User, acting: User | None = None) -> str:
    token = "mss_" + secrets.token_urlsafe(32)
    s.add(
        Session(
            token_hash=digest(token),
            user_id=user.id,
            acting_user_id=acting.id if acting else None,
            expires_at=utcnow() + dt.timedelta(days=SESSION_DAYS),
        )
    )
    await s.flush()
    return token


async def end_session(s: AsyncSession, token: str) -> None:
    await s.execute(delete(Session).where(Session.token_hash == digest(token)))


async def _principal(s: AsyncSession, user: User, via: str, impersonator: User | None = None) -> Principal:
    account = await s.get(Account, user.account_id)
    assert account is not None
    main = await s.get(Account, account.parent_id) if account.parent_id else account
    assert main is not None
    return Principal(user, account, main, via, impersonator)


async def resolve(s: AsyncSession, token: str) -> Principal | None:
    """The principal of a session token (cookie or Bearer) or an API key; None if neither is valid."""
    if token.startswith("mss_"):
        row = await s.scalar(select(Session).where(Session.token_hash == digest(token)))
        if row is None or row.expires_at <= utcnow():
            return None
        user = await s.get(User, row.user_id)
        if row.acting_user_id:
            acting = await s.get(User, row.acting_user_id)
            if acting is None or user is None:
                return None
            return await _principal(s, acting, "session", impersonator=user) if user.active else None
        return await _principal(s, user, "session") if user and user.active else None
    if token.startswith("msk_"):
        key = await s.scalar(select(ApiKey).where(ApiKey.key_hash == digest(token)))
        if key is None:
            return None
        key.last_used_at = utcnow()
        user = await s.get(User, key.user_id)
        return await _principal(s, user, "api_key") if user and user.active else None
    return None


async def new_api_key(s: AsyncSession, p: Principal, name: str) -> tuple[ApiKey, str]:
    if p.impersonator is not None:
        raise forbidden("API keys are made by the sub-account's own user, not while logged in as it")
    token = "msk_" + secrets.token_urlsafe(32)
    key = ApiKey(user_id=p.user.id, name=name, prefix=token[:12], key_hash=digest(token), created_at=utcnow())
    s.add(key)
    await s.flush()
    return key, token


async def api_keys(s: AsyncSession, p: Principal) -> list[ApiKey]:
    return list(await s.scalars(select(ApiKey).where(ApiKey.user_id == p.user.id).order_by(ApiKey.id)))


async def delete_api_key(s: AsyncSession, p: Principal, key_id: int) -> None:
    key = await s.get(ApiKey, key_id)
    if key is None or key.user_id != p.user.id:
        raise not_found("API key")
    await s.delete(key)


# ---------------------------------------------------------------- account settings (R-ACC-5)


def account_settings(p: Principal) -> dict[str, Any]:
    """The user's personal data and the account's signature, branding and auto-recording (R-ACC-5)."""
    return {
        "name": p.user.name,
        "language": p.user.language,
        "signature": p.account.signature or "",
        "branding": p.account.branding or {},
        "autoRecord": bool((p.account.settings or {}).get("autoRecord")),
    }


def update_settings(
    p: Principal,
    *,
    name: str | None = None,
    language: str | None = None,
    signature: str | None = None,
    branding: dict[str, Any] | None = None,
    auto_record: bool | None = None,
) -> dict[str, Any]:
    """Change what is given (None: unchanged) and return :func:`account_settings`. Everyone changes their own
    name and language (the owner's language is also the account's); the signature, branding and advanced
    settings are the account's, which an additional user may not change (403, R-ACC-5)."""
    shared = signature is not None or branding is not None or auto_record is not None
    if shared and p.role == "additional":
        raise forbidden("the account's signature, branding and advanced settings belong to the main account")
    if name is not None:
        p.user.name = name
    if language is not None:
        p.user.language = language
        if p.user.role == "owner":
            p.account.language = language
    if signature is not None:
        p.account.signature = signature
    if branding is not None:
        p.account.branding = branding
    if auto_record is not None:
        p.account.settings = {**(p.account.settings or {}), "autoRecord": auto_record}
    return account_settings(p)


# ---------------------------------------------------------------- activation (additional users, sub-accounts)


async def _invite_user(
    s: AsyncSession, account: Account, email: str, name: str, role: str, base_url: str, inviter: str
) -> User:
    user = User(
        account_id=account.id, email=email, name=name, role=role, active=False, language=account.language
    )
    s.add(user)
    try:
        await s.flush()
    except IntegrityError:
        raise ControlError("email_taken", "an account with this e-mail address already exists", 409) from None
    await _activation_mail(s, account, user, "activation", base_url, {"inviter": inviter})
    return user


async def _activation_mail(
    s: AsyncSession, account: Account, user: User, kind: str, base_url: str, extra: dict[str, Any]
) -> None:
    """A new activation link for ``user`` (an earlier one stops working), mailed to their address."""
    token = secrets.token_urlsafe(32)
    user.activation_hash = digest(token)
    user.activation_expires = utcnow() + dt.timedelta(days=ACTIVATION_DAYS)
    await mail.queue(
        s,
        account.id,
        kind,
        user.email,
        user.language or account.language,
        {
            "name": user.name,
            "page_name": account.page_name,
            "link": f"{base_url}/dashboard#activate={token}",
            "days": ACTIVATION_DAYS,
            **extra,
        },
    )


async def activate(s: AsyncSession, caller: Caller, token: str, password: str) -> User:
    """R-ACC-3: the e-mailed link where the user sets a password. The address's budget is spent and the
    password hashed before ``s`` begins its transaction (issue 14 finding 3)."""
    await caller.spend("activate")
    password_hash = await hash_password(password)
    user = await s.scalar(select(User).where(User.activation_hash == digest(token)))
    if user is None or user.activation_expires is None or user.activation_expires <= utcnow():
        raise ControlError(
            "bad_token",
            "this activation link is not valid or has expired; ask the main account for a new one (your "
            "own sign-up: sign up again for a new link)",
            400,
        )
    if user.role == "additional":
        account = await s.get(Account, user.account_id)
        if account is None or not plans.PLANS[account.plan].additional_users:
            raise ControlError(
                "plan_required",
                "the main account's plan no longer includes additional users "
                "(R-ACC-2: Live or Automated); ask the main account",
                402,
            )
    account = await s.get(Account, user.account_id)
    if account is not None and pending_signup(user, account):  # the trial starts now (R-ACC-1)
        account.trial_ends_at = plans.trial_end(utcnow())
    user.password_hash = password_hash
    user.active, user.activation_hash, user.activation_expires = True, None, None
    return user


async def add_user(s: AsyncSession, p: Principal, name: str, email: str, base_url: str) -> User:
    """R-ACC-2: up to 3 additional users on a Live or Automated plan (bought as the extra_users add-on)."""
    p.require_main("add users")
    if not plans.PLANS[p.main.plan].additional_users:
        raise ControlError("plan_required", "additional users need the Live or Automated plan (R-ACC-2)", 402)
    bought = min(plans.MAX_ADDITIONAL_USERS, int((p.main.addons or {}).get("extra_users", 0)))
    have = (
        await s.execute(
            select(func.count())
            .select_from(User)
            .where(User.account_id == p.main.id, User.role == "additional")
        )
    ).scalar_one()
    if have >= bought:
        raise ControlError(
            "limit_reached",
            f"the account has {bought} additional user(s) bought and {have} in use; "
            f"at most {plans.MAX_ADDITIONAL_USERS} can be bought (R-ACC-2)",
            409,
        )
    await _email_free(s, check_email(email))
    return await _invite_user(s, p.main, check_email(email), name, "additional", base_url, p.user.name)


async def users(s: AsyncSession, p: Principal) -> list[User]:
    """The users of the main account (main account only, R-ACC-2)."""
    p.require_main("manage users")
    return list(await s.scalars(select(User).where(User.account_id == p.account.id).order_by(User.id)))


async def delete_user(s: AsyncSession, p: Principal, user_id: int) -> None:
    p.require_main("remove users")
    user = await s.get(User, user_id)
    if user is None or user.account_id != p.main.id:
        raise not_found("user")
    if user.role == "owner":
        raise ControlError("bad_request", "the main account's own user cannot be removed")
    await s.delete(user)  # their events go with them (ON DELETE CASCADE)


# ---------------------------------------------------------------- sub-accounts (R-ACC-3)


async def subaccount(s: AsyncSession, p: Principal, sub_id: int) -> Account:
    p.require_main("manage sub-accounts")
    sub = await s.get(Account, sub_id)
    if sub is None or sub.parent_id != p.main.id:
        raise not_found("sub-account")
    return sub


async def sub_owner(s: AsyncSession, sub: Account) -> User | None:
    return await s.scalar(select(User).where(User.account_id == sub.id, User.role == "owner"))


async def subaccounts(s: AsyncSession, p: Principal) -> list[Account]:
    p.require_main("manage sub-accounts")
    return list(await s.scalars(select(Account).where(Account.parent_id == p.main.id).order_by(Account.id)))


async def _new_subaccount(
    s: AsyncSession,
    p: Principal,
    page_name: str,
    package: str | None,
    user_name: str,
    email: str,
    base_url: str,
    sub_id: int | None = None,
) -> tuple[Account, User]:
    """A new, empty sub-account of the main account (under ``sub_id`` when given) and its invited owner."""
    await _email_free(s, email)
    sub = Account(
        id=sub_id,
        kind="sub",
        parent_id=p.main.id,
        page_name=page_name,
        plan="sub",
        package=package,
        addons={},
        language=p.main.language,
        branding={},
        settings={},
    )
    s.add(sub)
    await s.flush()
    user = await _invite_user(s, sub, email, user_name, "owner", base_url, p.user.name)
    return sub, user


async def create_subaccount(
    s: AsyncSession, p: Principal, page_name: str, user_name: str, email: str, package: str, base_url: str
) -> tuple[Account, User]:
    """Page name, user name and e-mail; the user activates it from the e-mailed link (R-ACC-3). Only one
    level: a sub-account has no sub-accounts (require_main refuses its user)."""
    p.require_main("create sub-accounts")
    email = check_email(email)
    bought = int((p.main.addons or {}).get("sub_accounts", 0))
    have = (
        await s.execute(select(func.count()).select_from(Account).where(Account.parent_id == p.main.id))
    ).scalar_one()
    if have >= bought:
        raise ControlError(
            "limit_reached",
            f"{bought} sub-account(s) bought and {have} in use: the main account "
            "buys more as the sub_accounts add-on (R-ACC-3, R-BILL-5)",
            409,
        )
    return await _new_subaccount(s, p, page_name, package, user_name, email, base_url)


async def edit_subaccount(s: AsyncSession, p: Principal, sub_id: int, changes: dict[str, Any]) -> Account:
    sub = await subaccount(s, p, sub_id)
    if changes.get("page_name") is not None:
        sub.page_name = changes["page_name"]
    if changes.get("package") is not None:  # change of package: own storage and recording
        sub.package = changes["package"]
    owner = await sub_owner(s, sub)
    if owner is not None and changes.get("user_name") is not None:
        owner.name = changes["user_name"]
    return sub


def _confirm(sub: Account, confirm: Any) -> None:
    if confirm != sub.page_name:
        raise ControlError(
            "confirmation_required",
            "this removes the sub-account user's data for good: repeat "
            f"the sub-account's page name in 'confirm' ({sub.page_name!r}) to go on",
            409,
        )


async def _wipe(s: AsyncSession, sub: Account) -> list[str]:
    """Everything the sub-account holds goes (cascades); returns the stored files to remove from disk."""
    keys = list(await s.scalars(select(LibraryFile.storage_key).where(LibraryFile.account_id == sub.id)))
    return keys


async def delete_subaccount(s: AsyncSession, p: Principal, sub_id: int, confirm: Any) -> list[str]:
    """Irreversible, after an explicit confirmation; the add-on stays bought (R-ACC-3)."""
    sub = await subaccount(s, p, sub_id)
    _confirm(sub, confirm)
    keys = await _wipe(s, sub)
    await s.delete(sub)
    return keys


async def reassign_subaccount(
    s: AsyncSession, p: Principal, sub_id: int, user_name: str, email: str, confirm: Any, base_url: str
) -> tuple[Account, User, list[str]]:
    """Reassign = delete the assigned user and create a new one; the original says deleting the user deletes
    their data too, irreversibly (R-ACC-3): the sub-account keeps its id, name and package and starts empty
    (the row goes with everything it holds, by the cascades, and comes back under the same id)."""
    sub = await subaccount(s, p, sub_id)
    _confirm(sub, confirm)
    email = check_email(email)
    keys = await _wipe(s, sub)
    page_name, package = sub.page_name, sub.package
    await s.delete(sub)
    await s.flush()
    s.expunge(sub)
    new, user = await _new_subaccount(s, p, page_name, package, user_name, email, base_url, sub_id)
    return new, user, keys


async def login_as(s: AsyncSession, p: Principal, sub_id: int) -> str:
    """R-ACC-3: the main account logs in as a sub-account: a session acting as its user."""
    sub = await subaccount(s, p, sub_id)
    owner = await sub_owner(s, sub)
    if owner is None:
        raise ControlError("conflict", "this sub-account has no user", 409)
    return await new_session(s, p.user, acting=owner)
