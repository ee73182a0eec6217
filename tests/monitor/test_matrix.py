"""The HA-strategy matrix: Masakari's default built in, an operator file validated at load."""

from __future__ import annotations

import pytest

from shared.health.matrix import DEFAULT_MATRIX, MatrixError, load_matrix


@pytest.mark.parametrize(
    ("vector", "expected"),
    [
        (("up", "up", "up"), "up"),
        (("up", "up", "down"), "down"),
        (("down", "down", "down"), "down"),
        (("down", "up", "up"), "none"),
        (("up", "down", "up"), "none"),
        (("down", "down", "up"), "none"),
    ],
)
def test_default_matrix_calls_for_recovery_only_when_storage_is_down(vector, expected):
    assert DEFAULT_MATRIX.decide(vector) == expected


def test_no_matrix_file_means_the_default_matrix():
    assert load_matrix(None) is DEFAULT_MATRIX


def test_operator_matrix_file_overrides_the_default(tmp_path):
    path = tmp_path / "matrix.yaml"
    path.write_text("sequence: [manage]\nmatrix:\n  - health: [down]\n    action: [recovery]\n")
    matrix = load_matrix(str(path))
    assert matrix.sequence == ("manage",)
    assert matrix.decide(("down",)) == "down"
    assert matrix.decide(("up",)) == "up"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("sequence: [manage, manage]\nmatrix: []\n", "unique"),
        ("sequence: [mgmt]\nmatrix: []\n", "'mgmt' is not one of"),
        ("matrix:\n  - health: [up, down]\n    action: [recovery]\n", "must list 3 values"),
        (
            "matrix:\n  - health: [up, up, sideways]\n    action: []\n",
            "'sideways' is not 'up' or 'down'",
        ),
        ("matrix:\n  - health: [up, up, down]\n    action: [reboot]\n", "'reboot' is not one of"),
        ("matrix:\n  - health: [up, up, down]\n", "exactly the keys"),
        ("sequence: [manage\n", "not valid YAML"),
        ("- just a list\n", "expected a mapping"),
    ],
)
def test_invalid_matrix_file_is_rejected_with_a_message_naming_the_problem(
    tmp_path, content, message
):
    path = tmp_path / "matrix.yaml"
    path.write_text(content)
    with pytest.raises(MatrixError, match=message) as caught:
        load_matrix(str(path))
    assert str(path) in str(caught.value)


def test_missing_matrix_file_is_a_configuration_error(tmp_path):
    with pytest.raises(MatrixError, match="cannot be read"):
        load_matrix(str(tmp_path / "absent.yaml"))
