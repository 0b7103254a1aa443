"""Builders of the rule pack: one module per rule file, all driven by rules/config.yml."""
