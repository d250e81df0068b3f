# Two commands set everything up on a fresh machine with python3 and pip:
#   make run    the whole suite (embedded PostgreSQL unless DATABASE_URL is set)
#   make test   the whole test suite on real PostgreSQL
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Every service folder with a pyproject.toml: a new one (make new-service) installs with no edit here.
PARTS  := shared $(patsubst %/pyproject.toml,%,$(sort $(wildcard services/*/pyproject.toml))) gateway
STAMP  := $(VENV)/.installed-stamp
PYPROJECTS := $(foreach p,$(PARTS),$(p)/pyproject.toml)

.PHONY: install run token demo test browser lint typecheck format new-service migrate recompute revision bench-ingest bench-gateway bench-scoring bench-outbox bench-reads bench-churn bench-campaign bench-campaign-delivery bench-console clean

install: $(STAMP)

$(STAMP): $(PYPROJECTS) requirements-dev.txt constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -r requirements-dev.txt $(foreach p,$(PARTS),-e $(p))
	touch $(STAMP)

run: install
	$(BIN)/python -m crm_shared.launcher

# make token ROLE=agent   (a JWT for trying the API as that role; the running suite accepts it)
token: install
	@$(BIN)/python -m crm_shared.launcher --token $(or $(ROLE),analyst)

# make demo [DEMO_ARGS="--customers 5000 --seed 3"]   (with `make run` going in another terminal: a few
# thousand customers with a purchase history through the partner API, some complaints, a score recompute)
demo: install
	$(BIN)/python -m tools.demo $(DEMO_ARGS)

# The suite runs in PYTEST_WORKERS processes (pytest-xdist, whole modules per worker, each with its own
# embedded PostgreSQL): 8.5 min on 2 cores instead of 16. PYTEST_WORKERS=0 runs it in this process.
PYTEST_WORKERS ?= 2
test: install browser
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The console's browser test drives Debian's chromium (Playwright's own browser download is not reachable):
# installed when missing and possible (root with apt-get); without it that test is skipped, saying why.
browser:
	@command -v chromium >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1; } || \
	  echo "chromium is not installed: tests/console/test_browser.py will be skipped"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy over shared, gateway and every service (which files, how strict: [tool.mypy] in pyproject.toml)
typecheck: install
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# make migrate S=customer   (uses CUSTOMER_DATABASE_URL or DATABASE_URL)
migrate: install
	$(BIN)/python -m crm_shared.migrate $(S)

# make recompute [ARGS="--as-of 2026-06-01T00:00:00Z"]   (a past date backtests; uses SCORING_DATABASE_URL
# or DATABASE_URL; the running service offers the same as POST /api/v1/scores/recompute)
recompute: install
	$(BIN)/python -m crm_scoring.batch $(ARGS)

# make revision S=customer M="add complaints"   (autogenerate against DATABASE_URL's server)
revision: install
	cd services/$(S) && ../../$(BIN)/alembic revision --autogenerate -m "$(M)"

# make new-service NAME=loyalty [DESC="points, tiers and rewards"]   (services/loyalty and tests/loyalty in the
# shape of services/customer, registered in crm_shared/topology.py; prints what else to register)
new-service: install
	$(BIN)/python -m tools.new_service $(NAME) $(if $(DESC),--description "$(DESC)")
	$(BIN)/python -m pip install -q -c constraints.txt -e services/$(NAME)

bench-ingest: install
	$(BIN)/python bench/ingest/run.py $(BENCH_ARGS)

bench-gateway: install
	$(BIN)/python bench/gateway/run.py $(BENCH_ARGS)

bench-console: install
	$(BIN)/python bench/console/run.py $(BENCH_ARGS)

bench-scoring: install
	$(BIN)/python bench/scoring/run.py $(BENCH_ARGS)

bench-outbox: install
	$(BIN)/python bench/outbox/run.py $(BENCH_ARGS)

bench-reads: install
	$(BIN)/python bench/reads/run.py $(BENCH_ARGS)

bench-churn: install
	$(BIN)/python bench/churn/run.py $(BENCH_ARGS)

# make bench-campaign [BENCH_ARGS="--customers 1000000"]: launch an email campaign to a 1M-customer segment
bench-campaign: install
	$(BIN)/python bench/campaign/run.py $(BENCH_ARGS)

# 10,000 emails through the delivery worker to a local SMTP server
bench-campaign-delivery: install
	$(BIN)/python bench/campaign/delivery.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .data .pytest_cache .ruff_cache
