"""Signing secrets encrypted at rest: never stored as given, sealed with the first of WEBHOOKS_SECRET_KEYS
and opened with any (rotation), the stored ones sealed again under a new first key by the worker, the
migration that converts a database holding clear secrets (and back), and the setting required."""

import asyncio

import asyncpg
import httpx
import pytest
from alembic import command
from pydantic import SecretStr
from standardwebhooks import Webhook

from crm_shared.migrations import alembic_config
from crm_shared.testing import app_client
from crm_webhooks.config import Settings
from crm_webhooks.deliveries.worker import DeliveryWorker
from crm_webhooks.main import SERVICE_DIR, create_app
from crm_webhooks.sealing import SecretBox, UnknownKey, key_id
from tests.webhooks.conftest import ADMIN, publish, subscribe
from tests.webhooks.test_fan_out import lifecycle

NEW_KEY = "a-new-key-for-the-signing-secrets-" + "n" * 16


def test_the_box_seals_with_the_first_key_and_opens_with_any() -> None:
    old, new = SecretBox(["o" * 32]), SecretBox([NEW_KEY, "o" * 32])
    sealed = old.seal("whsec_abc")
    assert "whsec_abc" not in sealed
    assert sealed.startswith(key_id("o" * 32) + ":")
    assert old.seal("whsec_abc") != sealed  # a fresh IV every time
    assert new.open(sealed) == "whsec_abc"
    resealed = new.reseal(sealed)
    assert resealed.startswith(new.current + ":")
    assert SecretBox([NEW_KEY]).open(resealed) == "whsec_abc"
    with pytest.raises(UnknownKey):
        SecretBox([NEW_KEY]).open(sealed)
    with pytest.raises(UnknownKey):
        old.open(sealed[:-4] + "AAA=")  # tampered


def test_the_keys_are_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEBHOOKS_SECRET_KEYS", raising=False)
    with pytest.raises(ValueError, match="WEBHOOKS_SECRET_KEYS is not set"):
        Settings()
    with pytest.raises(ValueError, match="at least 32 bytes"):
        Settings(secret_keys=["short"])


async def test_a_new_first_key_reseals_the_stored_secrets(settings: Settings, db: asyncpg.Connection) -> None:
    async with app_client(create_app(settings), headers=ADMIN) as client:
        sub = await subscribe(client)
        rotated = (
            await client.post(
                f"/api/v1/webhooks/subscriptions/{sub['id']}/rotate-secret",
                json={"overlap_seconds": 3600},
                headers={"Idempotency-Key": "rotate"},
            )
        ).json()["secret"]
        await publish(client, lifecycle("decline"))
    old_id = settings.secret_box().current
    assert await db.fetchval("SELECT secret_sealed LIKE $1 || ':%' FROM webhook_subscriptions", old_id)
    keys = [SecretStr(NEW_KEY), *settings.secret_keys]  # model_copy does not validate: SecretStr as parsed
    rotated_settings = settings.model_copy(update={"secret_keys": keys})
    sent: list[httpx.Request] = []

    async def receiver(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(204)

    app = create_app(rotated_settings)
    async with app_client(app):
        worker = DeliveryWorker(app.state.sessionmaker, rotated_settings, transport=httpx.MockTransport(receiver))
        assert await worker.reseal() == 1
        assert await worker.reseal() == 0  # nothing left under the old key
        row = await db.fetchrow("SELECT secret_sealed, previous_secret_sealed FROM webhook_subscriptions")
        assert row["secret_sealed"].startswith(key_id(NEW_KEY) + ":")
        assert row["previous_secret_sealed"].startswith(key_id(NEW_KEY) + ":")
        # The old key can go: the new one alone opens both secrets, and deliveries verify with each.
        only_new = settings.model_copy(update={"secret_keys": [SecretStr(NEW_KEY)]})
        worker = DeliveryWorker(app.state.sessionmaker, only_new, transport=httpx.MockTransport(receiver))
        assert (await worker.run_once()).succeeded == 1
        await worker.stop()
    for secret in (sub["secret"], rotated):
        Webhook(secret).verify(sent[0].content, dict(sent[0].headers))


async def test_the_migration_seals_clear_secrets_and_back(
    settings: Settings, db_url: str, db: asyncpg.Connection
) -> None:
    config = alembic_config(SERVICE_DIR, db_url)
    await asyncio.to_thread(command.downgrade, config, "0003")
    await db.execute(
        "INSERT INTO webhook_subscriptions (url, event_types, owner_kind, owner_id, secret, previous_secret) "
        "VALUES ('https://a.example/', '{*}', 'user', 'u', 'whsec_one', 'whsec_old'), "
        "('https://b.example/', '{*}', 'user', 'u', 'whsec_two', NULL)"
    )
    await asyncio.to_thread(command.upgrade, config, "head")
    box = settings.secret_box()
    rows = await db.fetch("SELECT url, secret_sealed, previous_secret_sealed FROM webhook_subscriptions ORDER BY url")
    assert [
        (box.open(r["secret_sealed"]), r["previous_secret_sealed"] and box.open(r["previous_secret_sealed"]))
        for r in rows
    ] == [
        ("whsec_one", "whsec_old"),
        ("whsec_two", None),
    ]
    columns = {
        r[0]
        for r in await db.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'webhook_subscriptions'"
        )
    }
    assert not {"secret", "previous_secret"} & columns
    await asyncio.to_thread(command.downgrade, config, "0003")
    clear = await db.fetch("SELECT secret, previous_secret FROM webhook_subscriptions ORDER BY url")
    assert [tuple(r) for r in clear] == [("whsec_one", "whsec_old"), ("whsec_two", None)]
    await asyncio.to_thread(command.upgrade, config, "head")


async def test_a_secret_under_a_key_no_longer_configured_fails_its_deliveries_only(
    settings: Settings, db: asyncpg.Connection
) -> None:
    app = create_app(settings)
    async with app_client(app, headers=ADMIN) as client:
        lost = await subscribe(client)
        kept = await subscribe(client)
        foreign = SecretBox(["a-key-that-is-gone-" + "g" * 20]).seal(lost["secret"])
        await db.execute("UPDATE webhook_subscriptions SET secret_sealed = $1 WHERE id = $2::uuid", foreign, lost["id"])
        await publish(client, lifecycle("decline"))
        sent: list[httpx.Request] = []

        async def receiver(request: httpx.Request) -> httpx.Response:
            sent.append(request)
            return httpx.Response(204)

        worker = DeliveryWorker(app.state.sessionmaker, settings, transport=httpx.MockTransport(receiver))
        assert await worker.reseal() == 0  # left as it is, the others go on
        result = await worker.run_once()
        await worker.stop()
    assert (result.succeeded, result.failed) == (1, 1)
    Webhook(kept["secret"]).verify(sent[0].content, dict(sent[0].headers))
    error = await db.fetchval("SELECT last_error FROM webhook_deliveries WHERE subscription_id = $1::uuid", lost["id"])
    assert "not in WEBHOOKS_SECRET_KEYS" in error
