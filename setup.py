"""Package data from outside srharness/: the wheel carries the clone's golden/, suites/, fixtures/
(fake tools with their executable bits, recorded logs), the example configs, and pytest.ini +
conftest.py, copied into srharness/_bundle/ so the clone's layout stays exactly as it is.
srharness.resources finds them there (or in the clone); the list is resources.BUNDLED.
Everything else about the package is in pyproject.toml."""
import importlib.util
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


def _resources():
    # read the list from srharness/resources.py without importing srharness (and its dependencies)
    spec = importlib.util.spec_from_file_location("_srh_resources", ROOT / "srharness" / "resources.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildPyWithBundle(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):   # an editable install reads the clone itself
            return
        res = _resources()
        dest = Path(self.build_lib) / "srharness" / res.BUNDLE_NAME
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
        for name in (*res.BUNDLED, "conftest.py"):
            src = ROOT / name
            if src.is_dir():
                shutil.copytree(src, dest / name, ignore=ignore)   # copy2: modes (x bits) kept
            else:
                shutil.copy2(src, dest / name)
        # The suites' pytest.ini, so `pytest <bundle>/suites/rcan` has the clone's rootdir semantics
        # (nodeids, golden/ beside it, import mode); no .pytest_cache written into site-packages.
        ini = (ROOT / "pytest.ini").read_text()
        ini = ini.replace("addopts =", "addopts = -p no:cacheprovider", 1)
        assert "-p no:cacheprovider" in ini, "pytest.ini has no addopts line to extend"
        (dest / "pytest.ini").write_text(ini)


setup(cmdclass={"build_py": BuildPyWithBundle})
