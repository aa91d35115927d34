"""RQ entry points for rescoring, and the calls that enqueue them after commit.

Work grows with distinct accounts, not with batches. A rescore request adds
its accounts to a waiting set in Redis (a sorted set: account, first asked
at) and enqueues one drain job unless one is queued and not started yet.
A drain job takes every account waiting when it looks, scores them in one
set-based rescore, and looks again until nothing waits: under load jobs get
bigger and fewer instead of the queue getting longer.

Hand-raises first: accounts whose new events can fire a trigger wait in a
set of their own, which a drain job empties before each slice of routine
accounts; their job goes to the front of the queue.

Several workers share the work safely: taking accounts from a waiting set
also leases them (a hash of account -> lease) in the same Lua call, and an
account leased by one job is left waiting for the next, so no account is
scored by two drain jobs at once. Lead statuses move under row locks
(leads.services.move_accounts), so a status change is never recorded twice.

Redis is not the source of truth: a rescore that cannot be enqueued is held
in the database (scoring.backlog) and the catch-up pass does it once the
queue is back; a job holds its accounts there while it scores them, so a
killed worker loses nothing either (its leases expire).
"""

import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache

import django_rq
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from redis.exceptions import RedisError
from rq import Retry, Worker
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry

from . import backlog, rescoring
from .facts import as_datetime
from .models import AccountScore, ScoringRun
from .scorecards import trigger_event_names

log = logging.getLogger(__name__)

QUEUE = "scoring"
URGENT = "pqlsite:rescore:waiting:urgent"
ROUTINE = "pqlsite:rescore:waiting:routine"
LEASES = "pqlsite:rescore:leases"
DRAIN_QUEUED = "pqlsite:rescore:drain-queued"
PENDING_ALL = "pqlsite:rescore:pending:all"
# A queued-job flag outlives a lost job by at most this long.
PENDING_TTL = 3600
RETRY = Retry(max=3, interval=[10, 60, 300])


@cache
def inline_redis():
    """An in-process Redis for RQ's synchronous mode when no Redis is configured."""
    from fakeredis import FakeRedis

    return FakeRedis()


@cache
def redis_at(url: str):
    """One client (and connection pool) per Redis URL for the process:
    ingestion enqueues on every batch, and a new client per call costs a
    connection each time. Short timeouts and one retry: an unreachable
    Redis must cost a request milliseconds, not redis-py's default retries."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry as RedisRetry

    return redis.Redis.from_url(
        url, socket_connect_timeout=1, socket_timeout=2, retry=RedisRetry(NoBackoff(), 1)
    )


class QueueBreaker:
    """After Redis fails, skip it for a few seconds: while it is down, every
    batch would otherwise pay for a failed connection before holding its
    accounts in the database."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.open_until = 0.0

    @property
    def closed(self) -> bool:
        return self.clock() >= self.open_until

    def trip(self) -> None:
        self.open_until = self.clock() + settings.SCORING_QUEUE_RETRY_AFTER

    def reset(self) -> None:
        self.open_until = 0.0


breaker = QueueBreaker()


def scoring_queue():
    # Callers enqueue from on_commit callbacks already, so no deferral here.
    config = settings.RQ_QUEUES[QUEUE]
    if config["ASYNC"]:
        return django_rq.get_queue(QUEUE, connection=redis_at(config["URL"]), commit_mode="auto")
    return django_rq.get_queue(
        QUEUE, connection=inline_redis(), is_async=False, commit_mode="auto"
    )


def enqueue(func, *args, description: str, at_front: bool = False, job_id: str | None = None):
    queue = scoring_queue()
    job = queue.enqueue(
        func,
        *args,
        retry=RETRY,
        result_ttl=0,
        failure_ttl=7 * 24 * 3600,
        description=description,
        at_front=at_front,
        job_id=job_id,
    )
    # Synchronous mode swallows the job's error; say it loudly instead. (A
    # finished job is gone already, result_ttl=0: read the status it ended in.)
    if not queue.is_async and job.get_status(refresh=False) == JobStatus.FAILED:
        log.error("%s failed: %s", description, job.latest_result().exc_string)
    return job


# --- asking for rescores ---------------------------------------------------------


def hand_raisers(events: Iterable[tuple[int, str]]) -> set[int]:
    """The accounts among (account id, event name) pairs whose new events can
    fire a trigger of the active definition: they are scored first."""
    names = trigger_event_names()
    if not names:
        return set()
    if "" in names:  # a trigger counting any event
        return {account_id for account_id, _ in events}
    return {account_id for account_id, name in events if name in names}


def request_rescore(account_ids: Iterable[int], *, hand_raised: Iterable[int] = ()) -> None:
    """Rescore these accounts once the current transaction commits; the
    `hand_raised` ones (see hand_raisers) ahead of routine work."""
    urgent = sorted(set(hand_raised))
    routine = sorted(set(account_ids) - set(urgent))
    if urgent or routine:
        transaction.on_commit(lambda: enqueue_rescore(routine, urgent=urgent), robust=True)


def request_full_rescore(reason: str) -> None:
    """Rescore every account once the current transaction commits."""
    transaction.on_commit(lambda: enqueue_full_rescore(reason), robust=True)


# Add accounts to their waiting set, keeping when each first waited, and say
# whether a drain job must be enqueued (none queued and not started yet): the
# flag then names the job about to be enqueued. KEYS: urgent set, routine
# set, queued flag. ARGV: now, flag TTL, urgent count, the new job's id, then
# the urgent ids, then the routine ids.
ADD_WAITING = """
local now, urgent = ARGV[1], tonumber(ARGV[3])
for i = 5, #ARGV do
  local id = ARGV[i]
  if i < 5 + urgent then
    local since = redis.call('ZSCORE', KEYS[2], id)
    redis.call('ZADD', KEYS[1], 'NX', since or now, id)
    if since then redis.call('ZREM', KEYS[2], id) end
  elseif not redis.call('ZSCORE', KEYS[1], id) then
    redis.call('ZADD', KEYS[2], 'NX', now, id)
  end
end
if redis.call('SET', KEYS[3], ARGV[4], 'NX', 'EX', ARGV[2]) then return 1 end
return 0
"""


@cache
def script(redis, source: str):
    return redis.register_script(source)


def enqueue_rescore(account_ids: list[int], *, urgent: Sequence[int] = ()) -> list[int]:
    """Put the accounts in their waiting sets and make sure a drain job will
    take them; returns the ids now waiting. With Redis unreachable, they are
    held in the database for the catch-up pass instead."""
    ids = [*urgent, *account_ids]
    if not ids:
        return []
    if not breaker.closed:
        backlog.hold(ids, reason=backlog.QUEUE_UNREACHABLE)
        return []
    queue = scoring_queue()
    try:
        if not queue.is_async:
            # The job runs at once: nothing waits to be coalesced.
            enqueue(rescore_accounts_job, sorted(ids), description=f"Rescore {len(ids)} account(s)")
            return ids
        add = script(queue.connection, ADD_WAITING)
        job_id = uuid.uuid4().hex
        args = [time.time(), PENDING_TTL, len(urgent), job_id, *ids]
        if add(keys=[URGENT, ROUTINE, DRAIN_QUEUED], args=args):
            enqueue_drain(job_id, at_front=bool(urgent))
        return ids
    except RedisError:
        log.warning("Queue unreachable: holding %d account(s) for the catch-up pass", len(ids))
        breaker.trip()
        backlog.hold(ids, reason=backlog.QUEUE_UNREACHABLE)
        return []


def enqueue_drain(job_id: str, *, at_front: bool = False):
    return enqueue(
        drain_job, description="Rescore waiting accounts", at_front=at_front, job_id=job_id
    )


def ensure_draining() -> bool:
    """Enqueue a drain job when accounts wait and none is queued: the flag
    can name a job that never reached the queue (Redis failed in between).
    True when one was enqueued."""
    queue = scoring_queue()
    redis = queue.connection
    if not (redis.zcard(URGENT) or redis.zcard(ROUTINE)):
        return False
    queued = redis.get(DRAIN_QUEUED)
    if queued is not None and Job.exists(queued.decode(), connection=redis):
        return False
    job_id = uuid.uuid4().hex
    redis.set(DRAIN_QUEUED, job_id, ex=PENDING_TTL)
    enqueue_drain(job_id)
    return True


def enqueue_full_rescore(reason: str) -> bool:
    try:
        if not scoring_queue().connection.set(PENDING_ALL, 1, nx=True, ex=PENDING_TTL):
            return False
        enqueue(rescore_all_job, reason, description=f"Rescore all accounts: {reason}")
        return True
    except RedisError:
        # The catch-up pass sees a definition change with no full rescore after it.
        log.warning("Queue unreachable: full rescore (%s) left to the catch-up pass", reason)
        breaker.trip()
        return False


# --- draining the waiting sets -------------------------------------------------------

# Take up to ARGV[3] accounts from a waiting set, oldest first, leasing each
# until ARGV[2]; an account another job holds a live lease on stays waiting.
# KEYS: waiting set, leases. ARGV: now, lease end, limit, lease token.
# Returns id, first asked at, id, first asked at, ...
TAKE = """
local now, limit = tonumber(ARGV[1]), tonumber(ARGV[3])
local lease = ARGV[2] .. ':' .. ARGV[4]
local waiting = redis.call('ZRANGE', KEYS[1], 0, 2 * limit - 1, 'WITHSCORES')
local taken = {}
for i = 1, #waiting, 2 do
  if #taken >= 2 * limit then break end
  local id = waiting[i]
  local held = redis.call('HGET', KEYS[2], id)
  if (not held) or tonumber(string.match(held, '^[^:]+')) < now then
    redis.call('ZREM', KEYS[1], id)
    redis.call('HSET', KEYS[2], id, lease)
    taken[#taken + 1] = id
    taken[#taken + 1] = waiting[i + 1]
  end
end
return taken
"""

# Drop this job's leases (KEYS: leases; ARGV: token, ids), not one another
# job took after ours expired.
RELEASE = """
local suffix = ':' .. ARGV[1]
for i = 2, #ARGV do
  local held = redis.call('HGET', KEYS[1], ARGV[i])
  if held and string.sub(held, -#suffix) == suffix then redis.call('HDEL', KEYS[1], ARGV[i]) end
end
return 1
"""


@dataclass
class Drained:
    """What one drain job did."""

    rounds: int = 0
    urgent: int = 0
    routine: int = 0
    scored: int = 0
    statuses_changed: int = 0
    oldest_wait_s: float = 0.0
    more_waiting: bool = False
    sizes: list[int] = field(default_factory=list)


def take(redis, waiting: str, *, token: str, limit: int) -> tuple[list[int], float]:
    """Lease up to `limit` waiting accounts; returns them and when the oldest
    first waited (now, when none)."""
    now = time.time()
    taken = script(redis, TAKE)(
        keys=[waiting, LEASES], args=[now, now + settings.SCORING_LEASE_SECONDS, limit, token]
    )
    ids = [int(taken[i]) for i in range(0, len(taken), 2)]
    since = min((float(taken[i]) for i in range(1, len(taken), 2)), default=now)
    return ids, since


def hold_while_scoring(ids: list[int], *, at) -> None:
    """Hold the accounts a job is about to score, committed without waiting
    for the WAL flush (on a busy disk most of a hand-raise's fixed cost).

    Safe: the hold is there for a worker that dies. PostgreSQL applies such
    a commit at once; it loses it only if it crashes itself within a fraction
    of a second, and then the rescore that follows fails and the job puts the
    accounts back in their waiting set. The rescore's own commit waits for the
    flush, which covers the hold before it: once results are stored, the hold
    and its release are durable together.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit = off")
        backlog.hold(ids, reason=backlog.JOB_RUNNING, at=at)


def score_taken(redis, ids: list[int], *, token: str, waiting: str, since: float) -> rescoring.RescoreTally:
    """Score leased accounts, held in the database meanwhile (a killed
    worker's accounts are found by the catch-up pass), then drop the leases.
    When scoring fails, the accounts wait again for the job's retry."""
    started = timezone.now()
    hold_while_scoring(ids, at=started)
    try:
        # Released in the transaction that stores the results: one commit
        # fewer, and never released without them.
        with transaction.atomic():
            tally = rescoring.rescore_accounts(ids)
            backlog.release(ids, requested_by=started)
    except Exception:
        redis.zadd(waiting, dict.fromkeys(ids, since), nx=True)
        raise
    finally:
        script(redis, RELEASE)(keys=[LEASES], args=[token, *ids])
    return tally


class SliceSizer:
    """How many routine accounts the next slice takes, so that a slice
    lasts about `seconds` and a hand-raise arriving meanwhile waits that long
    at most: sized from the last slices' cost per account, at most
    `largest`, growing at most twofold a slice.

    A slice's cost per account counts its fixed part too (reading the
    definition, holding and releasing, routing), so a slice smaller than
    the waiting work allows overstates it; a slice that took fewer accounts
    than it could and ended in time only ever lowers the estimate.
    """

    smallest = 25

    def __init__(self, *, seconds: float, largest: int, per_account: float | None = None):
        self.seconds = seconds
        self.largest = largest
        self.per_account = per_account
        self.size = self.sized(largest if per_account else FIRST_SLICE)

    def sized(self, ceiling: int) -> int:
        if not self.per_account:
            return min(self.largest, ceiling)
        fits = int(self.seconds / self.per_account)
        return max(min(self.smallest, self.largest), min(self.largest, ceiling, fits))

    def observe(self, count: int, seconds: float) -> None:
        if count <= 0:
            return
        observed = max(seconds, 1e-6) / count
        if count < self.size and seconds <= self.seconds and self.per_account:
            self.per_account = min(self.per_account, observed)
        else:
            self.per_account = observed
        self.size = self.sized(2 * self.size)


# A job that knows nothing of the cost per account starts with this many.
FIRST_SLICE = 100
# The last cost per account a drain job measured, for the next job's first slice.
COST_PER_ACCOUNT = "pqlsite:rescore:seconds-per-account"


def drain(
    *, seconds: float | None = None, slice_size: int | None = None, slice_seconds: float | None = None
) -> Drained:
    """Score what waits, hand-raises first, until nothing this job may take
    waits or `seconds` have passed. Routine accounts go in slices of at most
    `slice_size` sized to last about `slice_seconds` each (SliceSizer), so a
    hand-raise arriving meanwhile waits for one short slice at most."""
    seconds = settings.SCORING_DRAIN_SECONDS if seconds is None else seconds
    slice_size = slice_size or settings.SCORING_DRAIN_SLICE
    if slice_seconds is None:
        slice_seconds = settings.SCORING_DRAIN_SLICE_SECONDS
    redis = scoring_queue().connection
    token = uuid.uuid4().hex
    known = redis.get(COST_PER_ACCOUNT)
    sizer = SliceSizer(seconds=slice_seconds, largest=slice_size, per_account=float(known) if known else None)
    drained = Drained()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        waiting = URGENT
        ids, since = take(redis, URGENT, token=token, limit=slice_size)
        urgent = bool(ids)
        if not ids:
            waiting = ROUTINE
            ids, since = take(redis, ROUTINE, token=token, limit=sizer.size)
        if not ids:
            break
        began = time.monotonic()
        tally = score_taken(redis, ids, token=token, waiting=waiting, since=since)
        took = time.monotonic() - began
        if not urgent:
            sizer.observe(len(ids), took)
        log.debug("Scored %d %s account(s) in %.1f ms, the oldest after %.1f ms waiting",
                  len(ids), "urgent" if urgent else "routine", took * 1000, (time.time() - since) * 1000)
        drained.rounds += 1
        drained.sizes.append(len(ids))
        if urgent:
            drained.urgent += len(ids)
        else:
            drained.routine += len(ids)
        drained.scored += tally.scored
        drained.statuses_changed += tally.statuses_changed
        drained.oldest_wait_s = max(drained.oldest_wait_s, time.time() - since)
    else:
        # Out of time with work left: a successor takes over (unless one is queued).
        drained.more_waiting = bool(redis.zcard(URGENT) or redis.zcard(ROUTINE))
        job_id = uuid.uuid4().hex
        if drained.more_waiting and redis.set(DRAIN_QUEUED, job_id, nx=True, ex=PENDING_TTL):
            enqueue_drain(job_id)
    if sizer.per_account:
        redis.set(COST_PER_ACCOUNT, sizer.per_account, ex=PENDING_TTL)
    return drained


def drain_job() -> dict:
    # Cleared first: a request from now on enqueues the next job, which will
    # see what this one has not taken.
    scoring_queue().connection.delete(DRAIN_QUEUED)
    drained = drain()
    return {
        "rounds": drained.rounds,
        "urgent": drained.urgent,
        "routine": drained.routine,
        "statuses_changed": drained.statuses_changed,
        "oldest_wait_s": round(drained.oldest_wait_s, 3),
    }


def rescore_accounts_job(account_ids: list[int]) -> dict:
    """Rescore these accounts now (synchronous mode, and the catch-up of old
    jobs still queued from before the waiting sets)."""
    started = timezone.now()
    # Held while the job runs: if the worker dies, the catch-up pass finds them.
    backlog.hold(account_ids, reason=backlog.JOB_RUNNING, at=started)
    tally = rescoring.rescore_accounts(account_ids)
    backlog.release(account_ids, requested_by=started)
    return vars(tally)


def rescore_all_job(reason: str = "") -> int:
    scoring_queue().connection.delete(PENDING_ALL)
    return rescoring.rescore_all(reason=reason).pk


def catch_up_job() -> dict:
    """Rescore what a Redis outage or a dead worker left held, and hand jobs
    abandoned by a dead worker back to RQ (retried while retries are left)."""
    queue = scoring_queue()
    if queue.is_async:
        StartedJobRegistry(QUEUE, connection=queue.connection).cleanup()
        ensure_draining()
    caught_up = backlog.catch_up()
    return {"accounts": caught_up.accounts, "full_rescore": caught_up.full_rescore}


def time_driven_job() -> int:
    """Run every minute by the scheduler: queue the accounts whose results
    time alone has changed since they were scored (an event left a "last D
    days" window). Set-based: one indexed read, then the usual waiting set."""
    due = list(
        AccountScore.objects.filter(next_change_at__lte=timezone.now())
        .order_by("next_change_at")
        .values_list("account_id", flat=True)[: settings.SCORING_TIME_DRIVEN_LIMIT]
    )
    if due:
        enqueue_rescore(due)
    return len(due)


def scheduled_rescore() -> bool:
    """Run by the scheduler, daily: a safety net behind the event-driven and
    time-driven rescores (and a definition's own full rescore)."""
    return enqueue_full_rescore("scheduled")


# --- how far behind scoring is ------------------------------------------------------


@dataclass
class Lag:
    """How far behind scoring is, for /team/, the admin and /health/."""

    waiting: int | None  # accounts in the waiting sets (None: Redis unreachable)
    urgent: int | None
    scoring: int | None  # leased by a running job
    held: int  # held in the database (queue unreachable, or a job running)
    oldest_wait_s: float | None  # the longest an account has waited to be scored
    overdue: int  # results past their next time-driven change
    oldest_overdue_s: float | None
    workers: int | None  # RQ workers serving the scoring queue
    last_full_rescore: object  # a ScoringRun or None
    redis_ok: bool = True

    @property
    def seconds(self) -> float:
        return max(self.oldest_wait_s or 0.0, self.oldest_overdue_s or 0.0)


HELD_AND_OVERDUE = """
SELECT (SELECT count(*) FROM scoring_pendingrescore),
       (SELECT min(requested_at) FROM scoring_pendingrescore),
       (SELECT count(*) FROM scoring_accountscore WHERE next_change_at <= %s),
       (SELECT min(next_change_at) FROM scoring_accountscore WHERE next_change_at <= %s)
"""


def lag() -> Lag:
    """Read in one database query and one Redis round trip (pages show it)."""
    now = time.time()
    moment = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(HELD_AND_OVERDUE, [moment, moment])
        held, held_since, overdue, overdue_since = cursor.fetchone()
    waits = []
    if held_since is not None:
        waits.append((moment - as_datetime(held_since)).total_seconds())
    waiting = urgent = scoring = workers = None
    redis_ok = True
    queue = scoring_queue()
    if queue.is_async:
        try:
            redis = queue.connection
            with redis.pipeline() as pipe:
                pipe.zcard(URGENT).zcard(ROUTINE).hlen(LEASES)
                pipe.zrange(URGENT, 0, 0, withscores=True).zrange(ROUTINE, 0, 0, withscores=True)
                urgent, routine, scoring, first_urgent, first_routine = pipe.execute()
            waiting = urgent + routine
            waits += [now - since for _, since in first_urgent + first_routine]
            workers = len(live_workers(queue))
        except RedisError:
            redis_ok = False
    else:
        waiting = urgent = scoring = 0
    return Lag(
        waiting=waiting,
        urgent=urgent,
        scoring=scoring,
        held=held,
        oldest_wait_s=max(waits, default=None),
        overdue=overdue,
        oldest_overdue_s=(moment - as_datetime(overdue_since)).total_seconds() if overdue_since else None,
        workers=workers,
        last_full_rescore=ScoringRun.objects.filter(finished_at__isnull=False).first(),
        redis_ok=redis_ok,
    )


def live_workers(queue) -> list:
    """RQ workers listening on the scoring queue whose heartbeat is recent.
    A worker killed outright stays registered until its key expires; its
    heartbeat stops at once."""
    cutoff = time.time() - settings.SCORING_WORKER_STALE_SECONDS
    return [
        worker
        for worker in Worker.all(queue=queue)
        if worker.last_heartbeat is not None and worker.last_heartbeat.timestamp() >= cutoff
    ]
