"""When a time a client gives for something that already happened (an interaction, a referral, a profile
answer) counts as in the future: past our clock plus the skew a client's clock may run ahead of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

# One value for every such check (there were three, of 1, 1 and 2 minutes): a client clock slightly
# ahead is not "the future", while a real future time (a typo, a wrong zone) is off by an hour or more.
CLOCK_SKEW = timedelta(minutes=2)


def in_future(at: datetime, now: datetime | None = None) -> bool:
    return at > (now or datetime.now(UTC)) + CLOCK_SKEW
