"""The target: PostgreSQL, built by dbt-postgres. Its SQL outside the control schema
(harness/control.py), landing (harness/landing.py) and provisioning (harness/provision.py) lives
here, so that lifecycle modules call functions instead of holding it."""
