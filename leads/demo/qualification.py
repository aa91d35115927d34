"""When a demo account qualified under a scorecard: its events replayed in
time order through the engine, as live rescoring would have seen them
arrive, so its lead history can be dated by what it did."""

import heapq
import json
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from scoring.engine import COMPARISONS, AccountFacts, CountTest, Result, Scorecard, evaluate
from scoring.terms import Window

from .activity import Kind

# Every time zone's offset is a whole number of quarter hours, so all the
# instants of a quarter hour fall on the same local day.
QUARTER_HOUR = 900


@dataclass
class Spell:
    """A stretch of time the account qualified: from `start`, with the
    result that qualified it, to `end` (None: it still qualifies)."""

    start: int
    result: Result
    end: int | None = None


def property_text(value: object) -> str | None:
    """A JSON property as the facts query compares it: as text."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value)


class Replay:
    """A scorecard's event counts, followed event by event for one account
    at a time. Counts are those of scoring.facts (the same windows, distinct
    days in the site's time zone); the engine is evaluated only when a count
    crosses one of the scorecard's thresholds, the only moments a result can
    change."""

    def __init__(self, card: Scorecard, *, zone: tzinfo):
        self.card = card
        self.zone = zone
        self.measures = tuple(sorted(card.measures, key=repr))
        self.spans = tuple(int(measure.span.total_seconds()) for measure in self.measures)
        tests: dict = {measure: [] for measure in self.measures}
        for rule in card.rules:
            if isinstance(rule.test, CountTest):
                tests[rule.test.measure].append((COMPARISONS[rule.test.operator], rule.test.count))
        for milestone in card.milestones:
            tests[milestone.measure].append((operator.ge, milestone.min_count))
        self.tests = tuple(tuple(tests[measure]) for measure in self.measures)
        self.matching: dict[Kind, tuple[int, ...]] = {}
        self.days: dict[int, int] = {}

    def matches(self, kind: Kind) -> tuple[int, ...]:
        """The measures whose event name and property an event kind matches."""
        found = self.matching.get(kind)
        if found is None:
            name, properties_json = kind
            properties = json.loads(properties_json)
            found = self.matching[kind] = tuple(
                index
                for index, measure in enumerate(self.measures)
                if (not measure.event_name or measure.event_name == name)
                and (
                    not measure.property_key
                    or property_text(properties.get(measure.property_key)) == measure.property_value
                )
            )
        return found

    def day(self, at: int) -> int:
        """The local day of an instant, as an ordinal."""
        quarter = at // QUARTER_HOUR
        found = self.days.get(quarter)
        if found is None:
            found = self.days[quarter] = datetime.fromtimestamp(
                quarter * QUARTER_HOUR, self.zone
            ).toordinal()
        return found

    def spells(
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
    ) -> list[Spell]:
        """When the account qualified, from signup to `until`, in order.

        It can start to qualify only as an event arrives (or at signup, on
        its attributes alone), and stop only as an event leaves a "last N
        days" window; those are the moments checked.
        """
        measures, spans, tests = self.measures, self.spans, self.tests
        counts = [0] * len(measures)
        days: list[dict[int, int] | None] = [
            {} if measure.distinct_days else None for measure in measures
        ]
        truths = [tuple(compare(0, bound) for compare, bound in held) for held in tests]
        # (leaves the window at, measure, day or 0) for "last N days" measures
        leaving: list[tuple[int, int, int]] = []
        spells: list[Spell] = []

        def settle(at: int) -> None:
            result = evaluate(
                self.card,
                AccountFacts(
                    account_id,
                    attributes,
                    people,
                    {measure: counts[index] for index, measure in enumerate(measures)},
                ),
            )
            qualifying = bool(spells) and spells[-1].end is None
            if result.qualifies and not qualifying:
                spells.append(Spell(start=at, result=result))
            elif qualifying and not result.qualifies:
                spells[-1].end = at

        def count(index: int, day: int, step: int) -> bool:
            """Add (step 1) or take away (-1) an event; whether a test's verdict changed."""
            counted = days[index]
            if counted is None:
                counts[index] += step
            else:
                left = counted.get(day, 0) + step
                if left:
                    counted[day] = left
                else:
                    del counted[day]
                counts[index] = len(counted)
            now_true = tuple(compare(counts[index], bound) for compare, bound in tests[index])
            if now_true == truths[index]:
                return False
            truths[index] = now_true
            return True

        def leave_until(moment: int) -> None:
            while leaving and leaving[0][0] <= moment:
                at = leaving[0][0]
                changed = False
                while leaving and leaving[0][0] == at:
                    _, index, day = heapq.heappop(leaving)
                    changed = count(index, day, -1) or changed
                if changed:
                    settle(at)

        settle(signed_up_at)
        for kind, at in zip(kinds, times, strict=True):
            if at > until:
                break
            leave_until(at)
            changed = False
            day = 0
            for index in self.matches(kind):
                window = measures[index].window
                if window == Window.AFTER_SIGNUP and not (
                    signed_up_at <= at <= signed_up_at + spans[index]
                ):
                    continue
                if window == Window.TRIAL and (
                    trial_ends_at is None or not signed_up_at <= at <= trial_ends_at
                ):
                    continue
                if days[index] is not None and not day:
                    day = self.day(at)
                if window == Window.LAST_DAYS:
                    # Counted while now - span <= at: it leaves a second after at + span.
                    heapq.heappush(leaving, (at + spans[index] + 1, index, day))
                changed = count(index, day, 1) or changed
            if changed:
                settle(at)
        leave_until(until)
        return spells
