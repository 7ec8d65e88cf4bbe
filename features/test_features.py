"""Bind every scenario under features/ (steps live in features/steps/)."""

from pytest_bdd import scenarios

scenarios(".")
