# Sourced by the shell suites: ok/bad count results, check NAME EXPR
# evaluates EXPR (showing the tail of $out when it fails), wait_for EXPR
# SECONDS polls EXPR every 50 ms. The suite prints "$passed passed,
# $failed failed" at its end.
passed=0 failed=0
ok()  { passed=$((passed + 1)); echo "ok - $1"; }
bad() { failed=$((failed + 1)); echo "FAIL - $1"; }
check() {
	if eval "$2"; then ok "$1"
	else bad "$1"; printf '%s\n' "${out:-}" | tail -n 15 | sed 's/^/    /'; fi
}
wait_for() {
	local i
	for i in $(seq $(( $2 * 20 ))); do eval "$1" && return 0; sleep 0.05; done
	return 1
}
