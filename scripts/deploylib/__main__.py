"""`python -m deploylib <env> ...`: what scripts/deploy.sh execs."""

from deploylib.cli import main

raise SystemExit(main())
