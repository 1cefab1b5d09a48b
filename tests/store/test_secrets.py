"""A generated shared secret: made once, the same for every host on the database."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor

from pydantic import SecretStr

from tilework.core.settings import Settings
from tilework.core.signatures import new_secret
from tilework.store.database import Database
from tilework.store.secrets import fal_signing_key, shared_secret, webhook_secrets


def test_hosts_racing_to_make_the_secret_all_get_the_same_one(database: Database) -> None:
    hosts = [Database(database.url) for _ in range(4)]
    try:
        with ThreadPoolExecutor(4) as pool:
            found = set(pool.map(lambda db: shared_secret(db, "s", new_secret), hosts))
    finally:
        for host in hosts:
            host.dispose()
    assert len(found) == 1 and found.pop().startswith("whsec_")
    assert shared_secret(database, "s", lambda: "never used") != "never used"


def test_configured_webhook_secrets_win_and_keep_their_order(
    database: Database, settings: Settings
) -> None:
    generated = webhook_secrets(settings, database)
    assert len(generated) == 1 and generated == webhook_secrets(settings, database)
    current, previous = new_secret(), new_secret()
    rotating = settings.model_copy(update={"webhook_secret": SecretStr(f"{current} {previous}")})
    assert webhook_secrets(rotating, database) == [current, previous]


def test_each_tenant_signs_with_its_own_secret(database: Database, settings: Settings) -> None:
    configured = settings.model_copy(update={"webhook_secret": SecretStr(new_secret())})
    acme = webhook_secrets(configured, database, "acme")
    globex = webhook_secrets(configured, database, "globex")
    assert acme == webhook_secrets(settings, database, "acme")  # generated once, kept
    assert acme != globex
    assert configured.configured_webhook_secrets() not in (acme, globex)
    assert webhook_secrets(configured, database) == configured.configured_webhook_secrets()


def test_every_host_signs_fal_webhooks_with_the_one_ed25519_key(
    database: Database, settings: Settings
) -> None:
    other_host = Database(database.url)
    try:
        key = fal_signing_key(database)
        assert fal_signing_key(other_host) == key
    finally:
        other_host.dispose()
    assert len(base64.b64decode(key)) == 32
    assert key not in webhook_secrets(settings, database)
