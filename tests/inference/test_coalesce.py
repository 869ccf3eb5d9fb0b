from inference.coalesce import Coalescer


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_first_delta_is_flushed_at_once_for_a_fast_first_token() -> None:
    coalescer = Coalescer(interval_ms=60, max_pieces=16, clock=FakeClock())
    assert coalescer.push("Hel") == "Hel"


def test_deltas_within_the_interval_are_joined_into_one_flush() -> None:
    clock = FakeClock()
    coalescer = Coalescer(interval_ms=60, max_pieces=16, clock=clock)
    coalescer.push("a")
    for piece in ["b", "c", "d"]:
        clock.now += 0.01
        assert coalescer.push(piece) is None
    clock.now += 0.031
    assert coalescer.push("e") == "bcde"


def test_a_burst_is_cut_every_max_pieces() -> None:
    coalescer = Coalescer(interval_ms=10_000, max_pieces=3, clock=FakeClock())
    coalescer.push("x")
    flushed = [coalescer.push(p) for p in "abcdef"]
    assert flushed == [None, None, "abc", None, None, "def"]


def test_the_final_flush_returns_what_is_left_and_nothing_is_lost() -> None:
    clock = FakeClock()
    coalescer = Coalescer(interval_ms=60, max_pieces=16, clock=clock)
    pieces = [f"t{i} " for i in range(50)]
    out = []
    for piece in pieces:
        clock.now += 0.007
        if chunk := coalescer.push(piece):
            out.append(chunk)
    out.append(coalescer.flush())
    assert "".join(out) == "".join(pieces)
    assert len(out) < len(pieces) / 4  # far fewer stream entries than tokens
    assert coalescer.flush() == ""
