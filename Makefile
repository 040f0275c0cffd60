# The two commands of the README: `make run` and `make test`. Both install what is missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed
HOST ?= 127.0.0.1
PORT ?= 8501

.PHONY: run test setup system data lint pytest bench stress

run: setup
	$(PY) -m engine default-model
	$(PY) -m streamlit run app.py --server.address $(HOST) --server.port $(PORT) \
		--server.headless true --browser.gatherUsageStats false

test: setup lint pytest

setup: $(STAMP) system data

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

# Debian packages from packages.txt (the hosting convention), installed only when missing.
system:
	@missing=$$(for p in $$(cat packages.txt); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing Debian packages: $$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
		else \
			echo "warning: missing Debian packages ($$missing); install them as root"; \
		fi; \
	fi

data: $(STAMP)
	$(PY) -m engine data prepare

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# pytest exits 5 when it collected no tests: that is a failure here, not a pass.
pytest: $(STAMP)
	ENGINE_FULL_SUITE=1 $(PY) -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

bench: setup
	$(PY) bench/train_speed.py
	$(PY) bench/contention.py

# The fault and load suites, longer: 25 random kills instead of 4, several seeds.
stress: setup
	for seed in 1 2 3; do \
		STRESS_KILLS=25 STRESS_SEED=$$seed $(PY) -m pytest -q tests/reliability/test_faults.py || exit 1; \
	done
	STRESS_EXAMPLES=2000 $(PY) -m pytest -q tests/reliability/test_load.py \
		tests/reliability/test_bad_input.py
