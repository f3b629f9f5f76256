"""Quotas per person: runs per UTC day, runs in flight, model tokens per UTC month. The
defaults are the settings ``QAI_QUOTA_*`` (unset: no limit); an admin overrides them per
person (the ``quota_*`` columns of ``qai_user``). Checked before a route that starts a run
saves anything; over a quota the answer is a 429 that says, in plain words, when more comes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from qai.accounts.repository import AccountRepository
from qai.db import Database, utcnow
from qai.errors import TooManyRequests

IN_FLIGHT_RETRY_SECONDS = 30


@dataclass(frozen=True)
class QuotaDefaults:
    runs_per_day: int | None = None
    runs_at_once: int | None = None
    tokens_per_month: int | None = None


@dataclass(frozen=True)
class Usage:
    runs_today: int
    runs_in_flight: int
    tokens_this_month: int
    runs_per_day: int | None
    runs_at_once: int | None
    tokens_per_month: int | None


def _day_start(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _month_start(now: datetime) -> datetime:
    return _day_start(now).replace(day=1)


def _next_month(now: datetime) -> datetime:
    start = _month_start(now)
    return (start + timedelta(days=32)).replace(day=1)


async def usage(database: Database, user_id: str, defaults: QuotaDefaults) -> Usage:
    now = utcnow()
    async with database.read() as session:
        repository = AccountRepository(session)
        user = await repository.user_by_id(user_id)
        runs_today, in_flight, tokens = await repository.usage(
            user_id, day_start=_day_start(now), month_start=_month_start(now)
        )

    def limit(own: int | None, default: int | None) -> int | None:
        return own if own is not None else default

    return Usage(
        runs_today=runs_today,
        runs_in_flight=in_flight,
        tokens_this_month=tokens,
        runs_per_day=limit(user.quota_runs_per_day if user else None, defaults.runs_per_day),
        runs_at_once=limit(user.quota_runs_at_once if user else None, defaults.runs_at_once),
        tokens_per_month=limit(
            user.quota_tokens_per_month if user else None, defaults.tokens_per_month
        ),
    )


async def check_can_start_run(database: Database, user_id: str, defaults: QuotaDefaults) -> None:
    """Raise :class:`TooManyRequests` when ``user_id`` may not start another run now."""
    if defaults == QuotaDefaults() and not await _has_overrides(database, user_id):
        return
    used = await usage(database, user_id, defaults)
    now = utcnow()
    if used.runs_per_day is not None and used.runs_today >= used.runs_per_day:
        wait = int((_day_start(now) + timedelta(days=1) - now).total_seconds()) + 1
        raise TooManyRequests(
            f"You have used your {used.runs_per_day} runs for today; more at 00:00 UTC",
            retry_after=wait,
        )
    if used.runs_at_once is not None and used.runs_in_flight >= used.runs_at_once:
        raise TooManyRequests(
            f"You have {used.runs_in_flight} runs in progress, as many as you may at once; "
            "send this again when one has finished",
            retry_after=IN_FLIGHT_RETRY_SECONDS,
        )
    if used.tokens_per_month is not None and used.tokens_this_month >= used.tokens_per_month:
        wait = int((_next_month(now) - now).total_seconds()) + 1
        raise TooManyRequests(
            f"You have used your {used.tokens_per_month} model tokens for this month; more on "
            "the 1st at 00:00 UTC",
            retry_after=wait,
        )


async def _has_overrides(database: Database, user_id: str) -> bool:
    async with database.read() as session:
        user = await AccountRepository(session).user_by_id(user_id)
    return user is not None and any(
        value is not None
        for value in (
            user.quota_runs_per_day,
            user.quota_runs_at_once,
            user.quota_tokens_per_month,
        )
    )
