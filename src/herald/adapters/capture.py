"""Where ``herald dev`` keeps what it "sent": every captured mail and push, in SQLite,
so the dev inbox can show them and they survive a restart."""

from __future__ import annotations

import asyncio
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

    def find(
        self,
        *,
        to: str | None = None,
        channel: str | None = None,
        since: float | None = None,
        text: str | None = None,
        limit: int = 200,
        with_raw: bool = False,
    ) -> list[dict[str, Any]]:
        """Newest first: to one recipient (any case), of one channel, captured at or
        after ``since`` (a Unix time), holding ``text`` in the recipient, the subject
        or the message itself (any case); ``with_raw``: each with what was captured."""
        where: list[str] = ["1 = 1"]
        args: list[object] = []
        if to:
            where.append("lower(recipient) = lower(?)")
            args.append(to)
        if channel:
            where.append("channel = ?")
            args.append(channel)
        if since is not None:
            where.append("at >= ?")
            args.append(since)
        if text:
            pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append(
                "(recipient LIKE ? ESCAPE '\\' OR subject LIKE ? ESCAPE '\\' "
                "OR CAST(raw AS TEXT) LIKE ? ESCAPE '\\')"
            )
            args += [pattern, pattern, pattern]
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, channel, recipient, subject, at, "
                f"{'raw' if with_raw else 'NULL'} FROM captured "
                f"WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?",
                (*args, limit),
            ).fetchall()
        return [
            {
                "id": r[0],
                "channel": r[1],
                "recipient": r[2],
                "subject": r[3],
                "at": r[4],
                **({"raw": r[5]} if with_raw else {}),
            }
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

    async def keep(
        self, *, channel: str, recipient: str, subject: str, record: dict[str, Any]
    ) -> str:
        """What a capturing transport does with a message: store it (off the event
        loop), and answer as a provider would, naming the inbox item."""
        raw = json.dumps(record, indent=2).encode()
        item = await asyncio.to_thread(
            self.add, channel=channel, recipient=recipient, subject=subject, raw=raw
        )
        return f"captured by herald dev as inbox item {item}"

    def clear(self) -> int:
        """Forget everything captured; how many there were."""
        with self._lock:
            return int(self._conn.execute("DELETE FROM captured").rowcount)

    def close(self) -> None:
        self._conn.close()
