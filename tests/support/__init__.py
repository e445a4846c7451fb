"""Helpers for the tests and the benchmarks, each defined once; import from the module that holds it.

- ``world``: a user's machine: a throwaway HOME with ~/.aws files, a runtime dir and STS on
  127.0.0.1; the scenario's keys, roles and config; how each shell is started and switched.
- ``waiting``: ``wait_for``, the one poll with a deadline.
- ``agent``: the agent as a process and its socket: pid, log, liveness, exit status, a switch
  that must succeed, the sessions it holds, raw requests.
- ``exports``: reading what ``switchrole env`` printed and what a shell dumped of its environment.
- ``pipe_shell``: ``LiveBash``, a bash kept alive on a pipe between commands, and what runs in it
  (endpoint mode, a boto3 job, the timed prompt hook).
- ``pty_shell``: ``PtyShell``, an interactive bash, zsh or fish on a pty, typed at like a person.
- ``client_starts``: a ``switchrole`` first on PATH that records each start.
- ``clock``: time for in-process tests: the injected ``FakeClock`` and credentials issued on it.
- ``net``: plain HTTP to the loopback endpoint.
- ``sts_fake``, ``federation_fake``, ``flood``: the fakes and the attacker the tests run against.
"""
