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
        return True if problem is None else problem

    return check


def select(message: str, choices: Sequence[tuple[str, T]], default: T | None = None) -> T:
    """Pick one of `choices` ((label, value) pairs); returns the value, never the label."""
    items = [Choice(title=label, value=value) for label, value in choices]
    chosen = next((item for item in items if item.value == default), None)
    result: Any = questionary.select(
        message, choices=items, default=chosen, style=STYLE, qmark="?"
    ).unsafe_ask()
    return result  # type: ignore[no-any-return]


def text(message: str, default: str = "", validate: Validator | None = None) -> str:
    result: str = questionary.text(
        message, default=default, validate=_validate(validate), style=STYLE, qmark="?"
    ).unsafe_ask()
    return result


def path(message: str, default: str = "", validate: Validator | None = None) -> str:
    """A directory path, completed with Tab or while typing; Enter always accepts the text.

    questionary.path's Enter only closes the completion menu when one is open, and the menu opens
    by itself after every `/`: whether Enter took the typed path then depended on typing speed.
    """
    from questionary.prompts.path import GreatUXPathCompleter

    result: str = questionary.text(
        message,
        default=default,
        validate=_validate(validate),
        style=STYLE,
        qmark="?",
        completer=GreatUXPathCompleter(only_directories=True, expanduser=True),
    ).unsafe_ask()
    return result


def secret(message: str, validate: Validator | None = None) -> str:
    """Hidden input; the typed text is never echoed."""
    result: str = questionary.password(
        message, validate=_validate(validate), style=STYLE, qmark="?"
    ).unsafe_ask()
    return result


def confirm(message: str, default: bool = True) -> bool:
    result: bool = questionary.confirm(
        message, default=default, style=STYLE, qmark="?"
    ).unsafe_ask()
    return result
