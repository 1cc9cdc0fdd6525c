"""How the simulated articles are laid out under ``news/``, and writing them.

* ``news/<YYYY-MM-DD>/<article_id>.json`` — one article per file (2-space indented JSON,
  UTF-8), in the folder of the UTC day it was collected (``collected_at``).
* About 5% of those articles are also copied, byte for byte, into the next day's folder (the
  collector saw them again): duplicates across folders, same ``article_id``.
* ``news/<YYYY-MM-DD>/seen_articles.json`` in every folder — ``{"seen": [ids in the folder,
  sorted], "total_count": <distinct ids seen up to and including this folder>,
  "updated_at": <the folder's last collected_at>}``. It is not an article.
* ``news/batches/gdelt_batch_<first session>.ndjson`` — one NDJSON file with a few articles
  one per line (compact JSON): half of them only there, half also in a dated folder.
* Bad files (``malformed``): ``<id>.json`` files in dated folders that are not valid
  articles — invalid JSON (a truncated article), an article without ``published_at``, and
  (from 200 sessions on) one whose ``published_at`` is not a timestamp. Their ids are not
  counted as articles.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

from finsig_assets.demo_data.news import Article

COPY_SHARE = 0.05
BATCH_SIZE = 8
BAD_FILE_KINDS = ("invalid_json", "missing_published_at", "unparsable_published_at")
_DUMP_OPTIONS = orjson.OPT_INDENT_2


@dataclass(frozen=True)
class NewsResult:
    n_articles: int
    n_news_files: int
    n_bad_news_files: int


def _folder_of(article: Article) -> str:
    return article.collected_at[:10]


def _next_day(folder: str) -> str:
    return (dt.date.fromisoformat(folder) + dt.timedelta(days=1)).isoformat()


def write_news_files(
    root: Path, articles: list[Article], first_session: str, n_sessions: int, rng: np.random.Generator, *, malformed: bool
) -> NewsResult:
    news_dir = root / "news"
    news_dir.mkdir(parents=True, exist_ok=True)
    n = len(articles)
    payloads = [orjson.dumps(a.record(), option=_DUMP_OPTIONS) + b"\n" for a in articles]

    batch_k = min(BATCH_SIZE, n // 2)
    batch_idx = np.sort(rng.choice(n, size=batch_k, replace=False)) if batch_k else np.array([], dtype=np.int64)
    batch_only = set(batch_idx[: batch_k // 2].tolist()) if batch_k else set()
    copied = rng.random(n) < COPY_SHARE

    folders: dict[str, list[int]] = {}
    for i, a in enumerate(articles):
        if i in batch_only:
            continue
        folder = _folder_of(a)
        folders.setdefault(folder, []).append(i)
        if copied[i]:
            folders.setdefault(_next_day(folder), []).append(i)

    n_files = 0
    seen_total: set[str] = set()
    written_ids: set[str] = set()
    for folder in sorted(folders):
        members = folders[folder]
        directory = news_dir / folder
        directory.mkdir(parents=True, exist_ok=True)
        ids = []
        for i in members:
            a = articles[i]
            (directory / f"{a.article_id}.json").write_bytes(payloads[i])
            ids.append(a.article_id)
            n_files += 1
        seen_total.update(ids)
        written_ids.update(ids)
        updated = max(articles[i].collected_us for i in members)
        seen = {
            "seen": sorted(set(ids)),
            "total_count": len(seen_total),
            "updated_at": _iso(updated),
        }
        (directory / "seen_articles.json").write_bytes(orjson.dumps(seen, option=_DUMP_OPTIONS) + b"\n")
        n_files += 1

    if batch_k:
        batch_dir = news_dir / "batches"
        batch_dir.mkdir(parents=True, exist_ok=True)
        lines = b"".join(orjson.dumps(articles[i].record()) + b"\n" for i in batch_idx.tolist())
        (batch_dir / f"gdelt_batch_{first_session}.ndjson").write_bytes(lines)
        written_ids.update(articles[i].article_id for i in batch_idx.tolist())
        n_files += 1

    n_bad = 0
    if malformed:
        n_bad = max(2, n_sessions // 100)
        folder_names = sorted(folders) or [first_session]
        for k in range(n_bad):
            kind = BAD_FILE_KINDS[k % len(BAD_FILE_KINDS)] if n_sessions >= 200 else BAD_FILE_KINDS[k % 2]
            folder = folder_names[int(rng.integers(0, len(folder_names)))]
            directory = news_dir / folder
            directory.mkdir(parents=True, exist_ok=True)
            name, payload = _bad_file(kind, k, folder, articles[int(rng.integers(0, n))] if n else None)
            (directory / name).write_bytes(payload)
            n_files += 1
    return NewsResult(n_articles=len(written_ids), n_news_files=n_files, n_bad_news_files=n_bad)


def _iso(epoch_us: int) -> str:
    return (dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=int(epoch_us))).isoformat()


def _bad_file(kind: str, k: int, folder: str, template: Article | None) -> tuple[str, bytes]:
    """A file named like an article that a reader must reject."""
    headline = template.headline if template else "Stocks trade flat as investors await the Fed decision"
    url = f"https://www.example-news.com/markets/{folder}/bad-{kind}-{k}"
    fake_id = hashlib.md5((headline + url).encode("utf-8")).hexdigest()
    record = {
        "article_id": fake_id,
        "headline": headline,
        "body": "",
        "url": url,
        "source": "gdelt_example-news.com",
        "published_at": f"{folder}T12:00:00+00:00",
        "collected_at": f"{folder}T12:30:00+00:00",
        "sp500_relevant": True,
        "collection_method": "gdelt_doc_api",
        "language": "English",
        "content_fetched": False,
    }
    if kind == "invalid_json":
        text = orjson.dumps(record, option=_DUMP_OPTIONS)
        return f"{fake_id}.json", text[: len(text) // 2]
    if kind == "missing_published_at":
        del record["published_at"]
    elif kind == "unparsable_published_at":
        record["published_at"] = "yesterday afternoon"
    return f"{fake_id}.json", orjson.dumps(record, option=_DUMP_OPTIONS) + b"\n"
