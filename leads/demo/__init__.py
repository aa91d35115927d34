"""Demo and benchmark data: reps, accounts, people, usage events and lead
histories shaped after the DOMAIN cases, reproducible from a seed.

`make run` fills an empty database with it, and the same code measures how
fast a million events go in (`manage.py seed_demo --events 1000000`).

- `vocabulary`: the words and weights (names, industries, titles, event kinds);
- `accounts`: the plan of the accounts (fit data, usage profile, events' share);
- `activity`: each account's events, when and by whom;
- `qualification`: when the events made an account qualify, replayed through
  the engine;
- `histories`: the lead history that follows (PQL, rep, contact, outcome);
- `generation`: all of it as rows, chunk by chunk, pure;
- `seeding`: reps, routing and the insertion, in one transaction.
"""

from .accounts import split_events, tier_for
from .generation import generate_demo
from .histories import RepCoverage
from .seeding import SeedCounts, ensure_reps, ensure_routing, scorecard_to_follow, seed_demo
from .vocabulary import REP_TERRITORIES

__all__ = [
    "REP_TERRITORIES",
    "RepCoverage",
    "SeedCounts",
    "ensure_reps",
    "ensure_routing",
    "generate_demo",
    "scorecard_to_follow",
    "seed_demo",
    "split_events",
    "tier_for",
]
