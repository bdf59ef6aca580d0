"""The migration harness: everything around the dbt project that dbt cannot do itself."""
