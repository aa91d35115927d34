# Two commands: `make run` (the app on SQLite with demo data, jobs inline)
# and `make test` (ruff, the layer contract, mypy, the whole suite; uses DATABASE_URL/REDIS_URL when set).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1:8000
DEMO_ACCOUNTS ?= 1500
DEMO_DAYS ?= 120
# pytest-xdist processes: the suite waits on live workers, servers and browsers
# as much as it computes, so one more process than cores pays. 0 runs serially.
PYTEST_WORKERS ?= 3

.PHONY: run test install browser screenshots worker webhooks-worker scheduler clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed-run

install: $(VENV)/.installed-run

run: export DEBUG ?= true
run: $(VENV)/.installed-run
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py seed_demo --if-empty --accounts $(DEMO_ACCOUNTS) --days $(DEMO_DAYS)
	$(BIN)/python manage.py rescore --starter
	$(BIN)/python manage.py demo_login
	$(BIN)/python manage.py runserver $(HOST)

test: $(VENV)/.installed-dev browser
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

# The docs' screenshots, taken by the browser tests on their seeded book.
screenshots: $(VENV)/.installed-dev browser
	UPDATE_DOC_SCREENSHOTS=1 $(BIN)/python -m pytest -n 0 tests/pages/test_browser_builder.py

# The browser tests drive Debian's chromium; install it where we may (root with apt).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing chromium for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is not installed: the browser tests will be skipped"; fi; }

# With REDIS_URL set: the worker (retries and delayed jobs need --with-scheduler)
# and the periodic full rescore (run exactly one).
worker: $(VENV)/.installed-run
	$(BIN)/python manage.py rqworker scoring default webhooks --with-scheduler

# Webhook delivery on its own queue (docs/operations.md): run two or more.
webhooks-worker: $(VENV)/.installed-run
	$(BIN)/python manage.py rqworker webhooks --worker-class rq.worker.SimpleWorker

scheduler: $(VENV)/.installed-run
	$(BIN)/python manage.py rqcron pqlsite.cron

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles
