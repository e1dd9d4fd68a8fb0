"""``sluice up`` logs to ``<data-dir>/controllers.log``, which ``sluice logs`` reads."""

from __future__ import annotations

import logging
from pathlib import Path

from sluice.cli.cluster import log_to_file

from .conftest import run_sluice


def test_logs_reads_the_up_log_file_without_wire_traffic(tmp_path: Path) -> None:
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.DEBUG)
    handler = log_to_file(tmp_path)
    try:
        logging.getLogger("sluice.controllers.source").info(
            "stored artifact", extra={"object": {"kind": "GitRepository", "name": "apps",
                                                 "namespace": "team"}})
        # Debug output of HTTP libraries may carry request bodies: never in the file.
        logging.getLogger("httpx").debug("request body: s3cret-pw")
    finally:
        root.removeHandler(handler)
        handler.close()
        root.setLevel(old_level)
    text = (tmp_path / "controllers.log").read_text()
    assert "s3cret-pw" not in text
    r = run_sluice(None, "logs", "--data-dir", str(tmp_path), "--kind", "GitRepository", "-A")
    assert r.ok, r
    assert r.stdout.endswith(" info GitRepository/apps.team - stored artifact\n"), r
