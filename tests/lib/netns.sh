# Sourced by suites that run in a network namespace of their own:
# own_netns SCRIPT ARGS... runs the suite again in a new one (its ports
# are then its own), with its loopback up.
own_netns() {
	if [ -z "${MCPVISOR_NETNS:-}" ]; then
		exec unshare -n env MCPVISOR_NETNS=1 bash "$@"
	fi
	ip link set lo up
}
# remote_netns TAG SUBNET makes a second namespace (a sleeping process
# holds it; its pid in $remote, for nsenter and for the cleanup to kill)
# joined to ours by a veth pair: ours SUBNET.1 on TAG0, its SUBNET.2 on
# TAG1. TAG and the sleep's length keep suites running side by side apart.
remote_netns() {
	unshare -n sleep "$3" &
	remote=$!
	sleep 0.2
	ip link add "${1}0" type veth peer name "${1}1"
	ip link set "${1}1" netns "$remote"
	ip addr add "$2.1/24" dev "${1}0"
	ip link set "${1}0" up
	nsenter -t "$remote" -n ip addr add "$2.2/24" dev "${1}1"
	nsenter -t "$remote" -n ip link set "${1}1" up
	nsenter -t "$remote" -n ip link set lo up
}
