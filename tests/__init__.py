from pathlib import Path

# The checkout the tests live in (its data/, Makefile, docker files); the package itself never
# looks there (gemmaiku.paths).
REPO_ROOT = Path(__file__).resolve().parents[1]
