#!/usr/bin/env bash
# tools/slim_env.sh PYTHON — remove from PYTHON's environment what every Jupyter process pays for
# and nothing uses (tools/setup.sh, binder/postBuild and the classroom's venv call it):
#
# jsonschema's optional "iri" format checker, rfc3987-syntax (pulled in by jupyter-events'
# jsonschema[format-nongpl]), builds Earley parsers for 35 grammar rules when it is imported:
# 1.3 s of CPU and ~15 MiB in every process that imports nbformat (the Jupyter server, nbval,
# nbclient, Voila) — about 35 of the 86 CPU-seconds of a bare `make test` here. No schema of
# Jupyter's or the course's uses that format; without the package jsonschema simply lacks that
# one checker (upstream: python-jsonschema/jsonschema#1428 and #1521).
# pip puts it back whenever set-up reinstalls the course package (jupyter-events asks for the
# extra; pip has no way to exclude one package), so set-up calls this every time, after pip.
# Installed by conda (Binder), conda's own tool removes it, so that conda's records stay true;
# otherwise pip. tests/unit/test_environment_files.py checks both and the result.
set -euo pipefail
PY="${1:?usage: tools/slim_env.sh PYTHON}"
"$PY" -c 'import importlib.util as u; raise SystemExit(u.find_spec("rfc3987_syntax") is None)' || exit 0
prefix="$("$PY" -c 'import sys; print(sys.prefix)')"
if compgen -G "$prefix/conda-meta/rfc3987-syntax-*.json" >/dev/null; then
  for tool in mamba micromamba conda; do
    if command -v "$tool" >/dev/null; then
      exec "$tool" remove -y --force -p "$prefix" rfc3987-syntax
    fi
  done
  echo "slim_env: rfc3987-syntax was installed by conda, and no mamba/micromamba/conda is on PATH" >&2
  exit 1
fi
"$PY" -m pip uninstall -y -q rfc3987-syntax
