"""`qlutui check`: exit 0 and a one-line all-clear, or exit 1 and a line per problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_chroot import present_tree

from qlutui.backend.demo import init_demo, public_key
from qlutui.cli import main


def test_check_clean_then_a_typo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = init_demo(tmp_path / "demo")
    present_tree(config)
    state = config.parent / "state"
    assert main(["--config", str(config), "check"]) == 0
    assert capsys.readouterr().out == f"no problem found in {state}\n"
    images = state / "images.toml"
    images.write_text(images.read_text().replace("chroot =", "chrot =", 1))
    assert main(["--config", str(config), "check", "--json"]) == 1
    assert json.loads(capsys.readouterr().out) == [
        f"{state}/images.toml:6: unknown key images.Standard-noble.chrot (not used)"
    ]


def test_problems_of_keys_name_their_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """An invalid value, an unknown key in an array of tables, one in a table with a quoted
    name and an unknown SSH setting are each placed on the line of their key, as a TOML
    syntax error is."""
    config = init_demo(tmp_path / "demo")
    present_tree(config)
    state = config.parent / "state"
    images, inventory, sshfiles = (state / f"{a}.toml" for a in ("images", "inventory", "sshfiles"))
    text = images.read_text().replace('version = "12.0.1"', 'version = "twelve"')
    images.write_text(text + '\n[images."odd one"]\nflavour = "jammy"\nchrot = ""\n')
    lines = inventory.read_text().splitlines()
    second = [i for i, line in enumerate(lines) if line == "[[hosts]]"][1]
    lines.insert(second + 1, "imagee = 'x'")
    inventory.write_text("\n".join(lines) + "\n")
    sshfiles.write_text(sshfiles.read_text().replace("[shosts_equiv]", "[shosts_equiv]\nhashd = 1"))

    def at(path: Path, line: str) -> str:
        return f"{path}:{path.read_text().splitlines().index(line) + 1}:"

    version, chrot = at(images, 'version = "twelve"'), at(images, 'chrot = ""')
    imagee = at(inventory, "imagee = 'x'")
    assert main(["--config", str(config), "check"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{version} images.Legacy-jammy: version: invalid version 'twelve': expected x, x.y or"
        " x.y.z (numbers)",
        f"{chrot} unknown key images.'odd one'.chrot (not used)",
        f"{imagee} unknown key hosts[1].imagee (not used)",
        f"{at(sshfiles, 'hashd = 1')} shosts_equiv: unknown setting 'hashd'",
    ]


def test_an_image_on_a_missing_or_failed_chroot_is_a_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """bookworm-base says ready but has no tree: check (asking the head-node) and images show
    warn about it and about Standard-bookworm on it; once failed, the image is warned about
    from chroots.toml alone."""
    config = init_demo(tmp_path / "demo")
    state = config.parent / "state"
    assert main(["--config", str(config), "check"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{state}/chroots.toml: chroots.bookworm-base: ready, but missing on beosrv-c",
        f"{state}/images.toml: images.Standard-bookworm: chroot 'bookworm-base' cannot be used"
        " (missing on beosrv-c)",
    ]
    assert main(["--config", str(config), "images", "show", "Standard-bookworm"]) == 0
    shown = capsys.readouterr().out
    assert "  warning: chroot 'bookworm-base' cannot be used (missing on beosrv-c)" in shown
    chroots = state / "chroots.toml"
    chroots.write_text(chroots.read_text().replace('state = "ready"', 'state = "failed"'))
    assert main(["--config", str(config), "check"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{state}/images.toml: images.Standard-bookworm: chroot 'bookworm-base' is failed"
        " (no usable tree)"
    ]
    assert main(["--config", str(config), "images", "list"]) == 0
    warnings = capsys.readouterr().out.splitlines()[2].split()[-1]
    assert warnings == "1"  # Standard-bookworm's, in the WARNINGS column


def test_rootfs_configs_of_one_image_shipping_one_node_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Standard-bookworm has ntp-tweaks and gpu-setup: a file both ship (on either head-node:
    the file lists are asked of each) is one check line, naming the configs in the image's
    order; a directory both have is merged, a file beside a directory is a clash. `rootfs
    show` marks the file in what the node gets."""
    config = init_demo(tmp_path / "demo")
    present_tree(config)
    state, heads = config.parent / "state", config.parent / "headnodes"
    for config_name in ("ntp-tweaks", "gpu-setup"):
        (heads / "beosrv-c/var/lib/qlustar/root-fs" / config_name / "etc/motd").write_text("x\n")
    gpu_d = heads / "beosrv-d/var/lib/qlustar/root-fs/gpu-setup"
    (gpu_d / "lib/qlustar/init.d/10-chrony-wait").mkdir()  # ntp-tweaks' script: a directory
    assert main(["--config", str(config), "check"]) == 1
    also = "the node gets only one of them, which one is not defined"
    assert capsys.readouterr().out.splitlines() == [
        f"{state}/images.toml: images.Standard-bookworm: /etc/motd is shipped by root-fs"
        f" configs ntp-tweaks, gpu-setup: {also}",
        f"{state}/images.toml: images.Standard-bookworm: /lib/qlustar/init.d/10-chrony-wait"
        f" is shipped by root-fs configs ntp-tweaks, gpu-setup: {also}",
    ]
    assert main(["--config", str(config), "rootfs", "show", "gpu-setup"]) == 0
    shown = capsys.readouterr().out.splitlines()
    gets = shown[shown.index("  The node gets:") + 1 :]
    assert gets[1].endswith(
        " /etc/motd  (also in ntp-tweaks on Standard-bookworm: the node gets one of them)"
    )
    assert not any("also in" in line for line in gets[:1] + gets[2:])
    assert main(["--config", str(config), "rootfs", "show", "ntp-tweaks", "--json"]) == 0
    files = {f["path"]: f["clashes"] for f in json.loads(capsys.readouterr().out)["node_files"]}
    clash = [{"image": "Standard-bookworm", "configs": ["ntp-tweaks", "gpu-setup"]}]
    assert files == {
        "/etc/chrony/conf.d/qlustar.conf": [],
        "/etc/motd": clash,
        "/lib/qlustar/init.d/10-chrony-wait": clash,
    }


def test_a_known_hosts_header_line_for_an_inventory_host(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A header name or IP the generated part has too (as ssh compares them: any case) is a
    warning when the header is saved and a check line each; a revocation, another port and a
    name the inventory lacks are not."""
    config = init_demo(tmp_path / "demo")
    present_tree(config)
    state = config.parent / "state"
    key = public_key("root@old")
    header = tmp_path / "header"
    header.write_text(
        f"# hosts ssh knows\nBEO-01,gw.example.org {key}\n127.53.1.12 {key}\n"
        f"@revoked beo-03 {key}\n[beo-04]:2222 {key}\nlicense {key}\n"
    )
    ssh_header = ["ssh", "header", "known_hosts", "--set", str(header)]
    assert main(["--config", str(config), *ssh_header]) == 0
    said = capsys.readouterr()
    found = [
        "known_hosts header line 2: 'BEO-01' is also generated from the inventory (host beo-01)",
        "known_hosts header line 3: '127.53.1.12' is also generated from the inventory"
        " (host beo-02)",
    ]
    assert said.out == "known_hosts: header saved (6 lines)\n"
    assert said.err.splitlines() == [f"qlutui: warning: {line}" for line in found]
    assert main(["--config", str(config), "check"]) == 1
    assert capsys.readouterr().out.splitlines() == [f"{state}/sshfiles.toml: {f}" for f in found]


def test_a_problem_naming_its_file_names_it_once(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    config = init_demo(tmp_path / "demo")
    present_tree(config)
    sshfiles = config.parent / "state/sshfiles.toml"
    sshfiles.write_text(sshfiles.read_text() + "\n[known_host]\nhashed = true\n")
    line = sshfiles.read_text().splitlines().index("[known_host]") + 1
    assert main(["--config", str(config), "check"]) == 1
    assert capsys.readouterr().out.splitlines() == [f"{sshfiles}:{line}: unknown file 'known_host'"]
