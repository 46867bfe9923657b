"""``python -m peak_trade`` runs the CLI."""

from peak_trade.cli import main

if __name__ == "__main__":  # pragma: no cover
    main()
