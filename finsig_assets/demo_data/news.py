"""Simulated financial news articles in the reference collector's format.

Each article has a latent tone in {-1, 0, +1} that its wording expresses (see
:mod:`.news_text`). Publication times sit on a 15-minute UTC grid across the whole window,
weekends included, busier on weekday mornings and afternoons New York time, quieter at night,
on weekends and on holidays. About a fifth of the articles are not English (Indonesian,
Spanish, German, French, Portuguese, with text in that language); about half have no body
(``content_fetched`` false). About 5% of the English articles are syndicated: the
``gdelt_finance.yahoo.com`` original is followed, 15 minutes to 2 hours later, by a
``gdelt_yahoo.com`` copy with the same headline and tone but a different url, hence a
different ``article_id`` (md5 of headline + url).

Everything here comes from the news random stream, drawn in a fixed order before any price
is simulated, so the articles (and their tones) for a seed do not depend on ``news_effect``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass

import numpy as np

from finsig_assets.demo_data import news_text
from finsig_assets.demo_data.calendar_grid import SESSION, WEEKEND, TradingGrid

SLOT_MINUTES = 15
TONE_PROBABILITIES = (0.35, 0.30, 0.35)  # for tones -1, 0, +1
LANGUAGES = ("English", "Indonesian", "Spanish", "German", "French", "Portuguese")
LANGUAGE_PROBABILITIES = (0.80, 0.06, 0.05, 0.04, 0.03, 0.02)
EMPTY_BODY_PROBABILITY = 0.5
SYNDICATED_PROBABILITY = 0.05
RELEVANT_PROBABILITY = 0.92
ENGLISH_DOMAINS = (
    "fool.com",
    "reuters.com",
    "cnbc.com",
    "marketwatch.com",
    "finance.yahoo.com",
    "investing.com",
    "seekingalpha.com",
    "businessinsider.com",
    "barrons.com",
    "nasdaq.com",
)
SYNDICATION_ORIGIN, SYNDICATION_COPY = "finance.yahoo.com", "yahoo.com"
FOREIGN_DOMAINS = {
    "Indonesian": ("kontan.co.id", "cnbcindonesia.com", "bisnis.com"),
    "Spanish": ("expansion.com", "eleconomista.es", "elfinanciero.com.mx"),
    "German": ("handelsblatt.com", "finanzen.net", "boerse.de"),
    "French": ("lesechos.fr", "boursorama.com", "zonebourse.com"),
    "Portuguese": ("infomoney.com.br", "valor.globo.com"),
}
COLLECTION_METHODS = ("gdelt_doc_api", "gdelt_gkg")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class Article:
    article_id: str
    headline: str
    body: str
    url: str
    source: str
    published_min: int  # UTC epoch minute (a multiple of 15)
    collected_us: int  # UTC epoch microseconds
    sp500_relevant: bool
    collection_method: str
    language: str
    tone: int
    syndicated_copy: bool

    @property
    def published_at(self) -> str:
        return iso_utc(self.published_min * 60_000_000)

    @property
    def collected_at(self) -> str:
        return iso_utc(self.collected_us)

    def record(self) -> dict:
        """The article as the reference collector writes it (field order included)."""
        return {
            "article_id": self.article_id,
            "headline": self.headline,
            "body": self.body,
            "url": self.url,
            "source": f"gdelt_{self.source}",
            "published_at": self.published_at,
            "collected_at": self.collected_at,
            "sp500_relevant": self.sp500_relevant,
            "collection_method": self.collection_method,
            "language": self.language,
            "content_fetched": bool(self.body),
        }


def iso_utc(epoch_us: int) -> str:
    """``2024-06-24T13:45:00+00:00`` (microseconds shown only when not zero)."""
    return (_EPOCH + dt.timedelta(microseconds=int(epoch_us))).isoformat()


def article_id(headline: str, url: str) -> str:
    return hashlib.md5((headline + url).encode("utf-8")).hexdigest()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80]


def _slot_weights(slots_min: np.ndarray, grid: TradingGrid) -> np.ndarray:
    """Publication intensity per 15-minute slot, by New York hour, weekday and holiday."""
    day, local_minute = grid.local_time(slots_min)
    hour = local_minute // 60
    dow = (grid.days.astype(np.int64)[day] + 3) % 7  # Monday = 0
    kind = grid.day_kind[day]
    weekday_profile = np.select(
        [hour < 6, hour < 9, hour < 12, hour < 16, hour < 19], [0.4, 1.5, 3.0, 2.5, 2.0], default=0.8
    )
    weights = np.where(dow >= 5, 0.35, weekday_profile)
    weights = np.where((kind != SESSION) & (kind != WEEKEND), weights * 0.5, weights)
    return weights / weights.sum()


def generate_articles(grid: TradingGrid, articles_per_session: int, rng: np.random.Generator) -> list[Article]:
    """All distinct articles (originals and syndicated copies), ordered by publication time."""
    first_slot = -(-grid.window_start_min // SLOT_MINUTES) * SLOT_MINUTES
    slots = np.arange(first_slot, grid.window_end_min, SLOT_MINUTES, dtype=np.int64)
    n = int(round(articles_per_session * len(grid.sessions)))
    if n <= 0 or slots.shape[0] == 0:
        return []
    counts = rng.multinomial(n, _slot_weights(slots, grid))
    published = np.repeat(slots, counts)

    tones = rng.choice(np.array(news_text.TONES), size=n, p=list(TONE_PROBABILITIES))
    language_idx = rng.choice(len(LANGUAGES), size=n, p=LANGUAGE_PROBABILITIES)
    english = language_idx == 0
    empty_body = rng.random(n) < EMPTY_BODY_PROBABILITY
    syndicated = english & (rng.random(n) < SYNDICATED_PROBABILITY)
    relevant = rng.random(n) < RELEVANT_PROBABILITY
    method_idx = (rng.random(n) >= 0.9).astype(np.int64)
    domain_draw = rng.integers(0, 1 << 30, n)
    tokens = rng.integers(0, 1 << 32, n, dtype=np.uint64)
    delays_us = (rng.lognormal(np.log(25 * 60), 0.9, n) + 120).astype(np.int64) * 1_000_000 + rng.integers(0, 1_000_000, n)
    foreign_variant = rng.integers(0, 3, n)
    foreign_company = rng.integers(0, len(news_text.COMPANIES), n)
    twin_lag = rng.integers(1, 9, n) * SLOT_MINUTES
    twin_tokens = rng.integers(0, 1 << 32, n, dtype=np.uint64)
    twin_delays_us = (rng.lognormal(np.log(25 * 60), 0.9, n) + 120).astype(np.int64) * 1_000_000 + rng.integers(0, 1_000_000, n)
    twin_keeps_body = rng.random(n) < 0.5
    body_sentences = rng.integers(2, 4, n)
    body_keys = rng.random((n, len(news_text.BODY_SENTENCES[1])))
    body_sector = rng.integers(0, len(news_text.SECTORS), n)
    body_n_sectors = rng.integers(6, 11, n)

    eng_idx = np.flatnonzero(english)
    eng_headlines, eng_subjects, eng_companies = news_text.english_headlines(tones[eng_idx], rng)
    headline = [""] * n
    subject = [""] * n
    company = [""] * n
    for k, i in enumerate(eng_idx.tolist()):
        headline[i], subject[i], company[i] = eng_headlines[k], eng_subjects[k], news_text.COMPANIES[eng_companies[k]]

    # Plain Python lists: scalar numpy indexing in the loop below would dominate its cost.
    tone_l, lang_l, pub_l = tones.tolist(), language_idx.tolist(), published.tolist()
    empty_l, synd_l, relevant_l, method_l = empty_body.tolist(), syndicated.tolist(), relevant.tolist(), method_idx.tolist()
    domain_l, token_l, delay_l = domain_draw.tolist(), tokens.tolist(), delays_us.tolist()
    fvar_l, fcomp_l = foreign_variant.tolist(), foreign_company.tolist()
    lag_l, twin_token_l = twin_lag.tolist(), twin_tokens.tolist()
    twin_delay_l, twin_body_l = twin_delays_us.tolist(), twin_keeps_body.tolist()
    nsent_l, sector_l, nsec_l = body_sentences.tolist(), body_sector.tolist(), body_n_sectors.tolist()

    articles: list[Article] = []
    for i in range(n):
        tone = tone_l[i]
        language = LANGUAGES[lang_l[i]]
        if language == "English":
            text = headline[i]
            body = ""
            if not empty_l[i]:
                body = news_text.english_body(tone, subject[i], company[i], nsent_l[i], body_keys[i], sector_l[i], nsec_l[i])
            domain = SYNDICATION_ORIGIN if synd_l[i] else ENGLISH_DOMAINS[domain_l[i] % len(ENGLISH_DOMAINS)]
        else:
            text = news_text.foreign_headline(language, tone, news_text.COMPANIES[fcomp_l[i]], fvar_l[i])
            body = "" if empty_l[i] else news_text.foreign_body(language, text)
            domains = FOREIGN_DOMAINS[language]
            domain = domains[domain_l[i] % len(domains)]
        pub = pub_l[i]
        url = _url(domain, text, pub, token_l[i])
        common = dict(
            headline=text,
            sp500_relevant=relevant_l[i],
            collection_method=COLLECTION_METHODS[method_l[i]],
            language=language,
            tone=tone,
        )
        articles.append(
            Article(
                article_id=article_id(text, url),
                body=body,
                url=url,
                source=domain,
                published_min=pub,
                collected_us=pub * 60_000_000 + delay_l[i],
                syndicated_copy=False,
                **common,
            )
        )
        twin_pub = pub + lag_l[i]
        if synd_l[i] and twin_pub < grid.window_end_min:
            twin_url = _url(SYNDICATION_COPY, text, twin_pub, twin_token_l[i])
            articles.append(
                Article(
                    article_id=article_id(text, twin_url),
                    body=body if twin_body_l[i] else "",
                    url=twin_url,
                    source=SYNDICATION_COPY,
                    published_min=twin_pub,
                    collected_us=twin_pub * 60_000_000 + twin_delay_l[i],
                    syndicated_copy=True,
                    **common,
                )
            )
    articles.sort(key=lambda a: a.published_min)  # stable: ties keep generation order
    return articles


def _url(domain: str, headline: str, published_min: int, token: int) -> str:
    day = (_EPOCH + dt.timedelta(minutes=published_min)).strftime("%Y/%m/%d")
    slug = _slug(headline)
    if domain in (SYNDICATION_ORIGIN, SYNDICATION_COPY):
        return f"https://{'finance.yahoo.com' if domain == SYNDICATION_ORIGIN else 'www.yahoo.com'}/news/{slug}-{token:08x}.html"
    return f"https://www.{domain}/markets/{day}/{slug}-{token:08x}"
