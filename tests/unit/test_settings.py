"""The one settings object, read from the environment as the services read it."""

from __future__ import annotations

import pytest

from herald.config import Settings

REAL_SECRET = "a-real-secret-for-this-test-of-48-characters-xyz"


class TestSettings:
    def test_an_empty_variable_counts_as_unset(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # Compose passes optional values as ``${HERALD_VAPID_PRIVATE_KEY:-}``, i.e. "".
        monkeypatch.setenv("HERALD_JWT_SECRET", REAL_SECRET)
        monkeypatch.setenv("HERALD_VAPID_PRIVATE_KEY", "")
        monkeypatch.setenv("HERALD_SMTP_URL", "")
        settings = Settings(_env_file=None)  # type: ignore[call-arg]
        assert settings.vapid_private_key is None
        assert settings.smtp_url is None

    def test_a_placeholder_signing_key_is_refused_outside_dev(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("HERALD_JWT_SECRET", "changeme")
        with pytest.raises(ValueError, match="HERALD_JWT_SECRET"):
            Settings(_env_file=None)  # type: ignore[call-arg]

    def test_a_short_signing_key_is_refused_outside_dev(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("HERALD_JWT_SECRET", "abc")
        with pytest.raises(ValueError, match="at least 32 bytes"):
            Settings(_env_file=None)  # type: ignore[call-arg]

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("HERALD_JWT_SECRET", "change-this-to-48-random-characters"),
            ("HERALD_BOOTSTRAP_API_KEY", "hk_change-this-admin-key"),
            ("HERALD_BOOTSTRAP_ADMIN_PASSWORD", "change-this-console-password"),
            ("HERALD_DATABASE_URL", "postgresql+asyncpg://u:change-this-postgres-password@db/h"),
        ],
    )
    def test_every_value_shipped_in_env_example_is_refused(
        self, monkeypatch: pytest.MonkeyPatch, name: str, value: str
    ) -> None:
        monkeypatch.setenv("HERALD_JWT_SECRET", REAL_SECRET)
        monkeypatch.setenv(name, value)
        with pytest.raises(ValueError, match=name):
            Settings(_env_file=None)  # type: ignore[call-arg]

    def test_a_bootstrap_key_without_the_prefix_is_refused(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("HERALD_JWT_SECRET", REAL_SECRET)
        monkeypatch.setenv("HERALD_BOOTSTRAP_API_KEY", "no-prefix-here")
        with pytest.raises(ValueError, match="must start with 'hk_'"):
            Settings(_env_file=None)  # type: ignore[call-arg]

    def test_a_rate_limit_it_cannot_read_is_refused_at_start(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("HERALD_JWT_SECRET", REAL_SECRET)
        monkeypatch.setenv("HERALD_RATE_LIMIT_PER_RECIPIENT", "20 a minute")
        with pytest.raises(ValueError, match="rate_limit_per_recipient") as refused:
            Settings(_env_file=None)  # type: ignore[call-arg]
        assert "'20 a minute' is not of the form" in str(refused.value)

    def test_a_worker_given_its_signing_keys_needs_no_secret(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from herald.bootstrap import Infra
        from herald.kit import auth

        keys = auth.Keys(REAL_SECRET).subset(auth.WORKER_PURPOSES["push_worker"])
        monkeypatch.setenv("HERALD_SIGNING_KEYS", keys)
        settings = Settings(_env_file=None)  # type: ignore[call-arg]
        held = Infra(settings).keys
        assert held.service("push_worker") == auth.Keys(REAL_SECRET).service("push_worker")

    @pytest.mark.parametrize("password", [None, "short"])
    def test_a_bootstrap_admin_needs_a_real_password(self, password: str | None) -> None:
        with pytest.raises(ValueError, match="HERALD_BOOTSTRAP_ADMIN_PASSWORD"):
            Settings(
                jwt_secret=REAL_SECRET,
                bootstrap_admin_email="ops@example.com",
                bootstrap_admin_password=password,
                _env_file=None,  # type: ignore[call-arg]
            )
