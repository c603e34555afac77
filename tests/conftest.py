"""Test-wide fixtures: every test runs against its own data directory, never the user's."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SITEWATCH_HOME", str(tmp_path_factory.mktemp("home")))
    monkeypatch.delenv("SITEWATCH_DB", raising=False)
