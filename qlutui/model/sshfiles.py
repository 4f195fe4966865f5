"""The generated SSH host files: their options, header validation and rendering.

`known_hosts` and `shosts_equiv` are the admin's header, a banner, then one block per host of
the inventory with every name and IP it has on the networks taking part; `authorized_keys` is
the header alone. Rendering is pure, byte-for-byte deterministic and cheap (a 10,000-host
cluster renders in tens of milliseconds), so it never calls asyncssh: host keys get a cheap
structural check (type, base64, embedded type), cached per key line. Validation of what the
admin typed uses asyncssh's own parsers, imported lazily because importing asyncssh costs
about a tenth of a second that rendering and the CLI should not pay.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache, partial

from qlutui.errors import InvalidInput
from qlutui.model.generated import BANNER
from qlutui.model.inventory import Host, Inventory, Network, check_unique, host_names
from qlutui.model.names import counted, label, shown

FILES = ("known_hosts", "shosts_equiv", "authorized_keys")

# OpenSSH's key types (sshkey.c); host keys and a host CA must be plain keys.
PLAIN_KEY_TYPES = frozenset(
    {
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
        "ssh-dss",
    }
)
CERT_KEY_TYPES = frozenset(
    {
        "ssh-ed25519-cert-v01@openssh.com",
        "ssh-rsa-cert-v01@openssh.com",
        "ecdsa-sha2-nistp256-cert-v01@openssh.com",
        "ecdsa-sha2-nistp384-cert-v01@openssh.com",
        "ecdsa-sha2-nistp521-cert-v01@openssh.com",
        "sk-ssh-ed25519-cert-v01@openssh.com",
        "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
        "ssh-dss-cert-v01@openssh.com",
    }
)
# authorized_keys options sshd knows (sshd(8) "AUTHORIZED_KEYS FILE FORMAT"), lower-cased.
AUTHORIZED_KEY_OPTIONS = frozenset(
    {
        "agent-forwarding",
        "cert-authority",
        "command",
        "environment",
        "expiry-time",
        "from",
        "no-agent-forwarding",
        "no-port-forwarding",
        "no-pty",
        "no-touch-required",
        "no-user-rc",
        "no-x11-forwarding",
        "permitlisten",
        "permitopen",
        "port-forwarding",
        "principals",
        "pty",
        "restrict",
        "tunnel",
        "user-rc",
        "verify-required",
        "x11-forwarding",
    }
)

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_HOST_CHARS = re.compile(r"[A-Za-z0-9._-]+")
_USER_CHARS = re.compile(r"[A-Za-z0-9._][A-Za-z0-9._-]*\$?")
_NETGROUP_CHARS = re.compile(r"[^\s@]+")
_SHA1_SIZE = 20

SaltSource = Callable[[str], bytes]


@dataclass
class FileOptions:
    """One [table] of sshfiles.toml. `hashed` and `ca_key` only concern known_hosts."""

    description: str = ""
    header: str = ""
    include_ips: bool = True
    networks: list[str] = field(default_factory=list)  # [] = every network with ssh = true
    hashed: bool = False  # known_hosts: one hashed name per line
    ca_key: str = ""  # known_hosts: one "@cert-authority" line instead of the host keys

    @classmethod
    def from_dict(cls, data: Mapping[str, object], kind: str = "known_hosts") -> FileOptions:
        """Build from a table of sshfiles.toml; InvalidInput names the setting that is wrong."""
        unknown = sorted(set(data) - set(_DEFAULTS))
        if unknown:
            raise InvalidInput(f"{kind}: unknown setting {shown(unknown[0])}")
        values = {}
        for key, default in _DEFAULTS.items():
            value = data.get(key, default)
            if isinstance(default, bool) and not isinstance(value, bool):
                raise InvalidInput(f"{kind}.{key}: must be true or false")
            if isinstance(default, str) and not isinstance(value, str):
                raise InvalidInput(f"{kind}.{key}: must be text")
            if isinstance(default, list):
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise InvalidInput(f"{kind}.{key}: must be a list of network names")
                value = list(value)
            values[key] = value
        return cls(**values)

    def to_dict(self) -> dict[str, object]:
        """The sshfiles.toml table, every setting written out."""
        return {key: _copy(getattr(self, key)) for key in _DEFAULTS}


_DEFAULTS: dict[str, object] = {
    "description": "",
    "header": "",
    "include_ips": True,
    "networks": [],
    "hashed": False,
    "ca_key": "",
}


def _copy(value: object) -> object:
    return list(value) if isinstance(value, list) else value


def options_from_toml(data: Mapping[str, object]) -> dict[str, FileOptions]:
    """The options of every file from sshfiles.toml data; a missing table means defaults."""
    unknown = sorted(set(data) - set(FILES))
    if unknown:
        raise InvalidInput(f"sshfiles.toml: unknown file {shown(unknown[0])}")
    options = {}
    for kind in FILES:
        table = data.get(kind, {})
        if not isinstance(table, Mapping):
            raise InvalidInput(f"sshfiles.toml: {kind} must be a table")
        options[kind] = FileOptions.from_dict(table, kind)
    return options


@dataclass(frozen=True)
class LineProblem:
    """What is wrong with one line of a header or file (line numbers start at 1)."""

    line: int
    text: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


# --- validation -------------------------------------------------------------------------


def validate_header(kind: str, header: str) -> list[LineProblem]:
    """Every problem of the header the admin typed, line by line."""
    problems = _validate_lines(kind, header)
    problems += [
        LineProblem(n, line, "the generated-part banner cannot be part of the header")
        for n, line in enumerate(header.split("\n"), 1)
        if line.strip() == BANNER and kind != "authorized_keys"
    ]
    return sorted(problems, key=lambda p: p.line)


def validate_rendered(kind: str, text: str) -> list[LineProblem]:
    """Every problem of a whole rendered file (it must parse as a whole, end with a newline)."""
    problems = _validate_lines(kind, text)
    if text and not text.endswith("\n"):
        last = text.count("\n") + 1
        problems.append(LineProblem(last, text.rsplit("\n", 1)[-1], "no newline at the end"))
    return problems


def _validate_lines(kind: str, text: str) -> list[LineProblem]:
    check = _LINE_CHECKS.get(kind)
    if check is None:
        raise InvalidInput(_unknown_kind(kind))
    keys: dict[str, str | None] = {}  # key data -> problem: a file repeats the same keys
    problems = []
    # Split on "\n" only: str.splitlines() would also split on \x0b, \x1c, \u2028 ...
    for number, line in enumerate(text.split("\n"), 1):
        bad = _CONTROL.search(line)
        if bad:
            reason = f"control character {ord(bad.group()):#04x} in the line"
        else:
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            reason = check(stripped, keys)
        if reason:
            problems.append(LineProblem(number, line, reason))
    return problems


def _known_hosts_problem(line: str, keys: dict[str, str | None]) -> str | None:
    if line.startswith("@"):
        parts = line.split(None, 2)
        if parts[0] not in ("@cert-authority", "@revoked"):
            return f"unknown marker {shown(parts[0])} (only @cert-authority or @revoked)"
    else:
        parts = ["", *line.split(None, 1)]
    if len(parts) < 3:
        return "expected 'names keytype base64-key'"
    patterns, data = parts[1], parts[2]
    names = patterns.split(",")
    if "" in names:
        return f"empty name in {shown(patterns)}"
    if any(name.startswith("|") for name in names):
        if len(names) > 1:
            return "a hashed name (|1|salt|hash) must stand alone on its line"
        if not _is_hashed_name(names[0]):
            return f"{shown(names[0])} is not a hashed name (|1|base64 salt|base64 hash)"
    problem = _cached_key_problem(data, keys)
    if problem:
        return problem
    import asyncssh

    try:  # asyncssh's parser has the last word (it skips keys it cannot read: checked above)
        asyncssh.import_known_hosts(line)
    except ValueError as error:
        return str(error)
    return None


def _shosts_problem(line: str, _keys: dict[str, str | None]) -> str | None:
    fields = line.split()
    if len(fields) > 2:
        return f"expected 'host [user]', found {len(fields)} fields"
    host = fields[0]
    if host == "+":
        return "'+' admits every host"
    if host == "-":
        return "'-' must be followed by a host name or @netgroup"
    name = host[1:] if host[0] in "+-" else host
    if name.startswith("@"):
        if not _NETGROUP_CHARS.fullmatch(name[1:]):
            return f"{shown(host)} is not a valid netgroup"
    elif not _is_host_or_ip(name):
        return f"{shown(host)} is not a host name or IP address"
    if len(fields) == 2:
        return _shosts_user_problem(fields[1])
    return None


def _shosts_user_problem(user: str) -> str | None:
    if user == "+":
        return "'+' admits every user"
    if user == "-":
        return "'-' must be followed by a user name or @netgroup"
    name = user[1:] if user[0] in "+-" else user
    if name == "root":
        return "shosts.equiv never admits root (sshd ignores it for root)"
    if name.startswith("@"):
        return None if _NETGROUP_CHARS.fullmatch(name[1:]) else f"{shown(user)} is not a netgroup"
    if not _USER_CHARS.fullmatch(name):
        return f"{shown(user)} is not a user name"
    return None


def _authorized_keys_problem(line: str, keys: dict[str, str | None]) -> str | None:
    first = line.split(None, 1)[0]
    if first in PLAIN_KEY_TYPES or first in CERT_KEY_TYPES:
        options, data = "", line
    else:
        end = _options_end(line)
        if end is None:
            return "unbalanced quote in the options"
        options, data = line[:end], line[end:].strip()
    if not data:
        return "not a public key line (expected '[options] keytype base64-key [comment]')"
    problem = _cached_key_problem(data, keys) or _options_problem(options)
    if problem:
        return problem
    import asyncssh

    try:
        asyncssh.import_authorized_keys(line)
    except ValueError as error:
        return str(error)
    return None


_LINE_CHECKS: dict[str, Callable[[str, dict[str, str | None]], str | None]] = {
    "known_hosts": _known_hosts_problem,
    "shosts_equiv": _shosts_problem,
    "authorized_keys": _authorized_keys_problem,
}


def _options_end(line: str) -> int | None:
    """Where the options of an authorized_keys line end (first blank outside quotes)."""
    quoted = False
    i = 0
    while i < len(line):
        c = line[i]
        if c == "\\" and quoted:
            i += 1
        elif c == '"':
            quoted = not quoted
        elif c in " \t" and not quoted:
            return i
        i += 1
    return None if quoted else len(line)


def _options_problem(options: str) -> str | None:
    if not options:
        return None
    for option in _split_unquoted(options, ","):
        name = option.split("=", 1)[0].lower()
        if name not in AUTHORIZED_KEY_OPTIONS:
            return f"unknown option {shown(name)}"
    return None


def _split_unquoted(text: str, sep: str) -> list[str]:
    parts, start, quoted = [], 0, False
    for i, c in enumerate(text):
        if c == '"' and (i == 0 or text[i - 1] != "\\"):
            quoted = not quoted
        elif c == sep and not quoted:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _cached_key_problem(data: str, cache: dict[str, str | None]) -> str | None:
    if data not in cache:
        cache[data] = _key_problem(data)
    return cache[data]


def _key_problem(data: str) -> str | None:
    """Why `data` ("keytype base64 [comment]") is not a public key or certificate."""
    fields = data.split()
    if len(fields) < 2:
        return f"missing the base64 key data after {shown(fields[0])}"
    problem = _key_shape_problem(fields[0], fields[1], PLAIN_KEY_TYPES | CERT_KEY_TYPES)
    if problem:
        return problem
    import asyncssh

    text = f"{fields[0]} {fields[1]}"
    try:
        if fields[0] in CERT_KEY_TYPES:
            asyncssh.import_certificate(text)
        else:
            asyncssh.import_public_key(text)
    except (asyncssh.KeyImportError, ValueError) as error:
        reason = str(error)
        return f"the {fields[0]} key data is broken: {reason[:1].lower()}{reason[1:]}"
    return None


def _key_shape_problem(keytype: str, b64: str, allowed: frozenset[str]) -> str | None:
    """Cheap checks without asyncssh: known type, base64, the blob names the same type."""
    if keytype not in allowed:
        return f"unknown key type {shown(keytype)}"
    try:
        blob = binascii.a2b_base64(b64, strict_mode=True)
    except binascii.Error:
        return f"the {keytype} key data is not valid base64"
    size = int.from_bytes(blob[:4], "big")
    embedded = blob[4 : 4 + size]
    if len(blob) < 4 or len(embedded) != size or embedded != keytype.encode():
        found = embedded.decode("ascii", "replace") if size < 64 and embedded else "?"
        return f"the key data is of type {shown(found)}, not {keytype}"
    return None


def _is_hashed_name(name: str) -> bool:
    parts = name.split("|")
    if len(parts) != 4 or parts[0] or parts[1] != "1":
        return False
    try:
        salt = binascii.a2b_base64(parts[2], strict_mode=True)
        digest = binascii.a2b_base64(parts[3], strict_mode=True)
    except binascii.Error:
        return False
    return len(salt) == _SHA1_SIZE and len(digest) == _SHA1_SIZE


def _is_host_or_ip(name: str) -> bool:
    if _HOST_CHARS.fullmatch(name):
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _unknown_kind(kind: str) -> str:
    return f"unknown SSH file {shown(kind)} (one of {', '.join(FILES)})"


# --- rendering --------------------------------------------------------------------------


def render(
    kind: str, inv: Inventory, opts: FileOptions, *, salt_source: SaltSource | None = None
) -> str:
    """The whole file: header, banner, generated part. InvalidInput lists every problem.

    `salt_source(name)` gives the 20-byte salt of a hashed name; the default derives it from
    the name, so hashed output is deterministic too (OpenSSH accepts any salt).
    """
    return render_all(inv, {kind: opts}, salt_source=salt_source)[kind]


def render_all(
    inv: Inventory,
    options: Mapping[str, FileOptions],
    *,
    salt_source: SaltSource | None = None,
) -> dict[str, str]:
    """Several files at once (kind -> text), as `render` does for each.

    Cheaper than one `render` per file: the inventory is checked once and the names of each
    host are gathered once per set of networks.
    """
    for kind in options:
        if kind not in FILES:
            raise InvalidInput(_unknown_kind(kind))
    problems: list[str] | None = None
    gathered: dict[tuple, list[list[str]]] = {}  # (networks, include_ips) -> names per host
    files = {}
    for kind, opts in options.items():
        header = opts.header
        if header and not header.endswith("\n"):
            header += "\n"
        if kind == "authorized_keys":
            files[kind] = header
            continue
        if problems is None:
            problems = [str(p) for p in check_unique(inv)]
        networks = _networks(kind, inv, opts)
        key = (tuple(n.name for n in networks), opts.include_ips)
        if key not in gathered:
            gathered[key] = [_names(inv, host, networks, opts.include_ips) for host in inv.hosts]
        lines = [BANNER]
        if kind == "shosts_equiv":
            for names in gathered[key]:
                lines += names
        else:
            _known_hosts(inv, gathered[key], opts, salt_source, lines, problems)
        lines.append("")
        files[kind] = header + "\n".join(lines)
    if problems:
        count = counted(len(problems), "problem")
        raise InvalidInput(f"inventory has {count}: {'; '.join(problems)}")
    return files


def _networks(kind: str, inv: Inventory, opts: FileOptions) -> list[Network]:
    if not opts.networks:
        return [n for n in inv.networks if n.ssh]
    known = {n.name: n for n in inv.networks}
    unknown = [name for name in opts.networks if name not in known]
    if unknown:
        names = ", ".join(label(name) for name in unknown)
        raise InvalidInput(f"{kind}.networks: unknown network {names}")
    return [known[name] for name in opts.networks]


def _names(inv: Inventory, host: Host, networks: list[Network], include_ips: bool) -> list[str]:
    """Every name of `host` on the networks, then its IPs there; no duplicates, in order."""
    names: list[str] = []
    ips: list[str] = []
    for network in networks:
        ip = host.ips.get(network.name)
        if ip:
            names += host_names(inv, host, network)
            if include_ips:
                ips.append(ip)
    return list(dict.fromkeys(names + ips))


def _known_hosts(
    inv: Inventory,
    names_per_host: list[list[str]],
    opts: FileOptions,
    salt_source: SaltSource | None,
    lines: list[str],
    problems: list[str],
) -> None:
    """Append the generated known_hosts lines; append inventory problems found on the way."""
    hashed = partial(_hashed, salt_source=salt_source) if salt_source else _default_hashed
    if opts.ca_key:
        ca_key, problem = _host_key(opts.ca_key)
        if problem:
            raise InvalidInput(f"known_hosts.ca_key: {problem}")
        every = [name for names in names_per_host for name in names]
        if opts.hashed:
            lines += [f"@cert-authority {hashed(name)} {ca_key}" for name in every]
        elif every:
            lines.append(f"@cert-authority {','.join(every)} {ca_key}")
        return
    for host, names in zip(inv.hosts, names_per_host, strict=True):
        if not names:
            continue
        keys = []
        for line in inv.keys_of(host):
            key, problem = _host_key(line)
            if problem:
                problems.append(f"{label(host.name)}: host key {shown(line)}: {problem}")
            keys.append(key)
        if not keys:
            problems.append(f"{label(host.name)}: no host key (and no default host keys)")
        elif opts.hashed:
            lines += [f"{hashed(name)} {key}" for key in keys for name in names]
        else:
            joined = ",".join(names)
            lines += [f"{joined} {key}" for key in keys]


@lru_cache(maxsize=1 << 16)
def _host_key(line: str) -> tuple[str, str | None]:
    """("keytype base64" without the comment, problem or None) for a host or CA key line."""
    fields = line.split()
    if len(fields) < 2:
        return "", "not a public key line ('keytype base64 [comment]')"
    return f"{fields[0]} {fields[1]}", _key_shape_problem(fields[0], fields[1], PLAIN_KEY_TYPES)


def _hashed(name: str, salt_source: SaltSource) -> str:
    """OpenSSH's hashed host name: |1|base64(salt)|base64(HMAC-SHA1(salt, name))."""
    salt = salt_source(name)
    digest = hmac.digest(salt, name.encode(), "sha1")
    return f"|1|{binascii.b2a_base64(salt, newline=False).decode()}|" + (
        binascii.b2a_base64(digest, newline=False).decode()
    )


@lru_cache(maxsize=1 << 17)
def _default_hashed(name: str) -> str:
    """The hashed name with a salt derived from the name itself (deterministic output)."""
    return _hashed(name, lambda n: hashlib.sha1(b"qlutui" + n.encode()).digest())


def key_problem(line: str) -> str | None:
    """Why `line` ("keytype base64 [comment]") is not a real public key, or None."""
    return _key_problem(line)


def fingerprint(key: str) -> str:
    """OpenSSH's fingerprint of a key line ("SHA256:..."), as `ssh-keygen -l` prints it."""
    import base64
    import hashlib

    blob = binascii.a2b_base64(key.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def host_key_problem(keytype: str, b64: str) -> str | None:
    """Why "keytype base64" is not a plain public key (the cheap structural check)."""
    return _key_shape_problem(keytype, b64, PLAIN_KEY_TYPES)
