#!/usr/bin/env bash
# Makes a fresh machine ready for both README commands, and is quick when nothing is missing:
#   1. Debian packages (nats-server, PyTorch for model scripts, the Fashion-MNIST data set, Chromium),
#      installed with apt-get when root, otherwise the exact install command is printed;
#   2. npm packages (npm ci) when node_modules is missing or older than package-lock.json;
#   3. the TypeScript build (tsc -b, incremental).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'bootstrap: %s\n' "$*" >&2; }
die() { printf 'bootstrap: error: %s\n' "$*" >&2; exit 1; }

# Package -> a file it installs, so presence can be checked on machines without dpkg too.
declare -A DEBIAN_PACKAGES=(
  [nats-server]=/usr/sbin/nats-server
  [python3-torch]=/usr/lib/python3/dist-packages/torch/__init__.py
  [python3-torchvision]=/usr/lib/python3/dist-packages/torchvision/__init__.py
  [python3-onnx]=/usr/lib/python3/dist-packages/onnx/__init__.py
  [dataset-fashion-mnist]=/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
  # The console's browser tests drive Debian's Chromium (playwright cannot download browsers here).
  [chromium]=/usr/bin/chromium
  # promtool checks both /metrics endpoints in test/integration/metrics-promtool.test.ts.
  [prometheus]=/usr/bin/promtool
)

missing=()
for pkg in "${!DEBIAN_PACKAGES[@]}"; do
  [[ -e "${DEBIAN_PACKAGES[$pkg]}" ]] || missing+=("$pkg")
done

if ((${#missing[@]} > 0)); then
  IFS=$'\n' missing=($(sort <<<"${missing[*]}")); unset IFS
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  elif command -v apt-get >/dev/null; then
    die "missing Debian packages: ${missing[*]}. Install them with: sudo apt-get install -y ${missing[*]}"
  else
    die "missing: ${missing[*]}. This needs Debian 12 packages; on Debian run: sudo apt-get install -y ${missing[*]}. Elsewhere install nats-server (https://nats.io/download) and provide the Fashion-MNIST IDX files in /usr/share/datasets/fashion-mnist/."
  fi
fi

command -v node >/dev/null || die "Node.js >= 20.19 is required (https://nodejs.org or: sudo apt-get install nodejs npm)"

lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
stamp=node_modules/.cleave-lock.sha256
if [[ ! -f $stamp || $(cat "$stamp") != "$lock_hash" ]]; then
  # A plain `npm ci` or `npm install` run by hand leaves npm's own record of the tree, newer than the lockfile:
  # that install is current, so take it rather than reinstalling (38 s) just because our stamp is missing.
  if [[ -f node_modules/.package-lock.json && node_modules/.package-lock.json -nt package-lock.json ]]; then
    echo "$lock_hash" >"$stamp"
  else
    say "installing npm packages (npm ci)"
    npm ci --no-fund --no-audit --loglevel=error >&2
    echo "$lock_hash" >"$stamp"
  fi
fi

npx --no-install tsc -b >&2 || die "TypeScript build failed (npx tsc -b)"

# npm links a workspace's bin only if its target exists at install time, and cli/dist is built just above: link
# `cleave` now, so `export PATH="$PWD/node_modules/.bin:$PATH"` (README) works on a fresh clone.
if [[ ! -e node_modules/.bin/cleave ]]; then
  mkdir -p node_modules/.bin
  chmod +x cli/dist/main.js
  ln -sf ../@cleave/cli/dist/main.js node_modules/.bin/cleave
fi
