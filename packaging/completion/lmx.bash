# bash completion for lmx (installed by `make install` into
# share/bash-completion/completions/lmx). Commands and options are read from
# lmx's own help, so they never drift from the binary.
_lmx_options() {
    lmx "$1" --help 2>/dev/null | grep -oE -- '(^|[[:space:]|,(\[])--?[a-zA-Z][-a-zA-Z0-9]*' |
        sed 's/^[^-]*//' | sort -u
}
_lmx_commands() {
    lmx help 2>/dev/null | awk '/^  [a-z]/ { print $1 }'
}
_lmx() {
    local cur="${COMP_WORDS[COMP_CWORD]}"
    COMPREPLY=()
    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=($(compgen -W "$(_lmx_commands) --help --version" -- "$cur"))
    elif [ "${COMP_WORDS[1]}" = help ]; then
        COMPREPLY=($(compgen -W "$(_lmx_commands)" -- "$cur"))
    elif [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$(_lmx_options "${COMP_WORDS[1]}")" -- "$cur"))
    else
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}
complete -o default -F _lmx lmx
