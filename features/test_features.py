"""Bind every scenario under features/ (steps live in features/steps/)."""

from pytest_bdd import scenarios

# The Graph steps come in by import, not as a plugin: tests/ imports their fake tenant too.
from .steps.msgraph_steps import *  # noqa: F403

scenarios(".")
