# shellcheck shell=bash
# switchrole shell integration for bash (>= 4.4; 5.x recommended).
#
# Install: add this line to ~/.bashrc
#     eval "$(switchrole init bash)"
#
# It defines `switchrole use PROFILE` and `switchrole use --unset` (or `switchrole unuse`),
# which change the credentials of this shell, and `switchrole_prompt`, which prints the active
# profile and the time left (e.g. `test 42m`) for your PS1. A prompt hook keeps the credentials
# that `switchrole use` or `eval "$(switchrole env PROFILE)"` put here fresh. While they are
# fresh the hook starts no process: it compares the shell's own clock with SWITCHROLE_REFRESH_AT
# and reads the agent's small state file with the builtin `read`; only when a refresh is due, or
# the agent has renewed the session, does it run `switchrole env --refresh` once.
#
# A pre-command guard does the same before the first command of each line typed at the prompt,
# so a command typed after an idle spell or a laptop's sleep never starts with the credentials
# that expired meanwhile. bash's only way to run code in this shell before a command is the
# DEBUG trap, which fires before every simple command: PS0, expanded once when a typed line is
# about to run, arms the guard, and the first trap after it disarms it, so pipelines, loops,
# command substitutions, completion and PROMPT_COMMAND cost one test each and nothing more. An
# existing DEBUG trap is chained, not replaced; with bash-preexec loaded first the guard is one
# of its preexec_functions instead. `trap - DEBUG` turns the guard off (the prompt hook stays).
#
# Builtins a user might redefine (read, printf, set, eval) are called through `builtin`, and the
# client through `command`, so that aliases and functions with those names cannot change what
# the hook does.

# Prints the current epoch seconds into the variable named $1, without a process.
__switchrole_now() {
    if [[ ${EPOCHSECONDS-} == [1-9]* ]]; then
        builtin printf -v "$1" '%s' "$EPOCHSECONDS"
    else
        # EPOCHSECONDS is bash >= 5.0 and loses its magic when unset; %(...)T is 4.2+.
        builtin printf -v "$1" '%(%s)T' -1
    fi
}

__switchrole_is_int() {
    [[ -n ${1-} && $1 != *[!0-9]* ]]
}

# Reads the agent's state file (`GENERATION EXPIRES_AT REFRESH_AT STATE`) into the caller's
# __sr_key and __sr_state; succeeds when it tells of news for this shell: the agent renewed the
# session (generation moved), needs attention (state not fresh), or lost it (file missing: the
# agent restarted).
__switchrole_read_state() {
    local file=${SWITCHROLE_STATE-} gen='' status='' extra=''
    __sr_key=
    __sr_state=
    [[ -n $file ]] || return 1
    # -f first: a FIFO planted at that path must not block the prompt.
    # IFS as bash's default whatever the user set: the fields are separated by spaces.
    if [[ -f $file ]] && IFS=$' \t\n' builtin read -r gen _ _ status extra 2>/dev/null <"$file"; then
        __sr_key="$file $gen $status"
        [[ -z $extra ]] && __sr_state=$status
        [[ $gen != "${SWITCHROLE_GENERATION-}" || $status != fresh ]]
    else
        __sr_key="$file missing"
    fi
}

# Runs the client (arguments after $1) and evals the shell code it prints. $1 is `switch`, which
# evals only a success (on failure the client prints `false`), or `refresh`, which evals either
# way: in --refresh mode the failure code keeps the credentials in hand and records the failure.
# Callers turn xtrace and verbose off first (verbose echoes what eval reads), so the secrets never
# reach a trace. Returns the client's status.
__switchrole_apply() {
    local __sr_mode=$1 __sr_code __sr_rc
    shift
    __sr_code=$(command switchrole "$@")
    __sr_rc=$?
    if ((__sr_rc == 0)) || [[ $__sr_mode == refresh ]]; then
        builtin eval -- "$__sr_code"
    fi
    return "$__sr_rc"
}

# Refreshes when due: the work behind the prompt hook.
__switchrole_check() {
    [[ -n ${SWITCHROLE_PROFILE-} ]] || return 0
    local now __sr_key __sr_state due=
    __switchrole_now now
    if ! __switchrole_is_int "${SWITCHROLE_REFRESH_AT-}" || ((now >= 10#$SWITCHROLE_REFRESH_AT)); then
        # A refresh whose answer did not move the deadline (client missing, or an STS outage
        # served the credentials we have) waits 30 s instead of costing a process per prompt.
        if ! __switchrole_is_int "${__switchrole_retry_at-}" || ((now >= 10#$__switchrole_retry_at)); then
            due=1
        fi
    fi
    if [[ -z $due ]] && __switchrole_read_state && [[ $__sr_key != "${__switchrole_seen-}" ]]; then
        due=1
    fi
    if [[ -z $due ]]; then
        __switchrole_quiet "$now"
        return 0
    fi
    __switchrole_apply refresh env "$SWITCHROLE_PROFILE" --shell bash --shell-pid "$$" --refresh
    [[ -z ${__switchrole_guard_mode-} ]] || __switchrole_arm_ps0
    # Remember what the state file said after acting on it, so the same news is acted on once.
    __switchrole_read_state
    __switchrole_seen=$__sr_key
    __switchrole_retry_at=
    if ! __switchrole_is_int "${SWITCHROLE_REFRESH_AT-}" || ((now >= 10#$SWITCHROLE_REFRESH_AT)); then
        __switchrole_retry_at=$((now + 30))
    fi
    __switchrole_quiet "$now"
    return 0
}

# Sets the time until which a prompt costs one comparison: never past the refresh deadline (or
# the retry time), and at most SWITCHROLE_POLL seconds (default 5), so the agent's news in the
# state file (a renewal ahead of time, MFA needed) reach the shell that soon. Without
# EPOCHSECONDS every prompt checks fully.
__switchrole_quiet() {
    local now=$1 next=$(($1 + __switchrole_poll)) at=
    if [[ ${EPOCHSECONDS-} != [1-9]* ]]; then
        __switchrole_quiet_until=0
        return 0
    fi
    if __switchrole_is_int "${SWITCHROLE_REFRESH_AT-}" && ((10#$SWITCHROLE_REFRESH_AT > now)); then
        at=$((10#$SWITCHROLE_REFRESH_AT))
    elif __switchrole_is_int "${__switchrole_retry_at-}" && ((__switchrole_retry_at > now)); then
        at=$__switchrole_retry_at
    else
        at=$now
    fi
    ((at >= next)) || next=$at
    __switchrole_quiet_until=$next
    # A switch or a hand-set deadline changes this and ends the quiet time at once.
    __switchrole_quiet_for=${SWITCHROLE_REFRESH_AT-}
}

# $1 is the file descriptor the check's messages go to: 2 from PROMPT_COMMAND, where it is not
# given, 3 from the guard, whose stderr is closed.
__switchrole_hook() {
    # $? first: it is the status of the user's command, which PS1 and later hooks may show.
    local __sr_rc=$?
    # A line that forked before any trap ran (`( … )`) left the guard armed: the prompt ends that.
    __switchrole_armed=
    # While nothing can be due this is the whole cost of a prompt; nothing secret is traced.
    if [[ -n ${SWITCHROLE_PROFILE-} ]] && { ((${EPOCHSECONDS:-0} >= ${__switchrole_quiet_until:-0})) ||
        [[ ${SWITCHROLE_REFRESH_AT-} != "${__switchrole_quiet_for-}" ]]; }; then
        { local __sr_opts=$-; builtin set +xv; } 2>/dev/null
        __switchrole_check 2>&"${1:-2}" 3>&-
        [[ $__sr_opts != *v* ]] || builtin set -v
        [[ $__sr_opts != *x* ]] || builtin set -x
    fi
    return "$__sr_rc"
}

# The pre-command guard, the DEBUG trap's first command: `__switchrole_guard STATUS "$_"`
# returns STATUS (what a chained trap after it sees as $?) and takes the user's $_ as its last
# argument, so that $_ is the same after the trap. Its stderr is closed, so that `set -x` shows
# one line per command rather than the guard's body; the terminal's stderr waits on fd 3.
# Called with no arguments (a tool that chains traps by running their first word), it works all
# the same and returns 0.
__switchrole_guard() {
    # Not armed is the common case: every simple command of a pipeline, a loop, a function.
    if [[ -n ${__switchrole_armed-} && $BASH_SUBSHELL == 0 && -z ${COMP_LINE-} ]]; then
        __switchrole_armed=
        # The hook's own test of whether anything can be due, so that a fresh line costs no call;
        # then not for `switchrole use`, which switches anyway, nor for the hook, which checks by
        # itself, nor for a PROMPT_COMMAND entry ahead of the hook, which finds the guard armed
        # after a line that forked before any trap ran (`( … )`).
        if [[ -n ${SWITCHROLE_PROFILE-} ]] &&
            { ((${EPOCHSECONDS:-0} >= ${__switchrole_quiet_until:-0})) ||
                [[ ${SWITCHROLE_REFRESH_AT-} != "${__switchrole_quiet_for-}" ]]; } &&
            [[ $BASH_COMMAND != __switchrole_hook && $BASH_COMMAND != switchrole &&
                $BASH_COMMAND != 'switchrole '* &&
                $'\n'"${PROMPT_COMMAND[*]-}"$'\n' != *[$'\n;& \t']"$BASH_COMMAND"[$'\n;& \t']* ]]; then
            # From our own trap the terminal is on fd 3; run by another tool, on fd 2.
            if (($# >= 2)); then __switchrole_hook 3; else __switchrole_hook 2; fi
        fi
    fi
    return "${1-0}"
}

# bash-preexec calls this once per typed line, outside PROMPT_COMMAND and completion.
__switchrole_preexec() {
    __switchrole_hook 2
    # Non-zero would make bash-preexec skip the user's command under `shopt -s extdebug`.
    return 0
}

# What PS0 expands to add: nothing visible; the arithmetic arms the guard in this shell.
# shellcheck disable=SC2016 # expanded by PS0, not here
__switchrole_ps0='${PS0:$((__switchrole_armed=1)):0}'

# Installs the guard on the DEBUG trap ahead of $1, the trap already set as `trap -p DEBUG`
# prints it, and arms it from PS0; see __switchrole_install_line. A second call finds it
# installed and changes nothing.
__switchrole_install_guard() {
    local prior=$1 words
    __switchrole_prompt_command_remove "$__switchrole_install_line"
    if [[ $prior != *__switchrole_guard* ]]; then
        if [[ -n $prior ]]; then
            # `trap -p` prints `trap -- 'ACTION' DEBUG`, quoted for reuse.
            builtin eval "words=($prior)"
            builtin trap -- '__switchrole_guard "$?" "$_" 3>&2 2>&-; '"${words[2]}" DEBUG
        else
            builtin trap -- '__switchrole_guard 0 "$_" 3>&2 2>&-' DEBUG
        fi
    fi
    __switchrole_arm_ps0
}

# PS0 set after the init line (in ~/.bashrc, say) drops the piece that arms the guard; the
# prompt hook's full check puts it back in front.
__switchrole_arm_ps0() {
    [[ ${PS0-} == *"$__switchrole_ps0"* ]] || PS0=$__switchrole_ps0${PS0-}
}

function switchrole {
    # `function NAME` rather than `NAME()`: an alias named switchrole is not expanded here.
    case ${1-} in
    use | unuse)
        { local __sr_opts=$- __sr_rc=0 __sr_profile=; builtin set +xv; } 2>/dev/null
        if [[ ${2-} == -h || ${2-} == --help ]]; then
            command switchrole help "$1" || __sr_rc=$?
        elif [[ ($1 == unuse && $# -eq 1) || (${2-} == --unset && $# -eq 2) ]]; then
            __switchrole_apply switch env --unset --shell bash || __sr_rc=$?
        else
            if [[ $1 == use && $# -eq 1 ]]; then
                # No profile: the person picks one from a list (or fzf) at the terminal.
                __sr_profile=$(command switchrole pick) || __sr_rc=$?
            elif [[ $1 == use && $# -eq 2 && -n $2 && $2 != -* ]]; then
                __sr_profile=$2
            else
                builtin printf '%s\n' 'usage: switchrole use [PROFILE | --unset] | switchrole unuse' >&2
                __sr_rc=2
            fi
            if ((__sr_rc == 0)); then
                __switchrole_apply switch env "$__sr_profile" --shell bash --shell-pid "$$" --announce ||
                    __sr_rc=$?
                __switchrole_retry_at=
                __switchrole_quiet_until=0
            fi
        fi
        [[ $__sr_opts != *v* ]] || builtin set -v
        [[ $__sr_opts != *x* ]] || builtin set -x
        return "$__sr_rc"
        ;;
    doctor)
        # What only this shell knows: whether its hook and completion are registered.
        SWITCHROLE_SHELL_REPORT="$(__switchrole_report)" command switchrole "$@"
        ;;
    *)
        command switchrole "$@"
        ;;
    esac
}

# `switchrole doctor` reads this: the shell, its pid, and what is registered in it.
__switchrole_report() {
    local hook=0 completion=0 spec='' guard=1
    [[ ${PROMPT_COMMAND[*]-} != *__switchrole_hook* ]] || hook=1
    spec=$(builtin complete -p switchrole 2>/dev/null) || spec=
    [[ $spec != *__switchrole_complete* ]] || completion=1
    # Whether the guard ran for the line that runs doctor: PS0 armed it, and whatever the DEBUG
    # trap is now, only a guard still reached from it disarms. (Inside a function bash hides the
    # trap, so its text cannot tell.)
    if [[ -z ${__switchrole_guard_mode-} ]]; then
        guard=none
    elif [[ ${PS0-} != *"$__switchrole_ps0"* ]]; then
        guard=ps0
    elif ! builtin shopt -q promptvars; then
        guard=promptvars
    elif [[ -n ${__switchrole_armed-} ]]; then
        guard=0
    fi
    builtin printf 'shell=bash pid=%s hook=%s completion=%s guard=%s\n' "$$" "$hook" "$completion" "$guard"
}

# Prints the active profile and the time left, as `switchrole prompt` does, without a process.
switchrole_prompt() {
    [[ -n ${SWITCHROLE_PROFILE-} ]] || return 0
    local status=${SWITCHROLE_STATUS-fresh} now left __sr_key __sr_state
    __switchrole_read_state
    if [[ -n $__sr_state && $__sr_state != fresh ]]; then
        status=$__sr_state
    fi
    __switchrole_now now
    left=0
    if __switchrole_is_int "${SWITCHROLE_EXPIRES_AT-}"; then
        left=$((10#$SWITCHROLE_EXPIRES_AT - now))
    fi
    if ((left <= 0)); then
        builtin printf '%s !expired\n' "$SWITCHROLE_PROFILE"
    elif [[ $status == mfa_needed ]]; then
        builtin printf '%s !mfa\n' "$SWITCHROLE_PROFILE"
    elif [[ $status == login_needed ]]; then
        builtin printf '%s !login\n' "$SWITCHROLE_PROFILE"
    elif ((left >= 3600)); then
        builtin printf '%s %dh%02dm\n' "$SWITCHROLE_PROFILE" $((left / 3600)) $((left % 3600 / 60))
    elif ((left >= 60)); then
        builtin printf '%s %dm\n' "$SWITCHROLE_PROFILE" $((left / 60))
    else
        builtin printf '%s %ds\n' "$SWITCHROLE_PROFILE" "$left"
    fi
}

# Tab completion: candidates come from `switchrole __complete` (commands, flags, the
# profiles of the config files this shell sees), which reads the files itself and starts no
# agent. The plain `complete` builtin, so it works without the bash-completion package; when
# nothing fits (e.g. the command after `switchrole exec PROFILE`), `-o bashdefault -o default`
# fall back to bash's own completion of files.
__switchrole_complete() {
    # Completing with `set -x` on would spray the trace over the command line being edited.
    { local __sr_opts=$- __sr_out; builtin set +xv; } 2>/dev/null
    __sr_out=$(command switchrole __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)
    COMPREPLY=()
    # An empty output is no candidate at all, not one empty candidate.
    if [[ -n $__sr_out ]]; then
        builtin mapfile -t COMPREPLY <<<"$__sr_out"
        # Lines are `candidate<TAB>description`; bash shows bare candidates.
        COMPREPLY=("${COMPREPLY[@]%%$'\t'*}")
    fi
    [[ $__sr_opts != *v* ]] || builtin set -v
    # Last, and no `return` after it, which the trace would show: the status is 0 either way.
    [[ $__sr_opts != *x* ]] || builtin set -x
}

# Succeeds when PROMPT_COMMAND is an array whose every element bash runs (bash >= 5.1; older
# bash runs only the first).
__switchrole_prompt_command_is_array() {
    ((BASH_VERSINFO[0] > 5 || (BASH_VERSINFO[0] == 5 && BASH_VERSINFO[1] >= 1))) &&
        [[ -n ${PROMPT_COMMAND+x} && ${PROMPT_COMMAND@a} == *a* ]]
}

# Appends the command $1 to PROMPT_COMMAND unless it is there already.
__switchrole_prompt_command_add() {
    local entry
    if __switchrole_prompt_command_is_array; then
        for entry in "${PROMPT_COMMAND[@]}"; do
            [[ $entry != "$1" ]] || return 0
        done
        PROMPT_COMMAND+=("$1")
    elif [[ -z ${PROMPT_COMMAND-} ]]; then
        PROMPT_COMMAND=$1
    elif [[ $PROMPT_COMMAND != *"$1"* ]]; then
        # A newline, not `;`: the existing command may end in `;` or `&`.
        PROMPT_COMMAND+=$'\n'$1
    fi
}

# Removes the command $1 from PROMPT_COMMAND.
__switchrole_prompt_command_remove() {
    local entry kept=()
    if __switchrole_prompt_command_is_array; then
        for entry in "${PROMPT_COMMAND[@]}"; do
            [[ $entry == "$1" ]] || kept+=("$entry")
        done
        PROMPT_COMMAND=("${kept[@]}")
    elif [[ -n ${PROMPT_COMMAND-} ]]; then
        PROMPT_COMMAND=${PROMPT_COMMAND//$'\n'"$1"/}
        PROMPT_COMMAND=${PROMPT_COMMAND//"$1"/}
    fi
}

# Runs once, from PROMPT_COMMAND at the first prompt: there, at the top level, the DEBUG trap is
# visible. In a function or a sourced file (which is where an init line runs) bash hides it, and
# a trap set there would replace the user's unseen. Waiting also chains a trap that the rc file
# sets after the init line.
# shellcheck disable=SC2016 # run by PROMPT_COMMAND, not here
__switchrole_install_line='__switchrole_install_guard "$(builtin trap -p DEBUG)"'

__switchrole_register() {
    __switchrole_prompt_command_add __switchrole_hook
    # The guard only where a person types: a script that sources this keeps its commands' speed.
    [[ $- == *i* ]] || return 0
    if [[ -n ${bash_preexec_imported-}${__bp_imported-} ]]; then
        __switchrole_guard_mode='preexec'
        [[ " ${preexec_functions[*]-} " == *" __switchrole_preexec "* ]] ||
            preexec_functions+=(__switchrole_preexec)
        # Armed too, only so that doctor can tell that the guard ran for its line.
        __switchrole_arm_ps0
    else
        __switchrole_guard_mode='trap'
        __switchrole_prompt_command_add "$__switchrole_install_line"
    fi
}
# Loaded by another shell (`eval "$(switchrole init bash)"` in ~/.zshrc), this file would leave
# functions behind that half work: it says which line that shell needs and removes them.
if [ -n "${BASH_VERSION-}" ]; then
    __switchrole_register
    __switchrole_poll=5
    if [[ ${SWITCHROLE_POLL-} =~ ^[0-9]+$ ]]; then __switchrole_poll=$((10#$SWITCHROLE_POLL)); fi
    builtin complete -o bashdefault -o default -F __switchrole_complete switchrole
elif [ -n "${ZSH_VERSION-}" ]; then
    # shellcheck disable=SC2016 # the line to write, printed as it is
    builtin printf 'switchrole: this is the bash integration, but this shell is zsh: in %s/.zshrc write  eval "$(switchrole init zsh)"  instead\n' "${ZDOTDIR:-~}" >&2
else
    builtin printf '%s\n' 'switchrole: this is the bash integration, and this shell is not bash' >&2
fi
if [ -z "${BASH_VERSION-}" ]; then
    builtin unset -f __switchrole_now __switchrole_is_int __switchrole_read_state __switchrole_apply \
        __switchrole_check __switchrole_quiet __switchrole_hook __switchrole_guard \
        __switchrole_preexec __switchrole_install_guard \
        __switchrole_arm_ps0 __switchrole_prompt_command_is_array __switchrole_prompt_command_add \
        __switchrole_prompt_command_remove switchrole switchrole_prompt __switchrole_report \
        __switchrole_complete
fi
builtin unset -f __switchrole_register
