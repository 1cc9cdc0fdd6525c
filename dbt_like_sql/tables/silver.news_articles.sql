-- One row per article_id; syndicated near-duplicates are kept but flagged so signals count
-- them once. Rules (copy collapse, headline key, source family, 24 h look-back) are documented
-- in finsig_assets/silver/news_dedup.py; ownership by available_at in news_articles.py.
CREATE SCHEMA IF NOT EXISTS silver;
CREATE TABLE IF NOT EXISTS silver.news_articles (
    article_id              VARCHAR NOT NULL,
    trade_date              DATE NOT NULL,       -- from available_at
    headline                VARCHAR NOT NULL,
    body                    VARCHAR NOT NULL,
    url                     VARCHAR,
    source                  VARCHAR,
    source_family           VARCHAR,              -- registrable domain, gdelt_/www./m./finance. stripped
    published_at            TIMESTAMPTZ NOT NULL,
    available_at            TIMESTAMPTZ NOT NULL, -- when the pipeline may first use it
    language                VARCHAR,
    is_english              BOOLEAN NOT NULL,
    has_body                BOOLEAN NOT NULL,
    n_copies                INTEGER NOT NULL,     -- landed copies collapsed into this row
    is_syndicated_duplicate BOOLEAN NOT NULL,     -- a near-duplicate of an earlier article
    duplicate_of            VARCHAR,              -- that earlier article's id
    source_file             VARCHAR NOT NULL
);
