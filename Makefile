# The two commands of the README: `make demo` and `make test`.
# Each creates .venv if missing and installs what it needs (pinned by constraints.txt),
# the bench extra included: tests/bench proves the benchmark code works.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev

.PHONY: demo test lint typecheck browser install flaws torture bench clean node-shop report-images

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev,bench]'
	@touch $(STAMP)

install: $(STAMP)

browser: $(STAMP)
	$(BIN)/python -m harness.browser ensure

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) browser node-shop lint typecheck
	$(BIN)/pytest --durations=25

# The gallery's Node.js checkout (tests/gallery/node_shop): node and npm from Debian (apt-get
# as root when node is missing), its packages exactly as package-lock.json pins them.
NODE_SHOP := tests/gallery/node_shop

node-shop: $(NODE_SHOP)/node_modules/.installed

$(NODE_SHOP)/node_modules/.installed: $(NODE_SHOP)/package.json $(NODE_SHOP)/package-lock.json
	@if ! command -v node >/dev/null || ! command -v npm >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; \
	  else \
	    echo "node-shop: node and npm are missing (Debian: apt-get install nodejs npm)" >&2; \
	    case "$$CI" in 1|true|yes) exit 1;; esac; \
	    echo "node-shop: not installed; the Node.js gallery tests will skip" >&2; exit 0; \
	  fi; \
	fi; \
	npm ci --prefix $(NODE_SHOP) --no-audit --no-fund && touch $@

# The flaw matrix: the catalog against the reference app with no flaw and with each
# deliberate flaw (reference_app/flaws.py); exits 0 only if every flaw is caught.
flaws: $(STAMP) browser
	$(BIN)/nodouble flaws

demo: $(STAMP) browser
	$(BIN)/nodouble demo

bench: $(STAMP)
	$(BIN)/nodouble bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache

# The full torture run (figures of record for docs/reliability.md): PostgreSQL, MariaDB, SQLite.
torture: $(STAMP)
	$(BIN)/nodouble torture --scale full --database postgresql --database mariadb --database sqlite

# The README's pictures of a failing report (docs/img/report-*.png): one scenario against the
# reference checkout seeded with a flaw that charges twice, then Chromium screenshots of the
# report. The run exits 1 (money failed): that is the point, so its code is not checked.
report-images: $(STAMP) browser
	rm -rf build/report-images
	-$(BIN)/nodouble run --flaw release_on_error --scenario provider.error_after_charge \
	  --no-browser --report-dir build/report-images
	$(BIN)/nodouble report build/report-images/latest --screenshots
	cp build/report-images/latest/first-screen.png docs/img/report-first-screen.png
	cp build/report-images/latest/sequence.png docs/img/report-sequence.png

