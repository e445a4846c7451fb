# shellcheck shell=bash
# A stand-in for bash-preexec (https://github.com/rcaloras/bash-preexec), written for these tests
# because the test machines cannot download it. It keeps the parts of bash-preexec's documented
# behaviour that switchrole depends on:
#   - sourcing it sets `bash_preexec_imported` and the arrays `preexec_functions` and
#     `precmd_functions`;
#   - it installs itself from PROMPT_COMMAND at the first prompt, after the rc file has run;
#   - it then owns the DEBUG trap, and keeps a DEBUG trap that was already set by turning it
#     into the preexec function `__bp_original_debug_trap`;
#   - it runs each preexec function once per line typed at the prompt (not for PROMPT_COMMAND,
#     not for completion), with $? set to the status of the previous command;
#   - it keeps $_ for the user's command.

# shellcheck disable=SC2034 # read by the integrations that look for bash-preexec
bash_preexec_imported=defined
# shellcheck disable=SC2034
declare -a preexec_functions precmd_functions

__standin_status() {
    return "${1-0}"
}

__standin_invoke_preexec() {
    local __standin_rc=$? __standin_last=${1-} __standin_f
    if [[ -n ${__standin_interactive-} && -z ${COMP_LINE-} ]]; then
        ((BASH_SUBSHELL != 0)) || __standin_interactive=
        for __standin_f in "${preexec_functions[@]}"; do
            __standin_status "$__standin_rc"
            "$__standin_f" "$BASH_COMMAND"
        done
    fi
    __standin_status 0 "$__standin_last"
}

__standin_set_interactive() {
    __standin_interactive=on
}

__standin_install() {
    local prior=$1 words
    PROMPT_COMMAND=${PROMPT_COMMAND//$'\n'"$__standin_install_line"/}
    trap '__standin_invoke_preexec "$_"' DEBUG
    if [[ -n $prior ]]; then
        eval "words=($prior)"
        eval "__bp_original_debug_trap() {
            ${words[2]}
        }"
        preexec_functions+=(__bp_original_debug_trap)
    fi
    PROMPT_COMMAND+=$'\n'__standin_set_interactive
    __standin_set_interactive
}

# shellcheck disable=SC2016 # run by PROMPT_COMMAND
__standin_install_line='__standin_install "$(trap -p DEBUG)"'
PROMPT_COMMAND+=$'\n'$__standin_install_line
