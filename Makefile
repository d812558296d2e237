# Two commands set up and exercise schoolpass on a fresh machine:
#   make demo   - a small synthetic district, end to end on SQLite
#   make test   - the test suite (PostgreSQL tests run when SCHOOLPASS_TEST_POSTGRES_URL is set)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   := demo
STUDENTS ?= 20000

.PHONY: demo test bench-roster bench-results bench-status bench-notices clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[test,pdf]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	rm -rf $(DEMO) && mkdir -p $(DEMO)
	$(BIN)/schoolpass synth --students 600 --seed 7 --out $(DEMO)/district
	$(BIN)/schoolpass --db sqlite:///$(DEMO)/schoolpass.db init
	$(BIN)/schoolpass --db sqlite:///$(DEMO)/schoolpass.db roster import $(DEMO)/district/roster --as-of 2021-11-01
	$(BIN)/schoolpass --db sqlite:///$(DEMO)/schoolpass.db roster summary --on 2021-11-22
	@# Three weeks of lab files, then the last week day by day: the day's files, then `daily`, which
	@# sends through a real SMTP sink running in the background.
	@set -e; DB=sqlite:///$(DEMO)/schoolpass.db; \
	for f in $(DEMO)/district/results/*; do case $$(basename $$f) in 2021-11-1[5-9]*) ;; \
		*) $(BIN)/schoolpass --db $$DB results import $$f > /dev/null;; esac; done; \
	echo "--- imported the lab files of the first three weeks"; \
	$(BIN)/schoolpass smtp-sink --port 0 --maildir $(DEMO)/mail > $(DEMO)/sink.log 2>&1 & SINK=$$!; \
	trap "kill $$SINK 2>/dev/null" EXIT; \
	for i in $$(seq 50); do grep -q listening $(DEMO)/sink.log && break; sleep 0.2; done; \
	SMTP=$$(sed -n 's/.*listening on \(smtp:[^,]*\),.*/\1/p' $(DEMO)/sink.log); \
	for day in 2021-11-15 2021-11-16 2021-11-17 2021-11-18; do \
		for f in $(DEMO)/district/results/$$day.*; do [ -e $$f ] && $(BIN)/schoolpass --db $$DB results import $$f; done; \
		echo "--- schoolpass daily --on $$day"; $(BIN)/schoolpass --db $$DB daily --on $$day --smtp $$SMTP; done; \
	echo "--- the sink's Maildir holds $$(ls $(DEMO)/mail/new | wc -l) messages; the first ledger entries:"; \
	$(BIN)/schoolpass --db $$DB ledger export | head -n 6 | cut -f1-7; \
	$(BIN)/schoolpass --db $$DB ledger verify
	$(BIN)/schoolpass --db sqlite:///$(DEMO)/schoolpass.db results unmatched | tail -n 5
	$(BIN)/schoolpass --db sqlite:///$(DEMO)/schoolpass.db statuses --on 2021-11-18
	$(BIN)/schoolpass --db sqlite:///$(DEMO)/schoolpass.db status \
		$$(sed -n 2p $(DEMO)/district/roster/users.csv | cut -d, -f1) --on 2021-11-18

bench-notices: $(STAMP)
	$(BIN)/python bench/notices.py --students $(STUDENTS)

bench-roster: $(STAMP)
	$(BIN)/python bench/roster_import.py --students $(STUDENTS)

clean:
	rm -rf $(DEMO) bench/work

bench-results: $(STAMP)
	$(BIN)/python bench/results_import.py --students $(STUDENTS)

bench-status: $(STAMP)
	$(BIN)/python bench/status_everyone.py --students $(STUDENTS)

# The whole day at district scale (bench/district.py): full size (500,000 students) unless STUDENTS
# is given on the command line or in the environment, e.g. `make bench STUDENTS=20000`.
ifeq ($(origin STUDENTS),file)
BENCH_STUDENTS ?= 500000
else
BENCH_STUDENTS ?= $(STUDENTS)
endif
.PHONY: bench bench-district bench-pg

bench: $(STAMP)
	$(BIN)/python bench/district.py --students $(BENCH_STUDENTS)

bench-district: bench

# The same day on PostgreSQL, sending with 1, 2 and 4 worker processes (bench/district_pg.py). It creates
# and drops its own databases (schoolpass_bench*) on SCHOOLPASS_BENCH_POSTGRES_URL
# (default postgresql+psycopg://postgres@127.0.0.1:5432/); e.g. `make bench-pg STUDENTS=20000`, or with more
# messages per sender run: `make bench-pg STUDENTS=20000 BENCH_PG_ARGS="--messages 8000"`.
BENCH_PG_ARGS ?=
bench-pg: $(STAMP)
	$(BIN)/python bench/district.py --backend postgresql --students $(BENCH_STUDENTS) $(BENCH_PG_ARGS)
