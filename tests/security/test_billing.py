"""Issue 14 finding 1 (HIGH): an account could give itself any plan and unlimited add-ons (POST
/api/v1/billing/plan and /billing/addons, up to 100,000 a call and unbounded in total). Plans and add-ons are
now the operator's act (the server's api_key), accounts read their billing only, and add-ons are capped."""

from __future__ import annotations

from mediaserver.billing import plans
from tests.api.conftest import call, operator, signup
from tests.conftest import API_KEY


async def test_an_account_cannot_change_its_own_plan_or_buy_add_ons(api):
    """Issue 14 finding 1: a trial account's plan change and add-on purchase get 403, and change nothing."""
    http, me = await signup(api)
    err = await call(http, "POST", "/api/v1/billing/plan", 403, json={"plan": "automated"})
    assert "operator" in err["error"]["message"]
    await call(http, "POST", "/api/v1/billing/addons", 403, json={"addon": "extra_storage_mb", "quantity": 1})
    # a paid account cannot add to its plan either
    await operator(http, "plan", json={"plan": "live"})
    await call(http, "POST", "/api/v1/billing/addons", 403, json={"addon": "sub_accounts", "quantity": 5})
    await call(http, "POST", "/api/v1/billing/plan", 403, json={"plan": "automated"})
    billing = await call(http, "GET", "/api/v1/billing", 200)  # read-only, still there
    assert billing["plan"] == "live" and billing["addons"] == {}
    assert (await call(http, "GET", "/api/v1/me", 200))["account"]["plan"] == "live"


async def test_the_operator_sets_plans_and_add_ons_within_caps(api):
    """Issue 14 finding 1: the operator (api_key) sets a named account's plan and add-ons; add-ons are capped
    per account; an account's own key or session is not the operator's."""
    http, me = await signup(api)
    account = me["account"]["id"]
    base = f"/api/v1/admin/accounts/{account}/billing"
    # without the server's key: 401, whatever the account's session
    await call(http, "POST", f"{base}/plan", 401, json={"plan": "live"})
    key = (await call(http, "POST", "/api/v1/api-keys", 201, json={"name": "own"}))["key"]
    await call(api.client(key), "POST", f"{base}/plan", 401, json={"plan": "live"})
    got = await call(api.client(API_KEY), "POST", f"{base}/plan", 200, json={"plan": "live"})
    assert got["plan"] == "live"
    assert (await call(http, "GET", "/api/v1/billing", 200))["plan"] == "live"

    op = api.client(API_KEY)
    storage = plans.ADDON_MAX["extra_storage_mb"]
    await call(op, "POST", f"{base}/addons", 400, json={"addon": "extra_storage_mb", "quantity": 100_000_000})
    await call(op, "POST", f"{base}/addons", 200, json={"addon": "extra_storage_mb", "quantity": storage})
    err = await call(op, "POST", f"{base}/addons", 409, json={"addon": "extra_storage_mb", "quantity": 1})
    assert str(storage) in err["error"]["message"]
    for addon in ("sub_accounts", "parallel_sessions", "extra_recording_minutes"):
        cap = plans.ADDON_MAX[addon]
        await call(op, "POST", f"{base}/addons", 200, json={"addon": addon, "quantity": cap})
        await call(op, "POST", f"{base}/addons", 409, json={"addon": addon, "quantity": 1})
    # taking back what was added
    after = await call(op, "POST", f"{base}/addons", 200, json={"addon": "sub_accounts", "quantity": -1})
    assert after["addons"]["sub_accounts"] == plans.ADDON_MAX["sub_accounts"] - 1
    assert (await call(op, "GET", f"{base}", 200))["addons"] == after["addons"]
    # a sub-account or an unknown id is no main account
    await call(op, "POST", "/api/v1/admin/accounts/999999/billing/plan", 404, json={"plan": "live"})
    sub = await call(
        http,
        "POST",
        "/api/v1/subaccounts",
        201,
        json={"pageName": "S", "userName": "U", "email": "u@example.test"},
    )
    await call(op, "POST", f"/api/v1/admin/accounts/{sub['id']}/billing/plan", 404, json={"plan": "live"})
