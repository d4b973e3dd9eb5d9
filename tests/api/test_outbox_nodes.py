"""The outbox shared by the nodes of a cluster (issue 19): each node runs a dispatcher over the one database,
and a mail (or a webhook) is claimed by one of them only, so it is sent once. Two dispatchers (the server's
and a second one on its own connection pool, as another node would have) claim from 200 queued mails at
once, 40 claims of 5 each, on SQLite and PostgreSQL: no mail is claimed twice. Before the fix (claiming
without FOR UPDATE SKIP LOCKED) the PostgreSQL run claimed some twice."""

from __future__ import annotations

import asyncio
from collections import Counter

from mediaserver.outbox.dispatch import Dispatcher
from mediaserver.store import sealed
from mediaserver.store.db import Database
from mediaserver.store.models import Email
from signaling import keys


async def test_two_nodes_dispatchers_never_claim_one_mail_twice(api):
    first = api.app[keys.DISPATCHER]
    await first.close()  # its loop would claim too: the claims below are the only ones
    other_db = Database(api.settings.database_url, sealed.load_key(api.settings.data_dir))
    other = Dispatcher(other_db, first.mailer, api.settings)
    try:
        async with first.db.tx() as s:
            for i in range(200):
                s.add(
                    Email(
                        kind="test",
                        to_addr=f"p{i}@example.test",
                        subject=f"m{i}",
                        body_text="x",
                        body_html="x",
                    )
                )
        claims = [d._claim(Email, 5) for _ in range(20) for d in (first, other)]
        claimed = Counter(i for ids in await asyncio.gather(*claims) for i in ids)
        twice = [i for i, n in claimed.items() if n > 1]
        assert not twice, f"{len(twice)} mails claimed by both nodes"
        assert len(claimed) == 200  # and every one by one of them
    finally:
        await other_db.close()
