"""The sample comparison on Spark, for samples (and whole tables) too large for one machine's memory.

When migration.yml names a Spark master (`reconcile.spark.master`), samples.py hands each model's
comparison here once its sampled keys are drawn. The keys are copied into a table of this run's own
schema in the target (Spark's connections cannot see the drawing session's temporary table; the
SQL on the target is harness/target/spark_reads.py's and harness/target/samples.py's), and
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.core import connections
from harness.core.config import Config, SparkConfig
from harness.core.connections import Database
from harness.core.errors import ConfigError
from harness.engines.base import Connection
from harness.target import samples as target_samples
from harness.target import spark_reads

# Key ranges: one per RANGE_ROWS sampled rows up to reconcile.spark.partitions, beyond that one per MAX_RANGE_ROWS.
RANGE_ROWS = 100_000
MAX_RANGE_ROWS = 2_000_000
FETCH_SIZE = 10_000  # rows a JDBC read holds at a time (without it the driver reads a range whole)


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
    info = connections.postgres_settings(target.url)
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
        conn: Connection,
        app: target_samples.Sampled,
        key: list[str],
        expressions: dict[str, str],
        types: dict[str, str],
        result: Any,  # samples.ModelSample
        report_dir: Path,
    ) -> None:
        """Compare the sampled rows (in `conn`'s temporary sample table) on Spark, filling `result`.

        Both sides are read with the queries the pandas path runs (harness/target/samples.py), so both
        paths read the same rows."""
        keys = [target_samples.key_alias(name) for name in key]
        with spark_reads.kept_sample(conn) as (schema, path):
            predicates = self._key_ranges(conn, schema, key, keys, result.sampled)
            result.notes.append(
                f"compared on Spark (reconcile.spark.master {self.settings.master}), each side read in "
                f"{len(predicates)} key ranges"
            )

            def compare_frames() -> None:
                self._compare_frames(
                    target_samples.expected_sql(conn, app, key, expressions, types),
                    target_samples.actual_sql(conn, app, key, list(expressions)),
                    path,
                    keys,
                    predicates,
                    result,
                    report_dir,
                )
                result.compared_columns = list(expressions)

            try:
                compare_frames()
            except Exception as exc:
                if not _is_spark_error(exc):
                    raise
                broken = target_samples.failing_expressions(conn, app, key, expressions, types)
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
                compare_frames()

    def _key_ranges(self, conn: Connection, schema: str, key: list[str], keys: list[str], rows: int) -> list[str]:
        """WHERE clauses over the queries' key columns, each about rows/partitions sampled keys."""
        count = max(1, min(self.settings.partitions, math.ceil(rows / RANGE_ROWS)), math.ceil(rows / MAX_RANGE_ROWS))
        step = max(1, math.ceil(rows / count))
        return spark_reads.key_ranges(conn, schema, key, keys, step)

    def _compare_frames(
        self,
        expected_query: str,
        actual_query: str,
        search_path: str,
        keys: list[str],
        predicates: list[str],
        result: Any,
        report_dir: Path,
    ) -> None:
        """Read both queries in the key ranges `predicates`, compare them with datacompy, fill `result`."""
        import datacompy
        from pyspark import StorageLevel

        spark = self.spark
        properties = {
            **self.properties,
            # Each JDBC connection (the schema probe too) looks up the sample table in this run's schema first.
            "options": "-c search_path=" + search_path.replace("\\", "\\\\").replace(" ", "\\ "),
            "fetchsize": str(FETCH_SIZE),
            "ApplicationName": "migrate reconcile sample (spark)",
        }

        kept: list[Any] = []

        def read(query: str) -> Any:
            # Kept once read (spilled to local disk beyond memory): datacompy's many passes do not read the
            # database again.
            table = f"({query}) as q"
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
