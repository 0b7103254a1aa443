"""pyproject.toml builds without deprecation noise on every supported setuptools: the build
backend requires >= 68 and the sdist test builds with the virtualenv's (older) setuptools,
while pip's isolated builds fetch the newest. The `project.license` table is deprecated from
setuptools 77 on (a warning per build step), and the SPDX string and `project.license-files`
are rejected below 77, so the licence ships as the LICENSE file, found by setuptools'
default patterns on every version."""

from __future__ import annotations

from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[2]


def test_no_license_form_that_is_deprecated_or_unsupported_on_the_setuptools_range():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "license" not in project and "license-files" not in project
    assert not [c for c in project.get("classifiers", []) if c.startswith("License ::")]
    assert "Apache License" in (ROOT / "LICENSE").read_text()


def test_the_dashboard_generator_is_an_optional_extra_not_a_runtime_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not [d for d in project["dependencies"] if "grafana" in d]
    (sdk,) = project["optional-dependencies"]["dashboards"]
    assert sdk.startswith("grafana-foundation-sdk==") and "!11.6." in sdk  # one Grafana release line
    assert ".[test,demo,dashboards]" in (ROOT / "Makefile").read_text()
