"""config.toml: finding it, defaults, path resolution, and the exact message of every error."""

from __future__ import annotations

from pathlib import Path

import pytest

from qlutui.backend.config import (
    DEFAULT_BUILDERS,
    DEFAULT_SSH_DESTINATIONS,
    MMDEBSTRAP_PHASES,
    Builder,
    UIOptions,
    find_config,
    load_config,
)
from qlutui.backend.demo import init_demo
from qlutui.errors import ConfigError, InvalidInput

REPO = Path(__file__).resolve().parents[2]
LOCAL = '[[headnodes]]\nname = "beosrv-c"\ntransport = "local"\n'
SSH = '[[headnodes]]\nname = "beosrv-d"\ntransport = "ssh"\nknown_hosts = "kh"\n'


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    return tmp_path / "etc" / "config.toml"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def error(path: Path, text: str) -> str:
    write(path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    return str(err.value)


# -- finding the file ---------------------------------------------------------------------


def test_explicit_path_wins_over_environment_and_cwd(tmp_path, monkeypatch) -> None:
    explicit = write(tmp_path / "a.toml", LOCAL)
    env = write(tmp_path / "b.toml", LOCAL)
    write(tmp_path / "config.toml", LOCAL)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QLUTUI_CONFIG", str(env))
    assert find_config(str(explicit)) == explicit
    assert find_config(None) == env
    monkeypatch.delenv("QLUTUI_CONFIG")
    assert find_config(None) == tmp_path / "config.toml"


def test_missing_explicit_or_environment_file(tmp_path, monkeypatch) -> None:
    with pytest.raises(ConfigError) as err:
        find_config(tmp_path / "nope.toml")
    assert str(err.value) == f"{tmp_path}/nope.toml: no such config file"
    monkeypatch.setenv("QLUTUI_CONFIG", str(tmp_path / "env.toml"))
    with pytest.raises(ConfigError) as err:
        load_config()
    assert str(err.value) == f"{tmp_path}/env.toml: no such config file (from $QLUTUI_CONFIG)"


def test_no_config_anywhere_lists_where_it_looked(tmp_path, monkeypatch) -> None:
    if Path("/etc/qlutui/config.toml").exists():
        pytest.skip("this machine has /etc/qlutui/config.toml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("QLUTUI_CONFIG", raising=False)
    with pytest.raises(ConfigError) as err:
        find_config(None)
    assert str(err.value) == (
        f"no config file found (looked for {tmp_path}/config.toml, /etc/qlutui/config.toml); "
        "pass --config PATH, set $QLUTUI_CONFIG, or try `qlutui demo`"
    )


def test_a_directory_is_not_a_config_file(tmp_path) -> None:
    (tmp_path / "dir.toml").mkdir()
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "dir.toml")
    assert str(err.value) == f"{tmp_path}/dir.toml: no such config file"


# -- values ---------------------------------------------------------------------------------


def test_minimal_config_gets_every_default(cfg: Path) -> None:
    config = load_config(write(cfg, LOCAL))
    assert config.path == cfg
    assert config.state_dir == cfg.parent / "state"
    assert config.chroots_base == "/srv/apps/chroots"
    assert config.rootfs_base == "/var/lib/qlustar/root-fs"
    assert config.jobs_dir == "/var/lib/qlutui/jobs"
    assert config.ssh_destinations == {
        "known_hosts": (
            "/etc/qlustar/common/image-files/ssh/ssh_known_hosts",
            "/etc/ssh/ssh_known_hosts",
        ),
        "shosts_equiv": (
            "/etc/qlustar/common/image-files/ssh/shosts.equiv",
            "/etc/ssh/shosts.equiv",
        ),
        "authorized_keys": ("/etc/qlustar/common/image-files/ssh/authorized_keys",),
    }
    assert config.ssh_modes == {
        "known_hosts": 0o644,
        "shosts_equiv": 0o644,
        "authorized_keys": 0o644,
    }
    assert config.builders == {
        "debian": Builder(
            argv=(
                "mmdebstrap",
                "--variant=minbase",
                "{packages...}",
                "{suite}",
                "{target}",
                "{mirror}",
            ),
            phases=MMDEBSTRAP_PHASES,
            keep_failed=False,
        )
    }
    assert config.ui == UIOptions(theme="textual-dark", serial=None, keymap={}, log_batch_ms=50)
    (headnode,) = config.headnodes
    assert (headnode.name, headnode.transport, headnode.root) == ("beosrv-c", "local", None)


def test_relative_paths_resolve_against_the_config_directory(cfg: Path, tmp_path) -> None:
    config = load_config(
        write(
            cfg,
            (
                'state_dir = "../var/state"\n'
                '[[headnodes]]\nname = "c"\ntransport = "local"\nroot = "roots/c"\n'
                '[[headnodes]]\nname = "d"\ntransport = "ssh"\nhost = "10.0.0.2"\nport = 2222\n'
                'user = "admin"\nknown_hosts = "ssh/known_hosts"\nidentity = "/keys/id"\n'
                "connect_timeout = 3\nkeepalive = 0\n"
            ),
        )
    )
    assert config.state_dir == tmp_path / "var" / "state"
    c, d = config.headnodes
    assert c.root == cfg.parent / "roots" / "c"
    assert (d.host, d.port, d.user) == ("10.0.0.2", 2222, "admin")
    assert d.known_hosts == cfg.parent / "ssh" / "known_hosts"
    assert d.identity == Path("/keys/id")
    assert (d.connect_timeout, d.keepalive) == (3.0, 0.0)
    assert config.headnode("d") is d


def test_ssh_headnode_defaults(cfg: Path) -> None:
    (headnode,) = load_config(write(cfg, SSH)).headnodes
    assert (headnode.host, headnode.port, headnode.user, headnode.identity) == (
        "beosrv-d",
        22,
        "root",
        None,
    )
    assert (headnode.connect_timeout, headnode.keepalive) == (10.0, 15.0)


def test_unknown_headnode_name(cfg: Path) -> None:
    config = load_config(write(cfg, LOCAL + SSH))
    with pytest.raises(InvalidInput) as err:
        config.headnode("beosrv-x")
    assert str(err.value) == "unknown head-node 'beosrv-x' (configured: beosrv-c, beosrv-d)"


def test_ssh_files_builders_and_ui(cfg: Path) -> None:
    config = load_config(
        write(
            cfg,
            LOCAL
            + (
                "[ssh_files.authorized_keys]\n"
                'destinations = ["/srv/keys/", "/root/.ssh/authorized_keys"]\n'
                "mode = 0o600\n"
                "[builders.debian]\nkeep_failed = true\n"
                "[builders.rocky]\n"
                'argv = ["dnf-builder", "--release={suite}", "{target}", "{mirror}"]\n'
                '[ui]\ntheme = "nord"\nserial = true\nlog_batch_ms = 20\n'
                '[ui.keymap]\n"app.quit" = "ctrl+q"\n'
            ),
        )
    )
    assert config.ssh_destinations["authorized_keys"] == ("/srv/keys", "/root/.ssh/authorized_keys")
    assert config.ssh_destinations["known_hosts"] == DEFAULT_SSH_DESTINATIONS["known_hosts"]
    assert config.ssh_modes["authorized_keys"] == 0o600
    assert config.ssh_modes["known_hosts"] == 0o644
    debian, rocky = config.builders["debian"], config.builders["rocky"]
    assert debian.keep_failed is True
    assert debian.argv[0] == "mmdebstrap"
    assert debian.phases == MMDEBSTRAP_PHASES
    assert rocky.phases == ()  # phases default only for mmdebstrap
    assert config.ui == UIOptions(
        theme="nord", serial=True, keymap={"app.quit": "ctrl+q"}, log_batch_ms=20
    )


def test_builder_command_expansion() -> None:
    builder = Builder(
        argv=(
            "mmdebstrap",
            "--variant=minbase",
            "{packages...}",
            "{suite}",
            "{target}",
            "{mirror}",
            "--aptopt=Dir::Cache={target}/cache",
        )
    )
    assert builder.command(suite="bookworm", target="/srv/c", packages=["less", "procps"]) == [
        "mmdebstrap",
        "--variant=minbase",
        "--include=less,procps",
        "bookworm",
        "/srv/c",
        "--aptopt=Dir::Cache=/srv/c/cache",
    ]
    assert builder.command(
        suite="bookworm", target="/t", mirror="http://deb.debian.org/debian"
    ) == [
        "mmdebstrap",
        "--variant=minbase",
        "bookworm",
        "/t",
        "http://deb.debian.org/debian",
        "--aptopt=Dir::Cache=/t/cache",
    ]


def test_builder_phases_follow_mmdebstrap_output() -> None:
    builder = Builder(argv=("mmdebstrap", "{target}"), phases=MMDEBSTRAP_PHASES)
    lines = [
        "I: chroot architecture amd64 is equal to the host's architecture",
        "I: running apt-get update...",
        "Get:1 http://deb.debian.org/debian bookworm",
        "I: downloading packages with apt...",
        "I: success in 42.1234 seconds",
    ]
    assert [builder.phase(line) for line in lines] == [None, 0, None, 1, 6]


def test_example_config_of_the_repository_loads() -> None:
    config = load_config(REPO / "config.toml")
    assert [h.name for h in config.headnodes] == ["beosrv-c", "beosrv-d"]
    assert config.headnodes[0].transport == "ssh"
    assert config.builders["debian"] == DEFAULT_BUILDERS["debian"]  # spelled out = defaults
    assert set(config.builders) == {"debian", "ubuntu"}


def test_demo_config_loads(tmp_path: Path) -> None:
    config = load_config(init_demo(tmp_path / "demo"))
    assert config.state_dir == tmp_path / "demo" / "state"
    assert [(h.name, h.root) for h in config.headnodes] == [
        ("beosrv-c", tmp_path / "demo" / "headnodes" / "beosrv-c"),
        ("beosrv-d", tmp_path / "demo" / "headnodes" / "beosrv-d"),
    ]


# -- every error, with its exact message ----------------------------------------------------

ERRORS = [
    # malformed TOML: path:line:col: reason
    ('state_dir = "s"\nchroots_base = /srv\n', "2:16: Invalid value"),
    (LOCAL + "[ui\n", "4:4: Expected ']' at the end of a table declaration"),
    # unknown keys, with a hint for typos
    ('stat_dir = "s"\n' + LOCAL, "unknown key 'stat_dir' (did you mean 'state_dir'?)"),
    (
        "colour = 1\nstat_dir = 2\n" + LOCAL,
        "unknown keys 'colour', 'stat_dir' (did you mean 'state_dir'?)",
    ),
    (LOCAL + 'hots = "x"\n', "unknown key 'headnodes[0].hots' (did you mean 'host'?)"),
    (
        LOCAL + "[ssh_files.known-hosts]\n",
        "unknown key 'ssh_files.known-hosts' (did you mean 'known_hosts'?)",
    ),
    (
        LOCAL + '[ssh_files.known_hosts]\ndestination = ["/x"]\n',
        "unknown key 'ssh_files.known_hosts.destination' (did you mean 'destinations'?)",
    ),
    (
        LOCAL + "[builders.debian]\nkeep_fail = true\n",
        "unknown key 'builders.debian.keep_fail' (did you mean 'keep_failed'?)",
    ),
    (LOCAL + "[ui]\nthem = 'x'\n", "unknown key 'ui.them' (did you mean 'theme'?)"),
    # wrong types
    (LOCAL + SSH + 'port = "22"\n', "headnodes[1].port: expected an integer"),
    (LOCAL + SSH + "port = true\n", "headnodes[1].port: expected an integer"),
    ("state_dir = 1\n" + LOCAL, "state_dir: expected a string"),
    ('[headnodes]\nname = "a"\n', "headnodes: expected a list of tables ([[headnodes]])"),
    ("headnodes = [1]\n", "headnodes[0]: expected a table"),
    (LOCAL + "[ui]\nserial = 'yes'\n", "ui.serial: expected true or false"),
    (LOCAL + "[ui]\nkeymap = 'x'\n", "ui.keymap: expected a table"),
    (LOCAL + "[ui.keymap]\nquit = 1\n", "ui.keymap.quit: expected a non-empty string of keys"),
    (LOCAL + "[ui]\nlog_batch_ms = 0\n", "ui.log_batch_ms: expected a positive integer, got 0"),
    ("builders = 1\n" + LOCAL, "builders: expected a table"),
    (LOCAL + "[builders]\ndebian = 1\n", "builders.debian: expected a table"),
    (
        LOCAL + "[builders.debian]\nargv = 'mmdebstrap'\n",
        "builders.debian.argv: expected a list of strings",
    ),
    (
        LOCAL + "[builders.debian]\nargv = ['mmdebstrap', 1]\n",
        "builders.debian.argv: expected a list of strings",
    ),
    (
        LOCAL + "[builders.debian]\nkeep_failed = 'no'\n",
        "builders.debian.keep_failed: expected true or false",
    ),
    (
        LOCAL + "[ssh_files.known_hosts]\nmode = '644'\n",
        "ssh_files.known_hosts.mode: expected an integer (e.g. 0o644)",
    ),
    (LOCAL + SSH + "connect_timeout = 'soon'\n", "headnodes[1].connect_timeout: expected a number"),
    (LOCAL + SSH + "keepalive = false\n", "headnodes[1].keepalive: expected a number"),
    # head-nodes
    ('state_dir = "s"\n', "headnodes: at least one head-node is required ([[headnodes]])"),
    ('[[headnodes]]\ntransport = "local"\n', "headnodes[0].name: required"),
    ('[[headnodes]]\nname = "c"\n', "headnodes[0].transport: required"),
    (
        '[[headnodes]]\nname = "c"\ntransport = "sftp"\n',
        'headnodes[0].transport: expected "local" or "ssh", got "sftp"',
    ),
    (
        '[[headnodes]]\nname = "beo srv"\ntransport = "local"\n',
        "headnodes[0].name: invalid head-node name 'beo srv': must contain only letters, digits, "
        "'.', '_' and '-' (found ' ')",
    ),
    (
        '[[headnodes]]\nname = "-c"\ntransport = "local"\n',
        "headnodes[0].name: invalid head-node name '-c': must not start with '-'",
    ),
    (LOCAL + SSH + LOCAL, "headnodes[2].name: duplicate head-node 'beosrv-c'"),
    (
        '[[headnodes]]\nname = "d"\ntransport = "ssh"\nhost = "d"\n',
        'headnodes[0].known_hosts: required for transport = "ssh" (host keys are always verified)',
    ),
    (SSH + 'root = "/x"\n', 'headnodes[0].root: only for transport = "local"'),
    (LOCAL + 'host = "x"\n', 'headnodes[0].host: only for transport = "ssh"'),
    (LOCAL + 'known_hosts = "kh"\n', 'headnodes[0].known_hosts: only for transport = "ssh"'),
    (SSH + "port = 0\n", "headnodes[0].port: expected a port number (1-65535), got 0"),
    (SSH + "port = 70000\n", "headnodes[0].port: expected a port number (1-65535), got 70000"),
    (
        SSH + "connect_timeout = 0\n",
        "headnodes[0].connect_timeout: expected a positive number, got 0",
    ),
    (SSH + "keepalive = -1\n", "headnodes[0].keepalive: expected a non-negative number, got -1"),
    (SSH + 'identity = ""\n', "headnodes[0].identity: expected a path, got an empty string"),
    # paths on the head-nodes must be absolute
    (
        'chroots_base = "srv/apps/chroots"\n' + LOCAL,
        'chroots_base: expected an absolute head-node path, got "srv/apps/chroots"',
    ),
    ('jobs_dir = ""\n' + LOCAL, 'jobs_dir: expected an absolute head-node path, got ""'),
    (
        LOCAL + '[ssh_files.shosts_equiv]\ndestinations = ["/etc/x", "etc/y"]\n',
        'ssh_files.shosts_equiv.destinations[1]: expected an absolute head-node path, got "etc/y"',
    ),
    (
        LOCAL + "[ssh_files.shosts_equiv]\nmode = 0o10000\n",
        "ssh_files.shosts_equiv.mode: expected a file mode such as 0o644, got 4096",
    ),
    # builders
    (LOCAL + '[builders.rocky]\nphases = ["x"]\n', "builders.rocky.argv: required"),
    (
        LOCAL + "[builders.debian]\nargv = []\n",
        "builders.debian.argv: expected a command (a non-empty list of strings)",
    ),
    (
        LOCAL + '[builders.debian]\nargv = ["mmdebstrap", "{suite}", "{tagret}"]\n',
        "builders.debian.argv[2]: unknown placeholder {tagret} "
        "(known: {suite}, {target}, {mirror}, {packages...})",
    ),
    (
        LOCAL + '[builders.debian]\nargv = ["mmdebstrap", "--include={packages...}", "{target}"]\n',
        "builders.debian.argv[1]: unknown placeholder {packages...} "
        "(known: {suite}, {target}, {mirror}, {packages...})",
    ),
    (
        LOCAL + '[builders.debian]\nargv = ["mmdebstrap", "{suite}"]\n',
        "builders.debian.argv: must contain {target} (where the chroot is built)",
    ),
    (
        LOCAL + '[builders.debian]\nphases = ["I: ok", "I: (unclosed"]\n',
        "builders.debian.phases[1]: bad regular expression: missing ), unterminated subpattern "
        "at position 3",
    ),
]


@pytest.mark.parametrize(("text", "message"), ERRORS)
def test_error_message(cfg: Path, text: str, message: str) -> None:
    separator = ":" if message[0].isdigit() else ": "
    assert error(cfg, text) == f"{cfg}{separator}{message}"


def test_invalid_utf8(cfg: Path) -> None:
    cfg.parent.mkdir()
    cfg.write_bytes(LOCAL.encode() + b'[ui]\ntheme = "\xff"\n')
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    assert str(err.value) == f"{cfg}:5:10: not valid UTF-8 text"
