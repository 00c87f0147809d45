"""The process entry: the `wizard` console script and `python -m wizard`.

The first thing it does is take SIGTERM and Ctrl-C (wizard.signals), before typer or anything
else is imported: until then Python's default action for SIGTERM would kill the process
mid-import. An interrupt that lands while the command line is still being built (typer, a lazy
import) ends the run as one that lands later does: exit 130, one line, no traceback. `--version`
is answered before that too. Once the run is over, SIGTERM and SIGINT (and SIGALRM, which
redelivers a dropped interrupt) are blocked until the process is gone.
"""

import sys

from wizard.signals import RUN, hold_interrupts, redeliver_dropped, take_interrupts

EXIT_INTERRUPTED = 130


def main() -> None:
    redeliver_dropped()
    take_interrupts()
    try:
        _run()
    finally:
        # The run is over (its output written, its exit code decided): a SIGTERM or Ctrl-C from
        # here on is ignored, then waits, blocked, and goes with the process. Unblocked, one
        # landing while Python shuts down (which puts the default actions back) would end it
        # with 143 instead.
        RUN.over = True
        hold_interrupts()


def _run() -> None:
    try:
        if sys.argv[1:] in (["--version"], ["-V"]):
            from wizard import __version__

            sys.stdout.write(f"wizard {__version__}\n")
            return
        from wizard import cli

        cli.main()
    except KeyboardInterrupt:
        RUN.over = True  # (a second one would cut the line below short)
        hold_interrupts()
        # Printed without the UI module: after an interrupt inside an import, importing more
        # may fail on the half-initialised module it left behind.
        sys.stderr.write("error: interrupted: nothing was written\n")
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    main()
