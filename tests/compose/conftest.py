from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.compose.test_compose_files import ROOT


@pytest.fixture(scope="module")
def env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("compose") / ".env"
    shutil.copy(ROOT / ".env.example", path)
    return path
