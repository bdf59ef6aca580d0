"""The harness's expected errors. Each becomes one clear line and a meaningful exit code."""

# Exit codes, mapped in one place (see cli.main).
EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class HarnessError(Exception):
    """An expected failure: the message names the cause and the fix."""

    exit_code = EXIT_USAGE


class ConfigError(HarnessError):
    """migration.yml or an environment variable is wrong."""


class ConnectionFailed(HarnessError):
    """A database could not be reached or refused us."""


class DatabaseFailed(HarnessError):
    """A statement failed in a way no step expected: the first line the server said (see
    connections.database_errors), not a traceback."""

    exit_code = EXIT_CHECK_FAILED


class EmbeddedServerError(HarnessError):
    """The embedded PostgreSQL could not be started or stopped."""


class DbtFailed(HarnessError):
    """dbt ran and some nodes failed."""

    exit_code = EXIT_CHECK_FAILED


class CheckFailed(HarnessError):
    """A verification ran and found a difference."""

    exit_code = EXIT_CHECK_FAILED


class QueryFailed(HarnessError):
    """A query the operator wrote (migration.yml) failed on a database; the message is the database's first line."""
