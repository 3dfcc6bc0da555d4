# The two user-facing targets are `make demo` and `make test` (see README.md).
# Everything else here is an internal file target.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.carry-installed

.PHONY: demo test

demo: $(STAMP)
	$(BIN)/carry backtest configs/backtest/binance_btc_carry_1h.toml --out runs/demo

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || { PY=$$(scripts/find_python.sh) && $$PY -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)
