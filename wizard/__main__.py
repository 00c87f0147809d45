"""The process entry: the `wizard` console script and `python -m wizard`.

The first thing it does is take SIGTERM as Ctrl-C, before typer or anything else is imported:
until then Python's default action would kill the process mid-import. An interrupt that lands
while the command line is still being built (typer, a lazy import) ends the run as one that
lands later does: exit 130, one line, no traceback. `--version` is answered before that too.
Once the command has ended, SIGTERM is ignored: the exit code is decided, and Python's shutdown
would otherwise let it end the process as 143.
"""

import contextlib
import signal
import sys

EXIT_INTERRUPTED = 130


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    try:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN:  # an ignored one stays so
            signal.signal(signal.SIGTERM, _interrupt)
    except ValueError:  # not the main thread: signals belong to whoever runs us
        pass
    try:
        if sys.argv[1:] in (["--version"], ["-V"]):
            from wizard import __version__

            sys.stdout.write(f"wizard {__version__}\n")
            return
        from wizard import cli

        cli.main()
    except KeyboardInterrupt:
        # Printed without the UI module: after an interrupt inside an import, importing more
        # may fail on the half-initialised module it left behind.
        sys.stderr.write("error: interrupted: nothing was written\n")
        sys.exit(EXIT_INTERRUPTED)
    finally:
        # The run is over and its exit code decided. Python's shutdown, which follows, puts
        # the default action back on every signal it handled, and a SIGTERM then would end the
        # process as 143; an ignored signal it leaves ignored.
        with contextlib.suppress(ValueError, OSError):
            signal.signal(signal.SIGTERM, signal.SIG_IGN)


if __name__ == "__main__":
    main()
