#!/usr/bin/env bash
# `sam validate --lint` and `sam build` for the python3.12 runtime. sam build needs a python3.12 on PATH:
# use one if it is there, else pyenv's (the machine's default Python stays first for the layer's pip).
set -euo pipefail
cd "$(dirname "$0")/.."
export SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
SAM="${SAM:-.venv/bin/sam}"
if ! command -v python3.12 >/dev/null && command -v pyenv >/dev/null; then
  default=$(pyenv version-name | cut -d: -f1)
  py312=$(pyenv versions --bare | grep -E '^3\.12(\.[0-9]+)?$' | tail -n 1 || true)
  [ -n "$py312" ] || { echo "sam-build: no python3.12 found (install one with pyenv)"; exit 1; }
  export PYENV_VERSION="$default:$py312" PATH="$(pyenv root)/shims:$PATH"
fi
"$SAM" validate --lint
"$SAM" build --build-dir .aws-sam/build "$@"
du -sh .aws-sam/build/DrCaptchaLayer | awk '{print "layer size (unzipped): " $1}'
