"""``peaktrade run``: the long-running service.

The node runs on an event loop (``asyncio.run``) until SIGINT, SIGTERM or
SIGHUP, caught by the loop's own signal handlers: nothing polls. A signal
that arrives while the node starts stops it as soon as it has started. A
failure while starting stops what had started (newest first), prints the error
and exits 1.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer

from peak_trade.cli._common import ConfigOption, app, fail, load
from peak_trade.errors import PeakTradeError

if TYPE_CHECKING:
    from peak_trade.node import Node

# SIGHUP too: a closed terminal or a supervisor's hang-up must not skip the clean stop
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextmanager
def _stop_on_signals(loop: asyncio.AbstractEventLoop, stop: Callable[[], None]) -> Iterator[None]:
    """Call ``stop`` on the loop when a stop signal arrives; restore the old handlers after."""
    previous: dict[signal.Signals, Any] = {}
    try:
        for sig in _STOP_SIGNALS:
            previous[sig] = signal.getsignal(sig)
            loop.add_signal_handler(sig, stop)
        yield
    finally:
        for sig, handler in previous.items():
            loop.remove_signal_handler(sig)  # leaves SIG_DFL: put the process's own back
            signal.signal(sig, handler)


async def serve(node: Node, echo: Callable[[str], None] = typer.echo) -> None:
    """Start ``node``, say what runs, wait for a stop signal, stop it.

    Raises the CLI's exit 1 (error printed on stderr) if the node fails to start or stop.
    """
    stop = asyncio.Event()
    with _stop_on_signals(asyncio.get_running_loop(), stop.set):
        try:
            await node.start()
        except PeakTradeError as err:
            raise fail(err) from None
        try:
            for line in node.describe():
                echo(line)
            echo("peaktrade is running; press Ctrl-C to stop.")
            await stop.wait()
        finally:
            try:
                await node.stop()
            except PeakTradeError as err:
                raise fail(err) from None
        echo("peaktrade stopped cleanly.")


@app.command("run")
def run(config: ConfigOption = None) -> None:
    """Run the peak-trade node on its configuration until Ctrl-C, SIGTERM or SIGHUP."""
    settings = load(config)
    from peak_trade.node import Node  # wiring layer; imported late to keep --help fast

    asyncio.run(serve(Node(settings)))
