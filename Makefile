# Two commands set up and exercise schoolpass on a fresh machine:
#   make demo   - a small synthetic district, end to end on SQLite
#   make test   - the test suite (PostgreSQL tests run when SCHOOLPASS_TEST_POSTGRES_URL is set)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   := demo
STUDENTS ?= 20000

.PHONY: demo test bench-roster bench-results bench-status clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	rm -rf $(DEMO) && mkdir -p $(DEMO)
	$(BIN)/schoolpass synth --students 600 --seed 7 --out $(DEMO)/district
	$(BIN)/schoolpass --db sqlite:///$(DEMO)/schoolpass.db init
	$(BIN)/schoolpass --db sqlite:///$(DEMO)/schoolpass.db roster import $(DEMO)/district/roster --as-of 2021-11-01
	$(BIN)/schoolpass --db sqlite:///$(DEMO)/schoolpass.db roster summary --on 2021-11-22
	for f in $(DEMO)/district/results/*; do \
		$(BIN)/schoolpass --db sqlite:///$(DEMO)/schoolpass.db results import $$f || exit 1; done
	$(BIN)/schoolpass --db sqlite:///$(DEMO)/schoolpass.db results unmatched | tail -n 5
	$(BIN)/schoolpass --db sqlite:///$(DEMO)/schoolpass.db statuses --on 2021-11-22
	$(BIN)/schoolpass --db sqlite:///$(DEMO)/schoolpass.db status \
		$$(sed -n 2p $(DEMO)/district/roster/users.csv | cut -d, -f1) --on 2021-11-22

bench-roster: $(STAMP)
	$(BIN)/python bench/roster_import.py --students $(STUDENTS)

clean:
	rm -rf $(DEMO) bench/work

bench-results: $(STAMP)
	$(BIN)/python bench/results_import.py --students $(STUDENTS)

bench-status: $(STAMP)
	$(BIN)/python bench/status_everyone.py --students $(STUDENTS)
