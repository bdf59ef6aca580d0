"""Connection failures become one line naming the cause and the setting to change."""

import psycopg
import pytest

from harness.core.connections import Database, explain_failure

DB = Database("target", "postgresql://app:secret@db.example:6543/commerce", "MIGRATE_TARGET_URL", False)


@pytest.mark.parametrize(
    "server_says, cause",
    [
        ('FATAL:  password authentication failed for user "app"', "the password was refused"),
        ('FATAL:  database "commerce" does not exist', "database 'commerce' does not exist"),
        ('FATAL:  role "app" does not exist', "the user does not exist"),
        ("connection failed: Connection refused", "the server is unreachable"),
        ("timeout expired", "the server did not answer in time"),
    ],
)
def test_cause_and_setting_are_named(server_says, cause):
    message = str(explain_failure(DB, psycopg.OperationalError(server_says)))
    assert cause in message
    assert message.endswith("check MIGRATE_TARGET_URL")
    assert "db.example:6543/commerce" in message
    assert "secret" not in message
    assert "\n" not in message
