"""The order `course grade` runs a class in (``schedule.py``): each lab timed once, then the longest lab first."""

import heapq

from course_utils.instructor.grading.schedule import LongestLabFirst


def test_each_lab_starts_once_then_the_longest_median_goes_first():
    order = LongestLabFirst(["light", "heavy", "light", "heavy", "light", "heavy"])
    assert [order.next(), order.next()] == [0, 1]  # one job of each lab, in the order given
    assert order.next() == 2  # both running, neither timed: the first of them
    order.done(1, 30.0)
    order.done(0, 10.0)
    assert [order.next(), order.next(), order.next(), order.next()] == [3, 5, 4, None]


def test_one_notebook_stuck_in_a_loop_does_not_make_its_lab_the_longest():
    order = LongestLabFirst(["a", "a", "a", "b", "a", "b"])
    for _ in range(4):
        order.next()  # 0, 3 (each lab once), then 1, 2
    for index, seconds in [(0, 10.0), (1, 11.0), (2, 500.0), (3, 30.0)]:
        order.done(index, seconds)
    assert order.next() == 5  # b's median 30 beats a's median of 10, 11 and 500 (11)


def makespan(labs: list[str], seconds: list[float], workers: int, order: LongestLabFirst | None) -> float:
    """When the last job ends, each of ``workers`` taking the next job (from ``order``, or as given) when free."""
    given = iter(range(len(labs)))
    events = [(0.0, worker, None) for worker in range(workers)]  # (when, worker, the job it just ended)
    end = 0.0
    while events:
        now, worker, ended = heapq.heappop(events)
        end = now
        if order and ended is not None:
            order.done(ended, seconds[ended])
        index = order.next() if order else next(given, None)
        if index is not None:
            heapq.heappush(events, (now + seconds[index], worker, index))
    return end


def test_the_class_ends_sooner_than_in_the_order_collected():
    # Four students, each a light lab (10 s) then a heavy one (40 s), collected student by student, on 3 workers.
    labs = ["light", "heavy"] * 4
    seconds = [10.0, 40.0] * 4
    # As collected: at 0 light, heavy, light; at 10 heavy (to 50) and light (to 20); at 20 heavy (to 60); at 40
    # light (to 50); at 50 the last heavy, alone from 60 to 90.
    assert makespan(labs, seconds, 3, None) == 90.0
    # Heaviest first: at 0 light, heavy, then light (both labs running, neither timed); at 10 light is timed (10 s),
    # heavy is not: two heavies (to 50); at 40 heavy is timed (40 s): the last heavy (to 80); at 50 the two lights
    # left (to 60): the class ends at 80.
    assert makespan(labs, seconds, 3, LongestLabFirst(labs)) == 80.0
