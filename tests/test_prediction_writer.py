from callbacks.prediction_writer import in_dataset_order


def test_rows_come_back_in_dataset_order_each_window_once():
    rows = [("b", 0), ("b", 32), ("a", 0), ("a", 32), ("a", 0)]  # the last: a DDP pad repeating index 0
    assert in_dataset_order(rows, [[2, 3], [0, 1], [0]]) == [("a", 0), ("a", 32), ("b", 0), ("b", 32)]


def test_rows_stay_as_they_came_without_matching_indices():
    rows = [("b", 0), ("a", 0)]
    assert in_dataset_order(rows, []) == rows
    assert in_dataset_order(rows, [[1]]) == rows  # fewer indices than rows
    assert in_dataset_order(rows, None) == rows
