"""How the CLI reports failures: one clear line, the field violations, and a meaningful exit code.

Exit codes: 0 success, 1 the user has to change something (bad input, unknown id, refused request),
2 a service could not be reached (with a hint to start the platform), 130 interrupted.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import grpc
import typer
from resonanz_sdk.errors import ResonanzError, ValidationError
from resonanz_sdk.grpc import field_violations
from rich.console import Console
from rich.markup import escape

EXIT_USER_ERROR = 1
EXIT_UNAVAILABLE = 2
EXIT_INTERRUPTED = 130

#: Status codes that mean "nobody answered", not "your request is wrong".
_UNREACHABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


def stderr() -> Console:
    """A console on the current ``sys.stderr`` (looked up per call, so test runners can capture it)."""
    return Console(stderr=True, highlight=False)


def _print_violations(
    console: Console, violations: Iterator[tuple[str, str]] | list[tuple[str, str]]
) -> None:
    for field, description in violations:
        console.print(f"  - [bold]{escape(field)}[/bold]: {escape(description)}")


def rpc_code(error: grpc.RpcError) -> grpc.StatusCode:
    """The status code of a failed call (``RpcError`` raised by stubs are also ``grpc.Call``)."""
    code = getattr(error, "code", None)
    value = code() if callable(code) else None
    return value if isinstance(value, grpc.StatusCode) else grpc.StatusCode.UNKNOWN


def rpc_details(error: grpc.RpcError) -> str:
    details = getattr(error, "details", None)
    value = details() if callable(details) else None
    return value if isinstance(value, str) else ""


def rpc_error_exit_code(error: grpc.RpcError) -> int:
    """2 when the service could not be reached, 1 otherwise."""
    code = rpc_code(error)
    return EXIT_UNAVAILABLE if code in _UNREACHABLE else EXIT_USER_ERROR


def report_rpc_error(error: grpc.RpcError, *, service: str, address: str) -> int:
    """Print ``error`` for a person and return the exit code to end with."""
    console = stderr()
    code = rpc_code(error)
    details = rpc_details(error)
    exit_code = rpc_error_exit_code(error)
    if exit_code == EXIT_UNAVAILABLE:
        reason = "did not answer in time" if code is grpc.StatusCode.DEADLINE_EXCEEDED else "is unavailable"
        console.print(f"[red]error:[/red] the {service} service at {escape(address)} {reason}")
        if details:
            console.print(f"  ({escape(details)})")
        console.print(
            "hint: is Resonanz running? Start it with [bold]make run[/bold], or point the CLI at it with "
            f"RESONANZ_{service.upper()}_ADDR=host:port."
        )
        return exit_code
    console.print(f"[red]error:[/red] {code.name.lower()}: {escape(details or 'no details')}")
    _print_violations(console, [(v.field, v.description) for v in field_violations(error)])
    return exit_code


def fail(message: str, *, violations: list[tuple[str, str]] | None = None) -> NoReturn:
    """Print a user error and exit with code 1."""
    console = stderr()
    console.print(f"[red]error:[/red] {escape(message)}")
    _print_violations(console, violations or [])
    raise typer.Exit(EXIT_USER_ERROR)


@contextmanager
def handled(service: str, address: str) -> Iterator[None]:
    """Turn gRPC and Resonanz errors raised inside the block into a report and an exit code."""
    try:
        yield
    except grpc.RpcError as error:
        raise typer.Exit(report_rpc_error(error, service=service, address=address)) from None
    except ValidationError as error:
        fail("invalid input", violations=[(v.field, v.description) for v in error.violations])
    except ResonanzError as error:
        fail(str(error))
