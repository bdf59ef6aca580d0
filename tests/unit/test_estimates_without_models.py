"""assess on a project without dbt models: the build is "not measured", not an invented figure."""

from harness.assess import estimates


def test_build_of_a_project_without_models_is_not_measured():
    phases = estimates.estimate_phases([], has_models=False)
    assert phases.build.basis == estimates.NOT_MEASURED and phases.build.seconds == 0.0
    assert "no dbt models" in phases.build.how


def test_build_of_a_project_with_models_is_still_estimated_from_the_samples():
    assert estimates.estimate_phases([]).build.basis == estimates.ASSUMED
