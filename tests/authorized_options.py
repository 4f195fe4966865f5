"""authorized_keys option strings sshd accepts and refuses (auth-options.c, sshauthopt_parse),
with the reason qlutui gives: the unit tests check the validator against them, and
tests/backend/test_sshfiles_openssh.py proves each against a real sshd (a login)."""

SSHD_ACCEPTS = [
    "restrict",
    "restrict,pty",
    "NO-PTY,No-X11-Forwarding,no-agent-forwarding,no-port-forwarding,no-user-rc",
    'command="true"',
    'command="echo \\"hi there\\"",restrict',
    'from="127.0.0.1,::1"',
    'environment="LANG=C",environment="LANG=de"',
    'expiry-time="20991231"',
    'expiry-time="209912312359Z"',
    'permitopen="localhost:22",permitopen="[::1]:*",permitlisten="8080"',
    'tunnel="1"',
    "restrict,,pty",  # sshd skips an empty option
    ",restrict",
    "restrict,",  # the blank after the ',' ends the options
]
SSHD_REFUSES = {
    'command="true"b': "'b' after an option (expected ',' or the key)",
    'command="a",command="b"': 'more than one command="..." (sshd ignores the key)',
    'from="10.0.0.1",from="127.0.0.1"': 'more than one from="..." (sshd ignores the key)',
    'principals="a",principals="b"': 'more than one principals="..." (sshd ignores the key)',
    "nopty": "unknown option 'nopty'",
    "no-restrict": "unknown option 'no-restrict'",
    "pty=yes": "'=yes' after an option (expected ',' or the key)",
    "command=true": "command: missing start quote",
    'expiry-time="2099"': "expiry-time: '2099' is not YYYYMMDD[HHMM[SS]][Z]",
    'expiry-time="20991331"': "expiry-time: '20991331' is not a valid time",
    'environment="1-A=b"': (
        "environment: '1-A=b' is not NAME=value (NAME of letters, digits and '_')"
    ),
    'permitopen="localhost"': "permitopen: 'localhost': the port must be 1-65535 or *",
    'permitopen="localhost:0"': "permitopen: 'localhost:0': the port must be 1-65535 or *",
    'permitlisten="99999999999999999999999"': (
        "permitlisten: '*:99999999999999999999999': the port must be 1-65535 or *"
    ),
    'tunnel="x"': "tunnel: 'x' is not a tun device number or 'any'",
}
