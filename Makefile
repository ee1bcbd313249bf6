# The two commands of the README, plus the checks to run before every commit.
.PHONY: demo test check bench

demo:
	@scripts/setup.sh
	.venv/bin/undertow demo

test:
	@scripts/test.sh

check:
	@scripts/setup.sh
	.venv/bin/ruff check src tests bench
	.venv/bin/ruff format --check src tests bench
	.venv/bin/mypy src

bench:
	@scripts/setup.sh
	.venv/bin/python -m pip install --quiet -e '.[dev,bench]'
	.venv/bin/python bench/ingest_throughput.py
	.venv/bin/python bench/ingest_memory.py
	.venv/bin/python bench/pdq_lookup.py
	.venv/bin/python bench/hash_throughput.py
