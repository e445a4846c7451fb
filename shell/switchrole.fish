# switchrole shell integration for fish (>= 3.2).
#
# Install: add this line to ~/.config/fish/config.fish
#     switchrole init fish | source
#
# It defines `switchrole use PROFILE` and `switchrole use --unset` (or `switchrole unuse`),
# which change the credentials of this shell, and `switchrole_prompt`, which prints the active
# profile and the time left (e.g. `test 42m`) for your fish_prompt. Handlers of the fish_prompt
# and fish_preexec events keep the credentials that `switchrole use` or
# `switchrole env PROFILE | source` put here fresh, so no command starts with credentials past
# their refresh time. While they are fresh the handlers start no process: fish has no clock
# builtin, so they read /proc/uptime with the builtin `read` and compare it with the refresh
# deadline on that clock (SWITCHROLE_EXPIRES_UPTIME gives the expiry there), and read the
# agent's small state file, which also serves where /proc/uptime does not exist: the agent
# renews the session ahead of the deadline and the generation it writes moves. Only when a
# refresh is due, or the agent has renewed the session, do they run `switchrole env --refresh`
# once.
#
# Only globals (`set -g`), never universal variables: those would be written to disk and shared
# by every fish of the user. Builtins that functions may shadow are called through `builtin`,
# the client through `command`.

# Read by bash or zsh (`eval "$(switchrole init fish)"`), this line, which parses in all three,
# says so before their parser stops at the first fish-only line.
test -n "$FISH_VERSION" || printf '%s\n' 'switchrole: this is the fish integration: in ~/.bashrc or ~/.zshrc write  eval "$(switchrole init bash)"  (or zsh) instead' >&2

# Prints the /proc/uptime clock in whole seconds, or nothing where there is no such clock.
function __switchrole_uptime
    test -r /proc/uptime; or return 1
    read -l up idle </proc/uptime; or return 1
    string split -f1 . -- $up
end

function __switchrole_is_int
    string match -qr '^[0-9]+$' -- "$argv[1]"
end

# Prints the refresh deadline on the /proc/uptime clock; computed again only when the
# variables it comes from change, whether `switchrole use` or a plain `source` set them.
function __switchrole_deadline
    set -l key "$SWITCHROLE_EXPIRES_UPTIME $SWITCHROLE_EXPIRES_AT $SWITCHROLE_REFRESH_AT"
    if test "$key" != "$__switchrole_deadline_key"
        set -g __switchrole_deadline_key $key
        set -g __switchrole_deadline_value
        if __switchrole_is_int "$SWITCHROLE_EXPIRES_UPTIME"
            and __switchrole_is_int "$SWITCHROLE_EXPIRES_AT"
            and __switchrole_is_int "$SWITCHROLE_REFRESH_AT"
            set -g __switchrole_deadline_value (builtin math "$SWITCHROLE_EXPIRES_UPTIME - ($SWITCHROLE_EXPIRES_AT - $SWITCHROLE_REFRESH_AT)")
        end
    end
    builtin printf '%s\n' $__switchrole_deadline_value
end

# Reads the agent's state file (`GENERATION EXPIRES_AT REFRESH_AT STATE`) into
# __switchrole_key and __switchrole_state; succeeds when it tells of news for this shell: the
# agent renewed the session (generation moved), needs attention (state not fresh), or lost it
# (file missing: the agent restarted).
function __switchrole_read_state
    set -g __switchrole_key
    set -g __switchrole_state
    set -l file "$SWITCHROLE_STATE"
    test -n "$file"; or return 1
    set -l gen
    set -l expires
    set -l refresh
    set -l state
    set -l extra
    # -f first: a FIFO planted at that path must not block the prompt.
    if test -f "$file"; and read gen expires refresh state extra <$file 2>/dev/null
        set -g __switchrole_key "$file $gen $state"
        test -z "$extra"; and set -g __switchrole_state $state
        if test "$gen" != "$SWITCHROLE_GENERATION"; or test "$state" != fresh
            return 0
        end
        return 1
    end
    set -g __switchrole_key "$file missing"
    return 0
end

# Runs the client (arguments after the first) and sources the code it prints. The first
# argument is `switch`, which sources only a success (on failure the client prints `false`), or
# `refresh`, which sources either way: in --refresh mode the failure code keeps the credentials
# in hand and records the failure. Tracing is off, so the secrets never reach a trace. Returns
# the client's status.
function __switchrole_apply
    set -l fish_trace
    set -l mode $argv[1]
    set -l code (command switchrole $argv[2..-1])
    set -l rc $status
    if test $rc -eq 0; or test "$mode" = refresh
        string join \n -- $code | builtin source
    end
    return $rc
end

# Refreshes when due; the work behind both event handlers.
function __switchrole_check
    set -l fish_trace
    test -n "$SWITCHROLE_PROFILE"; or return 0
    set -l due
    set -l now (__switchrole_uptime)
    if test -n "$now"
        set -l deadline (__switchrole_deadline)
        if test -z "$deadline"; or test $now -ge $deadline
            # A refresh whose answer did not move the deadline (client missing, or an STS outage
            # served the credentials we have) waits 30 s instead of costing a process per prompt.
            if not __switchrole_is_int "$__switchrole_retry_at"; or test $now -ge $__switchrole_retry_at
                set due 1
            end
        end
    end
    if test -z "$due"; and __switchrole_read_state; and test "$__switchrole_key" != "$__switchrole_seen"
        set due 1
    end
    test -n "$due"; or return 0
    __switchrole_apply refresh env "$SWITCHROLE_PROFILE" --shell fish --shell-pid $fish_pid --refresh
    # Remember what the state file said after acting on it, so the same news is acted on once.
    __switchrole_read_state
    set -g __switchrole_seen $__switchrole_key
    set -g __switchrole_retry_at
    if test -n "$now"
        set -l deadline (__switchrole_deadline)
        if test -z "$deadline"; or test $now -ge $deadline
            set -g __switchrole_retry_at (builtin math $now + 30)
        end
    end
    return 0
end

# fish restores $status after event handlers by itself; returning it keeps it for direct calls too.
function __switchrole_on_prompt --on-event fish_prompt
    set -l rc $status
    __switchrole_check
    return $rc
end

function __switchrole_on_preexec --on-event fish_preexec
    set -l rc $status
    __switchrole_check
    return $rc
end

function switchrole --description 'switchrole; `switchrole use PROFILE` and `switchrole unuse` change this shell'
    switch "$argv[1]"
        case use unuse
            set -l fish_trace
            set -l n (builtin count $argv)
            set -l profile
            if builtin contains -- "$argv[2]" -h --help
                command switchrole help $argv[1]
                return
            else if test "$argv[1]" = unuse -a $n -eq 1; or test "$argv[2]" = --unset -a $n -eq 2
                __switchrole_apply switch env --unset --shell fish
                return
            else if test "$argv[1]" = use -a $n -eq 1
                # No profile: the person picks one from a list (or fzf) at the terminal.
                set profile (command switchrole pick); or return
            else if test "$argv[1]" = use -a $n -eq 2 -a -n "$argv[2]"; and not string match -q -- '-*' $argv[2]
                set profile $argv[2]
            else
                builtin printf '%s\n' 'usage: switchrole use [PROFILE | --unset] | switchrole unuse' >&2
                return 2
            end
            set -g __switchrole_retry_at
            __switchrole_apply switch env $profile --shell fish --shell-pid $fish_pid --announce
        case doctor
            # What only this shell knows: whether its event handlers and completion are registered.
            SWITCHROLE_SHELL_REPORT=(__switchrole_report) command switchrole $argv
        case '*'
            command switchrole $argv
    end
end

# `switchrole doctor` reads this: the shell, its pid, and what is registered in it.
function __switchrole_report
    set -l handlers (functions --handlers)
    set -l hook 0
    set -l completion 0
    if builtin contains -- 'fish_prompt __switchrole_on_prompt' $handlers; and builtin contains -- 'fish_preexec __switchrole_on_preexec' $handlers
        set hook 1
    end
    string match -q '*__switchrole_complete*' -- (complete -c switchrole); and set completion 1
    builtin printf 'shell=fish pid=%s hook=%s completion=%s\n' $fish_pid $hook $completion
end

# Prints the active profile and the time left, as `switchrole prompt` does, without a process.
function switchrole_prompt
    test -n "$SWITCHROLE_PROFILE"; or return 0
    set -l state fresh
    set -q SWITCHROLE_STATUS; and set state "$SWITCHROLE_STATUS"
    __switchrole_read_state
    if test -n "$__switchrole_state" -a "$__switchrole_state" != fresh
        set state $__switchrole_state
    end
    if not __switchrole_is_int "$SWITCHROLE_EXPIRES_AT"
        builtin printf '%s !expired\n' "$SWITCHROLE_PROFILE"
        return 0
    end
    set -l now (__switchrole_uptime)
    if test -z "$now"; or not __switchrole_is_int "$SWITCHROLE_EXPIRES_UPTIME"
        # No clock to count with: name the profile and what needs attention.
        if test "$state" = mfa_needed
            builtin printf '%s !mfa\n' "$SWITCHROLE_PROFILE"
        else if test "$state" = login_needed
            builtin printf '%s !login\n' "$SWITCHROLE_PROFILE"
        else
            builtin printf '%s\n' "$SWITCHROLE_PROFILE"
        end
        return 0
    end
    set -l left (builtin math $SWITCHROLE_EXPIRES_UPTIME - $now)
    if test $left -le 0
        builtin printf '%s !expired\n' "$SWITCHROLE_PROFILE"
    else if test "$state" = mfa_needed
        builtin printf '%s !mfa\n' "$SWITCHROLE_PROFILE"
    else if test "$state" = login_needed
        builtin printf '%s !login\n' "$SWITCHROLE_PROFILE"
    else if test $left -ge 3600
        builtin printf '%s %dh%02dm\n' "$SWITCHROLE_PROFILE" (builtin math --scale=0 "floor($left / 3600)") (builtin math --scale=0 "floor($left % 3600 / 60)")
    else if test $left -ge 60
        builtin printf '%s %dm\n' "$SWITCHROLE_PROFILE" (builtin math --scale=0 "floor($left / 60)")
    else
        builtin printf '%s %ds\n' "$SWITCHROLE_PROFILE" $left
    end
end

# Tab completion: candidates come from `switchrole __complete` (commands, flags, the
# profiles of the config files this shell sees), which reads the files itself and starts no
# agent; fish shows the descriptions after the tab of each line itself.
function __switchrole_complete
    set -l fish_trace
    set -l words (commandline -opc)[2..-1]
    set -l current (commandline -ct)
    set -l out (command switchrole __complete $words "$current" 2>/dev/null)
    if set -q out[1]
        builtin printf '%s\n' $out
        return 0
    end
    # After `exec PROFILE` comes the command to run, split off as cli.exec_args does: complete
    # it as if it stood alone on the line.
    test "$words[1]" = exec; or return 0
    set -l n (builtin count $words)
    set -l i 2
    set -l start 0
    set -l profile
    while test $i -le $n
        switch $words[$i]
            case --
                set start (builtin math $i + 1)
                break
            case '-*'
            case '*'
                if test -n "$profile"
                    set start $i
                    break
                end
                set profile $words[$i]
        end
        set i (builtin math $i + 1)
    end
    if test $start -eq 0 -a -n "$profile"; and not string match -q -- '-*' "$current"
        set start (builtin math $n + 1)
    end
    test $start -gt 0; or return 0
    complete -C (string join ' ' -- (string escape -- $words[$start..-1]) "$current")
end

# Registered once however often this file is sourced (each entry would run the program again).
if not complete -c switchrole | string match -q -- '*__switchrole_complete*'
    complete -c switchrole -f -a '(__switchrole_complete)'
end
