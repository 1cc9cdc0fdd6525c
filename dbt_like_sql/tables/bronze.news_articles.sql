-- Every copy of every article file as it landed (the same article in several folders gives
-- several rows); silver.news_articles keeps one row per article_id.
CREATE SCHEMA IF NOT EXISTS bronze;
CREATE TABLE IF NOT EXISTS bronze.news_articles (
    article_id        VARCHAR NOT NULL,
    trade_date        DATE NOT NULL,
    headline          VARCHAR NOT NULL,
    body              VARCHAR NOT NULL,
    url               VARCHAR,
    source            VARCHAR,
    published_at      TIMESTAMPTZ NOT NULL,
    collected_at      TIMESTAMPTZ,
    sp500_relevant    BOOLEAN,
    collection_method VARCHAR,
    language          VARCHAR,
    content_fetched   BOOLEAN,
    source_file       VARCHAR NOT NULL,
    source_line       BIGINT NOT NULL,
    ingested_at       TIMESTAMPTZ NOT NULL
);
