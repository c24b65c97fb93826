"""The one error type deploy.sh reports: a single line saying what is wrong and how to fix it."""

from __future__ import annotations


class DeployError(Exception):
    """A user-facing failure: printed as one line on stderr, exit code 2, nothing changed after it."""
