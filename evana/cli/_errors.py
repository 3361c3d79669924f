"""How the CLI fails: one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import os
from typing import Any, NoReturn

import typer
from typer.core import TyperGroup

from evana.errors import AuthenticationError, EvanaError

__all__ = ["CliError", "EvanaGroup", "UsageError", "fail", "missing_extra"]


class CliError(EvanaError):
    """A problem the CLI explains in one line (missing file, missing extra); exit status 1."""


class UsageError(CliError):
    """The command line itself is wrong (a bad flag value, flags that exclude each other).

    Exit status 2, as for the flags Typer refuses itself (unknown option, a value of the wrong
    type), so a script can tell "called wrongly" from "failed".
    """


def missing_extra(module: str, extra: str) -> CliError:
    """The error for a command whose optional dependencies are not installed."""
    return CliError(f"this command needs {module}: pip install 'evana[{extra}]'")


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``evana: error: <message>`` on stderr and exit with ``code``."""
    typer.echo(f"evana: error: {message}", err=True)
    raise typer.Exit(code)


def _explain(error: EvanaError) -> str:
    if isinstance(error, AuthenticationError):
        return f"{error.detail} (set EVANA_API_KEY or pass --api-key)"
    detail = getattr(error, "detail", None)
    if isinstance(detail, str):
        return detail
    return str(error)


def _is_usage_error(error: typer.TyperException) -> bool:
    # Typer's UsageError is not public; Typer itself tells NoArgsIsHelpError (the help of a
    # bare group, not an error) by its name.
    return (
        getattr(error, "exit_code", None) == 2
        and hasattr(error, "format_message")
        and type(error).__name__ != "NoArgsIsHelpError"
    )


def _usage(error: Any) -> str:
    message = " ".join(str(error.format_message()).split())
    ctx = getattr(error, "ctx", None)
    return f"{message} (see '{ctx.command_path} --help')" if ctx is not None else message


class EvanaGroup(TyperGroup):
    """Every command runs inside this group's ``invoke``: errors become one clear line."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort):
            raise
        except typer.TyperException as error:
            if _is_usage_error(error):
                fail(_usage(error), code=2)
            raise  # help shown for a bare group, and the like: Typer's to print
        except UsageError as error:
            fail(_explain(error), code=2)
        except EvanaError as error:
            fail(_explain(error))
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        except Exception as error:
            if os.environ.get("EVANA_DEBUG"):
                raise
            fail(f"unexpected {type(error).__name__}: {error} (EVANA_DEBUG=1 shows the traceback)")
