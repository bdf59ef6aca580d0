"""The sync build as a compiled plan: the SQL statements of one real `dbt build --selector sync`,
recorded as dbt ran them, run again later on one connection in one transaction without dbt.

Why: inside the cutover's write window the final sync build has a few hundred changed rows to
carry into `app`, a fraction of a second of SQL, but dbt costs 1.5-2 s around it (starting up,
building its graph, rendering every node, 0.05-0.15 s of fixed cost per node). The statements of
a sync build do not depend on the data, only on the batch: the batch's id (dbt's invocation_id)
and its watermarks, which macro sync_batch_value writes into every model's SQL as literals. So the
catch_up step records the statements of its last sync build (dbt fires an SQLQuery event for each,
whatever the log level) and the window runs them again with the new batch's id and watermarks.

What stays as dbt made it: every statement, in an order dbt itself could have run them in (the
nodes in the order they started: a node only starts once everything it depends on finished), the
data tests' verdicts (a test whose `should_error` is true fails the plan, as it fails dbt), the
batch row in sync_batches (so the next `dbt build` by hand or `migrate build` starts from this
batch's high watermark, as after a dbt run). What changes: one transaction instead of one per
node (a failure leaves nothing half built), and no catalog reads dbt only needs to render SQL.

A plan is refused (`Recorder.plan` returns None with the reason) where replaying it could differ
from dbt: no sync batch in the recording, an empty batch (its low and high watermarks are equal, so
a literal could not be told apart), or watermark literals that do not appear as dbt rendered them.
tests/integration/test_compiled_plan.py proves the plan and dbt leave identical tables on the same
batch.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from harness.core import connections
from harness.core.connections import Database
from harness.core.errors import DbtFailed
from harness.dbt import DbtOutcome
from harness.target import dbt_reads

# The query by which macro sync_batch_value reads the newest batch's watermarks (as text) into a
# model's SQL; its results become the literals `'<text>'::timestamptz`.
WATERMARK_QUERY = re.compile(r"select\s+low_watermark::text,\s*high_watermark::text\s+from\s", re.IGNORECASE)
LITERAL = "'{}'::timestamptz"
# Transaction control dbt sends around each node: the plan runs in one transaction instead.
TRANSACTION_CONTROL = {"begin", "commit", "rollback"}
QUERY_COMMENT = re.compile(r"^\s*/\*.*?\*/", re.S)


@dataclass(frozen=True)
class Node:
    """One node's statements, in the order dbt ran them."""

    unique_id: str  # "" for dbt's own statements outside any node
    resource_type: str
    statements: tuple[str, ...]


@dataclass(frozen=True)
class CompiledPlan:
    nodes: tuple[Node, ...]
    invocation_id: str  # the recorded batch's id, replaced by a new one
    low_watermark: str  # the recorded batch's watermarks as dbt rendered them (text)
    high_watermark: str

    @property
    def statements(self) -> int:
        return sum(len(node.statements) for node in self.nodes)

    @property
    def counted(self) -> int:
        """The nodes, as dbt counts them in its results (its hooks too)."""
        return sum(1 for node in self.nodes if node.unique_id)

    def describe(self) -> dict[str, Any]:
        return {"nodes": self.counted, "statements": self.statements}


@dataclass
class Recorder:
    """A dbt event listener (harness.dbt.run's `listeners`) that keeps the statements of one invocation."""

    queries: list[tuple[str, str, str]] = field(default_factory=list)  # (unique_id, resource_type, sql)
    invocation_id: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __call__(self, event: Any) -> None:
        if event.info.name != "SQLQuery":
            return
        node = event.data.node_info
        with self._lock:  # dbt's threads fire events concurrently
            self.invocation_id = self.invocation_id or event.info.invocation_id
            self.queries.append((node.unique_id, node.resource_type, event.data.sql))

    def plan(self, target: Database) -> tuple[CompiledPlan | None, str]:
        """The recorded build as a plan, or None and why it cannot be one. Call it right after the build:
        it reads the recorded batch's watermarks back."""
        nodes = _grouped(self.queries)
        statements = [s for n in nodes for s in n.statements]
        if not self.invocation_id or any(n.resource_type == "seed" for n in nodes):
            return None, "the recorded build has no batch of its own or loads seeds"
        queries = [s for s in statements if WATERMARK_QUERY.search(s)]
        if not queries:
            return None, "the recorded build read no sync batch watermarks"
        with connections.connection(target, command="compiled plan", autocommit=True) as conn:
            row = conn.execute(queries[0]).fetchone()
        if row is None or row[0] == row[1] or "infinity" in f"{row[0]}{row[1]}":
            return None, "the recorded batch was empty or the first one"
        low, high = LITERAL.format(row[0]), LITERAL.format(row[1])
        first_read = statements.index(queries[0])
        used = [i for i, s in enumerate(statements) if low in s or high in s]
        if not used or used[0] < first_read:
            return None, "the recorded statements do not carry the batch's watermarks as read back"
        return CompiledPlan(tuple(nodes), self.invocation_id, row[0], row[1]), "recorded"


def run(plan: CompiledPlan, target: Database) -> DbtOutcome:
    """Run the plan for the batch landing holds now, in one transaction: the same statements with
    a new batch id and the new batch's watermarks; a statement or a data test that fails rolls it
    all back and raises DbtFailed, as dbt's failure would."""
    batch_id = str(uuid.uuid4())
    replacements = {plan.invocation_id: batch_id}
    with connections.connection(target, command="final build") as conn:
        node = None
        try:
            with conn.transaction():
                for node in plan.nodes:
                    for statement in node.statements:
                        results = list(_execute(conn, _replaced(statement, replacements)))
                        if WATERMARK_QUERY.search(statement):
                            low, high = results[-1][1][0]
                            replacements[LITERAL.format(plan.low_watermark)] = LITERAL.format(low)
                            replacements[LITERAL.format(plan.high_watermark)] = LITERAL.format(high)
                        if node.resource_type == "test":
                            _check_test(node, results)
        except DbtFailed:
            raise
        except Exception as failed:  # a database error: dbt would have stopped at the same statement
            first = str(failed).strip().splitlines()
            where = node.unique_id if node is not None else "its start"
            raise DbtFailed(
                f"the final build's compiled plan failed at {where}: {first[0] if first else failed}; nothing of it "
                "was kept"
            ) from None
    return DbtOutcome("compiled plan", plan.counted, [], None)


def _grouped(queries: list[tuple[str, str, str]]) -> list[Node]:
    """Each node's statements together, nodes in the order they started; without transaction control
    and catalog reads. Each node started after every node it depends on had finished, so running
    whole nodes in that order respects every dependency."""
    order: list[str] = []
    kinds: dict[str, str] = {}
    statements: dict[str, list[str]] = {}
    for unique_id, resource_type, text in queries:
        if unique_id not in statements:
            order.append(unique_id)
            statements[unique_id] = []
            kinds[unique_id] = resource_type
        body = QUERY_COMMENT.sub("", text, count=1)
        if body.strip().lower() in TRANSACTION_CONTROL or dbt_reads.is_catalog_read(body):
            continue
        statements[unique_id].append(text)
    return [Node(u, kinds[u], tuple(statements[u])) for u in order]


def _replaced(statement: str, replacements: dict[str, str]) -> str:
    """Every replaced text at once (a new value may equal another's old one: the new low watermark
    is the old high one)."""
    pattern = re.compile("|".join(re.escape(old) for old in sorted(replacements, key=len, reverse=True)))
    return pattern.sub(lambda m: replacements[m.group(0)], statement)


def _execute(conn: Any, statement: str) -> Iterator[tuple[list[str], list[tuple]]]:
    """Each result of the statement (dbt sends several in one string, e.g. a model's sql_header):
    its column names and rows. No parameters, so psycopg sends it as one simple query, as dbt does."""
    cursor = conn.execute(statement)
    while True:
        if cursor.description is not None:
            yield [c.name for c in cursor.description], cursor.fetchall()
        if not cursor.nextset():
            return


def _check_test(node: Node, results: list[tuple[list[str], list[tuple]]]) -> None:
    for columns, rows in results:
        if "should_error" in columns and rows:
            verdict = dict(zip(columns, rows[0], strict=True))
            if verdict["should_error"]:
                raise DbtFailed(
                    f"the final build's compiled plan failed on 1 node(s): {node.unique_id} "
                    f"({verdict.get('failures')} failing rows); nothing of it was kept"
                )
