"""The target: PostgreSQL, built by dbt-postgres. Its SQL outside the control schema
(harness/core/control.py), landing (harness/target/landing.py) and provisioning (harness/target/provision.py) lives
here, so that lifecycle modules call functions instead of holding it."""
