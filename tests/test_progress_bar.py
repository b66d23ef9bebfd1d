from callbacks.progress_bar import ThrottledRichProgressBar


def test_draws_at_most_every_interval_and_always_on_the_last_batch(monkeypatch):
    clock = iter([10.0, 10.1, 10.2, 10.3, 10.6, 10.65])
    monkeypatch.setattr("callbacks.progress_bar.time.monotonic", lambda: next(clock))
    bar = ThrottledRichProgressBar(interval_s=0.25)
    due = [bar._due(index, 6) for index in range(6)]
    # 10.0 drawn; 10.1, 10.2 too soon; 10.3 is 0.3 s later; 10.6 is 0.3 s later; the last batch always
    assert due == [True, False, False, True, True, True]
