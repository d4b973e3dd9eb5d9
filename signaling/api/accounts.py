"""/api/v1 operations of accounts (R-ACC-1..5), sessions, API keys, billing visibility (R-ACC-4) and
webhooks."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field

from mediaserver.accounts import identity, recovery
from mediaserver.billing import plans, subscription
from mediaserver.library.storage import Storage
from mediaserver.outbox import subscriptions, webhooks
from signaling import keys
from signaling.api.framework import API, COOKIE, Ctx, Model, Out, Page, Text, page

if TYPE_CHECKING:
    from mediaserver.store.models import Account

Lang = Literal["en", "ru"]
Name = Annotated[Text, Field(min_length=1, max_length=120)]
Email = Annotated[Text, Field(min_length=3, max_length=320)]
Password = Annotated[Text, Field(min_length=10, max_length=200)]


def _url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in value):
        raise ValueError("must be an http(s) URL")
    return value


Url = Annotated[Text, Field(max_length=2000, pattern=r"^https?://\S+$"), AfterValidator(_url)]


# ---------------------------------------------------------------- models


class UserOut(Out):
    id: int
    name: str
    email: str
    role: str
    active: bool


class AccountOut(Out):
    id: int
    kind: str
    page_name: str
    plan: str | None = Field(description="null for additional and sub-account users: billing data (R-ACC-4)")
    package: str | None = Field(
        None, description="a sub-account's package; null unless the main account asks"
    )
    trial_ends_at: dt.datetime | None = Field(None, description="null for additional and sub-account users")
    language: str


class Me(Out):
    user: UserOut
    account: AccountOut
    role: Literal["main", "additional", "sub"]
    impersonated_by: int | None = None
    limits: dict[str, Any] = Field(
        description="what the account can do (attendees, presenters, cameras, "
        "recording minutes, storage, ...); the main account also sees which purchases "
        "its plan allows (additional_users)"
    )


class Signup(Model):
    """R-ACC-1: no payment details are asked."""

    name: Name
    email: Email
    password: Password | None = Field(
        None,
        description="not used: the password is set on the page the activation link opens (issue 14 "
        "finding 22); accepted so that older clients keep working",
    )
    page_name: Annotated[Text, Field(max_length=120)] = ""
    language: Lang = "en"


class SignupOut(Out):
    message: str


SIGNUP_SENT = (
    "check your mailbox: the e-mail we sent has the link that sets your password and starts your "
    "7-day trial (if the address already has an account, the e-mail says so instead)"
)


class Login(Model):
    email: Annotated[Text, Field(max_length=320)]
    password: Annotated[Text, Field(max_length=200)]


class Activate(Model):
    token: Annotated[Text, Field(min_length=1, max_length=200)]
    password: Password


def me(p: identity.Principal) -> Me:
    """The principal with the billing data they may see (R-ACC-4:
    mediaserver.billing.subscription.visible)."""
    seen = subscription.visible(p)
    account = AccountOut.model_validate(p.account).model_copy(
        update={"plan": seen.plan, "package": seen.package, "trial_ends_at": seen.trial_ends_at}
    )
    return Me(
        user=UserOut.model_validate(p.user),
        account=account,
        role=p.role,
        impersonated_by=p.impersonator.id if p.impersonator else None,
        limits=seen.limits,
    )


async def _signed_in(ctx: Ctx, user: Any) -> Me:
    token = await identity.new_session(ctx.s, user)
    ctx.cookies.append((COOKIE, token))
    p = await identity.resolve(ctx.s, token)
    assert p is not None
    return me(p)


@API(
    "POST",
    "/api/v1/signup",
    "sign up: a 7-day trial without payment details (R-ACC-1). The answer is 202 whether or not the address "
    "has an account (issue 14 finding 22): a new address gets an activation link by e-mail (POST "
    "/api/v1/activate sets the password, signs in and starts the trial); a registered one gets a mail "
    "saying someone tried to sign up with it",
    "accounts",
    body=Signup,
    response=SignupOut,
    status=202,
    auth=False,
    errors=(429,),
)
async def signup(ctx: Ctx) -> SignupOut:
    b: Signup = ctx.body
    await identity.signup(
        ctx.s, b.name, b.email, b.page_name, b.language, ctx.settings.public_url, ctx.caller
    )
    return SignupOut(message=SIGNUP_SENT)


@API(
    "POST",
    "/api/v1/session",
    "sign in: sets the session cookie of the web UI",
    "accounts",
    body=Login,
    response=Me,
    auth=False,
    errors=(429, 503),
)
async def login(ctx: Ctx) -> Me:
    # the password is checked before the request's transaction begins (with the session's write)
    user = await identity.login(ctx.db, ctx.caller, ctx.body.email, ctx.body.password)
    return await _signed_in(ctx, user)


@API("DELETE", "/api/v1/session", "sign out (also ends a log-in-as)", "accounts", status=204)
async def logout(ctx: Ctx) -> None:
    token = ctx.request.cookies.get(COOKIE)
    if token:
        await identity.end_session(ctx.s, token)
    ctx.cookies.append((COOKIE, None))


@API(
    "POST",
    "/api/v1/activate",
    "activate a new sign-up, an additional user or a sub-account: set the password from the e-mailed link "
    "(R-ACC-1, R-ACC-3); signs in",
    "accounts",
    body=Activate,
    response=Me,
    auth=False,
    errors=(429, 503),
)
async def activate(ctx: Ctx) -> Me:
    user = await identity.activate(ctx.s, ctx.caller, ctx.body.token, ctx.body.password)
    return await _signed_in(ctx, user)


class ResetRequest(Model):
    email: Email


class ResetConfirm(Model):
    token: Annotated[Text, Field(min_length=1, max_length=200, description="from the e-mailed link")]
    password: Password


RESET_SENT = (
    "check your mailbox: if the address has an account, the e-mail we sent has a link that sets a new "
    f"password (it works for {recovery.RESET_MINUTES} minutes, once)"
)


@API(
    "POST",
    "/api/v1/password-reset",
    "ask for a new password: the answer is 202 whether or not the address has an account; an active user's "
    f"address gets a link (/dashboard#reset=<token>) that works for {recovery.RESET_MINUTES} minutes and "
    "once (POST /api/v1/password-reset/confirm). Budgeted per client address (rate_limit_password_reset) "
    f"and at most {recovery.RESET_MAILS_PER_HOUR} mails to an address in an hour. A retry asks again: no "
    "Idempotency-Key",
    "accounts",
    body=ResetRequest,
    response=SignupOut,
    status=202,
    auth=False,
    errors=(429,),
)
async def password_reset(ctx: Ctx) -> SignupOut:
    await recovery.request_reset(
        ctx.s, ctx.caller, ctx.body.email, ctx.settings.public_url, ctx.settings.secret
    )
    return SignupOut(message=RESET_SENT)


@API(
    "POST",
    "/api/v1/password-reset/confirm",
    "set a new password with the token of a reset link; ends the user's sessions (sign in again). A token "
    "works once: 400 bad_token when it is not valid or was used (the password changed since), 400 "
    "token_expired after its time. Budgeted like activations (rate_limit_activate)",
    "accounts",
    body=ResetConfirm,
    status=204,
    auth=False,
    errors=(429, 503),
)
async def password_reset_confirm(ctx: Ctx) -> None:
    b: ResetConfirm = ctx.body
    await recovery.confirm_reset(ctx.db, ctx.s, ctx.caller, b.token, b.password, ctx.settings.secret)


@API("GET", "/api/v1/me", "who is signed in, with the account's limits", "accounts", response=Me)
async def whoami(ctx: Ctx) -> Me:
    return me(ctx.user)


# ---------------------------------------------------------------- account settings (R-ACC-5)


class Colors(Model):
    primary: Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")] | None = None
    accent: Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")] | None = None
    background: Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")] | None = None
    text: Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")] | None = None


class Backgrounds(Model):
    room: Url | None = None
    registration: Url | None = None
    lobby: Url | None = None
    thank_you: Url | None = None


class EmailBlock(Model):
    """A block of the invitation e-mail; text, image and url blocks carry a value (R-ROOM-11)."""

    type: Literal[
        "logo",
        "link",
        "room_id",
        "token",
        "dial_in",
        "agenda",
        "presenter",
        "buttons",
        "text",
        "image",
        "url",
    ]
    value: Annotated[Text, Field(max_length=2000)] | None = None


class Branding(Model):
    """R-ROOM-11: logo, colours, background images of the room and its pages, e-mail layout and signature."""

    logo: Url | None = None
    colors: Colors | None = None
    backgrounds: Backgrounds | None = None
    email_blocks: Annotated[list[EmailBlock], Field(max_length=30)] | None = None
    signature: Annotated[Text, Field(max_length=2000)] | None = None


class AccountSettings(Out):
    name: str
    language: str
    signature: str
    branding: dict[str, Any]
    auto_record: bool


class AccountSettingsPatch(Model):
    name: Name | None = None
    language: Lang | None = None
    signature: Annotated[Text, Field(max_length=2000)] | None = None
    branding: Branding | None = None
    auto_record: bool | None = None


@API(
    "GET",
    "/api/v1/account/settings",
    "personal data, signature, language, branding, auto-recording (R-ACC-5)",
    "accounts",
    response=AccountSettings,
)
async def get_settings(ctx: Ctx) -> AccountSettings:
    return AccountSettings.model_validate(identity.account_settings(ctx.user))


@API(
    "PATCH",
    "/api/v1/account/settings",
    "change account settings (R-ACC-5); additional users change only their own name and language",
    "accounts",
    body=AccountSettingsPatch,
    response=AccountSettings,
    errors=(403,),
)
async def patch_settings(ctx: Ctx) -> AccountSettings:
    b: AccountSettingsPatch = ctx.body
    branding = b.branding.model_dump(mode="json", by_alias=True, exclude_none=True) if b.branding else None
    return AccountSettings.model_validate(
        identity.update_settings(
            ctx.user,
            name=b.name,
            language=b.language,
            signature=b.signature,
            branding=branding,
            auto_record=b.auto_record,
        )
    )


# ---------------------------------------------------------------- API keys


class ApiKeyIn(Model):
    name: Name


class ApiKeyOut(Out):
    id: int
    name: str
    prefix: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None = None


class NewApiKey(ApiKeyOut):
    key: str = Field(description="shown once: send it as 'Authorization: Bearer <key>'")


class ApiKeyList(Out):
    items: list[ApiKeyOut]


@API(
    "POST",
    "/api/v1/api-keys",
    "make an API key for the API (shown once: a retry with the same Idempotency-Key answers 409 "
    "secret_not_replayed, not the key)",
    "accounts",
    body=ApiKeyIn,
    response=NewApiKey,
    status=201,
    errors=(403, 409),
    idempotent=True,
    shown_once="key",
)
async def create_api_key(ctx: Ctx) -> NewApiKey:
    key, token = await identity.new_api_key(ctx.s, ctx.user, ctx.body.name)
    return NewApiKey(id=key.id, name=key.name, prefix=key.prefix, created_at=key.created_at, key=token)


@API("GET", "/api/v1/api-keys", "the signed-in user's API keys", "accounts", response=ApiKeyList)
async def list_api_keys(ctx: Ctx) -> ApiKeyList:
    return ApiKeyList(items=[ApiKeyOut.model_validate(k) for k in await identity.api_keys(ctx.s, ctx.user)])


@API("DELETE", "/api/v1/api-keys/{id}", "revoke an API key", "accounts", status=204)
async def delete_api_key(ctx: Ctx) -> None:
    await identity.delete_api_key(ctx.s, ctx.user, ctx.id())


# ---------------------------------------------------------------- additional users (R-ACC-2)


class UserIn(Model):
    name: Name
    email: Email


class UserList(Out):
    items: list[UserOut]


@API(
    "GET",
    "/api/v1/users",
    "the users of the main account (main account only)",
    "users",
    response=UserList,
    errors=(403,),
)
async def list_users(ctx: Ctx) -> UserList:
    return UserList(items=[UserOut.model_validate(u) for u in await identity.users(ctx.s, ctx.user)])


@API(
    "POST",
    "/api/v1/users",
    "add an additional user (up to 3, Live or Automated plan; R-ACC-2); they get an activation e-mail",
    "users",
    body=UserIn,
    response=UserOut,
    status=201,
    errors=(402, 403, 409),
    idempotent=True,
)
async def add_user(ctx: Ctx) -> UserOut:
    user = await identity.add_user(ctx.s, ctx.user, ctx.body.name, ctx.body.email, ctx.settings.public_url)
    return UserOut.model_validate(user)


@API(
    "DELETE",
    "/api/v1/users/{id}",
    "remove an additional user and their events",
    "users",
    status=204,
    errors=(400, 403),
)
async def delete_user(ctx: Ctx) -> None:
    await identity.delete_user(ctx.s, ctx.user, ctx.id())


# ---------------------------------------------------------------- sub-accounts (R-ACC-3)

Package = Literal["small", "medium", "large"]


class SubIn(Model):
    page_name: Name
    user_name: Name
    email: Email
    package: Package = "small"


class SubPatch(Model):
    page_name: Name | None = None
    user_name: Name | None = None
    package: Package | None = None


class SubConfirm(Model):
    confirm: Annotated[Text, Field(max_length=120, description="the sub-account's page name, repeated")]


class SubReassign(SubConfirm):
    user_name: Name
    email: Email


class SubOut(Out):
    id: int
    page_name: str
    package: str | None
    storage_mb: int
    recording_minutes: int
    user: UserOut | None
    created_at: dt.datetime


class SubList(Out):
    items: list[SubOut]


async def _sub_out(ctx: Ctx, sub: Account) -> SubOut:
    owner = await identity.sub_owner(ctx.s, sub)
    lim = subscription.subaccount_limits(ctx.user, sub)
    return SubOut(
        id=sub.id,
        page_name=sub.page_name,
        package=sub.package,
        storage_mb=lim.storage_mb,
        recording_minutes=lim.recording_minutes,
        user=UserOut.model_validate(owner) if owner else None,
        created_at=sub.created_at,
    )


@API(
    "GET",
    "/api/v1/subaccounts",
    "the sub-accounts (main account only)",
    "subaccounts",
    response=SubList,
    errors=(403,),
)
async def list_subaccounts(ctx: Ctx) -> SubList:
    return SubList(items=[await _sub_out(ctx, a) for a in await identity.subaccounts(ctx.s, ctx.user)])


@API(
    "POST",
    "/api/v1/subaccounts",
    "create a sub-account (page name, user name, e-mail); the user activates it "
    "from the e-mailed link (R-ACC-3)",
    "subaccounts",
    body=SubIn,
    response=SubOut,
    status=201,
    errors=(403, 409),
    idempotent=True,
)
async def create_subaccount(ctx: Ctx) -> SubOut:
    b: SubIn = ctx.body
    sub, _ = await identity.create_subaccount(
        ctx.s, ctx.user, b.page_name, b.user_name, b.email, b.package, ctx.settings.public_url
    )
    return await _sub_out(ctx, sub)


@API("GET", "/api/v1/subaccounts/{id}", "one sub-account", "subaccounts", response=SubOut, errors=(403,))
async def get_subaccount(ctx: Ctx) -> SubOut:
    return await _sub_out(ctx, await identity.subaccount(ctx.s, ctx.user, ctx.id()))


@API(
    "PATCH",
    "/api/v1/subaccounts/{id}",
    "edit a sub-account or change its package (R-ACC-3)",
    "subaccounts",
    body=SubPatch,
    response=SubOut,
    errors=(403,),
)
async def edit_subaccount(ctx: Ctx) -> SubOut:
    sub = await identity.edit_subaccount(ctx.s, ctx.user, ctx.id(), ctx.body.model_dump())
    return await _sub_out(ctx, sub)


@API(
    "POST",
    "/api/v1/subaccounts/{id}/reassign",
    "reassign: delete the user with their data and invite a new "
    "one (irreversible; repeat the page name in 'confirm')",
    "subaccounts",
    body=SubReassign,
    response=SubOut,
    errors=(403, 409),
)
async def reassign_subaccount(ctx: Ctx) -> SubOut:
    b: SubReassign = ctx.body
    sub_id = ctx.id()
    sub, _, files = await identity.reassign_subaccount(
        ctx.s, ctx.user, sub_id, b.user_name, b.email, b.confirm, ctx.settings.public_url
    )
    ctx.after_commit.append(lambda: Storage.of(ctx.settings).forget_account(files, sub_id))
    return await _sub_out(ctx, sub)


@API(
    "DELETE",
    "/api/v1/subaccounts/{id}",
    "delete a sub-account and all its data, irreversibly (repeat the page "
    "name in 'confirm'); the add-on stays bought (R-ACC-3)",
    "subaccounts",
    body=SubConfirm,
    status=204,
    errors=(403, 409),
)
async def delete_subaccount(ctx: Ctx) -> None:
    sub_id = ctx.id()
    files = await identity.delete_subaccount(ctx.s, ctx.user, sub_id, ctx.body.confirm)
    # the bytes go once the rows have
    ctx.after_commit.append(lambda: Storage.of(ctx.settings).forget_account(files, sub_id))


@API(
    "POST",
    "/api/v1/subaccounts/{id}/login-as",
    "log in as the sub-account (R-ACC-3): the session now acts as its user",
    "subaccounts",
    response=Me,
    errors=(403, 409),
    idempotent=False,
)  # sets the cookie
async def login_as(ctx: Ctx) -> Me:
    token = await identity.login_as(ctx.s, ctx.user, ctx.id())
    ctx.cookies.append((COOKIE, token))
    p = await identity.resolve(ctx.s, token)
    assert p is not None
    return me(p)


# ---------------------------------------------------------------- billing (R-ACC-4)


class BillingOut(Out):
    plan: str
    period: str | None
    trial_ends_at: dt.datetime | None
    addons: dict[str, int]
    limits: dict[str, Any]
    notice: str | None = Field(
        None, description="what a change of plan did besides (additional users switched off or on, R-ACC-2)"
    )


class PlanIn(Model):
    plan: Literal["mywebinars", "mywebinars_pro", "live", "automated"]
    period: Literal["monthly", "annual"] = "monthly"


Addon = Literal[
    "parallel_sessions",
    "sub_accounts",
    "extra_users",
    "extra_storage_mb",
    "extra_recording_minutes",
    "extra_cameras",
]


class AddonIn(Model):
    addon: Addon
    quantity: Annotated[
        int,
        Field(
            ge=-max(plans.ADDON_MAX.values()),
            le=max(plans.ADDON_MAX.values()),
            description="how many to add (negative: take back); an account holds at most "
            + ", ".join(f"{n} {a}" for a, n in plans.ADDON_MAX.items()),
        ),
    ] = 1


@API(
    "GET",
    "/api/v1/billing",
    "plan, period, add-ons and limits: the main account only (R-ACC-4)",
    "billing",
    response=BillingOut,
    errors=(403,),
)
async def get_billing(ctx: Ctx) -> BillingOut:
    return BillingOut.model_validate(subscription.billing(ctx.user))


@API(
    "POST",
    "/api/v1/billing/plan",
    "always refused (403): this server takes no payment for plans, so the operator sets an account's plan "
    "(POST /api/v1/admin/accounts/{id}/billing/plan)",
    "billing",
    body=PlanIn,
    response=BillingOut,
    errors=(403,),
)
async def change_plan(ctx: Ctx) -> BillingOut:
    ctx.user.require_main("change the plan")
    raise subscription.operator_only("a change of plan")  # issue 14 finding 1


@API(
    "POST",
    "/api/v1/billing/addons",
    "always refused (403): this server takes no payment for add-ons, so the operator adds them "
    "(POST /api/v1/admin/accounts/{id}/billing/addons)",
    "billing",
    body=AddonIn,
    response=BillingOut,
    errors=(403,),
)
async def buy_addon(ctx: Ctx) -> BillingOut:
    ctx.user.require_main("buy add-ons")
    raise subscription.operator_only("buying an add-on")  # issue 14 finding 1


@API(
    "GET",
    "/api/v1/admin/accounts/{id}/billing",
    "the operator (the server's api_key): a main account's plan, add-ons and limits",
    "billing",
    response=BillingOut,
    auth=False,
    api_key=True,
)
async def admin_get_billing(ctx: Ctx) -> BillingOut:
    main = await subscription.main_account(ctx.s, ctx.id())
    return BillingOut.model_validate(subscription.billing_of(main))


@API(
    "POST",
    "/api/v1/admin/accounts/{id}/billing/plan",
    "the operator (the server's api_key) sets a main account's paid plan (no way back to the trial). A plan "
    "without additional users (not Live or Automated) switches them off, keeping their events; moving back "
    "switches them on (R-ACC-2)",
    "billing",
    body=PlanIn,
    response=BillingOut,
    auth=False,
    api_key=True,
    idempotent=True,
)
async def admin_change_plan(ctx: Ctx) -> BillingOut:
    main = await subscription.main_account(ctx.s, ctx.id())
    return BillingOut.model_validate(
        await subscription.change_plan(ctx.s, main, ctx.body.plan, ctx.body.period, ctx.app[keys.ROOMS])
    )


@API(
    "POST",
    "/api/v1/admin/accounts/{id}/billing/addons",
    "the operator (the server's api_key) adds an add-on to a main account on a paid plan (R-BILL-5); "
    "each add-on has a most an account can hold",
    "billing",
    body=AddonIn,
    response=BillingOut,
    auth=False,
    api_key=True,
    errors=(402, 409),
    idempotent=True,
)
async def admin_add_addon(ctx: Ctx) -> BillingOut:
    main = await subscription.main_account(ctx.s, ctx.id())
    return BillingOut.model_validate(
        await subscription.add_addon(ctx.s, main, ctx.body.addon, ctx.body.quantity, ctx.app[keys.ROOMS])
    )


# ---------------------------------------------------------------- webhooks

EventType = Literal[webhooks.EVENT_TYPES]  # type: ignore[valid-type]


class WebhookIn(Model):
    url: Url
    events: Annotated[list[EventType], Field(max_length=len(webhooks.EVENT_TYPES))] = Field(
        default_factory=list, description="what to send; empty: everything"
    )


class WebhookOut(Out):
    id: int
    url: str
    events: list[str]
    active: bool
    created_at: dt.datetime


class NewWebhook(WebhookOut):
    secret: str = Field(description="shown once: the HMAC-SHA256 key of the X-Mediaserver-Signature header")


class WebhookList(Out):
    items: list[WebhookOut]


class DeliveryOut(Out):
    id: int
    event_type: str
    status: str
    attempts: int
    last_status: int | None
    last_error: str
    created_at: dt.datetime
    delivered_at: dt.datetime | None
    next_attempt_at: dt.datetime


class DeliveryPage(Page[DeliveryOut]):
    pass


@API(
    "POST",
    "/api/v1/webhooks",
    "subscribe an https URL at a public address to happenings (signed with HMAC, retried with back-off); "
    "the signing secret is shown once: a retry with the same Idempotency-Key answers 409 secret_not_replayed",
    "webhooks",
    body=WebhookIn,
    response=NewWebhook,
    status=201,
    errors=(403, 409),
    idempotent=True,
    shown_once="secret",
)
async def create_webhook(ctx: Ctx) -> NewWebhook:
    hook = await subscriptions.subscribe(
        ctx.s, ctx.user.integrations(), ctx.body.url, ctx.body.events, ctx.app[keys.OUTBOUND]
    )
    return NewWebhook.model_validate(hook)


@API("GET", "/api/v1/webhooks", "the account's webhooks", "webhooks", response=WebhookList, errors=(403,))
async def list_webhooks(ctx: Ctx) -> WebhookList:
    rows = await subscriptions.webhooks(ctx.s, ctx.user.integrations())
    return WebhookList(items=[WebhookOut.model_validate(h) for h in rows])


@API(
    "DELETE",
    "/api/v1/webhooks/{id}",
    "remove a webhook and its delivery log",
    "webhooks",
    status=204,
    errors=(403,),
)
async def delete_webhook(ctx: Ctx) -> None:
    await subscriptions.unsubscribe(ctx.s, ctx.user.integrations(), ctx.id())


@API(
    "GET",
    "/api/v1/webhooks/{id}/deliveries",
    "the delivery log, newest first",
    "webhooks",
    response=DeliveryPage,
    paginated=True,
    errors=(403,),
)
async def webhook_deliveries(ctx: Ctx) -> dict[str, Any]:
    account_id = ctx.user.integrations()
    hook_id = ctx.id()
    offset, limit = ctx.page()
    rows, total = await subscriptions.deliveries(ctx.s, account_id, hook_id, offset, limit)
    return page([DeliveryOut.model_validate(r) for r in rows], total, offset, limit)
