import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def quick_demo_dir(tmp_path_factory):
    """One ``idscope demo --quick`` per test session, shared by the tests that read its
    page (the demo tests and the browser page check)."""
    from idscope.cli.main import main

    out = tmp_path_factory.mktemp("demo") / "quick"
    assert main(["demo", "--quick", "--out", str(out), "--no-progress"]) == 0
    return out
