"""``peaktrade run``: the long-running service."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import typer

from peak_trade.cli._common import ConfigOption, app, fail, load
from peak_trade.errors import PeakTradeError


@app.command("run")
def run(config: ConfigOption = None) -> None:
    """Run the peak-trade node on the given (or default) configuration until Ctrl-C / SIGTERM."""
    settings = load(config)
    from peak_trade.node import Node  # wiring layer; imported late to keep --help fast

    try:
        node = Node(settings)
        node.start()
    except PeakTradeError as err:
        raise fail(err) from None
    stop = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for line in node.describe():
            typer.echo(line)
        typer.echo("peaktrade is running; press Ctrl-C to stop.")
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        node.stop()
        typer.echo("peaktrade stopped cleanly.")
