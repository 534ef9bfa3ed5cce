// completion bash: commands, kinds and (through `deployctl get KIND -o name`) resource names.
import type { Command } from '../context.js';
import { CliError } from '../errors.js';

/** The bash script; `commands` are the top-level words, `sub` the second words per command. */
export function bashCompletion(commands: readonly string[], sub: Readonly<Record<string, readonly string[]>>): string {
  const subCases = Object.entries(sub)
    .map(([c, words]) => `      ${c}) COMPREPLY=( $(compgen -W "${words.join(' ')}" -- "$cur") ); return ;;`)
    .join('\n');
  return `# bash completion for deployctl; load it with: source <(deployctl completion bash)
_deployctl_kinds="projectservers projectserver ps deployments deployment deploy routes route rt events event ev"

_deployctl() {
  local cur prev words cword
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  local i cmd="" kind="" args=() ns=()
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in
      -n|--namespace) ns=(-n "\${COMP_WORDS[i+1]}"); ((i++)); continue ;;
      --namespace=*) ns=(-n "\${COMP_WORDS[i]#--namespace=}"); continue ;;
      --server|--token|--context|-o|--output|-l|--selector|--tail|--timeout|--to) ((i++)); continue ;;
      -*) continue ;;
    esac
    args+=("\${COMP_WORDS[i]}")
  done
  cmd="\${args[0]}"
  case "$prev" in
    -f|--filename) COMPREPLY=( $(compgen -f -- "$cur") ); return ;;
    -o|--output) COMPREPLY=( $(compgen -W "yaml json wide name" -- "$cur") ); return ;;
    -n|--namespace|--server|--token|--tail|--timeout|-l|--selector) return ;;
  esac
  if [[ \${#args[@]} -eq 0 ]]; then
    COMPREPLY=( $(compgen -W "${commands.join(' ')}" -- "$cur") )
    return
  fi
  if [[ \${#args[@]} -eq 1 ]]; then
    case "$cmd" in
${subCases}
      get|describe|delete) COMPREPLY=( $(compgen -W "$_deployctl_kinds" -- "$cur") ); return ;;
      logs) kind=projectservers ;;
      *) return ;;
    esac
  fi
  case "$cmd" in
    get|describe|delete) kind="\${kind:-\${args[1]}}" ;;
    rollout) case "\${args[1]}" in status) kind=deployments ;; undo|history) kind=projectservers ;; esac ;;
  esac
  [[ -z "$kind" ]] && return
  local names
  names=$(deployctl get "$kind" -o name "\${ns[@]}" 2>/dev/null)
  case "$cmd" in
    get|describe|delete) names=$(printf '%s\\n' $names | sed 's|^[^/]*/||') ;;
  esac
  COMPREPLY=( $(compgen -W "$names" -- "$cur") )
}
complete -o default -F _deployctl deployctl
`;
}

export function completionCommand(commands: () => { top: string[]; sub: Record<string, string[]> }): Command {
  return {
    words: ['completion'],
    usage: 'completion bash',
    summary: 'a bash completion script (source <(deployctl completion bash))',
    flags: [],
    local: true,
    async run(ctx) {
      if (ctx.args[0] !== 'bash') throw new CliError('completion: only bash is supported: deployctl completion bash');
      const { top, sub } = commands();
      ctx.io.out(bashCompletion(top, sub));
      return 0;
    },
  };
}
