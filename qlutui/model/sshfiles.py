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
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache, partial
from typing import NamedTuple

from qlutui.errors import InvalidInput
from qlutui.model.generated import BANNER
from qlutui.model.inventory import Host, Inventory, Network, check_unique, host_names, ip_key
from qlutui.model.names import counted, label, line_problem, shown
from qlutui.model.noderange import fold

FILES = ("known_hosts", "shosts_equiv", "authorized_keys")
PROBLEMS_SHOWN = 3  # bad lines named in a one-line refusal before "... and N more"

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
_CONTROL_NOT_NEWLINE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_PLAIN_HOSTS = re.compile(r"(?:[A-Za-z0-9._:][A-Za-z0-9._:-]*\n)*")  # names, IPv4, IPv6
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
    allow_patterns: bool = False  # the header may hold wildcards and negations (confirmed)

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
        if problem := line_problem(values["description"]):
            raise InvalidInput(f"{kind}.description {problem}")
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
    "allow_patterns": False,
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


# The modes of each file (FileOptions fields set with `ssh modes` or the Modes form).
MODES: dict[str, tuple[str, ...]] = {
    "known_hosts": ("hashed", "include_ips", "ca_key", "networks"),
    "shosts_equiv": ("include_ips", "networks"),
    "authorized_keys": (),
}


def ca_key_problem(line: str) -> str | None:
    """Why `line` cannot be the host CA key of known_hosts' `@cert-authority` line, or None:
    one plain public key line ("keytype base64 [comment]"), as in the CA's .pub file."""
    if line.lstrip().startswith("-----BEGIN"):
        return "that is a private key: give the CA's public key (its .pub file)"
    if problem := line_problem(line):
        return f"the CA key {problem}"
    fields = line.split()
    if not fields:
        return "the CA key is empty"
    if fields[0] in CERT_KEY_TYPES:
        return "that is a certificate: give the CA's own public key"
    if fields[0] not in PLAIN_KEY_TYPES:
        return f"not a public key line ('keytype base64 [comment]'): {shown(fields[0])}"
    return _key_problem(line)


def modes_text(kind: str, opts: FileOptions) -> str:
    """The modes of one file in words, for a status line and `ssh modes`."""
    modes = MODES[kind]
    if not modes:
        return "no modes: the file is the header alone"
    parts = []
    if "hashed" in modes:
        parts.append("hashed names" if opts.hashed else "plain names")
    parts.append("with IPs" if opts.include_ips else "no IPs")
    parts.append(f"networks {','.join(opts.networks)}" if opts.networks else "every SSH network")
    if "ca_key" in modes and opts.ca_key:
        ca = opts.ca_key.split()
        shape = host_key_problem(ca[0], ca[1]) if len(ca) > 1 else "not a key"
        parts.append(f"@cert-authority {fingerprint(opts.ca_key) if not shape else ca[0]}")
    elif "ca_key" in modes:
        parts.append("host keys (no CA)")
    return ", ".join(parts)


@dataclass(frozen=True)
class LineProblem:
    """What is wrong with one line of a header or file (line numbers start at 1)."""

    line: int
    text: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


# --- validation -------------------------------------------------------------------------


def validate_header(kind: str, header: str, *, allow_patterns: bool = False) -> list[LineProblem]:
    """Every problem of the header the admin typed, line by line.

    Wildcards and negations (`pattern_problem`) are problems unless `allow_patterns`.
    """
    problems = _validate_lines(kind, header, allow_patterns)
    problems += [
        LineProblem(n, line, "the generated-part banner cannot be part of the header")
        for n, line in enumerate(header.split("\n"), 1)
        if line.strip() == BANNER and kind != "authorized_keys"
    ]
    return sorted(problems, key=lambda p: p.line)


def validate_rendered(kind: str, text: str, *, allow_patterns: bool = False) -> list[LineProblem]:
    """Every problem of a whole rendered file (it must parse as a whole, end with a newline)."""
    problems = _validate_lines(kind, text, allow_patterns)
    if text and not text.endswith("\n"):
        last = text.count("\n") + 1
        problems.append(LineProblem(last, text.rsplit("\n", 1)[-1], "no newline at the end"))
    return problems


def _validate_lines(kind: str, text: str, allow_patterns: bool) -> list[LineProblem]:
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
            reason = check(stripped, keys, allow_patterns)
        if reason:
            problems.append(LineProblem(number, line, reason))
    return problems


def pattern_problem(kind: str, field: str) -> str | None:
    """Why a host or user field of a known_hosts or shosts.equiv line needs `allow_patterns`:
    it is a wildcard (known_hosts `*` `?`, shosts.equiv `+`), trusting hosts or users it
    does not name, or a negation (`!`, `-`), which only makes sense beside a wildcard."""
    if kind == "known_hosts":
        wildcard, negation = "*" in field or "?" in field, field.startswith("!")
    else:
        wildcard, negation = field == "+", field.startswith("-")
    if not (wildcard or negation):
        return None
    what = "wildcard" if wildcard else "negation"
    return f"{shown(field)} is a {what}: allowed only with allow_patterns = true"


class KnownHostsLine(NamedTuple):  # a tuple: the check of a big generated part makes many
    """The fields of one known_hosts line."""

    marker: str  # "", "@cert-authority" or "@revoked"
    names: list[str]  # host patterns, hashed names, [host]:port
    key: str  # "keytype base64 [comment]"


def parse_known_hosts_line(line: str) -> KnownHostsLine | str:
    """One known_hosts line (stripped, not a comment) split as sshd does, or why it cannot
    be. The header check and the check of the generated part (`render_all`) both use it."""
    if line.startswith("@"):
        parts = line.split(None, 2)
        if parts[0] not in ("@cert-authority", "@revoked"):
            return f"unknown marker {shown(parts[0])} (only @cert-authority or @revoked)"
    else:
        parts = ["", *line.split(None, 1)]
    if len(parts) < 3:
        return "expected 'names keytype base64-key'"
    marker, patterns, data = parts
    names = patterns.split(",")
    if "" in names:
        return f"empty name in {shown(patterns)}"
    if "|" in patterns and any(name.startswith("|") for name in names):
        if len(names) > 1:
            return "a hashed name (|1|salt|hash) must stand alone on its line"
        if not _is_hashed_name(names[0]):
            return f"{shown(names[0])} is not a hashed name (|1|base64 salt|base64 hash)"
    return KnownHostsLine(marker, names, data)


def _known_hosts_problem(
    line: str, keys: dict[str, str | None], allow_patterns: bool
) -> str | None:
    parsed = parse_known_hosts_line(line)
    if isinstance(parsed, str):
        return parsed
    if not allow_patterns and parsed.marker != "@revoked":  # a revocation trusts nobody
        for name in parsed.names:
            if problem := pattern_problem("known_hosts", name):
                return problem
    problem = _cached_key_problem(parsed.key, keys)
    if problem:
        return problem
    import asyncssh

    try:  # asyncssh's parser has the last word (it skips keys it cannot read: checked above)
        asyncssh.import_known_hosts(line)
    except ValueError as error:
        return str(error)
    return None


def _shosts_problem(line: str, _keys: dict[str, str | None], allow_patterns: bool) -> str | None:
    fields = line.split()
    if len(fields) > 2:
        return f"expected 'host [user]', found {len(fields)} fields"
    problem = _shosts_host_problem(fields[0])
    if problem is None and len(fields) == 2:
        problem = _shosts_user_problem(fields[1])
    if problem is None and not allow_patterns:
        problem = next(filter(None, (pattern_problem("shosts_equiv", f) for f in fields)), None)
    return problem


def _shosts_host_problem(host: str) -> str | None:
    if host == "+":
        return None  # every host: a wildcard, for pattern_problem
    if host == "-":
        return "'-' must be followed by a host name or @netgroup"
    name = host[1:] if host[0] in "+-" else host
    if name.startswith("@"):
        if not _NETGROUP_CHARS.fullmatch(name[1:]):
            return f"{shown(host)} is not a valid netgroup"
    elif not _is_host_or_ip(name):
        return f"{shown(host)} is not a host name or IP address"
    return None


def _shosts_user_problem(user: str) -> str | None:
    if user == "+":
        return None  # every user: a wildcard, for pattern_problem
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


def _authorized_keys_problem(
    line: str, keys: dict[str, str | None], _allow_patterns: bool
) -> str | None:
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
    problem = _cached_key_problem(data, keys) or options_problem(options)
    if problem:
        return problem
    import asyncssh

    try:
        asyncssh.import_authorized_keys(line)
    except ValueError as error:
        return str(error)
    return None


_LINE_CHECKS: dict[str, Callable[[str, dict[str, str | None], bool], str | None]] = {
    "known_hosts": _known_hosts_problem,
    "shosts_equiv": _shosts_problem,
    "authorized_keys": _authorized_keys_problem,
}


def _options_end(line: str) -> int | None:
    """Where the options of an authorized_keys line end: the first blank outside quotes,
    as sshd's sshkey_advance_past_options finds it (`\\"` is skipped anywhere)."""
    quoted = False
    i = 0
    while i < len(line):
        c = line[i]
        if c == "\\" and line[i + 1 : i + 2] == '"':
            i += 1
        elif c == '"':
            quoted = not quoted
        elif c in " \t" and not quoted:
            return i
        i += 1
    return None if quoted else len(line)


# authorized_keys options as sshd parses them (auth-options.c, sshauthopt_parse): flags,
# case-insensitive, the second group also negated with "no-"; options with a quoted value.
_FLAGS = ("restrict", "cert-authority")
_NEGATABLE_FLAGS = (
    "port-forwarding",
    "agent-forwarding",
    "x11-forwarding",
    "touch-required",
    "verify-required",
    "pty",
    "user-rc",
)
_VALUED = (
    "command",
    "principals",
    "from",
    "expiry-time",
    "environment",
    "permitopen",
    "permitlisten",
    "tunnel",
)
_ONCE = frozenset({"command", "principals", "from"})  # sshd: 'multiple "command" clauses'
_PERMIT_MAX = 4096  # SSH_AUTHOPT_PERMIT_MAX
_ENV_MAX = 1024  # SSH_AUTHOPT_ENV_MAX
_TUNID_MAX = 0x7FFFFFFF - 2  # SSH_TUNID_MAX
_NI_MAXHOST = 1025
_ENV_NAME = re.compile(r"[A-Za-z0-9_]+")
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)  # strncasecmp


def options_problem(options: str) -> str | None:
    """Why sshd would refuse the options of an authorized_keys line (and so ignore the key),
    or None. The rules of sshauthopt_parse: known names, a `"` right after `=`, the closing
    quote followed by `,` or the end, no second command, principals or from; plus the checks
    it makes of expiry-time, environment, permitopen, permitlisten and tunnel values."""
    i, end, lower = 0, len(options), options.translate(_ASCII_LOWER)
    seen: dict[str, int] = {}
    env: set[str] = set()  # the distinct names sshd counts
    while i < end:
        flag = _flag_length(lower, i)
        name = None if flag else next((v for v in _VALUED if lower.startswith(v + "=", i)), None)
        if flag:
            i += flag
        elif name is None:
            if options[i] != ",":  # sshd skips an empty option (",,")
                return f"unknown option {shown(re.split('[,=]', options[i:], maxsplit=1)[0])}"
        else:
            if name in _ONCE and name in seen:
                return f'more than one {name}="..." (sshd ignores the key)'
            seen[name] = seen.get(name, 0) + 1
            if (name == "environment" and len(env) > _ENV_MAX) or (
                name.startswith("permit") and seen[name] > _PERMIT_MAX + 1
            ):
                return f"too many {name} options"
            value, i, problem = _dequote(options, i + len(name) + 1)
            if problem is None:
                problem = _VALUE_CHECKS.get(name, _any_value)(value)
            if problem:
                return f"{name}: {problem}"
            if name == "environment":
                env.add(value.partition("=")[0])
        if i == end:
            break
        if options[i] != ",":
            return f"{shown(options[i:])} after an option (expected ',' or the key)"
        i += 1  # a ',' right before the key is fine: sshd looks at the blank after it
    return None


def _flag_length(lower: str, i: int) -> int:
    """The length of the flag option at `lower[i:]` (sshd matches a prefix), 0 if none."""
    for flag in _FLAGS:
        if lower.startswith(flag, i):
            return len(flag)
    negated = 3 if lower.startswith("no-", i) else 0
    for flag in _NEGATABLE_FLAGS:
        if lower.startswith(flag, i + negated):
            return negated + len(flag)
    return 0


def _dequote(text: str, i: int) -> tuple[str, int, str | None]:
    """sshd's opt_dequote: the quoted value at `text[i:]` (`\\"` is a quote), where it ends."""
    if text[i : i + 1] != '"':
        return "", i, "missing start quote"
    i += 1
    value = []
    while i < len(text) and text[i] != '"':
        if text[i] == "\\" and text[i + 1 : i + 2] == '"':
            i += 1
        value.append(text[i])
        i += 1
    if i == len(text):
        return "", i, "missing end quote"
    return "".join(value), i + 1, None


def _any_value(_value: str) -> str | None:
    return None


def _expiry_problem(value: str) -> str | None:
    """parse_absolute_time: YYYYMMDD[HHMM[SS]], optionally followed by Z or UTC."""
    stamp = value
    if len(stamp) > 1 and stamp[-1:].upper() == "Z":
        stamp = stamp[:-1]
    elif len(stamp) > 3 and stamp[-3:].upper() == "UTC":
        stamp = stamp[:-3]
    if len(stamp) not in (8, 12, 14) or not (stamp.isascii() and stamp.isdigit()):
        return f"{shown(value)} is not YYYYMMDD[HHMM[SS]][Z]"
    parts = [int(stamp[:4]), *(int(stamp[i : i + 2]) for i in range(4, len(stamp), 2))]
    limits = [(0, 9999), (1, 12), (1, 31), (0, 23), (0, 59), (0, 61)]  # strptime's ranges
    if any(not low <= part <= high for part, (low, high) in zip(parts, limits, strict=False)):
        return f"{shown(value)} is not a valid time"
    return None


def _environment_problem(value: str) -> str | None:
    name, sep, _ = value.partition("=")
    if not sep or not _ENV_NAME.fullmatch(name):
        return f"{shown(value)} is not NAME=value (NAME of letters, digits and '_')"
    return None


def _permit_problem(value: str, *, bare_port: bool) -> str | None:
    """handle_permit: host:port (or [host]:port, host/port); permitlisten takes a bare port."""
    if bare_port and ":" not in value:
        value = f"*:{value}"
    if value.startswith("["):
        close = value.find("]")
        host, rest = (value[: close + 1], value[close + 1 :]) if close >= 0 else (None, "")
    else:
        cut = min((i for i in (value.find(":"), value.find("/")) if i >= 0), default=len(value))
        host, rest = value[:cut], value[cut:]
    if host is None or len(host) >= _NI_MAXHOST or rest[:1] not in ("", ":", "/"):
        return f"{shown(value)}: invalid host"
    port = rest[1:] if rest else None
    # sshd also takes a service name from its /etc/services; only numbers are accepted here
    if port != "*" and not (port and _number(port, 5) and 0 < int(port) < 65536):
        return f"{shown(value)}: the port must be 1-65535 or *"
    return None


def _number(text: str, digits: int) -> bool:
    """ASCII decimal digits, at most `digits` of them (int() of 5,000 digits raises)."""
    return len(text) <= digits and text.isascii() and text.isdigit()


def _tunnel_problem(value: str) -> str | None:
    if value.lower() == "any" or (_number(value, 10) and int(value) <= _TUNID_MAX):
        return None
    return f"{shown(value)} is not a tun device number or 'any'"


_VALUE_CHECKS: dict[str, Callable[[str], str | None]] = {
    "expiry-time": _expiry_problem,
    "environment": _environment_problem,
    "permitopen": partial(_permit_problem, bare_port=False),
    "permitlisten": partial(_permit_problem, bare_port=True),
    "tunnel": _tunnel_problem,
}


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
    return _HOST_CHARS.fullmatch(name) is not None or ip_key(name) is not None


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
    hashed = _hasher(salt_source)
    walls: dict[tuple, Defined] = {}  # the same key as `gathered`
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
            _known_hosts(inv, gathered[key], opts, hashed, lines, problems)
        lines.append("")
        files[kind] = header + "\n".join(lines)
        if not problems:  # the second wall: what was written is read back
            if key not in walls:
                walls[key] = Defined(inv, gathered[key], hashed)
            generated = "\n".join(lines[1:])
            problems += [f"generated {p}" for p in walls[key].problems(kind, generated, opts)]
    if problems:
        raise Refusal(problems)
    return files


class Refusal(InvalidInput):
    """`render_all` refusing: the inventory's problems (clashes first, as `check_unique`
    lists them), bad host keys, and lines of the generated part the second wall refused."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        count = counted(len(problems), "problem")
        super().__init__(f"inventory has {count}: {'; '.join(problems)}")


@dataclass(frozen=True)
class Checked:
    """One file as `ssh write` would write it, or why it cannot be written."""

    kind: str
    text: str  # the whole file ("" when it cannot be rendered)
    error: InvalidInput | None = None  # why it cannot be written (None: it can)
    header: list[LineProblem] = field(default_factory=list)  # the header's bad lines
    duplicates: list[LineProblem] = field(default_factory=list)  # `header_duplicates`


def header_duplicates(kind: str, inv: Inventory, opts: FileOptions) -> list[LineProblem]:
    """The known_hosts header's names of a host the generated part names too (a host name
    or IP of the inventory on the file's networks): ssh then reads the keys of both lines
    for it, which may differ. One problem per name; written anyway (a warning, not a
    refusal). Compared as ssh looks a host up: names without regard to case, IPv6 in its
    canonical form. Hashed names, patterns, `[host]:port` and `@revoked` lines are not."""
    if kind != "known_hosts":
        return []
    named = []  # (line number, line, name) of each plain name or IP of the header
    for number, line in enumerate(opts.header.split("\n"), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or _CONTROL.search(line):
            continue
        parsed = parse_known_hosts_line(stripped)
        if isinstance(parsed, KnownHostsLine) and parsed.marker != "@revoked":
            named += [(number, line, name) for name in parsed.names if _looked_up(name)]
    if not named:
        return []  # the common case: no need to gather the inventory's names
    try:
        networks = _networks(kind, inv, opts)
    except InvalidInput:  # render_all says why
        return []
    generated = {  # as ssh looks it up -> the host it is generated for
        _looked_up(name): host.name
        for host in inv.hosts
        for name in _names(inv, host, networks, opts.include_ips)
    }
    return [
        LineProblem(
            number, line, f"{shown(name)} is also generated from the inventory (host {label(host)})"
        )
        for number, line, name in named
        if (host := generated.get(_looked_up(name)))
    ]


def _looked_up(name: str) -> str | None:
    """A known_hosts name as ssh compares it with the host it connects to, None for what is
    not one plain host name or IP (a pattern, a hashed name, `[host]:port`)."""
    if ip := ip_key(name):
        return ip
    return name.lower() if _HOST_CHARS.fullmatch(name) else None


def check_files(inv: Inventory, options: Mapping[str, FileOptions]) -> dict[str, Checked]:
    """Every file as `ssh write` would write it, or why not: first what `render_all` refuses
    (the inventory, its host keys, the second wall), then the header's bad lines (with the
    file's `allow_patterns`); and the header's names the generated part has too
    (`header_duplicates`, not a refusal). `ssh write` and `ssh diff`, `qlutui check` and the menu's
    count all go through this one function, so they never disagree."""
    generated = [kind for kind in options if kind != "authorized_keys"]
    try:
        rendered: dict[str, str | InvalidInput] = dict(
            render_all(inv, {kind: options[kind] for kind in generated})
        )
    except InvalidInput as error:  # the inventory concerns every file but authorized_keys
        rendered = dict.fromkeys(generated, error)
    if "authorized_keys" in options:
        rendered.update(render_all(inv, {"authorized_keys": options["authorized_keys"]}))
    checked = {}
    for kind, opts in options.items():
        text = rendered[kind]
        header = validate_header(kind, opts.header, allow_patterns=opts.allow_patterns)
        duplicates = header_duplicates(kind, inv, opts)
        if isinstance(text, InvalidInput):
            checked[kind] = Checked(kind, "", text, header, duplicates)
        elif header:
            error = InvalidInput(f"header {problems_text(header)}")
            checked[kind] = Checked(kind, text, error, header, duplicates)
        else:
            checked[kind] = Checked(kind, text, duplicates=duplicates)
    return checked


def problems_text(problems: list[LineProblem]) -> str:
    """Bad lines for a one-line message, cut after PROBLEMS_SHOWN."""
    more = len(problems) - PROBLEMS_SHOWN
    text = "; ".join(str(p) for p in problems[:PROBLEMS_SHOWN])
    return text + (f" ... and {more} more" if more > 0 else "")


def _networks(kind: str, inv: Inventory, opts: FileOptions) -> list[Network]:
    if not opts.networks:
        return [n for n in inv.networks if n.ssh]
    known = {n.name: n for n in inv.networks}
    unknown = [name for name in opts.networks if name not in known]
    if unknown:
        names = ", ".join(shown(name) for name in unknown)
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
                # IPv6 in the form OpenSSH looks up (a valid IPv4 address already is it)
                ips.append(ip_key(ip) or ip if ":" in ip else ip)
    return list(dict.fromkeys(names + ips))


def _known_hosts(
    inv: Inventory,
    names_per_host: list[list[str]],
    opts: FileOptions,
    hashed: Callable[[str], str],
    lines: list[str],
    problems: list[str],
) -> None:
    """Append the generated known_hosts lines; append inventory problems found on the way."""
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
    keyless = []  # said in one line, the hosts folded: a fresh import has no keys at all
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
            keyless.append(host.name)
        elif opts.hashed:
            lines += [f"{hashed(name)} {key}" for key in keys for name in names]
        else:
            joined = ",".join(names)
            lines += [f"{joined} {key}" for key in keys]
    if keyless:
        problems.append(f"{fold(keyless)}: no host key (and no default host keys)")


@lru_cache(maxsize=1 << 16)
def _host_key(line: str) -> tuple[str, str | None]:
    """("keytype base64" without the comment, problem or None) for a host or CA key line."""
    fields = line.split()
    if len(fields) < 2:
        return "", "not a public key line ('keytype base64 [comment]')"
    return f"{fields[0]} {fields[1]}", _key_shape_problem(fields[0], fields[1], PLAIN_KEY_TYPES)


def _hasher(salt_source: SaltSource | None) -> Callable[[str], str]:
    """The hashed-name function of one rendering: one salt per name, so the second wall
    finds the same hashed names (the default salts are derived from the name anyway)."""
    return cache(partial(_hashed, salt_source=salt_source)) if salt_source else _default_hashed


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


# --- the second wall: the generated part read back ---------------------------------------


class Defined:
    """What the inventory defines for each host on a file's networks: its names and IPs, and
    its host keys. `problems` parses a generated part with the header parsers and refuses
    any line that is not one host's defined names (or IPs) with one of that host's keys, so
    a value that slipped through the inventory's checks (a newline, a comma, a `*`) cannot
    add a line or a name to the file."""

    def __init__(
        self,
        inv: Inventory,
        names_per_host: list[list[str]],
        hashed: Callable[[str], str] = _default_hashed,
    ) -> None:
        # name or IP -> index of the host defining it (names are unique: check_unique)
        self.owner = {name: i for i, names in enumerate(names_per_host) for name in names}
        self.names_per_host = names_per_host
        self.inv = inv
        self.hashed = hashed  # the hashed-name function the file was rendered with

    @classmethod
    def of(cls, kind: str, inv: Inventory, opts: FileOptions) -> Defined:
        """What `inv` defines for the file `kind` rendered with `opts` (default salts)."""
        networks = _networks(kind, inv, opts)
        names = [_names(inv, host, networks, opts.include_ips) for host in inv.hosts]
        return cls(inv, names)

    def problems(self, kind: str, generated: str, opts: FileOptions) -> list[LineProblem]:
        """Every line of `generated` (the text after the banner of a file rendered with
        `opts`) that the inventory does not define; line 1 is the first after the banner."""
        lines = generated.split("\n")
        if lines[-1] == "":
            lines.pop()  # the text after the final newline
        if kind == "shosts_equiv":
            # The common case at C speed: one plain host name or IP per line (what the header
            # parser accepts without a pattern), each one the inventory defines.
            if _PLAIN_HOSTS.fullmatch(generated) and self.owner.keys() >= set(lines):
                return []
            check = self._shosts_line
        else:
            check = self._known_hosts_line(opts)
        problems = []
        control = _CONTROL_NOT_NEWLINE.search(generated) is not None  # one pass for all lines
        for number, line in enumerate(lines, 1):
            bad = _CONTROL.search(line) if control else None
            reason = f"control character {ord(bad.group()):#04x}" if bad else check(line)
            if reason:
                problems.append(LineProblem(number, line, reason))
        return problems

    def _shosts_line(self, line: str) -> str | None:
        if line in self.owner and line[:1] not in "+-@" and _is_host_or_ip(line):
            return None  # the common case first: one plain name or IP the inventory defines
        if len(line.split()) != 1 or line != line.strip():
            return f"{shown(line)} is not one host name or IP"
        problem = _shosts_host_problem(line) or pattern_problem("shosts_equiv", line)
        return problem or f"{shown(line)} is not a name or IP of the inventory"

    def _known_hosts_line(self, opts: FileOptions) -> Callable[[str], str | None]:
        ca_key = _host_key(opts.ca_key)[0] if opts.ca_key else ""
        keys: dict[int, set[str]] = {}  # host index -> its bare keys, as lines ask
        lookup = self.owner
        if opts.hashed:  # hashed name -> host index
            lookup = {self.hashed(name): i for name, i in self.owner.items()}
        # The names of a host stand on one line per key: each names field is read once.
        owners: dict[str, int] = {}  # names field of a plain line already read -> host index

        def names_owner(parsed: KnownHostsLine) -> int | str:
            if parsed.marker != ("@cert-authority" if ca_key else ""):
                return f"unexpected marker {shown(parsed.marker)}"
            owner = lookup.get(parsed.names[0], -1)
            if owner >= 0 and parsed.names == self.names_per_host[owner]:
                return owner  # the common case: exactly one host's names, in one compare
            found = {lookup.get(name, -1) for name in parsed.names}
            if -1 in found:
                name = next(n for n in parsed.names if n not in lookup)
                return f"{shown(name)} is not a name or IP of the inventory"
            return found.pop() if len(found) == 1 or ca_key else "names of several hosts"

        def check(line: str) -> str | None:
            field, _, key = line.partition(" ")
            owner: int | str | None = owners.get(field)
            if owner is None:
                parsed = parse_known_hosts_line(line)
                if isinstance(parsed, str):
                    return parsed
                owner = names_owner(parsed)
                if isinstance(owner, str):
                    return owner
                key = parsed.key
                if not parsed.marker and ",".join(parsed.names) == field:
                    owners[field] = owner
            if ca_key:
                return None if key == ca_key else "not the configured host CA key"
            if owner not in keys:
                keys[owner] = {_host_key(k)[0] for k in self.inv.keys_of(self.inv.hosts[owner])}
            if key not in keys[owner]:
                return f"not a host key of {label(self.inv.hosts[owner].name)}"
            return None

        return check
