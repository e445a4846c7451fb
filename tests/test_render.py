"""switchrole.render: allow-list, NUL refusal, and hostile values round-tripped through real shells."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from support.world import SHELLS, shell_argv
from switchrole import render

HOSTILE = {
    "single-quote": "it's",
    "double-quote": 'say "hi"',
    "command-substitution": "$(touch PWNED)",
    "backticks": "`touch PWNED`",
    "variable": "$HOME",
    "trailing-backslash": "end\\",
    "backslash-quote": "\\'",
    "newline": "line1\nline2",
    "tab": "a\tb",
    "non-ascii": "é日本",
    "history": "!!",
    "printf-format": "%s%n%d",
    "ends-in-quote": "value'",
    "only-quote": "'",
    "escaped-backslashes-then-quote": "\\\\'",
    "quote-breakout": "'; touch PWNED; echo '",
    "fish-breakout": "\\'; touch PWNED; echo \\'",
    "semicolon": ";touch PWNED",
    "leading-dash": "-e",
    "brace-and-glob": "{a,b}*?[x]~",
    "everything": "x$(touch PWNED)`touch PWNED`'\"\\\n\t$HOME !! é\\",
}

# Run in a child process too: the variable must be exported, not just set.
PRINT_EXPORTED = (
    f"{sys.executable} -c 'import os, sys; sys.stdout.buffer.write(os.environb[b\"SWITCHROLE_PROFILE\"])'"
)


def run_shell(shell: str, script: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """Run ``script`` in ``cwd``; HOME is a sibling (fish writes ~/.config on start)."""
    home = cwd.parent / (cwd.name + "-home")
    home.mkdir(exist_ok=True)
    return subprocess.run(
        shell_argv(shell, script),
        capture_output=True,
        cwd=cwd,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(home)},
        timeout=30,
    )


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("value", HOSTILE.values(), ids=list(HOSTILE))
def test_hostile_value_round_trips_exactly(shell: str, value: str, tmp_path: Path) -> None:
    code = render.render(shell, {"SWITCHROLE_PROFILE": value}, [])
    out = run_shell(shell, code + 'printf %s "$SWITCHROLE_PROFILE"', tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout == value.encode("utf-8")
    assert out.stderr == b""
    assert not (tmp_path / "PWNED").exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("shell", SHELLS)
def test_all_hostile_values_at_once_are_exported_to_children(shell: str, tmp_path: Path) -> None:
    # Several variables in one piece of code, the way the client renders a real answer.
    names = [n for n in render.EXPORTED if n != "SWITCHROLE_PROFILE"]
    values = list(HOSTILE.values())
    assign = {"SWITCHROLE_PROFILE": values[-1]}
    assign.update(dict(zip(names, values, strict=False)))
    code = render.render(shell, assign, list(render.SHADOWING))
    out = run_shell(shell, code + PRINT_EXPORTED, tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout == values[-1].encode("utf-8")
    assert not (tmp_path / "PWNED").exists()
    for name, value in assign.items():
        one = run_shell(shell, code + f'printf %s "${name}"', tmp_path)
        assert one.stdout == value.encode("utf-8"), name


def test_posix_quoting_is_single_quotes() -> None:
    assert render.quote_posix("a'b") == "'a'\\''b'"
    assert render.quote_posix("$(x)") == "'$(x)'"
    # `builtin` in bash and zsh: a function or alias named export cannot take over the eval.
    expected = "builtin export SWITCHROLE_PROFILE='t';\n"
    assert render.render("bash", {"SWITCHROLE_PROFILE": "t"}, []) == expected
    assert render.render("zsh", {"SWITCHROLE_PROFILE": "t"}, []) == expected
    assert render.render("sh", {"SWITCHROLE_PROFILE": "t"}, ["AWS_PROFILE"]) == (
        "unset AWS_PROFILE;\nexport SWITCHROLE_PROFILE='t';\n"
    )


def test_fish_quoting_escapes_backslash_before_quote() -> None:
    assert render.quote_fish("a\\b") == "'a\\\\b'"
    assert render.quote_fish("a'b") == "'a\\'b'"
    assert render.quote_fish("\\'") == "'\\\\\\''"
    assert render.render("fish", {"SWITCHROLE_PROFILE": "t"}, []) == "set -gx SWITCHROLE_PROFILE 't';\n"


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize(
    "name",
    ["PATH", "LD_PRELOAD", "PROMPT_COMMAND", "AWS_VAULT", "aws_access_key_id", "X;touch PWNED", ""],
)
def test_name_outside_allow_list_is_refused(shell: str, name: str) -> None:
    with pytest.raises(render.RenderError):
        render.render(shell, {name: "value"}, [])
    with pytest.raises(render.RenderError):
        render.render(shell, {}, [name])


@pytest.mark.parametrize("shell", SHELLS)
def test_refusal_happens_before_any_code_is_returned(shell: str) -> None:
    # A bad entry anywhere refuses the whole answer, not just that line.
    with pytest.raises(render.RenderError):
        render.render(shell, {"SWITCHROLE_PROFILE": "ok", "PATH": "/evil"}, [])


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("value", ["\0", "a\0b", "trailing\0"])
def test_nul_in_a_value_is_refused(shell: str, value: str) -> None:
    with pytest.raises(render.RenderError, match="NUL"):
        render.render(shell, {"AWS_SESSION_TOKEN": value}, [])


def test_unknown_shell_is_refused() -> None:
    with pytest.raises(render.RenderError):
        render.render("tcsh", {"SWITCHROLE_PROFILE": "x"}, [])


def test_every_allowed_name_renders_in_every_shell() -> None:
    for shell in SHELLS:
        code = render.render(shell, dict.fromkeys(render.EXPORTED, "v"), render.SHADOWING)
        for name in render.ALLOWED:
            assert name in code


def test_fish_never_uses_universal_variables() -> None:
    code = render.render("fish", {n: f"{n} -U --universal" for n in render.EXPORTED}, list(render.ALLOWED))
    for line in code.splitlines():
        words = line.split("'")[0].split()  # the part before any quoted value
        assert "-U" not in words and "--universal" not in words, line
        assert "set -gx" in line or "set -e -g" in line, line


def test_fish_render_leaves_no_universal_variable(tmp_path: Path) -> None:
    # `fish --no-config` silently turns -U into -g, so use a full fish with an empty HOME here:
    # there a universal variable would land in ~/.config/fish/fish_variables.
    home = tmp_path / "home"
    home.mkdir()
    code = render.render("fish", {"SWITCHROLE_PROFILE": "secretish"}, list(render.SHADOWING))
    out = subprocess.run(
        ["fish", "-c", code + "set -q -U SWITCHROLE_PROFILE; and echo universal; or echo global"],
        capture_output=True,
        cwd=tmp_path,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(home)},
        timeout=30,
    )
    assert out.stdout == b"global\n", out.stderr
    leaked = [p for p in home.rglob("*") if p.is_file() and b"secretish" in p.read_bytes()]
    assert leaked == []


@pytest.mark.parametrize("shell", SHELLS)
def test_unset_only_output_exits_zero(shell: str, tmp_path: Path) -> None:
    # Nothing set yet: fish's `set -e` would fail on a missing variable; the output must not.
    code = render.render(shell, {}, list(render.ALLOWED))
    out = run_shell(shell, code, tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stderr == b""
    # And as the last thing before a status check.
    status = "echo $status" if shell == "fish" else "echo $?"
    out = run_shell(shell, code + status, tmp_path)
    assert out.stdout == b"0\n"


@pytest.mark.parametrize("shell", SHELLS)
def test_unset_removes_variables_that_are_set(shell: str, tmp_path: Path) -> None:
    setup = render.render(shell, dict.fromkeys(render.EXPORTED, "v"), [])
    code = render.render(shell, {}, list(render.EXPORTED))
    out = run_shell(shell, setup + code + "env", tmp_path)
    assert out.returncode == 0, out.stderr
    names = {line.split(b"=", 1)[0].decode() for line in out.stdout.splitlines()}
    assert names.isdisjoint(render.EXPORTED)


@pytest.mark.parametrize("shell", SHELLS)
def test_assignment_after_unset_wins_and_status_is_zero(shell: str, tmp_path: Path) -> None:
    code = render.render(shell, {"AWS_REGION": "eu-west-1"}, ["AWS_REGION", "AWS_PROFILE"])
    status = "echo $status" if shell == "fish" else "echo $?"
    out = run_shell(shell, code + status + '; printf %s "$AWS_REGION"', tmp_path)
    assert out.stdout == b"0\neu-west-1"


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_a_function_named_export_cannot_take_over_the_eval(shell: str, tmp_path: Path) -> None:
    code = render.render(shell, {"SWITCHROLE_PROFILE": "x'y"}, ["AWS_PROFILE"])
    script = "export() { echo HIJACKED; }; unset() { echo HIJACKED; }; AWS_PROFILE=old; "
    show = 'printf "%s|%s" "$SWITCHROLE_PROFILE" "${AWS_PROFILE-gone}"'
    out = run_shell(shell, script + code + show, tmp_path)
    assert out.stdout == b"x'y|gone"


def test_plain_posix_sh_gets_syntax_without_builtin(tmp_path: Path) -> None:
    code = render.render("sh", {"SWITCHROLE_PROFILE": "a'$(touch PWNED)b"}, ["AWS_PROFILE"])
    show = 'printf %s "$SWITCHROLE_PROFILE"'
    out = subprocess.run(["dash", "-c", code + show], capture_output=True, cwd=tmp_path, check=True)
    assert out.stdout == b"a'$(touch PWNED)b"
    assert not (tmp_path / "PWNED").exists()
