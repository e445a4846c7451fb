"""`switchrole status` after switching into a role chain: the shell's session is listed, the hops
it is made through are nested under it, and an MFA session is listed by its device."""

from __future__ import annotations

import re

from support.world import SCENARIO_CONFIG, World

HOP1 = "arn:aws:iam::333333333333:role/Hop1"
TOP = "arn:aws:iam::555555555555:role/Top"
CHAIN = SCENARIO_CONFIG + (
    f"\n[profile hop1]\nrole_arn = {HOP1}\nsource_profile = default\n"
    f"\n[profile top]\nrole_arn = {TOP}\nsource_profile = hop1\n"
)


def test_status_lists_the_shells_session_with_its_hops_nested(world: World) -> None:
    world.write(CHAIN)
    out = world.run("env", "top", "--shell", "bash")
    assert out.returncode == 0, out.stderr

    shown = world.run("status")
    assert shown.returncode == 0, shown.stderr
    rows = [line for line in shown.stdout.splitlines() if line.startswith(("top ", "hop1 "))]
    assert [row.split()[0] for row in rows] == ["top"], shown.stdout  # hop1 is no session of a shell
    assert re.search(r"^  top: through hop1 \(\d+m\)$", shown.stdout, re.MULTILINE), shown.stdout
    assert re.search(r"^top\s+" + re.escape(TOP) + r"\s+fresh\s+\d+m\s", shown.stdout, re.MULTILINE)

    status = world.status()
    (session,) = status["sessions"]
    assert session["profile"] == "top" and session["state"] == "fresh" and session["refreshing"] is False
    (hop,) = session["hops"]
    assert hop["profile"] == "hop1" and hop["role_arn"] == HOP1 and hop["state"] == "fresh"
    assert 0 < hop["expires_in"] <= 3600


def test_switching_into_the_hop_itself_lists_it_as_a_session_of_its_own(world: World) -> None:
    world.write(CHAIN)
    assert world.run("env", "top", "--shell", "bash").returncode == 0
    assert world.run("env", "hop1", "--shell", "bash").returncode == 0
    profiles = sorted(s["profile"] for s in world.status()["sessions"])
    assert profiles == ["hop1", "top"]
