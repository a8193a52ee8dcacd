"""Where ``herald dev`` keeps what it "sent": every captured mail and push, in SQLite,
so the dev inbox can show them and they survive a restart."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any


class CaptureStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS captured (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "channel TEXT, recipient TEXT, subject TEXT, raw BLOB, meta TEXT, at REAL)"
        )
        self._lock = threading.Lock()

    def add(
        self,
        *,
        channel: str,
        recipient: str,
        subject: str,
        raw: bytes,
        meta: dict[str, Any] | None = None,
    ) -> int:
        with self._lock:
            cursor = self._conn.execute(
                "INSERT INTO captured (channel, recipient, subject, raw, meta, at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (channel, recipient, subject, raw, json.dumps(meta or {}), time.time()),
            )
            return int(cursor.lastrowid or 0)

    def list(self, limit: int = 200) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, channel, recipient, subject, at FROM captured ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            {"id": r[0], "channel": r[1], "recipient": r[2], "subject": r[3], "at": r[4]}
            for r in rows
        ]

    def get(self, item_id: int) -> dict[str, Any] | None:
        with self._lock:
            r = self._conn.execute(
                "SELECT id, channel, recipient, subject, raw, meta, at FROM captured WHERE id = ?",
                (item_id,),
            ).fetchone()
        if r is None:
            return None
        return {
            "id": r[0],
            "channel": r[1],
            "recipient": r[2],
            "subject": r[3],
            "raw": r[4],
            "meta": json.loads(r[5]),
            "at": r[6],
        }

    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM captured").fetchone()[0])

    def close(self) -> None:
        self._conn.close()
