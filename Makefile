# The two commands of the README: `make run` and `make test`. Both install what is missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
APP_STAMP := $(VENV)/.app-installed
DEV_STAMP := $(VENV)/.dev-installed
# Debian packages only the tests and benchmarks need: the browser tests' Chromium, the Greek
# script fonts of bench/fewshot_transfer.py's "script" letter proxy, and the handwriting fonts
# that bench/real_inputs.py renders unseen digits from (no training uses them).
DEV_PACKAGES := chromium fonts-gfs-solomos fonts-gfs-olga fonts-dancingscript fonts-ecolier-court
HOST ?= 127.0.0.1
PORT ?= 8501

.PHONY: run test test-fast setup system system-dev data lint pytest bench bench-quick stress

# A host runs `streamlit run app.py` itself; locally we listen on loopback only.
run: $(APP_STAMP) system data
	$(PY) -m engine default-model
	$(PY) -m streamlit run app.py --server.address $(HOST) --server.port $(PORT) \
		--server.headless true --browser.gatherUsageStats false

test: setup lint pytest

# The inner loop: unit and AppTest tests, no browser and nothing marked slow (real workers, CLI
# subprocesses, long trainings, kill loops). `make test` runs everything.
test-fast: setup lint
	$(PY) -m pytest -m "not e2e and not slow" --durations=30

setup: $(DEV_STAMP) system system-dev data

$(APP_STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

$(DEV_STAMP): $(APP_STAMP) requirements-dev.txt
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

# Debian packages, installed only when missing: packages.txt (what the app needs on a host, the
# hosting convention) and DEV_PACKAGES (what only the tests and benchmarks need).
define apt_install
	@missing=$$(for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing Debian packages: $$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
		else \
			echo "warning: missing Debian packages ($$missing); install them as root"; \
		fi; \
	fi
endef

system:
	$(call apt_install,$$(cat packages.txt))

system-dev:
	$(call apt_install,$(DEV_PACKAGES))

data: $(APP_STAMP)
	$(PY) -m engine data prepare

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# pytest exits 5 when it collected no tests: that is a failure here, not a pass. Two workers
# (pytest-xdist): the tests under SERIAL in tests/conftest.py run on one, each other file whole.
pytest: $(DEV_STAMP)
	$(PY) -m pytest -n 2; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

# The benchmark tables of docs/benchmarks.md, each alternating its contenders 3 times; `make bench-quick`
# is a smaller version of each (minutes, not tens of minutes) for a first look.
bench: setup
	$(PY) bench/train_speed.py --threads 1
	$(PY) bench/train_speed.py --threads 1 --preset seed-mnist-cnn --dataset fashion-mnist
	$(PY) bench/time_to_accuracy.py
	$(PY) bench/contention.py
	$(PY) bench/predict_latency.py
	$(PY) bench/live_speed.py
	$(PY) bench/preprocess_speed.py
	$(PY) bench/real_inputs.py
	$(PY) bench/queue_load.py
	$(PY) bench/hosted_load.py
	$(PY) bench/import_cost.py

bench-quick: setup
	$(PY) bench/train_speed.py --threads 1 --quick
	$(PY) bench/time_to_accuracy.py --quick
	$(PY) bench/contention.py --quick
	$(PY) bench/predict_latency.py --quick
	$(PY) bench/live_speed.py --quick
	$(PY) bench/preprocess_speed.py --quick
	$(PY) bench/real_inputs.py --quick
	$(PY) bench/queue_load.py --quick
	$(PY) bench/hosted_load.py --quick
	$(PY) bench/import_cost.py --repeats 2

# The fault and load suites, longer: 25 random kills instead of 4, several seeds; the queue's
# long tests on all three storages (`make test` runs each on one), SIGKILL loop over 5 seeds.
stress: setup
	for seed in 1 2 3 4; do \
		STRESS_KILLS=25 STRESS_SEED=$$seed $(PY) -m pytest -q tests/reliability/test_faults.py || exit 1; \
	done
	STRESS_EXAMPLES=2000 $(PY) -m pytest -q tests/reliability/test_bad_input.py
	QUEUE_ALL_BROKERS=1 QUEUE_KILL_SEEDS=0,1,2,3,4 $(PY) -m pytest -q tests/reliability/test_queue.py
