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
    if [[ ${EPOCHSECONDS-} == <1-> ]]; then
        : ${(P)1::=$EPOCHSECONDS}
    else
        : ${(P)1::=${(%):-%D{%s}}}
    fi
}

# Reads the agent's state file (`GENERATION EXPIRES_AT REFRESH_AT STATUS`) into the caller's
# __sr_key and __sr_state; succeeds when it tells of news for this shell: the agent renewed the
# session (generation moved), needs attention (status not ok), or lost it (file missing: the
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
        [[ $gen != "${SWITCHROLE_GENERATION-}" || $state != ok ]]
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
    if [[ ${SWITCHROLE_REFRESH_AT-} != <-> ]] || (( now >= SWITCHROLE_REFRESH_AT )); then
        # A refresh whose answer did not move the deadline (client missing, or an STS outage
        # served the credentials we have) waits 30 s instead of costing a process per prompt.
        if [[ ${__switchrole_retry_at-} != <-> ]] || (( now >= __switchrole_retry_at )); then
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
    if [[ ${SWITCHROLE_REFRESH_AT-} != <-> ]] || (( now >= SWITCHROLE_REFRESH_AT )); then
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
    if [[ ${EPOCHSECONDS-} != <1-> ]]; then
        typeset -g __switchrole_quiet_until=0
        return 0
    fi
    if [[ ${SWITCHROLE_REFRESH_AT-} == <-> ]] && (( SWITCHROLE_REFRESH_AT > now )); then
        at=$SWITCHROLE_REFRESH_AT
    elif [[ ${__switchrole_retry_at-} == <-> ]] && (( __switchrole_retry_at > now )); then
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
        if [[ ( $1 == unuse && $# -eq 1 ) || ( ${2-} == --unset && $# -eq 2 ) ]]; then
            __switchrole_apply switch env --unset --shell zsh
        elif [[ $1 == use && $# -eq 2 && -n $2 && $2 != -* ]]; then
            typeset -g __switchrole_retry_at= __switchrole_quiet_until=0
            __switchrole_apply switch env "$2" --shell zsh --shell-pid "$$"
        else
            builtin print -ru2 -- 'usage: switchrole use PROFILE | switchrole use --unset | switchrole unuse'
            return 2
        fi
        ;;
    (*)
        command switchrole "$@"
        ;;
    esac
}

# Prints the active profile and the time left, as `switchrole prompt` does, without a process.
switchrole_prompt() {
    { emulate -L zsh -o no_xtrace -o no_verbose; } 2>/dev/null
    [[ -n ${SWITCHROLE_PROFILE-} ]] || return 0
    local state=${SWITCHROLE_STATUS-ok} now left=0 __sr_key __sr_state
    __switchrole_read_state
    if [[ -n $__sr_state && $__sr_state != ok ]]; then
        state=$__sr_state
    fi
    __switchrole_now now
    if [[ ${SWITCHROLE_EXPIRES_AT-} == <-> ]]; then
        left=$(( SWITCHROLE_EXPIRES_AT - now ))
    fi
    if (( left <= 0 )); then
        builtin printf '%s !expired\n' "$SWITCHROLE_PROFILE"
    elif [[ $state == mfa_needed ]]; then
        builtin printf '%s !mfa\n' "$SWITCHROLE_PROFILE"
    elif (( left >= 3600 )); then
        builtin printf '%s %dh%02dm\n' "$SWITCHROLE_PROFILE" $(( left / 3600 )) $(( left % 3600 / 60 ))
    elif (( left >= 60 )); then
        builtin printf '%s %dm\n' "$SWITCHROLE_PROFILE" $(( left / 60 ))
    else
        builtin printf '%s %ds\n' "$SWITCHROLE_PROFILE" $left
    fi
}

# Registered once however often this file is sourced: the arrays are checked first.
() {
    emulate -L zsh
    typeset -ga precmd_functions preexec_functions
    (( ${precmd_functions[(Ie)__switchrole_precmd]} )) || precmd_functions+=(__switchrole_precmd)
    (( ${preexec_functions[(Ie)__switchrole_preexec]} )) || preexec_functions+=(__switchrole_preexec)
}
typeset -gi __switchrole_poll=5
# An `if`, not `&&`: sourcing this file must end with status 0.
if [[ ${SWITCHROLE_POLL-} == <-> ]]; then __switchrole_poll=$SWITCHROLE_POLL; fi
