# switchrole shell integration for zsh.
#
# Install: add this line to ~/.zshrc
#     eval "$(switchrole init zsh)"
#
# It defines `switchrole use PROFILE` and `switchrole use --unset` (or `switchrole unuse`),
# which change the credentials of this shell, and `switchrole_prompt`, which prints the active
# profile and the time left (e.g. `test 42m`) for your prompt. Hooks before each prompt and
# before each command keep the credentials that `switchrole use` or
# `eval "$(switchrole env PROFILE)"` put here fresh, so no command starts with credentials past
# their refresh time. While they are fresh the hooks start no process: they compare
# $EPOCHSECONDS with SWITCHROLE_REFRESH_AT and read the agent's small state file with the
# builtin `read`; only when a refresh is due, or the agent has renewed the session, do they run
# `switchrole env --refresh` once.
#
# Functions start with `emulate -L zsh` so the user's options (ksh_arrays, sh_word_split, ...)
# cannot change their meaning, and call builtins through `builtin` and the client through
# `command` so that aliases and functions with those names cannot either.

# A module, not a process; without it the prompt-escape clock below is used.
builtin zmodload zsh/datetime 2>/dev/null

# Prints the current epoch seconds into the variable named $1, without a process.
__switchrole_now() {
    if [[ ${EPOCHSECONDS-} == [1-9]* ]]; then
        : ${(P)1::=$EPOCHSECONDS}
    else
        : ${(P)1::=${(%):-%D{%s}}}
    fi
}

__switchrole_is_int() {
    [[ -n ${1-} && $1 != *[^0-9]* ]]
}

# Reads the agent's state file (`GENERATION EXPIRES_AT REFRESH_AT STATE`) into the caller's
# __sr_key and __sr_state; succeeds when it tells of news for this shell: the agent renewed the
# session (generation moved), needs attention (state not fresh), or lost it (file missing: the
# agent restarted).
__switchrole_read_state() {
    emulate -L zsh
    # IFS as zsh's default whatever the user set: the fields are separated by spaces.
    local file=${SWITCHROLE_STATE-} gen= expires= refresh= state= extra= IFS=$' \t\n\0'
    __sr_key=
    __sr_state=
    [[ -n $file ]] || return 1
    # -f first: a FIFO planted at that path must not block the prompt.
    if [[ -f $file ]] && builtin read -r gen expires refresh state extra 2>/dev/null <$file; then
        __sr_key="$file $gen $state"
        [[ -z $extra ]] && __sr_state=$state
        [[ $gen != "${SWITCHROLE_GENERATION-}" || $state != fresh ]]
    else
        __sr_key="$file missing"
    fi
}

# Runs the client (arguments after $1) and evals the shell code it prints. $1 is `switch`, which
# evals only a success (on failure the client prints `false`), or `refresh`, which evals either
# way: in --refresh mode the failure code keeps the credentials in hand and records the failure.
# Callers turn xtrace off first, so the secrets never reach a trace. Returns the client's status.
__switchrole_apply() {
    emulate -L zsh -o no_xtrace -o no_verbose
    local __sr_mode=$1 __sr_code __sr_rc
    shift
    __sr_code=$(command switchrole "$@")
    __sr_rc=$?
    if (( __sr_rc == 0 )) || [[ $__sr_mode == refresh ]]; then
        builtin eval -- "$__sr_code"
    fi
    return __sr_rc
}

# Refreshes when due; the work behind both hooks.
__switchrole_check() {
    emulate -L zsh -o no_xtrace -o no_verbose
    [[ -n ${SWITCHROLE_PROFILE-} ]] || return 0
    local now __sr_key __sr_state due=
    __switchrole_now now
    if ! __switchrole_is_int "${SWITCHROLE_REFRESH_AT-}" || (( now >= SWITCHROLE_REFRESH_AT )); then
        # A refresh whose answer did not move the deadline (client missing, or an STS outage
        # served the credentials we have) waits 30 s instead of costing a process per prompt.
        if ! __switchrole_is_int "${__switchrole_retry_at-}" || (( now >= __switchrole_retry_at )); then
            due=1
        fi
    fi
    if [[ -z $due ]] && __switchrole_read_state && [[ $__sr_key != "${__switchrole_seen-}" ]]; then
        due=1
    fi
    if [[ -z $due ]]; then
        __switchrole_quiet $now
        return 0
    fi
    __switchrole_apply refresh env "$SWITCHROLE_PROFILE" --shell zsh --shell-pid "$$" --refresh
    # Remember what the state file said after acting on it, so the same news is acted on once.
    __switchrole_read_state
    typeset -g __switchrole_seen=$__sr_key __switchrole_retry_at=
    if ! __switchrole_is_int "${SWITCHROLE_REFRESH_AT-}" || (( now >= SWITCHROLE_REFRESH_AT )); then
        __switchrole_retry_at=$(( now + 30 ))
    fi
    __switchrole_quiet $now
    return 0
}

# Sets the time until which a prompt costs one comparison: never past the refresh deadline (or
# the retry time), and at most SWITCHROLE_POLL seconds (default 5), so the agent's news in the
# state file (a renewal ahead of time, MFA needed) reach the shell that soon. Without
# EPOCHSECONDS every prompt checks fully.
__switchrole_quiet() {
    emulate -L zsh
    local -i now=$1 next=$(( $1 + __switchrole_poll )) at
    if [[ ${EPOCHSECONDS-} != [1-9]* ]]; then
        typeset -g __switchrole_quiet_until=0
        return 0
    fi
    if __switchrole_is_int "${SWITCHROLE_REFRESH_AT-}" && (( SWITCHROLE_REFRESH_AT > now )); then
        at=$SWITCHROLE_REFRESH_AT
    elif __switchrole_is_int "${__switchrole_retry_at-}" && (( __switchrole_retry_at > now )); then
        at=$__switchrole_retry_at
    else
        at=$now
    fi
    (( at >= next )) || next=$at
    # A switch or a hand-set deadline changes __switchrole_quiet_for and ends the quiet time.
    typeset -g __switchrole_quiet_until=$next __switchrole_quiet_for=${SWITCHROLE_REFRESH_AT-}
}

__switchrole_precmd() {
    # $? first: it is the status of the user's command, which the prompt and later hooks see.
    local __sr_rc=$?
    # While nothing can be due this is the whole cost of a prompt; nothing secret is traced.
    if [[ -n ${SWITCHROLE_PROFILE-} ]] && { (( ${EPOCHSECONDS:-0} >= ${__switchrole_quiet_until:-0} )) ||
        [[ ${SWITCHROLE_REFRESH_AT-} != "${__switchrole_quiet_for-}" ]] }; then
        { emulate -L zsh -o no_xtrace -o no_verbose; } 2>/dev/null
        __switchrole_check
    fi
    return __sr_rc
}

# Before each command too, so a command never starts with credentials past their refresh time.
__switchrole_preexec() {
    __switchrole_precmd
}

function switchrole {
    # `function NAME` rather than `NAME()`: an alias named switchrole is not expanded here.
    case ${1-} in
    (use|unuse)
        { emulate -L zsh -o no_xtrace -o no_verbose; } 2>/dev/null
        local __sr_profile= __sr_rc=0
        if [[ ${2-} == -h || ${2-} == --help ]]; then
            command switchrole help "$1"
            return
        elif [[ ( $1 == unuse && $# -eq 1 ) || ( ${2-} == --unset && $# -eq 2 ) ]]; then
            __switchrole_apply switch env --unset --shell zsh
            return
        elif [[ $1 == use && $# -eq 1 ]]; then
            # No profile: the person picks one from a list (or fzf) at the terminal.
            __sr_profile=$(command switchrole pick) || return
        elif [[ $1 == use && $# -eq 2 && -n $2 && $2 != -* ]]; then
            __sr_profile=$2
        else
            builtin print -ru2 -- 'usage: switchrole use [PROFILE | --unset] | switchrole unuse'
            return 2
        fi
        typeset -g __switchrole_retry_at= __switchrole_quiet_until=0
        __switchrole_apply switch env "$__sr_profile" --shell zsh --shell-pid "$$" --announce
        ;;
    (doctor)
        # What only this shell knows: whether its hooks and completion are registered.
        SWITCHROLE_SHELL_REPORT="$(__switchrole_report)" command switchrole "$@"
        ;;
    (*)
        command switchrole "$@"
        ;;
    esac
}

# `switchrole doctor` reads this: the shell, its pid, and what is registered in it.
__switchrole_report() {
    emulate -L zsh
    local hook=0 completion=0 compinit=0
    if (( ${precmd_functions[(Ie)__switchrole_precmd]} && ${preexec_functions[(Ie)__switchrole_preexec]} )); then
        hook=1
    fi
    (( ! $+functions[compdef] )) || compinit=1
    [[ ${_comps[switchrole]-} != __switchrole_complete ]] || completion=1
    builtin printf 'shell=zsh pid=%s hook=%s completion=%s compinit=%s\n' $$ $hook $completion $compinit
}

# Prints the active profile and the time left, as `switchrole prompt` does, without a process.
switchrole_prompt() {
    { emulate -L zsh -o no_xtrace -o no_verbose; } 2>/dev/null
    [[ -n ${SWITCHROLE_PROFILE-} ]] || return 0
    local state=${SWITCHROLE_STATUS-fresh} now left=0 __sr_key __sr_state
    __switchrole_read_state
    if [[ -n $__sr_state && $__sr_state != fresh ]]; then
        state=$__sr_state
    fi
    __switchrole_now now
    if __switchrole_is_int "${SWITCHROLE_EXPIRES_AT-}"; then
        left=$(( SWITCHROLE_EXPIRES_AT - now ))
    fi
    if (( left <= 0 )); then
        builtin printf '%s !expired\n' "$SWITCHROLE_PROFILE"
    elif [[ $state == mfa_needed ]]; then
        builtin printf '%s !mfa\n' "$SWITCHROLE_PROFILE"
    elif [[ $state == login_needed ]]; then
        builtin printf '%s !login\n' "$SWITCHROLE_PROFILE"
    elif (( left >= 3600 )); then
        builtin printf '%s %dh%02dm\n' "$SWITCHROLE_PROFILE" $(( left / 3600 )) $(( left % 3600 / 60 ))
    elif (( left >= 60 )); then
        builtin printf '%s %dm\n' "$SWITCHROLE_PROFILE" $(( left / 60 ))
    else
        builtin printf '%s %ds\n' "$SWITCHROLE_PROFILE" $left
    fi
}

# Tab completion: candidates come from `switchrole __complete` (commands, flags, the
# profiles of the config files this shell sees), which reads the files itself and starts no
# agent. Registered with compdef, so only where the completion system is loaded: the init line
# goes after `compinit` in ~/.zshrc. No `emulate` here: _describe and _normal need the options
# the completion system set; only tracing is turned off, or it would spray the command line.
__switchrole_complete() {
    { builtin setopt local_options no_xtrace no_verbose; } 2>/dev/null
    local -a __sr_lines __sr_items
    local -i __sr_i=3 __sr_start=0
    local __sr_line __sr_name __sr_profile=
    # (Q): the program sees the words without the quoting typed around them.
    __sr_lines=(${(f)"$(command switchrole __complete "${(@Q)words[2,CURRENT-1]}" "${(Q)PREFIX}" 2>/dev/null)"})
    for __sr_line in "${__sr_lines[@]}"; do
        # Lines are `candidate<TAB>description`; _describe wants `candidate:description`, with
        # the colons of the candidate escaped.
        __sr_name=${__sr_line%%$'\t'*}
        if [[ $__sr_line == *$'\t'* ]]; then
            __sr_items+=("${__sr_name//:/\\:}:${__sr_line#*$'\t'}")
        else
            __sr_items+=("${__sr_name//:/\\:}")
        fi
    done
    if (( ${#__sr_items[@]} )); then
        _describe -t switchrole switchrole __sr_items
        return
    fi
    # After `exec PROFILE` comes the command to run, split off as cli.exec_args does: complete it
    # as if it stood alone on the line.
    [[ ${words[2]-} == exec ]] || return 1
    while (( __sr_i < CURRENT )); do
        case ${words[__sr_i]} in
        (--) __sr_start=__sr_i+1; break ;;
        (-*) ;;
        (*)
            if [[ -n $__sr_profile ]]; then __sr_start=__sr_i; break; fi
            __sr_profile=${words[__sr_i]}
            ;;
        esac
        (( __sr_i++ ))
    done
    if (( ! __sr_start )) && [[ -n $__sr_profile && $PREFIX != -* ]]; then __sr_start=CURRENT; fi
    (( __sr_start )) || return 1
    shift $(( __sr_start - 1 )) words
    (( CURRENT -= __sr_start - 1 ))
    _normal
}

# Registered once however often this file is sourced: the arrays are checked first.
__switchrole_register() {
    emulate -L zsh
    typeset -ga precmd_functions preexec_functions
    (( ${precmd_functions[(Ie)__switchrole_precmd]} )) || precmd_functions+=(__switchrole_precmd)
    (( ${preexec_functions[(Ie)__switchrole_preexec]} )) || preexec_functions+=(__switchrole_preexec)
    typeset -gi __switchrole_poll=5
    if __switchrole_is_int "${SWITCHROLE_POLL-}"; then __switchrole_poll=$SWITCHROLE_POLL; fi
    # Only with the completion system loaded (compinit); a second compdef replaces the first.
    if (( $+functions[compdef] )); then compdef __switchrole_complete switchrole; fi
}

# Loaded by another shell (`eval "$(switchrole init zsh)"` in ~/.bashrc), this file would leave
# functions behind that half work: it says which line that shell needs and removes them. It
# therefore parses in bash too (no zsh-only glob syntax outside code only zsh runs).
if [ -n "${ZSH_VERSION-}" ]; then
    __switchrole_register
elif [ -n "${BASH_VERSION-}" ]; then
    builtin printf '%s\n' 'switchrole: this is the zsh integration, but this shell is bash: in ~/.bashrc write  eval "$(switchrole init bash)"  instead' >&2
else
    builtin printf '%s\n' 'switchrole: this is the zsh integration, and this shell is not zsh' >&2
fi
if [ -z "${ZSH_VERSION-}" ]; then
    builtin unset -f __switchrole_now __switchrole_is_int __switchrole_read_state __switchrole_apply \
        __switchrole_check __switchrole_quiet __switchrole_precmd __switchrole_preexec switchrole \
        switchrole_prompt __switchrole_register __switchrole_report __switchrole_complete
else
    builtin unfunction __switchrole_register
fi
