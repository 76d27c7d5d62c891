"""benchmarks/startup.py's reading of `python -X importtime` and of its phase child's time marks."""


import pytest


from benchmarks.startup import PHASES, package_costs, parse_importtime, phases  # noqa: E402

# importtime prints a module after the modules it imported, indented two spaces per level
IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       100 |        100 |       scipy.sparse
import time:       200 |        300 |     scipy
import time:       400 |        400 |     sklearn.base
import time:       500 |       1200 |   sklearn
import time:      1000 |       2200 | keras
import time:        50 |         50 | pandas
not an importtime line
"""


def test_parse_importtime():
    rows = parse_importtime(IMPORTTIME)
    assert rows[0] == (3, "scipy.sparse", 100e-6, 100e-6)
    assert [r[1] for r in rows] == ["scipy.sparse", "scipy", "sklearn.base", "sklearn", "keras", "pandas"]
    assert [r[0] for r in rows] == [3, 2, 2, 1, 0, 0]


def test_package_costs_count_a_package_at_its_outermost_import():
    costs = package_costs(parse_importtime(IMPORTTIME))
    assert costs["scipy"] == pytest.approx((300e-6, "sklearn"))  # scipy.sparse is inside scipy's own import
    assert costs["sklearn"] == pytest.approx((1200e-6, "keras"))
    assert costs["keras"] == pytest.approx((2200e-6, None)) and costs["pandas"][1] is None


def test_phases_add_up_to_the_wall_time():
    marks = {"spawn": 0.0, "child_started": 0.3, "imported": 5.0, "load_start": 5.1, "load_end": 8.0,
             "score_start": 8.5, "score_end": 10.0, "main_end": 10.2, "second_pass_s": 0.05, "exit": 11.05}
    got = phases(marks)
    assert got["imports"] == pytest.approx(4.7) and got["model load"] == pytest.approx(2.9)
    assert got["second forward pass (not in the total)"] == 0.05
    assert got["exit"] == pytest.approx(0.8)  # the second pass ran between main_end and the exit mark
    total = sum(v for k, v in got.items() if k != "second forward pass (not in the total)")
    assert total == pytest.approx(marks["exit"] - marks["spawn"] - marks["second_pass_s"])
    assert [p[0] for p in PHASES][0] == "interpreter"
