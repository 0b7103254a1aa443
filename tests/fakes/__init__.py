"""Test doubles for libraries the collectors talk to."""
