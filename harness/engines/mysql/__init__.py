"""The MySQL-family engine (MySQL 8, MariaDB 10.6+): its catalog and type mapping (catalog.py,
types.py), the consistent parallel load (copy.py) and capture from the binary log (binlog.py),
which `engine.MysqlEngine` offers the lifecycle through harness.engines.base.SourceEngine.
docs/mysql.md says what works and what does not yet."""
