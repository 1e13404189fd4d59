# bash completion for mcpvisor(1): commands, their verbs and options,
# deployment and rollback ids from the state directory, spec files.
_mcpvisor()
{
	local cur prev words cword
	_init_completion 2>/dev/null || {
		cur=${COMP_WORDS[COMP_CWORD]}
		prev=${COMP_WORDS[COMP_CWORD-1]}
		words=("${COMP_WORDS[@]}")
		cword=$COMP_CWORD
	}
	local globals="--config-dir --checks-dir --deployments-dir --state-dir --backup-dir --verbose --version --help"
	case $prev in
	--config-dir|--checks-dir|--deployments-dir|--state-dir|--backup-dir)
		COMPREPLY=($(compgen -d -- "$cur")); return ;;
	-e|--environment|--strategy|--tags|--server|--servers|--port|-p|--max-parallel|--since|-n|--to-revision)
		return ;;
	esac
	# the command and its verb: the first two words that are not options
	# (or an option's value)
	local i cmd="" verb="" skip=0
	for ((i = 1; i < cword; i++)); do
		if [ $skip -eq 1 ]; then skip=0; continue; fi
		case ${words[i]} in
		--config-dir|--checks-dir|--deployments-dir|--state-dir|--backup-dir|-e|--environment|--strategy|--tags|--server|--servers|--port|-p|--max-parallel|-s|--signal|-n|--lines|--to-revision)
			skip=1 ;;
		-*) ;;
		*) if [ -z "$cmd" ]; then cmd=${words[i]}; elif [ -z "$verb" ]; then verb=${words[i]}; fi ;;
		esac
	done
	if [ -z "$cmd" ]; then
		COMPREPLY=($(compgen -W "config deploy health rollback monitor probe security status logs stop start restart kill shutdown reload history gateway $globals" -- "$cur"))
		return
	fi
	if [ -z "$verb" ]; then
		case $cmd in
		config)   COMPREPLY=($(compgen -W "show validate list" -- "$cur")) ;;
		deploy)   COMPREPLY=($(compgen -W "start status list stop" -- "$cur")) ;;
		health)   COMPREPLY=($(compgen -W "register list run" -- "$cur")) ;;
		rollback) COMPREPLY=($(compgen -W "list status start approve" -- "$cur")) ;;
		monitor)  COMPREPLY=($(compgen -W "start show record" -- "$cur")) ;;
		probe)    COMPREPLY=($(compgen -W "live ready" -- "$cur")) ;;
		gateway)  COMPREPLY=($(compgen -W "list client-config" -- "$cur")) ;;
		esac
		return
	fi
	local opts=""
	case $cmd.$verb in
	deploy.start) opts="--environment --dry-run --json --detach --sequential --max-parallel --no-rollback --strategy --no-monitoring --monitor-port --force-recreate --wait --once" ;;
	deploy.status) opts="--follow --json" ;;
	deploy.list) opts="--all --json --limit" ;;
	health.run) opts="--all --tags --server --environment --json" ;;
	rollback.start) opts="--servers --strategy --to-revision --detach --json" ;;
	monitor.start) opts="--port --bind" ;;
	monitor.show) opts="--events --metrics" ;;
	*) opts="--json" ;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$opts $globals" -- "$cur"))
	elif [ "$cmd.$verb" = deploy.start ] || [ "$cmd.$verb" = health.register ]; then
		COMPREPLY=($(compgen -f -X '!*.@(yaml|yml)' -- "$cur") $(compgen -d -- "$cur"))
	fi
}
complete -F _mcpvisor mcpvisor
