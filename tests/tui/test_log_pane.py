"""LogPane: batched writes under a fast stream, responsive keys, filters, follow mode."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from pathlib import Path

from textual import events
from textual.app import App, ComposeResult
from textual.widgets import Input
from waiting import until

import qlutui
from qlutui.backend.job_records import MESSAGE, STDERR, STDOUT, LogLine
from qlutui.widgets.log_pane import LogPane, format_line, progress_bar, wrapped


class Harness(App):
    CSS_PATH = Path(qlutui.__file__).with_name("app.tcss")

    def compose(self) -> ComposeResult:
        yield Input(id="typing")
        yield LogPane(batch_ms=50, max_lines=20_000)


def lines(count: int, start: int = 0, target: str = "beosrv-c") -> list[LogLine]:
    streams = (STDOUT, STDERR, MESSAGE)
    return [LogLine(1000.0 + i, target, streams[i % 3], f"line {i}") for i in range(start, count)]


async def key_latency(app: App, typing: Input) -> float:
    """Seconds from a key event entering the app's queue until the Input has the character."""
    before = len(typing.value)
    t0 = time.perf_counter()
    app.post_message(events.Key("x", "x"))
    for _ in range(5000):  # bounded: a few seconds of polling
        if len(typing.value) != before:
            return time.perf_counter() - t0
        await asyncio.sleep(0.001)
    raise AssertionError("the key press was never handled")


async def test_fast_stream_is_batched_and_keys_stay_responsive() -> None:
    app = Harness()
    total, chunk = 200_000, 1_000
    data = lines(total)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(LogPane)
        typing = app.query_one("#typing", Input)
        typing.focus()
        await pilot.pause()

        def produce() -> None:  # ~100,000 lines/s from another thread
            for i in range(0, total, chunk):
                pane.feed(data[i : i + chunk])
                time.sleep(0.01)

        producer = threading.Thread(target=produce)
        started = time.perf_counter()
        producer.start()
        latencies = []
        try:
            while producer.is_alive() and len(latencies) < 200:
                latencies.append(await key_latency(app, typing))
                await asyncio.sleep(0.02)
        finally:
            producer.join(timeout=30)
        streaming = time.perf_counter() - started
        await pilot.pause(0.2)

        log = pane.log_widget
        assert log.line_count == 20_000  # bounded: only the newest max_lines are kept
        assert log.lines[-1] == "line 199999"  # 199999 % 3 == 1: stderr
        # One write per 50 ms tick at most (plus slack for the final flush).
        assert 1 <= pane.writes <= streaming / 0.05 + 5
        assert len(latencies) >= 10
        p95 = statistics.quantiles(latencies, n=20)[-1]
        print(
            f"\n{total} lines in {streaming:.2f}s: {pane.writes} writes, {len(latencies)} keys,"
            f" key latency p50 {statistics.median(latencies) * 1000:.1f} ms"
            f" p95 {p95 * 1000:.1f} ms max {max(latencies) * 1000:.1f} ms"
        )


async def test_filters_rerender_and_follow_mode() -> None:
    app = Harness()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(LogPane)
        pane.feed(lines(9))
        await pilot.pause(0.1)
        log = pane.log_widget
        assert list(log.lines) == [
            "line 0",
            "line 1",
            "* line 2",
            *["line 3", "line 4", "* line 5", "line 6", "line 7", "* line 8"],
        ]
        log.focus()
        await pilot.press("e")  # stderr off
        assert list(log.lines) == ["line 0", "* line 2", "line 3", "* line 5", "line 6", "* line 8"]
        await pilot.press("m")  # messages off
        assert list(log.lines) == ["line 0", "line 3", "line 6"]
        footer = str(app.query_one("#log-footer").render())
        assert "[x] stdout  [ ] stderr  [ ] messages  [x] follow" in footer
        await pilot.press("e", "m")
        assert log.line_count == 9

        pane.feed(lines(200, start=9))
        await pilot.pause(0.1)
        assert log.scroll_y == log.max_scroll_y > 0  # following: at the end
        await pilot.press("f")  # follow off: new lines do not move the view
        assert not pane.follow and not log.auto_scroll
        log.scroll_home(animate=False)
        pane.feed(lines(300, start=200))
        await pilot.pause(0.1)
        assert log.line_count == 300
        assert log.scroll_y == 0
        await pilot.press("f")
        await pilot.pause()
        assert log.scroll_y == log.max_scroll_y


async def test_wrap_cuts_long_lines_to_the_width_and_back() -> None:
    """Wrap off: a long line runs past the edge. On: every piece fits the log beside a
    scroll bar, live lines too, re-cut when the width changes; off again: as fed."""
    long = LogLine(1.0, "beosrv-c", STDOUT, "/srv/apps/chroots/" + "x" * 180 + " END")
    app = Harness()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(LogPane)
        pane.feed([*lines(3), long])
        await pilot.pause(0.1)
        log = pane.log_widget
        assert list(log.lines)[-1] == long.text and log.virtual_size.width > 80
        log.focus()
        await pilot.press("w")
        width = log.outer_size.width - log.styles.scrollbar_size_vertical
        shown = list(log.lines)
        assert shown[:3] == ["line 0", "line 1", "* line 2"]
        assert "".join(shown[3:]) == long.text and len(shown) == 3 + -(-len(long.text) // width)
        assert max(map(len, shown)) == width and log.virtual_size.width <= width
        assert "[x] wrap" in str(app.query_one("#log-footer").render())
        pane.feed([long])  # a live line is wrapped as it comes
        await pilot.pause(0.1)
        assert "".join(list(log.lines)[len(shown) :]) == long.text
        await pilot.resize_terminal(120, 24)
        await until(pilot, lambda: max(map(len, log.lines)) > width, "the wider wrap")
        assert max(map(len, log.lines)) <= log.outer_size.width - 2
        await pilot.press("w")
        assert list(log.lines)[-2:] == [long.text, long.text]


def test_wrapped_cuts_by_cells_after_the_logs_own_processing() -> None:
    assert wrapped(["abcdef", "ab"], 4) == ["abcd", "ef", "ab"]
    assert wrapped(["a\tb"], 4) == ["a   ", "    ", "b"]  # the tab expanded to 8, as shown
    assert wrapped(["\u6f22\u5b57\u6f22"], 4) == ["\u6f22\u5b57", "\u6f22"]  # 2 cells each
    assert wrapped([""], 4) == [""]


def test_line_format_and_progress_bar() -> None:
    line = LogLine(0.0, "beosrv-d", MESSAGE, "done")
    assert format_line(line, many_targets=True) == "beosrv-d: * done"
    assert format_line(LogLine(0.0, "", MESSAGE, "all done"), many_targets=True) == "* all done"
    assert format_line(LogLine(0.0, "beosrv-d", STDOUT, "x"), many_targets=False) == "x"
    assert progress_bar(0.5, 12, ascii_only=True) == "[#####.....]"
    assert progress_bar(2.0, 6, ascii_only=False) == "[████]"


async def test_lines_fed_before_mount_are_bounded_and_shown() -> None:
    pane = LogPane(max_lines=100)
    for i in range(0, 10_000, 10):
        pane.feed(lines(i + 10, start=i))

    class Late(App):
        def compose(self) -> ComposeResult:
            yield pane

    async with Late().run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.1)
        assert pane.log_widget.line_count == 100
        assert pane.log_widget.lines[-1] == "line 9999"


async def test_new_lines_repaint_the_log_without_a_screen_layout() -> None:
    """A write changes the log's virtual size; the scrollbar follows it in place, and the
    screen is laid out only when a scrollbar appears (a layout is a full repaint)."""
    app = Harness()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(LogPane)
        log = pane.log_widget
        layouts: list[object] = []
        app.screen.screen_layout_refresh_signal.subscribe(app.screen, layouts.append)
        pane.feed(lines(100))
        await until(pilot, lambda: log.show_vertical_scrollbar, "the log's scrollbar")
        await pilot.pause(0.1)
        layouts.clear()
        for start in range(100, 1100, 100):  # ten writes, each growing the virtual size
            pane.feed(lines(start + 100, start=start))
            count = start + 100
            await until(pilot, lambda: log.line_count == count, f"{count} lines")  # noqa: B023
        await pilot.pause(0.1)
        assert layouts == []
        assert log.vertical_scrollbar.window_virtual_size == 1100
        assert log.scroll_y == log.max_scroll_y  # following: the last line shown
        assert log.lines[-1] == "line 1099"
