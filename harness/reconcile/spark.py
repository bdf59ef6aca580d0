"""The sample comparison on Spark, for samples (and whole tables) too large for one machine's memory.

When migration.yml names a Spark master (`reconcile.spark.master`), samples.py hands each model's
comparison here once its sampled keys are drawn. The keys are copied into a table of this run's own
schema in the target (Spark's connections cannot see the drawing session's temporary table), and
both sides, the expected values the mapping metadata computes from landing and the app rows, are
read through Spark's JDBC source in key ranges, one task per range, with the very queries the
pandas path runs. datacompy's Spark backend compares them; the counts it gives fill the same
`ModelSample` the pandas path fills, so the level's verdicts and report do not depend on the backend.

Spark's JDBC source reaches PostgreSQL over TCP only: a target on a Unix socket (the embedded server)
is refused with one line. The PostgreSQL JDBC driver is a jar (`reconcile.spark.jdbc_driver`; Debian's
libpostgresql-jdbc-java, which `make spark` installs, puts it at /usr/share/java/postgresql.jar).

pyspark is an optional extra (`pip install -e .[spark]`): it is imported only when a comparison runs.
"""

from __future__ import annotations

import math
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from harness.core.config import Config, SparkConfig
from harness.core.connections import Database
from harness.core.errors import ConfigError

# Key ranges: one per RANGE_ROWS sampled rows up to reconcile.spark.partitions, beyond that one per MAX_RANGE_ROWS.
RANGE_ROWS = 100_000
MAX_RANGE_ROWS = 2_000_000
FETCH_SIZE = 10_000  # rows a JDBC read holds at a time (without it the driver reads a range whole)
SCHEMA_PREFIX = "_migrate_rc_"


def missing() -> str | None:
    """Why the Spark path cannot run on this machine (pyspark or Java absent), or None."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed: run `make spark` (or pip install -e .[spark])"
    if not shutil.which("java"):
        return "Spark needs Java (17 or later) on PATH: install a JDK, e.g. apt-get install openjdk-17-jre-headless"
    return None


def jdbc_url(target: Database) -> tuple[str, dict[str, str]]:
    """The target as a JDBC URL and the connection properties (user, password, TLS) Spark passes on."""
    info = conninfo_to_dict(target.url)
    host = info.get("host") or info.get("hostaddr") or ""
    if not host or host.startswith("/") or host.startswith("@"):
        raise ConfigError(
            "reconcile.spark reads the target through JDBC, which needs a TCP host, and the target is on a "
            f"Unix socket ({target.describe()}): set {target.setting} to a host:port, or remove reconcile.spark"
        )
    ports = (info.get("port") or "5432").split(",")
    hosts = host.split(",")
    where = ",".join(f"{h}:{(ports[i] if i < len(ports) else ports[-1]) or 5432}" for i, h in enumerate(hosts))
    properties = {"driver": "org.postgresql.Driver"}
    for libpq, jdbc in (("user", "user"), ("password", "password"), ("sslmode", "sslmode")):
        if info.get(libpq):
            properties[jdbc] = str(info[libpq])
    return f"jdbc:postgresql://{where}/{info.get('dbname', '')}", properties


@contextmanager
def session(spark: SparkConfig, project_dir: Path) -> Iterator[Any]:
    """A SparkSession on the configured master, with the JDBC driver; stopped at the end."""
    problem = missing()
    if problem:
        raise ConfigError(f"reconcile.spark.master is set but {problem}")
    jar = Path(spark.jdbc_driver)
    jar = jar if jar.is_absolute() else project_dir / jar
    if not jar.is_file():
        raise ConfigError(
            f"the PostgreSQL JDBC driver {jar} (reconcile.spark.jdbc_driver) does not exist: run `make spark` "
            "(it installs Debian's libpostgresql-jdbc-java) or point reconcile.spark.jdbc_driver at the jar"
        )
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(spark.master)
        .appName("migrate reconcile sample")
        .config("spark.jars", str(jar))
        .config("spark.driver.memory", spark.driver_memory)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.caseSensitive", "true")  # column names as the database spells them
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(max(2, spark.partitions)))
    )
    for key, value in spark.conf.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()


class SparkComparison:
    """Compares models on one SparkSession, started at the first model and stopped by `close`."""

    def __init__(self, config: Config, target: Database) -> None:
        assert config.reconcile.spark is not None
        self.config = config
        self.settings = config.reconcile.spark
        self.url, self.properties = jdbc_url(target)  # a Unix socket is refused before any work
        self._session: Any = None
        self._stop: Callable[[], None] | None = None

    @property
    def spark(self) -> Any:
        if self._session is None:
            context = session(self.settings, self.config.project_dir)
            self._session = context.__enter__()
            self._stop = lambda: context.__exit__(None, None, None)
        return self._session

    def close(self) -> None:
        if self._stop:
            self._stop()
        self._session = self._stop = None

    def compare(
        self,
        conn: psycopg.Connection,
        item: Any,  # samples.Comparable
        key: list[str],
        expressions: dict[str, str],
        result: Any,  # samples.ModelSample
        report_dir: Path,
        queries: Callable[[dict[str, str]], tuple[sql.Composed, sql.Composed]],
        failing: Callable[[dict[str, str]], dict[str, str]],
    ) -> None:
        """Compare the sampled rows (in `conn`'s temporary sample table) on Spark, filling `result`.

        `queries(expressions)` gives the expected and the app query over the sample table, `failing`
        the expressions that fail on the sampled rows: both samples.py's own, so both paths read the same.
        """
        from harness.reconcile import samples

        schema = f"{SCHEMA_PREFIX}{uuid.uuid4().hex[:12]}"
        keys = [samples._key_alias(name) for name in key]
        try:
            conn.execute(sql.SQL("create schema {}").format(sql.Identifier(schema)))
            conn.execute(
                sql.SQL("create table {} as select * from {}").format(
                    sql.Identifier(schema, samples.SAMPLE_TABLE), sql.Identifier(samples.SAMPLE_TABLE)
                )
            )
            # The temporary sample table goes with this commit; the copy, first in the search path, takes its name.
            path = _search_path(conn, schema)
            conn.execute(sql.SQL("select set_config('search_path', %s, false)"), (path,))
            conn.commit()
            predicates = self._key_ranges(conn, schema, key, keys, result.sampled)
            result.notes.append(
                f"compared on Spark (reconcile.spark.master {self.settings.master}), each side read in "
                f"{len(predicates)} key ranges"
            )
            try:
                self._compare_frames(conn, path, keys, expressions, predicates, result, report_dir, queries)
            except Exception as exc:
                if not _is_spark_error(exc):
                    raise
                broken = failing(expressions)
                if not broken:
                    result.problem = f"the comparison on Spark failed: {_spark_first_line(exc)}"
                    return
                for column, error in broken.items():
                    result.notes.append(
                        f"expected_sql of {result.relation}.{column} fails, column not compared: {error}"
                    )
                    del expressions[column]
                if not expressions:
                    result.problem = f"no expected_sql of {result.relation} runs: see the notes"
                    return
                self._compare_frames(conn, path, keys, expressions, predicates, result, report_dir, queries)
        finally:
            conn.rollback()
            conn.execute("reset search_path")
            conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))
            conn.commit()

    def _key_ranges(
        self, conn: psycopg.Connection, schema: str, key: list[str], keys: list[str], rows: int
    ) -> list[str]:
        """WHERE clauses over the queries' key columns, each about rows/partitions sampled keys."""
        count = max(1, min(self.settings.partitions, math.ceil(rows / RANGE_ROWS)), math.ceil(rows / MAX_RANGE_ROWS))
        step = max(1, math.ceil(rows / count))
        columns = sql.SQL(", ").join(sql.Identifier(k) for k in key)
        bounds = conn.execute(
            sql.SQL(
                "select {columns} from (select {columns}, row_number() over (order by {columns}) as n from {sample}) as s "
                "where n % {step} = 1 and n > 1 order by {columns}"
            ).format(columns=columns, sample=sql.Identifier(schema, "_rc_sample"), step=sql.Literal(step))
        ).fetchall()
        conn.rollback()
        target = sql.SQL("({})").format(sql.SQL(", ").join(sql.Identifier(k) for k in keys))

        def row(values: tuple) -> sql.Composed:
            return sql.SQL("({})").format(sql.SQL(", ").join(sql.Literal(v) for v in values))

        clauses: list[sql.Composable] = []
        lower = None
        for bound in [*bounds, None]:
            parts = []
            if lower is not None:
                parts.append(sql.SQL("{} >= {}").format(target, row(lower)))
            if bound is not None:
                parts.append(sql.SQL("{} < {}").format(target, row(bound)))
            clauses.append(sql.SQL(" and ").join(parts) if parts else sql.SQL("true"))
            lower = bound
        return [clause.as_string(conn) for clause in clauses]

    def _compare_frames(
        self,
        conn: psycopg.Connection,
        search_path: str,
        keys: list[str],
        expressions: dict[str, str],
        predicates: list[str],
        result: Any,
        report_dir: Path,
        queries: Callable[[dict[str, str]], tuple[sql.Composed, sql.Composed]],
    ) -> None:
        import datacompy
        from pyspark import StorageLevel

        spark = self.spark
        expected_query, actual_query = queries(expressions)
        properties = {
            **self.properties,
            # Each JDBC connection (the schema probe too) looks up the sample table in this run's schema first.
            "options": "-c search_path=" + search_path.replace("\\", "\\\\").replace(" ", "\\ "),
            "fetchsize": str(FETCH_SIZE),
            "ApplicationName": "migrate reconcile sample (spark)",
        }

        kept: list[Any] = []

        def read(query: sql.Composed) -> Any:
            # Kept once read (spilled to local disk beyond memory): datacompy's many passes do not read the database again.
            table = f"({query.as_string(conn)}) as q"
            frame = spark.read.jdbc(self.url, table, predicates=predicates, properties=properties)
            kept.append(frame.persist(StorageLevel.MEMORY_AND_DISK))
            return frame

        expected, actual = read(expected_query), read(actual_query)
        # An app row that joins several landing rows has no single expected value: left out, counted.
        ambiguous = expected.groupBy(*keys).count().where("count > 1").select(*keys).cache()
        result.ambiguous = ambiguous.count()
        if result.ambiguous:
            expected = expected.join(ambiguous, keys, "left_anti")
            actual = actual.join(ambiguous, keys, "left_anti")
        comparison = datacompy.SparkSQLCompare(
            spark,
            expected,
            actual,
            join_columns=keys,
            df1_name="expected",
            df2_name="app",
            cast_column_names_lower=False,
        )
        result.compared_columns = list(expressions)
        result.only_in_app = comparison.df2_unq_rows.count()
        result.mismatched = {}
        for stat in comparison.column_stats:
            if stat["column"] not in keys and int(stat["unequal_cnt"]) > 0:
                result.mismatched[stat["column"]] = int(stat["unequal_cnt"])
        path = report_dir / f"{result.model}.txt"
        path.write_text(comparison.report())
        result.report_file = str(path)
        for frame in (ambiguous, *kept):
            frame.unpersist()


def _search_path(conn: psycopg.Connection, schema: str) -> str:
    """This run's schema first, then the target's own search path (expected_sql may name its functions)."""
    (current,) = conn.execute("select current_setting('search_path')").fetchone()
    return f"{sql.Identifier(schema).as_string(conn)}, {current}"


def _is_spark_error(exc: BaseException) -> bool:
    module = type(exc).__module__ or ""
    return module.startswith("pyspark") or module.startswith("py4j")


def _spark_first_line(exc: BaseException) -> str:
    """The database's or Spark's own message, without the Java stack."""
    text = str(getattr(exc, "java_exception", None) or exc)
    for line in text.strip().splitlines():
        line = line.strip()
        if line and not line.startswith("at ") and "Traceback" not in line:
            return line.removeprefix("An error occurred while calling ").strip()
    return type(exc).__name__
