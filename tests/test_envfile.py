""".env quoting, parsing and minimal updates, checked against the real readers.

Every written value is read back by python-dotenv (`dotenv_values(..., interpolate=False)`, as the
wizard reads) and by the real docker compose binary (`docker-compose config --format json`, as the
stack reads). A compose run costs tens of milliseconds, so each check batches many keys into one.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml
from dotenv import dotenv_values
from helpers import compose_binary, python_lines
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wizard.stack.envfile import (
    EnvEntry,
    EnvParseError,
    EnvValueError,
    format_line,
    parse_env,
    quote_value,
    read_env,
    update_env,
)

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = (REPO / "templates" / "env.template").read_text(encoding="utf-8")
WIZARD_KEYS = [
    "COMPOSE_FILE",
    "USE_GPU",
    "CUDA_VISIBLE_DEVICES",
    "LOG_LEVEL",
    "BIND_ADDRESS",
    "POSTGRES_MODE",
    "POSTGRES_HOST",
    "POSTGRES_PORT",
    "POSTGRES_DB",
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
    "POSTGRES_PASSWORD_PENDING",
    "POSTGRES_SSLMODE",
    "POSTGRES_SSLROOTCERT",
    "POSTGRES_HOST_PORT",
    "POSTGRES_BUNDLED_PASSWORD",
    "DATABASE_URL",
    "DOCUMENT_PATH",
    "DOCUMENT_PATHS",
    "JWT_SECRET_KEY",
    "ACCESS_TOKEN_EXPIRE_MINUTES",
    "REDIS_PASSWORD",
    "QDRANT_API_KEY",
    "CONNECTOR_SECRETS_KEY",
    "INTERNAL_API_KEY",
]
# Recognisable text that must never show up in an error message.
SECRET = "Zq9SecretMarker"


COMPOSE = compose_binary()


def read_back(env_text: str, keys: list[str]) -> tuple[dict[str, str | None], dict[str, str]]:
    """What python-dotenv and docker compose read for `keys` from a .env holding `env_text`.

    compose gets a service whose environment is `KEY: ${KEY?unset}` for each key, so a key compose
    does not find fails the run instead of reading as empty.
    """
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        env_path = root / ".env"
        env_path.write_text(env_text, encoding="utf-8", newline="")
        environment = {key: f"${{{key}?unset}}" for key in keys}
        service = {"image": "alpine", "environment": environment}
        (root / "compose.yaml").write_text(yaml.safe_dump({"services": {"app": service}}))
        from_dotenv = dict(dotenv_values(env_path, interpolate=False))
        # Only PATH: a variable in compose's own environment would win over the .env.
        run = subprocess.run(
            [str(COMPOSE), "-p", "envtest", "-f", "compose.yaml", "config", "--format", "json"],
            cwd=root,
            env={"PATH": os.environ.get("PATH", "")},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert run.returncode == 0 and run.stdout.startswith("{"), run.stderr
    printed = json.loads(run.stdout)["services"]["app"]["environment"]
    # compose prints every literal `$` as `$$`.
    from_compose = {key: value.replace("$$", "$") for key, value in printed.items()}
    return from_dotenv, from_compose


def assert_both_read(values: Mapping[str, str]) -> None:
    """Write `values` with format_line into one .env; both parsers must read each one exactly."""
    text = "".join(format_line(key, value) for key, value in values.items())
    from_dotenv, from_compose = read_back(text, list(values))
    for key, value in values.items():
        assert from_dotenv.get(key) == value, f"python-dotenv misread {key}"
        assert from_compose.get(key) == value, f"docker compose misread {key}"


def refusal(key: str, value: str) -> str:
    with pytest.raises(EnvValueError) as caught:
        quote_value(key, value)
    return str(caught.value)


# --- values survive both readers -----------------------------------------------------------------

TRICKY_PASSWORDS = {
    "PW_DOLLARS_SPACE_QUOTE": "pa$$ w'rd",
    "PW_HOME": "$HOME",
    "PW_BRACED": "${X}",
    "PW_DEFAULT_SYNTAX": "${X:-fallback}",
    "PW_DOUBLE_DOLLAR": "$$",
    "PW_BACKSLASH": "a\\b",
    "PW_DOUBLE_BACKSLASH": "a\\\\b",
    "PW_ENDS_IN_BACKSLASH": "ends\\",
    "PW_BACKSLASH_QUOTE": "\\'",
    "PW_BACKSLASH_DOUBLE_QUOTE": '\\"',
    "PW_BACKSLASH_N": "a\\nb",
    "PW_SINGLE_QUOTE": "it's",
    "PW_DOUBLE_QUOTE": 'say "hi"',
    "PW_BOTH_QUOTES": "'\"'\"",
    "PW_HASH": "#not-a-comment",
    "PW_SPACE_HASH": "a #b",
    "PW_SPACES": "  spaced  ",
    "PW_EQUALS": "a=b==",
    "PW_DOLLAR_LONE_BACKSLASH": "$a\\b",
    "PW_DOLLAR_BACKSLASH_DOLLAR": "\\$x",
    "PW_DOLLAR_BACKSLASH_DQUOTE": '$a\\"',
    "PW_DOLLAR_QUOTE": "$'",
    "PW_BACKTICK": "`id`",
    "PW_UNICODE": "pässwörd €\u00a0\u2028😀",
    "PW_EMPTY": "",
}


def test_passwords_with_shell_and_quote_characters_survive_dotenv_and_compose() -> None:
    assert_both_read(TRICKY_PASSWORDS)


def test_password_with_dollar_survives_compose() -> None:
    assert_both_read({"POSTGRES_PASSWORD": "pa$$ w'rd$HOME${X}"})


def test_password_with_backslashes_survives_compose() -> None:
    assert_both_read({"POSTGRES_PASSWORD": 'a\\b\\\\c\\"d'})


def test_password_ending_in_backslash_is_written_bare_and_survives() -> None:
    assert quote_value("POSTGRES_PASSWORD", "ends\\") == "ends\\"
    # The line after it must still be read: a quoted final backslash would swallow it.
    text = format_line("POSTGRES_PASSWORD", "a\\b\\") + format_line("NEXT", "still here")
    from_dotenv, from_compose = read_back(text, ["POSTGRES_PASSWORD", "NEXT"])
    assert from_dotenv == {"POSTGRES_PASSWORD": "a\\b\\", "NEXT": "still here"}
    assert from_compose == from_dotenv


def test_empty_value_is_written_as_empty_quotes() -> None:
    assert format_line("POSTGRES_SSLROOTCERT", "") == "POSTGRES_SSLROOTCERT=''\n"


def test_generated_secrets_need_no_escapes() -> None:
    assert quote_value("JWT_SECRET_KEY", "0123abcdef" * 6) == "'" + "0123abcdef" * 6 + "'"


# --- values that .env cannot hold are refused, naming the key but not the value ------------------


@pytest.mark.parametrize(
    ("value", "mentions"),
    [
        (f"{SECRET}\nsecond line", "newline"),
        (f"{SECRET}\r", "carriage return"),
        (f"{SECRET}\t", "tab"),
        (f"{SECRET}\0", "NUL"),
        (f"{SECRET}\x1b[0m", "control character"),
        (f"{SECRET}\udcff", "UTF-8"),
        (f"{SECRET}$x\\\\y", "'$'"),
        (f"{SECRET}$x\\'y", "'$'"),
        (f"{SECRET}$x\\", "backslash"),
        (f"{SECRET} x\\", "backslash"),
        (f"{SECRET}#\\", "backslash"),
        (f"{SECRET}'\\", "backslash"),
        (f'{SECRET}"\\', "backslash"),
    ],
)
def test_unwritable_password_is_refused_without_echoing_it(value: str, mentions: str) -> None:
    message = refusal("POSTGRES_PASSWORD", value)
    assert message.startswith("POSTGRES_PASSWORD: ")
    assert mentions in message
    assert SECRET not in message
    assert "\n" not in message


def test_refusal_says_which_characters_to_avoid() -> None:
    message = refusal("POSTGRES_PASSWORD", "pa$$\\\\word")
    assert "avoid '$' or those backslash pairs" in message


def test_key_that_is_not_a_variable_name_is_refused() -> None:
    for key in ("1ABC", "MY-KEY", "A B", "", "KEY=X"):
        with pytest.raises(EnvValueError):
            format_line(key, "value")


# --- property: whatever quote_value accepts, both readers read back ------------------------------

TRICKY = "$$$\\\\\\'''\"\"\"## {}:=`~!é€\u00a0\u2028\t\n"
VALUE_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(TRICKY),
        st.characters(min_codepoint=0x20, max_codepoint=0x7E),
        st.characters(codec="utf-8"),
    ),
    max_size=12,
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(VALUE_TEXT, min_size=1, max_size=25))
def test_every_accepted_value_round_trips_and_every_refusal_hides_the_value(
    values: list[str],
) -> None:
    accepted: dict[str, str] = {}
    for index, value in enumerate(values):
        key = f"K{index}"
        try:
            quote_value(key, value)
        except EnvValueError:
            # Letters in front neither create nor break a refused pattern, so the marked value is
            # refused too, and its message must show neither the marker nor the value.
            message = refusal(key, SECRET + value)
            assert message.startswith(f"{key}: ")
            assert SECRET not in message and "\n" not in message
        else:
            accepted[key] = value
    if accepted:
        assert_both_read(accepted)


# --- parsing -------------------------------------------------------------------------------------

HAND_EDITED = (
    "\ufeff# my notes\r\n"
    "\n"
    "export  FIRST=1\n"
    "   INDENTED = 'two' # trailing comment\n"
    "\n\n"
    "   # indented comment\n"
    'MULTI="line one\nline two"\n'
    "EMPTY=\n"
    "BARE=a b c   \n"
    "CRLF='x'\r\n"
    "FIRST=override\n"
    "LAST=no newline"
)


def test_parse_gives_back_the_file_byte_for_byte() -> None:
    items = parse_env(HAND_EDITED)
    assert "".join(i if isinstance(i, str) else i.text for i in items) == HAND_EDITED


def test_parse_reads_what_dotenv_reads() -> None:
    expected = dotenv_values(stream=io.StringIO(HAND_EDITED), interpolate=False)
    assert read_env(HAND_EDITED) == expected
    assert read_env(HAND_EDITED)["FIRST"] == "override"


def test_parse_entries_start_at_their_own_line_with_their_line_number() -> None:
    entries = [i for i in parse_env(HAND_EDITED) if isinstance(i, EnvEntry)]
    found = {(e.key, e.line, e.text) for e in entries}
    assert ("INDENTED", 4, "   INDENTED = 'two' # trailing comment\n") in found
    assert ("MULTI", 8, 'MULTI="line one\nline two"\n') in found
    assert ("EMPTY", 10, "EMPTY=\n") in found
    assert ("LAST", 14, "LAST=no newline") in found


LINE = st.one_of(
    st.builds(lambda v: "# " + v, st.text(st.characters(codec="utf-8", exclude_categories=["Cc"]))),
    st.sampled_from(["", "   ", "\t"]),
    st.builds(
        lambda key, value: format_line(key, value).rstrip("\n"),
        st.sampled_from(["A", "B", "POSTGRES_PASSWORD", "_x1"]),
        VALUE_TEXT.filter(lambda v: _accepted(v)),
    ),
    st.sampled_from(["export A=1", "B = two words # c", "C=x#y", "  D='q' ", 'E=""']),
)


def _accepted(value: str) -> bool:
    try:
        quote_value("K", value)
    except EnvValueError:
        return False
    return True


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(st.lists(LINE, max_size=12), st.sampled_from(["\n", "\r\n"]), st.booleans())
def test_any_valid_file_parses_back_exactly(lines: list[str], newline: str, final: bool) -> None:
    text = newline.join(lines) + (newline if final and lines else "")
    items = parse_env(text)
    assert "".join(i if isinstance(i, str) else i.text for i in items) == text
    assert read_env(text) == dotenv_values(stream=io.StringIO(text), interpolate=False)


def test_malformed_lines_are_all_reported_at_once_with_line_numbers() -> None:
    text = (
        "GOOD=1\n"  # 1
        f"={SECRET}\n"  # 2
        "# fine\n"  # 3
        f"OPEN='{SECRET}\n"  # 4
        "ALSO_GOOD=2\n"  # 5
        f"JUNK='{SECRET}'{SECRET}\n"  # 6
        "NOVALUE\n"  # 7
        f"'QUOTED'={SECRET}\n"  # 8
        f"yaml: {SECRET}\n"  # 9
        f"# comment\rHIDDEN={SECRET}\n"  # 10, 11
    )
    with pytest.raises(EnvParseError) as caught:
        parse_env(text)
    problems = caught.value.problems
    assert [p.split(":", 1)[0] for p in problems] == [
        "line 2",
        "line 4",
        "line 6",
        "line 7",
        "line 8",
        "line 9",
        "line 10",
    ]
    assert "no name before '='" in problems[0]
    assert "not closed on its line" in problems[1]
    assert "text follows the closing '" in problems[2]
    assert problems[3].startswith("line 7: has no '='; write it as KEY=value")
    assert "docker compose refuses" in problems[4]
    assert "carriage return" in problems[6]
    assert all(SECRET not in p for p in problems)


def test_unreadable_file_error_lists_every_problem_in_its_message() -> None:
    with pytest.raises(EnvParseError) as caught:
        read_env("=a\n=b\n")
    assert str(caught.value) == "\n".join(caught.value.problems)
    assert len(caught.value.problems) == 2


# --- updating ------------------------------------------------------------------------------------

VALUES = {
    "COMPOSE_FILE": "docker-compose.yml:docker-compose.postgres.yml:docker-compose.override.yml",
    "USE_GPU": "false",
    "CUDA_VISIBLE_DEVICES": "0,1",
    "LOG_LEVEL": "INFO",
    "BIND_ADDRESS": "127.0.0.1",
    "POSTGRES_MODE": "bundled",
    "POSTGRES_HOST": "postgres",
    "POSTGRES_PORT": "5432",
    "POSTGRES_DB": "docsearch",
    "POSTGRES_USER": "docsearch",
    "POSTGRES_PASSWORD": "pa$$ w'rd",
    "POSTGRES_PASSWORD_PENDING": "",
    "POSTGRES_SSLMODE": "prefer",
    "POSTGRES_SSLROOTCERT": "",
    "POSTGRES_HOST_PORT": "5432",
    "POSTGRES_BUNDLED_PASSWORD": "",
    "DATABASE_URL": "postgresql://docsearch:pa%24%24%20w%27rd@postgres:5432/docsearch",
    "DOCUMENT_PATH": "/srv/my docs/a",
    "DOCUMENT_PATHS": "/mnt/docs,/mnt/docs-b",
    "JWT_SECRET_KEY": "ab" * 32,
    "ACCESS_TOKEN_EXPIRE_MINUTES": "1440",
    "REDIS_PASSWORD": "cd" * 32,
    "QDRANT_API_KEY": "ef" * 32,
    "CONNECTOR_SECRETS_KEY": "q3Vb0mN1kE5yL8sT2wX6zA9cF4hJ7pR0uI3oK6lM1nQ=",
    "INTERNAL_API_KEY": "12" * 32,
}


def fresh() -> str:
    return update_env(TEMPLATE, VALUES, TEMPLATE)


def changed_lines(old: str, new: str) -> list[tuple[str, str]]:
    old_lines, new_lines = old.splitlines(keepends=True), new.splitlines(keepends=True)
    assert len(old_lines) == len(new_lines)
    return [(a, b) for a, b in zip(old_lines, new_lines, strict=True) if a != b]


def test_template_documents_every_wizard_key_in_order() -> None:
    entries = [i for i in parse_env(TEMPLATE) if isinstance(i, EnvEntry)]
    assert [e.key for e in entries] == WIZARD_KEYS
    assert all(e.value == "" and e.text == f"{e.key}=\n" for e in entries)
    lines = TEMPLATE.splitlines()
    for entry in entries:
        assert lines[entry.line - 2].startswith("# "), f"{entry.key} has no comment above it"
    assert TEMPLATE.startswith("# ")
    assert "0600" in TEMPLATE.split("\n\n")[0]


def test_fresh_env_is_read_by_dotenv_and_compose_as_the_wizard_meant() -> None:
    text = fresh()
    from_dotenv, from_compose = read_back(text, WIZARD_KEYS)
    assert from_dotenv == VALUES
    # COMPOSE_FILE is compose's own setting; the others are what the stack's services see.
    assert {k: v for k, v in from_compose.items() if k != "COMPOSE_FILE"} == {
        k: v for k, v in VALUES.items() if k != "COMPOSE_FILE"
    }


def test_fresh_env_keeps_the_template_comments_and_header() -> None:
    text = fresh()
    template_comments = [line for line in TEMPLATE.splitlines() if line.startswith("#")]
    assert [line for line in text.splitlines() if line.startswith("#")] == template_comments
    assert len(text.splitlines()) == len(TEMPLATE.splitlines())


def test_rerun_with_same_answers_leaves_the_file_byte_identical() -> None:
    text = fresh()
    assert update_env(text, VALUES, TEMPLATE) == text


def test_rerun_changing_log_level_changes_exactly_that_line() -> None:
    old = fresh()
    new = update_env(old, {**VALUES, "LOG_LEVEL": "DEBUG"}, TEMPLATE)
    assert changed_lines(old, new) == [("LOG_LEVEL='INFO'\n", "LOG_LEVEL='DEBUG'\n")]


def test_rerun_changing_password_changes_exactly_its_two_lines() -> None:
    old = fresh()
    values = {
        **VALUES,
        "POSTGRES_PASSWORD": "n3w\\pass",
        "DATABASE_URL": VALUES["DATABASE_URL"].replace("pa%24%24%20w%27rd", "n3w%5Cpass"),
    }
    new = update_env(old, values, TEMPLATE)
    changes = changed_lines(old, new)
    assert [b for _, b in changes] == [
        'POSTGRES_PASSWORD="n3w\\\\pass"\n',
        "DATABASE_URL='postgresql://docsearch:n3w%5Cpass@postgres:5432/docsearch'\n",
    ]
    assert read_env(new) == values


def test_hand_added_keys_and_comments_survive_byte_identical() -> None:
    mine = '\n# added by ops: keep\nSMTP_TOKEN="s3cr3t\\n"  # their own quoting\nexport X=1\n'
    old = fresh() + mine
    new = update_env(old, {**VALUES, "USE_GPU": "true"}, TEMPLATE)
    assert new.endswith(mine)
    assert changed_lines(old, new) == [("USE_GPU='false'\n", "USE_GPU='true'\n")]


def test_unchanged_entries_keep_their_quoting_style() -> None:
    old = '# mine\nLOG_LEVEL=INFO\nPOSTGRES_HOST = "postgres"\n'
    values = {"LOG_LEVEL": "INFO", "POSTGRES_HOST": "postgres"}
    assert update_env(old, values, TEMPLATE) == old


def test_missing_key_is_appended_with_its_template_comment() -> None:
    old = "# an old install\nLOG_LEVEL=INFO\n"
    new = update_env(old, {"LOG_LEVEL": "INFO", "JWT_SECRET_KEY": "ab" * 32}, TEMPLATE)
    comment = (
        "# Secret that signs access tokens (generated by the wizard). "
        "Rotating it signs every user out.\n"
    )
    assert comment in TEMPLATE
    assert new == old + "\n" + comment + f"JWT_SECRET_KEY='{'ab' * 32}'\n"


def test_missing_keys_are_appended_in_template_order_each_after_a_blank_line() -> None:
    old = "LOG_LEVEL=INFO"  # no final newline
    new = update_env(old, {"ACCESS_TOKEN_EXPIRE_MINUTES": "60", "USE_GPU": "true"}, TEMPLATE)
    assert new.startswith("LOG_LEVEL=INFO\n\n# Run the models on an NVIDIA GPU")
    assert new.index("USE_GPU=") < new.index("ACCESS_TOKEN_EXPIRE_MINUTES=")
    assert "'true'\n\n# Minutes an access token stays valid" in new
    assert read_env(new) == {
        "LOG_LEVEL": "INFO",
        "USE_GPU": "true",
        "ACCESS_TOKEN_EXPIRE_MINUTES": "60",
    }


def test_key_not_in_template_is_appended_without_comment() -> None:
    assert update_env("A=1\n", {"EXTRA": "x"}, TEMPLATE) == "A=1\n\nEXTRA='x'\n"


def test_empty_file_gets_keys_without_a_leading_blank_line() -> None:
    assert update_env("", {"EXTRA": "x"}, TEMPLATE) == "EXTRA='x'\n"


def test_repeated_key_changes_the_occurrence_that_counts() -> None:
    old = "LOG_LEVEL=INFO\n# later override\nLOG_LEVEL=WARNING\n"
    new = update_env(old, {"LOG_LEVEL": "ERROR"}, TEMPLATE)
    assert new == "LOG_LEVEL=INFO\n# later override\nLOG_LEVEL='ERROR'\n"
    assert read_env(new)["LOG_LEVEL"] == "ERROR"


def test_changed_line_keeps_windows_line_ending_and_missing_final_newline() -> None:
    old = "A=1\r\nB=2"
    assert update_env(old, {"A": "x", "B": "y"}, TEMPLATE) == "A='x'\r\nB='y'"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("LOG_LEVEL=WARNING # mine\n", "LOG_LEVEL='DEBUG' # mine\n"),
        ("LOG_LEVEL='WARNING'\t#  mine, with 'quotes' # and more\n",
         "LOG_LEVEL='DEBUG'\t#  mine, with 'quotes' # and more\n"),
        ("export LOG_LEVEL=WARNING\r\n", "export LOG_LEVEL='DEBUG'\r\n"),
        ("  export  LOG_LEVEL = \"WARN#NG\" # mine", "  export  LOG_LEVEL='DEBUG' # mine"),
        ("LOG_LEVEL=WARN#NG\n", "LOG_LEVEL='DEBUG'\n"),  # a '#' inside a bare value
    ],
    ids=["bare", "quoted", "export", "export-spaced", "hash-in-value"],
)  # fmt: skip
def test_rewritten_line_keeps_its_inline_comment_and_export(old: str, new: str) -> None:
    assert update_env(old, {"LOG_LEVEL": "DEBUG"}, TEMPLATE) == new
    assert read_env(new) == {"LOG_LEVEL": "DEBUG"}
    assert read_back(new, ["LOG_LEVEL"])[1] == {"LOG_LEVEL": "DEBUG"}


def test_unwritable_value_is_refused_before_anything_is_rendered() -> None:
    with pytest.raises(EnvValueError) as caught:
        update_env(fresh(), {**VALUES, "POSTGRES_PASSWORD": f"{SECRET}\n"}, TEMPLATE)
    assert "POSTGRES_PASSWORD" in str(caught.value) and SECRET not in str(caught.value)


def test_update_of_malformed_file_reports_its_lines() -> None:
    with pytest.raises(EnvParseError) as caught:
        update_env("GOOD=1\n=oops\n", {"GOOD": "2"}, TEMPLATE)
    assert caught.value.problems[0].startswith("line 2: ")


def test_the_dotenv_parser_is_loaded_without_the_rest_of_python_dotenv() -> None:
    # dotenv's __init__ imports its whole API (logging, tempfile): 7 ms of a setup's start.
    code = (
        "import sys\n"
        "from wizard.stack.envfile import read_env\n"
        "assert read_env('A=1\\nB=\"x y\" # note\\n') == {'A': '1', 'B': 'x y'}\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] == 'dotenv'))\n"
        "import dotenv\n"
        "from wizard.stack.dotenv_parser import parser\n"
        "print(dotenv.main.parse_stream is parser().parse_stream)\n"
        "print(dict(dotenv.dotenv_values(stream=__import__('io').StringIO('C=3'))))\n"
    )
    assert python_lines(code) == ["['dotenv.parser']", "True", "{'C': '3'}"]
