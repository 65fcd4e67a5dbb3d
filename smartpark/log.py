"""One logging set-up for every command."""

from __future__ import annotations

import logging


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    # httpx logs every request at INFO: far too chatty for a collector.
    logging.getLogger("httpx").setLevel(logging.WARNING)
