# The two commands a newcomer runs (see README): `make demo` and `make test`.
.PHONY: demo test lint format bench-geoip bundled-data

demo:
	@bash scripts/bootstrap.sh
	@PATH="$$HOME/.local/bin:$$PATH" uv run --frozen trafficatlas demo

test:
	@bash scripts/test.sh

lint:
	uv run ruff check src tests bench scripts
	uv run ruff format --check src tests bench scripts
	uv run mypy

format:
	uv run ruff format src tests bench scripts
	uv run ruff check --fix src tests bench scripts

bench-geoip:
	uv run python bench/geoip.py

bundled-data:
	uv run python scripts/build_bundled_data.py
