"""One provisioning run — desired state, reconcile, retry with backoff — shared by the daemon job and the CLI."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import TypeVar

from watchtower.core import reasons
from watchtower.core.results import ItemError
from watchtower.core.settings import SecretUnavailable
from watchtower.provisioning import desired as desired_mod
from watchtower.provisioning.api import GrafanaClient, GrafanaError, GrafanaTLSError, GrafanaUnreachable, Reconciler
from watchtower.provisioning.changes import Outcome, Plan
from watchtower.provisioning.drift import Drift
from watchtower.provisioning.driftstore import DriftMemory
from watchtower.provisioning.guard import DriftGuard, tracked_objects
from watchtower.provisioning.settings import GrafanaSettings

log = logging.getLogger(__name__)

T = TypeVar("T")
FIRST_RETRY_DELAY = 1.0


@dataclasses.dataclass(frozen=True)
class RunReport:
    """What one run found and did; ``error`` is the run-level failure (None when it got through)."""

    desired: desired_mod.DesiredState
    plan: Plan | None = None
    outcome: Outcome | None = None
    error: GrafanaError | SecretUnavailable | None = None
    attempts: int = 0
    grafana_answered: bool = False
    drifts: tuple[Drift, ...] | None = None  # open drifts; None when this run could not look
    tracked: tuple[tuple[str, str, str], ...] = ()  # (kind, uid, title) of every object drift is tracked for

    @property
    def success(self) -> bool:
        return self.error is None and self.plan is not None and (self.outcome is None or not self.outcome.errors)

    def errors(self) -> tuple[ItemError, ...]:
        out = list(self.desired.problems)
        if self.outcome is not None:
            out += self.outcome.errors
        if self.error is not None:
            reason = getattr(self.error, "reason", reasons.SECRET_UNAVAILABLE)
            out.append(ItemError("grafana", reason, str(self.error)))
        return tuple(out)


def retry_with_backoff(
    attempt: Callable[[], T], budget_seconds: float, max_delay: float,
    sleep: Callable[[float], None] = time.sleep, monotonic: Callable[[], float] = time.monotonic,
    on_retry: Callable[[int, float, GrafanaUnreachable], None] | None = None,
) -> tuple[T, int]:
    """Call ``attempt`` until it does not raise GrafanaUnreachable; delays 1s, 2s, 4s… capped
    at ``max_delay``, never sleeping past ``budget_seconds`` (then the last error is raised)."""
    deadline = monotonic() + budget_seconds
    delay = FIRST_RETRY_DELAY
    attempts = 0
    while True:
        attempts += 1
        try:
            return attempt(), attempts
        except GrafanaUnreachable as exc:
            if monotonic() + delay >= deadline:
                exc.attempts = attempts  # type: ignore[attr-defined]
                raise
            if on_retry is not None:
                on_retry(attempts, delay, exc)
            sleep(delay)
            delay = min(delay * 2, max_delay)


def run(
    settings: GrafanaSettings, dry_run: bool = False, sent_secrets: dict[str, str] | None = None,
    budget_seconds: float | None = None, sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    client_factory: Callable[[GrafanaSettings], GrafanaClient] = GrafanaClient,
    memory: DriftMemory | None = None, clock: Callable[[], float] = time.time,
) -> RunReport:
    """Build the desired state and reconcile it (or only plan it, with ``dry_run``).

    ``memory`` carries what was last written between runs (the daemon keeps one; without it
    the state file alone, if configured, remembers); ``guard.DriftGuard`` applies ``on_drift``.
    """
    desired = desired_mod.load(settings)
    memory = memory if memory is not None else DriftMemory(settings.state_file)
    answered = False

    def attempt() -> tuple[Plan, Outcome | None, tuple[Drift, ...] | None]:
        nonlocal answered
        client = client_factory(settings)
        try:
            reconciler = Reconciler(client, settings, sent_secrets)
            plan = reconciler.plan(desired)
            answered = True
            guard = DriftGuard(settings, memory, clock, client)
            review = guard.review(reconciler, desired, plan, dry_run=dry_run)
            if dry_run:
                return review.plan, None, None
            outcome = reconciler.apply(desired, review.plan)
            drifts = guard.settle(review, outcome, reconciler, desired)
            return review.plan, dataclasses.replace(outcome, errors=outcome.errors + review.errors), drifts
        finally:
            client.close()

    def on_retry(n: int, delay: float, exc: GrafanaUnreachable) -> None:
        log.warning("grafana: attempt %d failed (%s); retrying in %gs", n, exc, delay)

    if budget_seconds is None:
        budget_seconds = float(settings.timeout) * 0.8
    try:
        (plan, outcome, drifts), attempts = retry_with_backoff(
            attempt, budget_seconds, float(settings.retry_max_delay), sleep, monotonic, on_retry)
    except GrafanaUnreachable as exc:
        return RunReport(desired, error=exc, attempts=getattr(exc, "attempts", 1), grafana_answered=False)
    except GrafanaError as exc:  # auth or TLS: retrying will not help
        return RunReport(desired, error=exc, attempts=1, grafana_answered=not isinstance(exc, GrafanaTLSError))
    except SecretUnavailable as exc:
        return RunReport(desired, error=exc, attempts=0)
    tracked = tuple(tracked_objects(desired))
    return RunReport(desired, plan=plan, outcome=outcome, attempts=attempts, grafana_answered=answered,
                     drifts=drifts, tracked=tracked)
