"""The one module that runs other programs: argument lists, never a shell, secrets in the
environment rather than on the command line, and a failure raised with the tail of its output."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from psycopg.conninfo import conninfo_to_dict

from harness.core import embedded
from harness.core.errors import HarnessError

LIBPQ_ENV = {"host": "PGHOST", "port": "PGPORT", "user": "PGUSER", "password": "PGPASSWORD", "dbname": "PGDATABASE"}


class ProgramFailed(HarnessError):
    exit_code = 1


def libpq_env(url: str) -> dict[str, str]:
    """A connection as PG* variables, so no password ever appears in a process list."""
    info = conninfo_to_dict(url)
    env = {name: str(info[key]) for key, name in LIBPQ_ENV.items() if info.get(key) not in (None, "")}
    return {**os.environ, **env}


def pg_tool(name: str, server_major: int) -> Path:
    """The client program for this server: the machine's own when it is new enough, else the embedded one."""
    candidates = [shutil.which(name), str(embedded.bin_dir() / name)]
    for candidate in candidates:
        if candidate and _major(candidate) >= server_major:
            return Path(candidate)
    raise ProgramFailed(
        f"no {name} of version {server_major} or newer found: install the PostgreSQL {server_major} client tools"
    )


@functools.cache
def _major(program: str) -> int:
    try:
        out = subprocess.run([program, "--version"], capture_output=True, text=True, timeout=30).stdout
    except OSError:
        return 0
    match = re.search(r"(\d+)(?:\.\d+)?", out)
    return int(match.group(1)) if match else 0


def run(args: list[str | Path], *, env: dict[str, str] | None = None, what: str) -> str:
    try:
        done = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env)
    except OSError as exc:
        raise ProgramFailed(f"{what} could not start: {exc.strerror}: {args[0]}") from None
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
        cause = next((line for line in lines if "error:" in line), lines[-1])
        raise ProgramFailed(f"{what} failed (exit {done.returncode}): {cause.strip()}")
    return done.stdout


@dataclass(frozen=True)
class Finished:
    """A program that ran to its end, successfully or not."""

    exit_code: int
    output: str  # stdout then stderr


def run_status(
    args: list[str | Path], *, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 600
) -> Finished:
    """Run a program whose exit code is the answer (a smoke test); only a program that cannot start raises."""
    try:
        done = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)
    except OSError as exc:
        raise ProgramFailed(
            f"{args[0]} could not be started ({exc.strerror or type(exc).__name__}): install it or fix the command"
        ) from None
    except subprocess.TimeoutExpired:
        return Finished(124, f"timed out after {timeout:g} s")
    return Finished(done.returncode, (done.stdout or "") + (done.stderr or ""))


@contextlib.contextmanager
def output_of(args: list[str | Path], *, env: dict[str, str], script: str, what: str) -> Iterator[IO[bytes]]:
    """A program's standard output as a byte stream, its script on standard input; fails loudly."""
    try:
        proc = subprocess.Popen(
            [str(a) for a in args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
    except OSError as exc:
        raise ProgramFailed(f"{what} could not start: {exc.strerror}: {args[0]}") from None
    proc.stdin.write(script.encode())
    proc.stdin.close()
    try:
        yield proc.stdout
    finally:
        proc.stdout.close()
        stderr = proc.stderr.read().decode(errors="replace")
        code = proc.wait()
    if code != 0:
        lines = stderr.strip().splitlines() or ["no output"]
        raise ProgramFailed(f"{what} failed (exit {code}): {lines[-1].strip()}")


@contextlib.contextmanager
def background(args: list[str], *, env: dict[str, str], cwd: Path, log: Path, what: str) -> Iterator[subprocess.Popen]:
    """A program running beside the caller (the rehearsal's traffic), interrupted on leaving;
    its output goes to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        try:
            proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        except OSError as exc:
            raise ProgramFailed(f"{what} could not start ({exc.strerror}): {args[0]}") from None
        try:
            yield proc
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# --- MySQL's client programs (mariadb-dump, mariadb) ----------------------------------------------


def mysql_tool(*names: str) -> str:
    """The first of these client programs found on PATH (MariaDB's names first, then MySQL's)."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise ProgramFailed(
        f"none of {', '.join(names)} is on PATH: install the MariaDB or MySQL client programs (mariadb-client)"
    )


@contextlib.contextmanager
def mysql_defaults(url: str) -> Iterator[Path]:
    """A connection as an option file readable by its owner only, for --defaults-extra-file (which
    must come first): no password ever appears in a process list or the environment."""
    import tempfile

    from harness.core.connections import mysql_settings

    settings = mysql_settings(url)
    keys = {"host": "host", "port": "port", "user": "user", "password": "password", "unix_socket": "socket"}
    lines = ["[client]"] + [
        f'{option}="{str(settings[key]).replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for key, option in keys.items()
        if settings.get(key) not in (None, "")
    ]
    descriptor, name = tempfile.mkstemp(prefix="migrate-", suffix=".cnf")
    try:
        with os.fdopen(descriptor, "w") as out:  # mkstemp's file is the owner's only (0600)
            out.write("\n".join(lines) + "\n")
        yield Path(name)
    finally:
        os.unlink(name)


@contextlib.contextmanager
def started(args: list[str | Path], *, what: str) -> Iterator[subprocess.Popen]:
    """A program started beside the caller, waited for on leaving; a failure raises with the line
    of its output that says why (its output is kept in a temporary file, not a pipe nobody reads)."""
    import tempfile

    with tempfile.TemporaryFile() as errors:
        try:
            proc = subprocess.Popen([str(a) for a in args], stdout=subprocess.DEVNULL, stderr=errors)
        except OSError as exc:
            raise ProgramFailed(f"{what} could not start: {exc.strerror}: {args[0]}") from None
        try:
            yield proc
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        code = proc.wait()
        if code != 0:
            errors.seek(0)
            _raise_failed(what, code, errors.read().decode(errors="replace"))


def fed(args: list[str | Path], lines: Iterator[bytes], *, what: str) -> None:
    """Run a program with `lines` on its standard input; a failure raises with the line that says why."""
    import tempfile

    with tempfile.TemporaryFile() as errors:
        try:
            proc = subprocess.Popen(
                [str(a) for a in args], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors
            )
        except OSError as exc:
            raise ProgramFailed(f"{what} could not start: {exc.strerror}: {args[0]}") from None
        try:
            for line in lines:
                proc.stdin.write(line)
            proc.stdin.close()
        except BrokenPipeError:
            pass  # it stopped reading: its own error says why
        code = proc.wait()
        if code != 0:
            errors.seek(0)
            _raise_failed(what, code, errors.read().decode(errors="replace"))


def _raise_failed(what: str, code: int, output: str) -> None:
    lines = output.strip().splitlines() or ["no output"]
    cause = next((line for line in lines if "error" in line.lower()), lines[-1])
    raise ProgramFailed(f"{what} failed (exit {code}): {cause.strip()}")
