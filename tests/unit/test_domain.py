from __future__ import annotations

import pytest

from herald.domain import locales, statuses, targets
from herald.domain.breaker import BreakerState, CircuitBreaker
from herald.domain.retry import RetryPolicy
from herald.domain.statuses import Status, can_move


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TestRetryPolicy:
    def test_backoff_grows_exponentially_within_jitter(self) -> None:
        policy = RetryPolicy(max_attempts=5, base_delay=2.0, max_delay=100.0)
        for attempt, ceiling in [(1, 2.0), (2, 4.0), (3, 8.0), (4, 16.0)]:
            delays = [policy.delay(attempt) for _ in range(200)]
            assert all(ceiling / 2 <= d <= ceiling for d in delays)
            assert len({round(d, 6) for d in delays}) > 100  # jittered, not lockstep

    def test_backoff_is_capped(self) -> None:
        policy = RetryPolicy(base_delay=2.0, max_delay=10.0)
        assert all(policy.delay(30) <= 10.0 for _ in range(50))

    def test_retry_after_is_a_floor(self) -> None:
        policy = RetryPolicy(base_delay=1.0, max_delay=100.0)
        assert policy.delay(1, retry_after=30) == 30

    def test_exhausted_after_max_attempts(self) -> None:
        policy = RetryPolicy(max_attempts=3)
        assert not policy.exhausted(2)
        assert policy.exhausted(3)


class TestCircuitBreaker:
    def test_opens_after_threshold_then_probes_once_and_closes(self) -> None:
        clock = FakeClock()
        breaker = CircuitBreaker(failure_threshold=3, reset_seconds=10, clock=clock)
        for _ in range(2):
            breaker.record_failure()
        assert breaker.state is BreakerState.CLOSED
        breaker.record_failure()
        assert breaker.state is BreakerState.OPEN
        assert breaker.wait_seconds() == pytest.approx(10)
        clock.now += 10
        assert breaker.state is BreakerState.HALF_OPEN
        assert breaker.wait_seconds() == 0  # the probe goes ahead
        assert breaker.wait_seconds() > 0  # nobody else does meanwhile
        breaker.record_success()
        assert breaker.state is BreakerState.CLOSED
        assert breaker.wait_seconds() == 0

    def test_a_failed_probe_opens_it_again(self) -> None:
        clock = FakeClock()
        breaker = CircuitBreaker(failure_threshold=1, reset_seconds=5, clock=clock)
        breaker.record_failure()
        clock.now += 5
        assert breaker.wait_seconds() == 0
        breaker.record_failure()
        assert breaker.state is BreakerState.OPEN


class TestStatuses:
    @pytest.mark.parametrize("final", [Status.DELIVERED, Status.FAILED, Status.SKIPPED])
    def test_final_never_returns_to_pending(self, final: Status) -> None:
        assert not can_move(final, Status.PENDING)

    def test_pending_moves_to_any_final(self) -> None:
        assert all(
            can_move(Status.PENDING, s) for s in (Status.DELIVERED, Status.FAILED, Status.SKIPPED)
        )

    def test_a_bounce_turns_delivered_into_failed(self) -> None:
        assert can_move(Status.DELIVERED, Status.FAILED)

    def test_a_retry_is_recorded_and_nothing_returns_to_pending(self) -> None:
        assert statuses.records(Status.PENDING, Status.PENDING)
        assert statuses.records(Status.PENDING, Status.DELIVERED)
        assert not statuses.records(Status.DELIVERED, Status.PENDING)
        assert not statuses.records(Status.DELIVERED, Status.DELIVERED)

    def test_skipped_stays_skipped(self) -> None:
        assert not can_move(Status.SKIPPED, Status.DELIVERED)


class TestLocales:
    def test_normalise(self) -> None:
        assert locales.normalize("pt_br") == "pt-BR"
        assert locales.normalize("zh-hant-tw") == "zh-Hant-TW"
        with pytest.raises(ValueError):
            locales.normalize("not a locale")

    def test_fallback_chain(self) -> None:
        assert locales.fallback_chain("pt-BR", "en") == ("pt-BR", "pt", "en")
        assert locales.fallback_chain("en", "en") == ("en",)
        assert locales.fallback_chain(None, "fr") == ("fr",)


class TestTargets:
    @pytest.mark.parametrize(
        "url",
        [
            "https://127.0.0.1/push",
            "https://10.0.0.5/x",
            "https://[::1]/x",
            "https://localhost/x",
            "https://169.254.169.254/latest",
            "https://192.168.1.1/x",
        ],
    )
    def test_private_addresses_are_refused(self, url: str) -> None:
        assert targets.check_endpoint(url, allow_private=False) is not None

    def test_plain_http_is_refused_unless_loopback_is_allowed(self) -> None:
        assert targets.check_endpoint("http://push.example.com/x", allow_private=False)
        assert targets.check_endpoint("http://push.example.com/x", allow_private=True)
        assert targets.check_endpoint("http://127.0.0.1:9/x", allow_private=True) is None

    @pytest.mark.parametrize(
        "url",
        ["https://[::1]:9/push/abc", "https://[2001:db8::1]/p", "https://u:p@push.example.com/p"],
    )
    def test_endpoints_vapid_cannot_sign_for_are_refused_even_where_private_is_allowed(
        self, url: str
    ) -> None:
        assert targets.check_endpoint(url, allow_private=True) is not None

    def test_public_https_is_fine(self) -> None:
        assert (
            targets.check_endpoint("https://fcm.googleapis.com/fcm/send/abc", allow_private=False)
            is None
        )
