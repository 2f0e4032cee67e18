"""The command line run in-process, as a user runs it, for the misuse and write-rule suites.

Not a test module (its name does not start with ``test_``): ``setup.cfg`` puts ``tests/`` on
pytest's ``pythonpath`` so that those suites can ``from cli_helpers import run_main, refused``.
"""


def run_main(argv, capsys):
    """``main(argv)`` as the command line runs it: ``(exit code, stdout, stderr)``."""
    from micrograd_plus._plumbing.cli import main

    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's own errors (a bad flag value) exit 2 from parse_args
        rc = exc.code
    out = capsys.readouterr()
    return rc, out.out, out.err


def refused(argv, capsys, *words):
    """Exit code 2, no traceback, exactly one ``error:`` line on stderr, holding every word;
    returns that line."""
    rc, out, err = run_main(argv, capsys)
    assert rc == 2 and "Traceback" not in err, (rc, out[-1000:], err[-2000:])
    lines = [line for line in err.splitlines() if ": error: " in line]
    assert len(lines) == 1, err
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def sigint_as_default():
    """``preexec_fn`` for a child that a test stops with Ctrl-C (SIGINT): the child starts with
    SIGINT's default action, whatever pytest inherited. A shell without job control starts
    background commands (``pytest ... &``, ``nohup``) with SIGINT ignored, children inherit that,
    and Python then installs no KeyboardInterrupt handler: the test would wait 60 s for a child
    that never hears the signal, though the command handles Ctrl-C (seen in this suite)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
