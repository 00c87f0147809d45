"""The one module that talks to questionary.

Every prompt uses `unsafe_ask()`, so Ctrl-C raises KeyboardInterrupt (the CLI turns it into exit
130 with nothing written) instead of questionary's silent None. Choices carry enum values; labels
are only for people.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import questionary
from questionary import Choice, Style

T = TypeVar("T")

STYLE = Style(
    [
        ("qmark", "fg:#5f87d7 bold"),
        ("question", "bold"),
        ("answer", "fg:#5faf5f bold"),
        ("pointer", "fg:#5f87d7 bold"),
        ("highlighted", "fg:#5f87d7 bold"),
        ("instruction", "fg:#808080"),
    ]
)

Validator = Callable[[str], str | None]


def _validate(rule: Validator | None) -> Callable[[str], bool | str]:
    def check(text: str) -> bool | str:
        if rule is None:
            return True
        problem = rule(text)
        return True if problem is None else _folded(problem)

    return check


def _folded(problem: str) -> str:
    """`problem` in lines that end between words and fit the terminal (the toolbar that shows
    it wraps only at the edge, mid-word)."""
    import shutil
    import textwrap

    width = max(shutil.get_terminal_size().columns - 1, 20)
    return textwrap.fill(problem, width, break_long_words=False, break_on_hyphens=False)


def _clearing(rule: Validator | None) -> Any:
    """A validator for hidden input that also empties the field when it refuses: the person
    cannot see what is left in it, and new keys would be appended to the refused text. (Typing
    ahead stays inside the prompt, which never echoes, as re-asking would not: between two
    prompts the terminal echoes what is typed.)"""
    from prompt_toolkit.application import get_app
    from prompt_toolkit.validation import ValidationError
    from prompt_toolkit.validation import Validator as ToolkitValidator

    class Clearing(ToolkitValidator):
        def validate(self, document: Any) -> None:
            problem = None if rule is None else rule(document.text)
            if problem is not None:
                get_app().current_buffer.reset()
                raise ValidationError(cursor_position=0, message=_folded(problem))

    return Clearing()


def _wrapped_errors(question: Any) -> Any:
    """`question` with its validation message wrapped over as many lines as it needs: the
    toolbar prompt_toolkit gives it is one line high, which cuts a long message at the
    terminal's edge."""
    from prompt_toolkit.filters import to_filter
    from prompt_toolkit.layout import FormattedTextControl, Window
    from prompt_toolkit.widgets.toolbars import ValidationToolbar

    for container in question.application.layout.walk():
        if isinstance(container, Window) and isinstance(container.content, FormattedTextControl):
            # The toolbar's text is a function defined inside ValidationToolbar.__init__.
            text = getattr(container.content.text, "__qualname__", "")
            if text.startswith(f"{ValidationToolbar.__qualname__}."):
                container.height = None
                container.wrap_lines = to_filter(True)
    return question


def select(message: str, choices: Sequence[tuple[str, T]], default: T | None = None) -> T:
    """Pick one of `choices` ((label, value) pairs); returns the value, never the label."""
    items = [Choice(title=label, value=value) for label, value in choices]
    chosen = next((item for item in items if item.value == default), None)
    result: Any = questionary.select(
        message, choices=items, default=chosen, style=STYLE, qmark="?"
    ).unsafe_ask()
    return result  # type: ignore[no-any-return]


def text(message: str, default: str = "", validate: Validator | None = None) -> str:
    result: str = _wrapped_errors(
        questionary.text(
            message, default=default, validate=_validate(validate), style=STYLE, qmark="?"
        )
    ).unsafe_ask()
    return result


def path(message: str, default: str = "", validate: Validator | None = None) -> str:
    """A directory path, completed with Tab or while typing; Enter always accepts the text.

    questionary.path's Enter only closes the completion menu when one is open, and the menu opens
    by itself after every `/`: whether Enter took the typed path then depended on typing speed.
    """
    from questionary.prompts.path import GreatUXPathCompleter

    result: str = _wrapped_errors(
        questionary.text(
            message,
            default=default,
            validate=_validate(validate),
            style=STYLE,
            qmark="?",
            completer=GreatUXPathCompleter(only_directories=True, expanduser=True),
        )
    ).unsafe_ask()
    return result


def secret(message: str, validate: Validator | None = None) -> str:
    """Hidden input; the typed text is never echoed, and text `validate` refuses is cleared."""
    result: str = _wrapped_errors(
        questionary.password(
            message,
            validate=_clearing(validate),
            # Checked on Enter only: checked while typing, every key would clear the field.
            validate_while_typing=False,
            style=STYLE,
            qmark="?",
        )
    ).unsafe_ask()
    return result


def confirm(message: str, default: bool = True) -> bool:
    result: bool = questionary.confirm(
        message, default=default, style=STYLE, qmark="?"
    ).unsafe_ask()
    return result
