#!/usr/bin/env bash
# Mutation testing (gremlins) of the receiver's core packages, for `make mutation`. Each argument is a package
# directory of the receiver's module ("." for the receiver's own package). Each package is mutated in turn, and its
# surviving (LIVED, TIMED OUT) mutants and its efficacy are printed. The script fails when a package's efficacy is
# below its threshold (see threshold below) or gremlins could not run it. It runs every package before failing.
# Efficacy is killed / (killed + lived), as gremlins counts it.
#
# Environment, set by the Makefile: GREMLINS, the gremlins binary; MUTATION_TMP, the TMPDIR gremlins copies the
# module into; MUTATION_OUT, the directory of each package's report (<name>.json) and full output (<name>.log);
# MUTATION_FLAGS, more flags for gremlins; MUTATION_ROOT_FILES, the only files of "." that are mutated.
set -euo pipefail

# threshold prints the least efficacy, in percent, that package $1 must reach.
threshold() {
	case "$1" in
	internal/accumulator | internal/exposition) echo 90 ;;
	*) echo 80 ;;
	esac
}

: "${GREMLINS:?} ${MUTATION_TMP:?} ${MUTATION_OUT:?}"
MUTATION_FLAGS=${MUTATION_FLAGS:-}
MUTATION_ROOT_FILES=${MUTATION_ROOT_FILES:-}
cd "$(dirname "$0")/../receiver/databricksservingreceiver"
mkdir -p "$MUTATION_OUT"

# json_int prints the integer field $2 of gremlins' report $1 (one line of JSON).
json_int() { sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" "$1"; }

failed=()
for pkg in "$@"; do
	pkg=${pkg%/}
	name=$(basename "$pkg")
	exclude=()
	if [ "$pkg" = . ]; then
		# Only MUTATION_ROOT_FILES of the receiver's own package; its subpackages are runs of their own.
		name=receiver
		exclude=(-E '^internal/')
		for f in *.go; do
			case "$f" in *_test.go) continue ;; esac
			case " $MUTATION_ROOT_FILES " in *" $f "*) ;; *) exclude+=(-E "^$f\$") ;; esac
		done
	fi
	min=$(threshold "$pkg")
	report=$MUTATION_OUT/$name.json
	log=$MUTATION_OUT/$name.log
	rm -f "$report"
	echo "== $pkg (threshold $min %)"
	# The whole output goes to the log; the survivors and the summary to the terminal (grep finds none when
	# gremlins fails early: only gremlins' status counts).
	set +e
	# shellcheck disable=SC2086 # MUTATION_FLAGS is a list of flags.
	TMPDIR=$MUTATION_TMP "$GREMLINS" unleash "./$pkg" "${exclude[@]}" $MUTATION_FLAGS -S lt -o "$report" 2>&1 |
		tee "$log" | grep --line-buffered -E 'LIVED|TIMED OUT|Killed|Timed out|efficacy|coverage'
	status=${PIPESTATUS[0]}
	set -e
	if [ "$status" -ne 0 ] || [ ! -s "$report" ]; then
		tail -n 20 "$log" >&2
		echo "$pkg: gremlins failed (exit status $status); its whole output is in $log" >&2
		failed+=("$pkg: gremlins failed")
		continue
	fi
	killed=$(json_int "$report" mutants_killed)
	lived=$(json_int "$report" mutants_lived)
	tested=$((killed + lived))
	if [ "$tested" -eq 0 ]; then
		echo "$pkg: no mutant was killed or lived" >&2
		failed+=("$pkg: no mutant tested")
		continue
	fi
	efficacy=$(awk -v k="$killed" -v t="$tested" 'BEGIN { printf "%.2f", 100 * k / t }')
	# In integers: efficacy >= min exactly when 100 * killed >= min * (killed + lived).
	if [ $((100 * killed)) -ge $((min * tested)) ]; then
		echo "$pkg: efficacy $efficacy % ($killed killed, $lived lived), threshold $min %: ok"
	else
		echo "$pkg: efficacy $efficacy % ($killed killed, $lived lived), below its threshold of $min %" >&2
		failed+=("$pkg: efficacy $efficacy % < $min %")
	fi
done

if [ ${#failed[@]} -gt 0 ]; then
	echo "mutation testing failed:" >&2
	printf '  %s\n' "${failed[@]}" >&2
	exit 1
fi
