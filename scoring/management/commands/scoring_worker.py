"""Run an RQ worker and start it again whenever it ends.

rq's worker quits when Redis drops under it (a ConnectionError while it
watches a job), and nothing is rescored until it runs again. This command
is what operators run (or put under systemd): it starts
`manage.py rqworker`, and when that process ends for any reason other than
this command being stopped, starts it again after a backoff (1 s, doubling
up to --max-backoff, back to 1 s after a minute of running). SIGTERM or
SIGINT stop it: the worker gets SIGTERM and finishes its current job first.
"""

import os
import signal
import subprocess
import sys
import threading
import time

from django.core.management.base import BaseCommand

# A worker that ran this long was healthy: the next restart waits 1 s again.
HEALTHY_RUN_SECONDS = 60


class Command(BaseCommand):
    help = "Run an RQ worker for the given queues, restarting it with backoff when it ends."

    def add_arguments(self, parser):
        parser.add_argument("queues", nargs="*", default=["scoring", "default"])
        parser.add_argument("--with-scheduler", action="store_true", help="rq's scheduler, for retries")
        parser.add_argument(
            "--worker-ttl",
            type=int,
            default=60,
            help="Seconds a worker's registration lives without a heartbeat; it beats every ttl - 15 s.",
        )
        parser.add_argument("--worker-class", default="", help="e.g. rq.SimpleWorker")
        parser.add_argument("--max-backoff", type=float, default=30.0)

    def handle(self, *args, **options):
        command = [sys.executable, "-m", "django", "rqworker", *options["queues"]]
        command += ["--worker-ttl", str(options["worker_ttl"])]
        if options["with_scheduler"]:
            command.append("--with-scheduler")
        if options["worker_class"]:
            command += ["--worker-class", options["worker_class"]]
        Supervisor(command, max_backoff=options["max_backoff"], out=self.stderr).run()


class Supervisor:
    def __init__(self, command: list[str], *, max_backoff: float, out):
        self.command = command
        self.max_backoff = max_backoff
        self.out = out
        self.stopping = threading.Event()
        self.process: subprocess.Popen | None = None

    def stop(self, signum, frame) -> None:
        self.stopping.set()
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        env = {**os.environ}
        env.setdefault("DJANGO_SETTINGS_MODULE", "pqlsite.settings")
        backoff = 1.0
        while not self.stopping.is_set():
            started = time.monotonic()
            self.process = subprocess.Popen(self.command, env=env)  # noqa: S603 (our own interpreter)
            code = self.process.wait()
            if self.stopping.is_set():
                break
            ran = time.monotonic() - started
            backoff = 1.0 if ran >= HEALTHY_RUN_SECONDS else backoff
            self.out.write(
                f"worker ended (exit code {code}) after {ran:.1f} s; restarting in {backoff:.0f} s"
            )
            self.stopping.wait(backoff)
            backoff = min(backoff * 2, self.max_backoff)
        if self.process is not None and self.process.poll() is None:
            self.process.wait()
