#!/usr/bin/env bash
# Installs what the full test suite needs beyond Go: nginx and Caddy (the authorization-server
# tests), Node.js with npm, and the pinned npm packages of tests/node (the Extism interop
# test). Each step runs only when its result is missing, so a second run does nothing.
# Debian packages need root and apt-get; without them the script says what to install.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v caddy >/dev/null || missing+=(caddy)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)

if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "install-deps: installing ${missing[*]} with apt-get"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -q
		apt-get install -y -q --no-install-recommends "${missing[@]}"
	else
		echo "install-deps: missing ${missing[*]}; install them (Debian: apt-get install ${missing[*]})," >&2
		echo "install-deps: or the tests that need them skip (and fail under CI=true)" >&2
	fi
fi

if command -v npm >/dev/null && [ ! -d tests/node/node_modules/@extism/extism ]; then
	echo "install-deps: npm ci in tests/node"
	(cd tests/node && npm ci --no-audit --no-fund)
fi

go mod download
