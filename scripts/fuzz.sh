#!/usr/bin/env bash
# Runs every Go fuzz target of the repository for a bounded time each, one after another.
# Usage: scripts/fuzz.sh [FUZZTIME]   (default 20s; any value that go test -fuzztime takes)
# A target that finds a failing input writes it to its package's testdata/fuzz/NAME/ folder,
# where plain go test replays it from then on. The script goes on with the other targets and
# exits 1 at the end.
set -uo pipefail
cd "$(dirname "$0")/.."

fuzztime=${1:-20s}
failed=()
count=0

# Each line of the listing is "package-folder target-name".
while read -r dir name; do
	count=$((count + 1))
	echo "fuzz: $name in ./$dir for $fuzztime"
	if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "./$dir"; then
		failed+=("$dir $name")
	fi
done < <(grep -rEo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]+\(' . |
	sed -E 's|^\./(.*)/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]+)\($|\1 \2|' | sort -u)

if [ "$count" -eq 0 ]; then
	echo "fuzz: found no fuzz targets" >&2
	exit 1
fi
if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzz: ${#failed[@]} of $count targets failed:" >&2
	printf '  %s\n' "${failed[@]}" >&2
	exit 1
fi
echo "fuzz: all $count targets ran for $fuzztime without a failure"
