.PHONY: run test install lint

run:
	bin/run

test:
	bin/test

install:
	bin/install dev

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy . bin/supervise
