"""Sensors: tasks that wait for a condition, in poke or reschedule mode."""

from runtime.sdk.sensors.base import BaseSensorOperator, PokeReturnValue

__all__ = ["BaseSensorOperator", "PokeReturnValue"]
