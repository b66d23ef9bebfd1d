import pytest

from benchmarks.framework_overhead import epoch_summaries, paired_turn_ratios, quartiles


def _records(step_seconds_by_turn, steps_per_epoch_turns=2):
    """Records of consecutive turns, ``steps_per_epoch_turns`` turns an epoch."""
    return [{"epoch": turn // steps_per_epoch_turns, "turn": turn, "seconds": s}
            for turn, seconds in enumerate(step_seconds_by_turn) for s in seconds]


def test_epoch_summaries_sum_and_average_each_epochs_steps():
    summaries = epoch_summaries(_records([[0.01, 0.03], [0.02], [0.04, 0.04], [0.04]]))
    assert [s["epoch"] for s in summaries] == [0, 1]
    assert summaries[0]["steps"] == 3 and summaries[0]["seconds"] == pytest.approx(0.06)
    assert summaries[0]["step_ms"] == pytest.approx(20.0) and summaries[0]["step_ms_median"] == pytest.approx(20.0)
    assert summaries[1]["step_ms"] == pytest.approx(40.0)


def test_turn_ratios_compare_medians_turn_by_turn_and_leave_the_first_epoch_out():
    bare = _records([[1.0], [1.0], [0.010, 0.012, 0.100], [0.020, 0.020]])
    lightning = _records([[9.0], [9.0], [0.011, 0.013, 0.013], [0.030, 0.022]])
    # turn 2: medians 0.013 / 0.012; turn 3: 0.026 / 0.020 (the first epoch's turns are warm-up)
    assert paired_turn_ratios(bare, lightning) == pytest.approx([0.013 / 0.012, 0.026 / 0.020])


def test_turn_ratios_refuse_sides_that_ran_different_turns():
    with pytest.raises(ValueError, match="different turns"):
        paired_turn_ratios(_records([[1.0], [1.0], [1.0]]), _records([[1.0], [1.0], [1.0], [1.0]]))


def test_quartiles():
    assert quartiles([1.0, 2.0, 3.0, 4.0, 5.0]) == pytest.approx((1.5, 3.0, 4.5))
    assert quartiles([2.0]) == (2.0, 2.0, 2.0)
