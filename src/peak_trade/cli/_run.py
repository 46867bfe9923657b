"""``peaktrade run``: the long-running service."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import typer

from peak_trade.cli._common import ConfigOption, app, fail, load
from peak_trade.errors import PeakTradeError

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@app.command("run")
def run(config: ConfigOption = None) -> None:
    """Run the peak-trade node on its configuration until Ctrl-C, SIGTERM or SIGHUP."""
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

    # SIGHUP too: a closed terminal or a supervisor's hang-up must not skip the clean stop
    previous = {s: signal.signal(s, _on_signal) for s in _STOP_SIGNALS}
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
