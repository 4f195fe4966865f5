"""The Hosts & Networks screen driven by the keyboard alone at 80x24, on a real demo cluster:
every edit is asserted in inventory.toml itself."""

from __future__ import annotations

import hashlib
import subprocess
import tomllib
from pathlib import Path

import pytest
from sshd import SSHD
from textual.containers import VerticalScroll
from textual.pilot import Pilot
from textual.widgets import Input
from waiting import on_screen, until

from qlutui.app import QlutuiApp
from qlutui.backend.cluster import Cluster
from qlutui.screens.hosts import HostsScreen
from qlutui.widgets.dialogs import Confirm, ErrorDialog, FormDialog
from qlutui.widgets.footer import KeysFooter

SIZE = (80, 24)


pytestmark = pytest.mark.usefixtures("plain_terminal")


def path(cluster: Cluster) -> Path:
    return cluster.config.state_dir / "inventory.toml"


def hosts(cluster: Cluster) -> dict[str, dict]:
    return {h["name"]: h for h in tomllib.loads(path(cluster).read_text())["hosts"]}


def networks(cluster: Cluster) -> list[dict]:
    return tomllib.loads(path(cluster).read_text())["networks"]


async def open_hosts(pilot: Pilot) -> HostsScreen:
    await pilot.press("h")
    await on_screen(pilot, HostsScreen, "the Hosts screen")
    screen = pilot.app.screen
    await until(pilot, lambda: screen.state is not None, "the inventory to load")
    return screen


async def dialog(pilot: Pilot, kind: type) -> object:
    await on_screen(pilot, kind, kind.__name__)
    return pilot.app.screen


async def confirm(pilot: Pilot, screen: HostsScreen, question: str) -> Confirm:
    """Answer the preview with y; returns it (its detail is the preview)."""
    asked = await dialog(pilot, Confirm)
    assert asked.question == question
    detail = asked.detail
    await pilot.press("y")
    await until(pilot, lambda: pilot.app.screen is screen, "the preview to close")
    await pilot.app.workers.wait_for_complete()
    asked.detail = detail
    return asked


async def test_add_one_host_then_a_range_on_three_networks(cluster: Cluster) -> None:
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_hosts(pilot)
        # one host: its name, its boot IP typed over "auto"; no other network
        await pilot.press("a")
        await dialog(pilot, FormDialog)
        await pilot.press(*"new-01", "tab", "ctrl+u", *"127.52.9.1", "ctrl+s")
        asked = await confirm(pilot, screen, "Add 1 host new-01?")
        assert "  boot: 127.52.9.1" in asked.detail
        assert hosts(cluster)["new-01"] == {"name": "new-01", "ips": {"boot": "127.52.9.1"}}

        # 48 hosts numbered from 127.52.2.1, ib and ipmi mapped, an image chosen
        await pilot.press("a")
        await dialog(pilot, FormDialog)
        await pilot.press(*"gpu-[01-48]", "tab", "ctrl+u", *"127.52.2.1")
        await pilot.press("tab", *"auto", "tab", *"auto")  # ib, ipmi
        await pilot.press("tab", "tab", "tab")  # extern left empty, MAC, to the image
        await pilot.press("enter", "down", "down", "down", "enter", "ctrl+s")  # Standard-noble
        asked = await confirm(pilot, screen, "Add 48 hosts gpu-[01-48]?")
        assert asked.detail.splitlines() == [
            "Add: 48 (gpu-[01-48])",
            "  boot: 127.52.2.1 .. 127.52.2.48",
            "  ib: 127.53.2.1 .. 127.53.2.48",
            "  ipmi: 127.54.2.1 .. 127.54.2.48",
            "  image: Standard-noble",
        ]
        found = hosts(cluster)
        assert [n for n in found if n.startswith("gpu-")] == [f"gpu-{i:02d}" for i in range(1, 49)]
        assert found["gpu-48"] == {
            "name": "gpu-48",
            "image": "Standard-noble",
            "ips": {"boot": "127.52.2.48", "ib": "127.53.2.48", "ipmi": "127.54.2.48"},
        }
        await until(pilot, lambda: screen.matching == 51 + 49, "the table to show them")
        await pilot.press("end")
        assert screen.current_host() == "gpu-48"
        await pilot.press("home")
        assert screen.current_host() == "beosrv-c"


async def test_a_clash_is_refused_and_named(cluster: Cluster) -> None:
    before = hashlib.sha256(path(cluster).read_bytes()).hexdigest()
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_hosts(pilot)
        await pilot.press("a")
        await dialog(pilot, FormDialog)
        await pilot.press(*"x-1", "tab", "ctrl+u", *"127.52.1.57", "tab", *"auto", "ctrl+s")
        error = await dialog(pilot, ErrorDialog)
        # one host gets the IP it is given (beo-47's), and so the mapped ib IP clashes too
        assert error.message.splitlines() == [
            "ip '127.52.1.57' used by beo-47 (boot), x-1 (boot)",
            "ip '127.53.1.57' used by beo-47 (ib), x-1 (ib)",
        ]
        await pilot.press("enter")  # back to the form as it was filled, to fix the IP
        form = await dialog(pilot, FormDialog)
        assert form.query_one("#field-names", Input).value == "x-1"
        await pilot.press("escape")
        await until(pilot, lambda: pilot.app.screen is screen, "the form to close")
    assert hashlib.sha256(path(cluster).read_bytes()).hexdigest() == before


async def test_add_a_network_set_an_image_remove_a_range(cluster: Cluster) -> None:
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_hosts(pilot)
        # a network: name, kind ib (the second choice), slave, CIDR, suffix, not in SSH files
        await pilot.press("tab", "a")
        await dialog(pilot, FormDialog)
        await pilot.press(*"ib2", "tab", "enter", "down", "enter", "tab", "tab")
        await pilot.press(*"127.55.0.0/16", "tab", *"ib2", "tab", "enter", "down", "enter")
        await pilot.press("ctrl+s")
        await confirm(pilot, screen, "Add network ib2?")
        assert networks(cluster)[-1] == {
            "name": "ib2",
            "kind": "ib",
            "primary": False,
            "suffix": "ib2",
            "ssh": False,
            "cidr": "127.55.0.0/16",
        }

        # an image on a range, selected with space: beo-01 .. beo-03
        await pilot.press("tab")  # back to the hosts
        await until(pilot, lambda: screen.matching == 51, "the hosts")
        await pilot.press("slash", *"beo-0", "enter")
        await until(pilot, lambda: screen.matching == 9, "the filter")
        await pilot.press("space", "space", "space", "i")
        form = await dialog(pilot, FormDialog)
        assert form.value_of(form.fields[0]) == "beo-[01-03]"
        await pilot.press("tab", "enter", "down", "enter", "ctrl+s")  # Legacy-jammy
        await confirm(pilot, screen, "Set image Legacy-jammy on 3 hosts?")
        found = hosts(cluster)
        assert [found[f"beo-0{i}"]["image"] for i in range(1, 5)] == [
            "Legacy-jammy",
            "Legacy-jammy",
            "Legacy-jammy",
            "Standard-noble",
        ]

        # a range typed over the selection: removed
        await pilot.press("d")
        await dialog(pilot, FormDialog)
        await pilot.press("ctrl+u", *"beo-[40-48]", "enter")
        asked = await confirm(pilot, screen, "Really remove 9 hosts?")
        assert asked.detail == "Remove: 9 (beo-[40-48])"
        found = hosts(cluster)
        assert "beo-39" in found and not any(f"beo-{i}" in found for i in range(40, 49))


async def test_a_used_network_is_removed_only_after_naming_its_hosts(cluster: Cluster) -> None:
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_hosts(pilot)
        await pilot.press("tab", "end", "d")  # extern: beosrv-c, beosrv-d, login-c
        asked = await dialog(pilot, Confirm)
        assert asked.question == (
            "Network extern is used by 3 hosts: remove it and what they have on it?"
        )
        assert asked.detail.splitlines()[0] == "Change: 3 (beosrv-c,beosrv-d,login-c)"
        await pilot.press("n")
        await until(pilot, lambda: pilot.app.screen is screen, "the question to close")
        assert [n["name"] for n in networks(cluster)] == ["boot", "ib", "ipmi", "extern"]
        await pilot.press("d")
        await confirm(pilot, screen, asked.question)
        assert [n["name"] for n in networks(cluster)] == ["boot", "ib", "ipmi"]
        login = hosts(cluster)["login-c"]
        assert "extern" not in login["ips"] and "override" not in login
        assert login["aliases"] == {"boot": ["frontend"]}


async def test_edit_one_host_in_its_form(cluster: Cluster) -> None:
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_hosts(pilot)
        await pilot.press("slash", *"beo-01", "enter")
        await until(pilot, lambda: screen.current_host() == "beo-01", "beo-01")
        await pilot.press("enter")
        form = await dialog(pilot, FormDialog)
        mac = next(f for f in form.fields if f.name == "mac")
        form.query_one(f"#field-{mac.name}").focus()
        await pilot.press(*"AA:BB:CC:DD:EE:01", "tab", *"node1 n1", "ctrl+s")
        await confirm(pilot, screen, "Save host beo-01?")
        beo = hosts(cluster)["beo-01"]
        assert beo["macs"] == {"boot": "aa:bb:cc:dd:ee:01"}
        assert beo["aliases"] == {"boot": ["node1", "n1"]}


async def test_a_refused_edit_opens_its_form_again_as_filled(cluster: Cluster) -> None:
    before = path(cluster).read_bytes()
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_hosts(pilot)
        await pilot.press("slash", *"beo-01", "enter")
        await until(pilot, lambda: screen.current_host() == "beo-01", "beo-01")
        await pilot.press("enter")
        form = await dialog(pilot, FormDialog)
        form.query_one("#field-keys").focus()
        await pilot.press(*"ssh-rsa AAAAnotbase64!!", "ctrl+s")
        error = await dialog(pilot, ErrorDialog)
        assert "base64" in error.message
        await pilot.press("enter")
        again = await dialog(pilot, FormDialog)
        assert again is not form
        assert "ssh-rsa AAAAnotbase64!!" in again.query_one("#field-keys").text
    assert path(cluster).read_bytes() == before


async def test_a_refused_set_image_opens_its_form_again_then_saves(cluster: Cluster) -> None:
    """An unknown host named: the refusal, then the form as typed (the image chosen too);
    the name fixed, the image is set."""
    before = path(cluster).read_bytes()
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_hosts(pilot)
        await pilot.press("i")
        await dialog(pilot, FormDialog)
        await pilot.press("ctrl+u", *"nosuch-01", "tab", "enter", "down", "enter", "ctrl+s")
        error = await dialog(pilot, ErrorDialog)
        assert error.message == "no host named 'nosuch-01' in the inventory"
        await pilot.press("enter")
        form = await dialog(pilot, FormDialog)
        names, image = form.fields
        assert (form.value_of(names), form.value_of(image)) == ("nosuch-01", "Legacy-jammy")
        assert form.query_one("#field-names").has_focus
        assert path(cluster).read_bytes() == before
        await pilot.press("ctrl+u", *"beo-01", "ctrl+s")
        await confirm(pilot, screen, "Set image Legacy-jammy on 1 host?")
        assert hosts(cluster)["beo-01"]["image"] == "Legacy-jammy"


async def test_a_refused_renumber_opens_its_form_again_then_saves(cluster: Cluster) -> None:
    """beo-02's IP given to beo-01: the clash, then the form as typed; a free IP, done."""
    before = path(cluster).read_bytes()
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_hosts(pilot)
        await pilot.press("slash", *"beo-01", "enter")
        await until(pilot, lambda: screen.current_host() == "beo-01", "beo-01")
        await pilot.press("u")
        await dialog(pilot, FormDialog)
        await pilot.press("tab", "ctrl+u", *"127.52.1.12", "ctrl+s")
        error = await dialog(pilot, ErrorDialog)
        assert "127.52.1.12" in error.message
        await pilot.press("enter")
        form = await dialog(pilot, FormDialog)
        assert form.query_one("#field-names", Input).value == "beo-01"
        assert form.query_one("#field-ip0", Input).value == "127.52.1.12"
        assert path(cluster).read_bytes() == before
        await pilot.press("tab", "ctrl+u", *"127.52.9.9", "ctrl+s")
        await confirm(pilot, screen, "Renumber 1 host?")
        assert hosts(cluster)["beo-01"]["ips"]["boot"] == "127.52.9.9"


@pytest.mark.ssh
async def test_scan_the_keys_of_a_host_with_fingerprints_to_confirm(
    cluster: Cluster, sshd: SSHD
) -> None:
    text = path(cluster).read_text().replace('"127.52.0.0/16"', '"127.0.0.0/8"')
    path(cluster).write_text(text.replace('boot = "127.52.1.11"', 'boot = "127.0.0.1"'))
    fingerprints = sorted(  # as OpenSSH itself prints them
        subprocess.run(
            ["ssh-keygen", "-lf", str(key.with_suffix(".pub"))],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.split()[1]
        for key in sshd.host_keys
    )
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_hosts(pilot)
        await pilot.press("slash", *"beo-01", "enter")
        await until(pilot, lambda: screen.current_host() == "beo-01", "beo-01")
        await pilot.press("k")
        form = await dialog(pilot, FormDialog)
        assert form.value_of(form.fields[0]) == "beo-01"
        await pilot.press("tab", "ctrl+u", *str(sshd.port), "ctrl+s")
        asked = await dialog(pilot, Confirm)
        assert asked.question == "Store the keys of 1 host?"
        lines = asked.detail.splitlines()
        assert lines[0] == "WARNING: changed keys (a reinstall, or an attack): beo-01"
        assert sorted(line.split()[2] for line in lines[1:]) == fingerprints
        await pilot.press("y")
        await until(pilot, lambda: pilot.app.screen is screen, "the question to close")
        await pilot.app.workers.wait_for_complete()
    pubs = {" ".join(k.with_suffix(".pub").read_text().split()[:2]) for k in sshd.host_keys}
    stored = hosts(cluster)["beo-01"]["host_keys"]
    assert {" ".join(k.split()[:2]) for k in stored} == pubs


async def test_import_by_keys_previews_then_applies(cluster: Cluster) -> None:
    root = cluster.config.headnode("beosrv-c").root
    hosts_table = "# Network: boot\n127.52.1.100 gpu-01\n127.52.1.101 gpu-02\n"
    (root / "etc/dnsmasq.hosts").write_text(hosts_table + "127.52.1.102 bad,name\n")
    async with QlutuiApp(cluster).run_test(size=(80, 24)) as pilot:
        screen = await open_hosts(pilot)
        await pilot.press("m")
        await dialog(pilot, FormDialog)
        await pilot.press("ctrl+u", *"beosrv-c:/etc/dnsmasq.hosts", "enter")
        asked = await confirm(pilot, screen, "Import these hosts?")
        assert "would add 2 hosts: gpu-[01-02]" in asked.detail
        assert "1 line not used" in asked.detail
        await until(pilot, lambda: "gpu-01" in hosts(cluster), "the import")
        assert hosts(cluster)["gpu-02"]["ips"] == {"boot": "127.52.1.101"}
        assert "bad" not in path(cluster).read_text()
        await pilot.press("m")  # the same file again: nothing to import
        await dialog(pilot, FormDialog)
        await pilot.press("ctrl+u", *"beosrv-c:/etc/dnsmasq.hosts", "enter")
        shown = await dialog(pilot, ErrorDialog)
        assert "nothing to change" in shown.message


def screen_text(app: QlutuiApp) -> str:
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


async def test_a_long_import_preview_lists_every_line_and_scrolls_by_keys(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every line not used is in the preview (it listed 5 and '... and 35 more'); on a
    serial console without colours, at 80x24, its text scrolls with pgdn / up while the
    question and Yes / No stay in view."""
    monkeypatch.setenv("NO_COLOR", "1")
    root = cluster.config.headnode("beosrv-c").root
    bad = [f"127.52.2.{i} bad,name{i}" for i in range(40)]
    (root / "etc/dnsmasq.hosts").write_text("\n".join(["127.52.1.100 gpu-01", *bad, ""]))
    before = path(cluster).read_bytes()
    async with QlutuiApp(cluster, serial=True).run_test(size=(80, 24)) as pilot:
        screen = await open_hosts(pilot)
        await pilot.press("m")
        await dialog(pilot, FormDialog)
        await pilot.press("ctrl+u", *"beosrv-c:/etc/dnsmasq.hosts", "enter")
        asked = await dialog(pilot, Confirm)
        assert "bad,name39" in asked.detail and "more" not in asked.detail
        await until(pilot, lambda: "more: up/down pgup/pgdn" in screen_text(pilot.app), "hint")
        assert "bad,name39" not in screen_text(pilot.app)
        await pilot.press(*["pagedown"] * 12)
        shown = screen_text(pilot.app)
        assert "Import these hosts?" in shown and "No" in shown
        last = shown.splitlines()
        at = next(i for i, line in enumerate(last) if "bad,name39" in line)
        assert "by '.'" in last[at + 2], last[at:]  # its wrapped end too: nothing cut off
        body = asked.query_one(".body", VerticalScroll)
        bottom = body.scroll_y
        assert bottom == body.max_scroll_y > 0
        await pilot.press("up")
        assert body.scroll_y == bottom - 1
        await pilot.press("down", *["pageup"] * 12)
        assert body.scroll_y == 0 and "bad,name39" not in screen_text(pilot.app)
        for _ in range(2):  # two pgdn in one burst (no refresh between): two pages
            asked.action_scroll_body(1, page=True)
        await pilot.pause()
        assert body.scroll_y == 2 * body.scrollable_content_region.height
        await pilot.press("n")
        await until(pilot, lambda: pilot.app.screen is screen, "the preview to close")
    assert path(cluster).read_bytes() == before


async def test_a_refused_import_path_goes_back_to_the_filled_form(cluster: Cluster) -> None:
    """A missing file is named, then the form is back as it was typed (not closed, the
    list lost): the path fixed, the import goes on."""
    root = cluster.config.headnode("beosrv-c").root
    (root / "etc/dnsmasq.hosts").write_text("# Network: boot\n127.52.1.100 gpu-01\n")
    async with QlutuiApp(cluster).run_test(size=(80, 24)) as pilot:
        screen = await open_hosts(pilot)
        await pilot.press("m")
        await dialog(pilot, FormDialog)
        await pilot.press("ctrl+u", *"beosrv-c:/etc/dnsmasq.hostz", "enter")
        shown = await dialog(pilot, ErrorDialog)
        assert "no such file" in shown.message
        await pilot.press("enter")
        form = await dialog(pilot, FormDialog)
        assert form.query_one("#field-paths", Input).value == "beosrv-c:/etc/dnsmasq.hostz"
        await pilot.press("end", "backspace", "s", "enter")
        await confirm(pilot, screen, "Import these hosts?")
        await until(pilot, lambda: "gpu-01" in hosts(cluster), "the import")


async def test_add_a_range_with_alias_and_override_patterns(cluster: Cluster) -> None:
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_hosts(pilot)
        await pilot.press("a")
        await dialog(pilot, FormDialog)
        await pilot.press(*"gpu-[01-04]", "tab", "ctrl+u", *"127.52.2.1", "tab", *"auto")
        await pilot.press("tab", "tab", "tab", "tab")  # ipmi, extern, MAC: to the image
        await pilot.press("tab", "tab", *"{name}-hca")  # no image, boot, aliases on ib
        await pilot.press("tab", "tab", "tab", *"{name}-x", "tab")  # the override, on ...
        await pilot.press("enter", "down", "down", "enter", "ctrl+s")  # ... ib
        asked = await confirm(pilot, screen, "Add 4 hosts gpu-[01-04]?")
        assert "  aliases on ib: gpu-01-hca .. gpu-04-hca" in asked.detail.splitlines()
        assert "  hostname override: gpu-01-x (on ib) .. gpu-04-x (on ib)" in asked.detail
        gpu = hosts(cluster)["gpu-03"]
        assert gpu["aliases"] == {"ib": ["gpu-03-hca"]}
        assert (gpu["override"], gpu["override_network"]) == ("gpu-03-x", "ib")


async def test_rename_a_network_refused_on_a_clash_then_done(cluster: Cluster) -> None:
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_hosts(pilot)
        await pilot.press("tab", "end")  # the networks: extern, the last
        assert "n Rename" in screen_bar(app)
        before = path(cluster).read_bytes()
        await pilot.press("n")
        await dialog(pilot, FormDialog)
        await pilot.press("ctrl+u", *"ib", "ctrl+s")
        error = await dialog(pilot, ErrorDialog)
        assert error.message == "network ib exists already: rename refused, nothing changed"
        await pilot.press("enter")
        form = await dialog(pilot, FormDialog)  # back as typed; escape cancels it
        assert form.query_one("#field-name", Input).value == "ib"
        await pilot.press("escape")
        await until(pilot, lambda: pilot.app.screen is screen, "the form to close")
        assert path(cluster).read_bytes() == before
        await pilot.press("n")
        await dialog(pilot, FormDialog)
        await pilot.press("ctrl+u", *"wan", "ctrl+s")
        asked = await confirm(pilot, screen, "Rename network extern to wan?")
        assert asked.detail.splitlines()[0] == "Hosts following: 3 (beosrv-c,beosrv-d,login-c)"
        assert [n["name"] for n in networks(cluster)] == ["boot", "ib", "ipmi", "wan"]
        assert hosts(cluster)["login-c"]["override_network"] == "wan"
        await until(pilot, lambda: screen.networks_table.rows[-1][0] == "wan", "the table")


def screen_bar(app: QlutuiApp) -> str:
    from qlutui.widgets.footer import KeysFooter

    return app.screen.query_one(KeysFooter).render().plain


async def test_filter_results_kept_per_text_follow_a_reload(cluster: Cluster) -> None:
    """Keys typed and deleted find their matches again; a reload forgets them (a host added
    meanwhile shows under a text typed before)."""
    from qlutui.backend.inventory import InventoryService
    from qlutui.model.inventory_edit import HostFields, add_hosts

    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_hosts(pilot)
        await pilot.press("slash", *"beo-4")
        await until(pilot, lambda: screen.matching == 9, "beo-40 .. beo-48")
        await pilot.press("backspace")
        await until(pilot, lambda: screen.matching == 48, "every beo-")
        await pilot.press(*"4", "backspace", "backspace", *"x")
        await until(pilot, lambda: screen.matching == 0, "no beox")
        service = InventoryService(cluster)
        state = service.load()
        added = add_hosts(state.inventory, ["beox-1"], HostFields(ips={"boot": "auto"}))
        service.apply(state, added, summary="test")
        await pilot.press("enter", "ctrl+r")
        await until(pilot, lambda: screen.matching == 1, "the new host under the filter")
        assert screen.table.rows[0][0] == "beox-1"
        await pilot.press("slash", "backspace", "backspace", "backspace", "backspace", "backspace")
        await until(pilot, lambda: screen.matching == 52, "every host")
        assert len(screen.table.rows) == screen.table.row_count


async def test_tab_offers_the_other_table_in_the_key_bar(cluster: Cluster) -> None:
    def keys() -> str:
        return pilot.app.screen.query_one(KeysFooter).render().plain

    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_hosts(pilot)
        assert "tab Networks" in keys() and "tab Hosts" not in keys()
        await pilot.press("tab")
        await until(pilot, lambda: screen.networks_table.has_focus, "the networks table")
        assert "tab Hosts" in keys() and "tab Networks" not in keys()
        await pilot.press("tab")
        await until(pilot, lambda: screen.table.has_focus, "the hosts table")
        assert "tab Networks" in keys()


# Every form of the screen, by the keys that open it from the hosts list.
FORMS = {
    "Add hosts": ["a"],
    "Edit host": ["e"],
    "Set the image": ["i"],
    "Renumber IPs": ["u"],
    "Scan keys": ["k"],
    "Import hosts": ["m"],
    "New network": ["tab", "a"],
    "Edit network": ["tab", "e"],
    "Rename network": ["tab", "n"],
}


@pytest.mark.parametrize("form", list(FORMS))
async def test_every_field_shows_its_help_while_it_has_the_focus(
    cluster: Cluster, form: str
) -> None:
    """Tab through the form: the help line under it is never blank, and is the focused
    field's own."""
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        await open_hosts(pilot)
        await pilot.press(*FORMS[form])
        dialog_ = await dialog(pilot, FormDialog)
        shown = []
        for field in dialog_.fields:
            await until(pilot, lambda f=field: app.focused.id == f"field-{f.name}", field.name)
            shown.append(str(dialog_.query_one("#form-help").render()))
            assert shown[-1] == field.help and field.help.strip(), f"{form}: {field.name}"
            await pilot.press("tab")
        assert len(shown) == len(dialog_.fields) >= 1


async def test_the_key_bar_shows_reload_at_80_columns_and_help_lists_every_key(
    cluster: Cluster,
) -> None:
    """^r Reload (as on every other screen) and the most used keys fit in the bar at 80
    columns, on the hosts and on the networks; `?` lists all of them."""
    from qlutui.widgets.help import HelpScreen

    app = QlutuiApp(cluster)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_hosts(pilot)
        bar = screen_bar(app)
        for key in ("tab Networks", "a Add", "e Edit", "d Delete", "m Import", "^r Reload"):
            assert key in bar, bar
        await pilot.press("tab")
        await until(pilot, lambda: "n Rename" in screen_bar(app), "the networks' keys")
        assert "tab Hosts" in screen_bar(app) and "^r Reload" in screen_bar(app)
        await pilot.press("tab", "question_mark")
        keys = await dialog(pilot, HelpScreen)
        listed = {what for _, what in keys.rows}
        left_out = {"Select", "Image", "Renumber", "Scan keys", "Filter"}
        assert left_out | {"Add", "Edit", "Delete", "Import", "Reload"} <= listed, listed


async def test_escape_goes_from_the_networks_back_to_the_hosts_then_leaves(
    cluster: Cluster,
) -> None:
    app = QlutuiApp(cluster)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_hosts(pilot)
        await pilot.press("tab")
        await until(pilot, lambda: screen.networks_table.has_focus, "the networks table")
        await pilot.press("escape")
        await until(pilot, lambda: screen.table.has_focus, "the hosts table again")
        assert app.screen is screen and not screen.networks_shown
        assert "tab Networks" in screen_bar(app)
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is not screen, "the menu")
