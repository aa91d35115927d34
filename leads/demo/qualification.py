"""When a demo account qualified under a scorecard: its events replayed in time
order through the engine, as live rescoring would have seen them arrive."""

import json
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo
from itertools import chain

from scoring.engine import AccountFacts, CountTest, Measure, Result, Scorecard, evaluate
from scoring.terms import Operator, Window

from .activity import Kind

# Every time zone's offset is a whole number of quarter hours, so all the
# instants of a quarter hour fall on the same local day.
QUARTER_HOUR = 900


@dataclass(frozen=True)
class Turn:
    """A moment the account started to qualify (its result qualifies) or
    stopped (it does not)."""

    at: int
    result: Result


def verdict_breaks(operator: str, bound: int) -> tuple[int, ...]:
    """The counts at which a count test's verdict changes: it differs
    between count < b and count >= b for each b given."""
    if operator in (Operator.GT, Operator.LTE):
        return (bound + 1,)
    if operator == Operator.EQ:
        return (bound, bound + 1)
    return (bound,)


def property_text(value: object) -> str | None:
    """A JSON property as the facts query compares it: as text."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value)


@dataclass
class Counted:
    """One measure's events for one account, ready to count at any moment:
    their times (those its fixed window keeps), or for distinct days the
    time each new local day began; `days` each event's day, for a distinct
    count over the last N days only."""

    measure: Measure
    span: int
    times: Sequence[int]
    days: Sequence[int] = ()

    def at(self, moment: int) -> int:
        """The count the facts query gives at `moment` from the events so far."""
        times = self.times
        if self.measure.window != Window.LAST_DAYS:
            return bisect_right(times, moment)
        first, last = bisect_left(times, moment - self.span), bisect_right(times, moment)
        if self.measure.distinct_days:
            return len(set(self.days[first:last]))
        return last - first


class Replay:
    """A scorecard's event counts, followed through time for one account at
    a time. Counts are those of scoring.facts (the same windows, distinct
    days in the site's time zone). A result can change only when a count
    crosses one of the scorecard's thresholds, so the engine is evaluated at
    those moments only: a few per account, whatever its number of events."""

    def __init__(self, card: Scorecard, *, zone: tzinfo):
        self.card = card
        self.zone = zone
        self.measures = tuple(sorted(card.measures, key=repr))
        self.spans = tuple(int(measure.span.total_seconds()) for measure in self.measures)
        # Each measure's count tests, as the counts where a verdict can change.
        breaks: dict = {measure: set() for measure in self.measures}
        for rule in card.rules:
            if isinstance(rule.test, CountTest):
                breaks[rule.test.measure].update(
                    verdict_breaks(rule.test.operator, rule.test.count)
                )
        for milestone in card.milestones:
            breaks[milestone.measure].add(milestone.min_count)
        self.breaks = tuple(tuple(sorted(breaks[measure])) for measure in self.measures)
        self.matching: dict[Kind, tuple[int, ...]] = {}
        self.midnights: dict[int, int] = {}
        self.days: dict[int, int] = {}

    def matches(self, kind: Kind) -> tuple[int, ...]:
        """The measures with an event name whose name and property an event kind matches."""
        found = self.matching.get(kind)
        if found is None:
            name, properties_json = kind
            properties = json.loads(properties_json)
            found = self.matching[kind] = tuple(
                index
                for index, measure in enumerate(self.measures)
                if measure.event_name == name
                and (
                    not measure.property_key
                    or property_text(properties.get(measure.property_key)) == measure.property_value
                )
            )
        return found

    def local(self, at: int) -> datetime:
        # Every instant of a quarter hour is on the same local day.
        return datetime.fromtimestamp(at - at % QUARTER_HOUR, self.zone)

    def day(self, at: int) -> int:
        """The local day of an instant, as an ordinal."""
        quarter = at // QUARTER_HOUR
        found = self.days.get(quarter)
        if found is None:
            found = self.days[quarter] = self.local(at).toordinal()
        return found

    def next_midnight(self, at: int) -> int:
        """The first instant of the local day after the one `at` falls on."""
        quarter = at // QUARTER_HOUR
        found = self.midnights.get(quarter)
        if found is None:
            tomorrow = self.local(at).date() + timedelta(days=1)
            found = self.midnights[quarter] = int(
                datetime.combine(tomorrow, time.min, tzinfo=self.zone).timestamp()
            )
        return found

    def day_starts(self, times: Sequence[int]) -> list[int]:
        """The time of the first event of each local day, from sorted times."""
        starts, position = [], 0
        while position < len(times):
            starts.append(times[position])
            position = bisect_left(times, self.next_midnight(times[position]), position)
        return starts

    def counted(
        self,
        *,
        times: Sequence[int],
        kinds: Sequence[Kind],
        signed_up_at: int,
        trial_ends_at: int | None,
    ) -> list[Counted]:
        """Each measure's events of an account whose events are (kinds, times)."""
        by_kind: defaultdict[Kind, list[int]] = defaultdict(list)
        for kind, at in zip(kinds, times, strict=True):
            by_kind[kind].append(at)
        parts: list[list[list[int]]] = [[] for _ in self.measures]
        for kind, kind_times in by_kind.items():
            for index in self.matches(kind):
                parts[index].append(kind_times)
        counted = []
        for index, measure in enumerate(self.measures):
            span = self.spans[index]
            if not measure.event_name:
                chosen: Sequence[int] = times
            elif len(parts[index]) == 1:
                chosen = parts[index][0]
            else:
                chosen = sorted(chain.from_iterable(parts[index]))
            if measure.window == Window.AFTER_SIGNUP:
                # Within D days after signup: not before it either.
                chosen = chosen[
                    bisect_left(chosen, signed_up_at) : bisect_right(chosen, signed_up_at + span)
                ]
            elif measure.window == Window.TRIAL:
                chosen = (
                    chosen[bisect_left(chosen, signed_up_at) : bisect_right(chosen, trial_ends_at)]
                    if trial_ends_at is not None
                    else []
                )
            if measure.distinct_days and measure.window == Window.LAST_DAYS:
                counted.append(Counted(measure, span, chosen, [self.day(at) for at in chosen]))
            elif measure.distinct_days:
                counted.append(Counted(measure, span, self.day_starts(chosen)))
            else:
                counted.append(Counted(measure, span, chosen))
        return counted

    def moments(self, counted: Counted, breaks: Sequence[int], *, until: int) -> list[int]:
        """When the measure's count may cross a break: as the events that
        reach one arrive, or for "last N days", as events arrive and leave."""
        times = counted.times
        if counted.measure.window != Window.LAST_DAYS:
            return [times[bound - 1] for bound in breaks if 0 < bound <= len(times)]
        # Counted while now - span <= at: an event leaves a second after at + span.
        leaving = [at + counted.span + 1 for at in times]
        if counted.measure.distinct_days:
            return [moment for moment in chain(times, leaving) if moment <= until]
        moments: list[int] = []
        arrived = left = 0
        between = bisect_right(breaks, 0)
        while arrived < len(times) or left < len(leaving):
            moment = leaving[left]
            if arrived < len(times) and times[arrived] < moment:
                moment = times[arrived]
            if moment > until:
                break
            while arrived < len(times) and times[arrived] == moment:
                arrived += 1
            while leaving[left] == moment:
                left += 1
                if left == len(leaving):
                    break
            now_between = bisect_right(breaks, arrived - left)
            if now_between != between:
                between = now_between
                moments.append(moment)
        return moments

    def turns(
        self,
        *,
        account_id: int,
        attributes: Mapping[str, object],
        people: Sequence[Mapping[str, object]],
        kinds: Sequence[Kind],
        times: Sequence[int],
        signed_up_at: int,
        trial_ends_at: int | None,
        until: int,
    ) -> Iterator[Turn]:
        """When the account started and stopped qualifying, from signup to
        `until`, in order; lazily, so a caller done with the account (its
        lead went to a rep) evaluates no further.

        It can start to qualify only as an event arrives (or at signup, on
        its attributes alone), and stop only as an event leaves a "last N
        days" window; of those, the moments a count crosses a break are checked.
        """
        kept = bisect_right(times, until)
        counted = self.counted(
            times=times[:kept],
            kinds=kinds[:kept],
            signed_up_at=signed_up_at,
            trial_ends_at=trial_ends_at,
        )
        breaks = self.breaks
        moments = {signed_up_at}
        for index, measure_counted in enumerate(counted):
            moments.update(self.moments(measure_counted, breaks[index], until=until))
        measures, card = self.measures, self.card
        qualifying, seen = False, None
        for moment in sorted(moments):
            counts = [measure_counted.at(moment) for measure_counted in counted]
            between = [bisect_right(breaks[index], count) for index, count in enumerate(counts)]
            if between == seen:
                continue
            seen = between
            result = evaluate(
                card,
                AccountFacts(
                    account_id, attributes, people, dict(zip(measures, counts, strict=True))
                ),
            )
            if result.qualifies != qualifying:
                qualifying = result.qualifies
                yield Turn(moment, result)
