"""Headline and body templates with a clear tone, in English and five other languages.

English headlines are ``<subject> <move> <connector> <cause>``; every positive one carries a
Loughran–McDonald positive word and no negative one (``boost``, ``improve``, ``profit``,
``strength``, ``optimistic`` ...), every negative one a negative word (``weak``, ``worries``,
``losses``, ``disappoint`` ...), and neutral ones neither, so a lexicon scorer and FinBERT
both read the intended tone. The headline space is large (thousands per tone) and is walked
in a random permutation, so the same headline comes back only after thousands of articles
of that tone (days to months apart) — identical headlines close together are the planted
syndicated near-duplicates, not accidents.
"""

from __future__ import annotations

import numpy as np

TONES = (-1, 0, 1)

SUBJECTS = (
    "S&P 500",
    "Stocks",
    "Wall Street",
    "US stocks",
    "The S&P 500",
    "Equities",
    "Blue-chip stocks",
    "S&P 500 futures",
)
COMPANIES = (
    "Apple",
    "Microsoft",
    "Nvidia",
    "Amazon",
    "Alphabet",
    "Meta",
    "Tesla",
    "JPMorgan",
    "Exxon",
    "Walmart",
    "Broadcom",
    "Netflix",
    "Oracle",
    "Costco",
    "Visa",
)
SECTORS = ("technology", "financials", "energy", "health care", "industrials", "consumer stocks", "chipmakers")

MOVES = {
    1: (
        "rallies",
        "climbs",
        "rises",
        "advances",
        "jumps",
        "rebounds",
        "gains",
        "surges",
        "edges higher",
        "closes higher",
        "hits record high",
        "extends gains",
    ),
    -1: (
        "falls",
        "slumps",
        "drops",
        "declines",
        "tumbles",
        "slides",
        "sinks",
        "retreats",
        "plunges",
        "closes lower",
        "extends losses",
        "turns lower",
    ),
    0: (
        "is little changed",
        "trades flat",
        "holds near its level",
        "ends mixed",
        "hovers near unchanged",
        "moves sideways",
        "treads water",
        "trades in a narrow range",
    ),
}
CAUSES = {
    1: (
        "strong earnings boost investor confidence",
        "bank profits improve more than expected",
        "upbeat guidance signals stronger demand",
        "inflation data boost optimism on rates",
        "retail sales show surprising strength",
        "tech giants post record profits",
        "factory activity rebounds",
        "consumer confidence improves",
        "chipmakers advance on an optimistic outlook",
        "investors cheer progress in trade talks",
        "earnings beat estimates and margins improve",
        "a better-than-expected jobs report lifts sentiment",
        "housing data point to a stable recovery",
        "{company} reports record profits",
        "{company} raises its outlook as profits improve",
        "{company} earnings beat estimates and profits improve",
    ),
    -1: (
        "weak jobs data stoke recession worries",
        "earnings disappoint investors",
        "price concerns drag on tech shares",
        "a major bank warns of a slowdown",
        "losses mount in energy shares",
        "a downgrade hits chipmakers",
        "volatile trading deepens losses",
        "weaker guidance raises concerns",
        "layoffs signal weakness in hiring",
        "default worries resurface in credit markets",
        "factory data show a sharp decline",
        "consumer spending weakens",
        "bond yields spike on recession concerns",
        "{company} warns of weaker demand",
        "{company} results disappoint and shares drop",
        "{company} posts a surprise loss",
    ),
    0: (
        "investors await the Fed decision",
        "traders look ahead to earnings from big tech",
        "investors await the monthly payrolls report",
        "markets wait for consumer price data",
        "traders await comments from central bankers",
        "the quarterly results season gets under way",
        "investors wait for the GDP estimate",
        "volume stays near its monthly average",
        "traders weigh mixed economic data",
        "{company} prepares to report quarterly results",
        "investors look ahead to {company} results",
        "traders look ahead to the options expiry",
    ),
}
CONNECTORS = {1: ("as", "after", "while"), -1: ("as", "after", "while"), 0: ("as", "while")}

BODY_SENTENCES = {
    1: (
        "{subject} moved higher as buyers returned to {sector}.",
        "Analysts said the results point to stronger demand and improving margins.",
        "Gains were broad, with {n} of the 11 sectors finishing higher.",
        "{company} shares led the advance after the company raised its outlook.",
        "Strategists said the improving profit picture supports further gains.",
    ),
    -1: (
        "{subject} came under pressure as sellers dominated trading in {sector}.",
        "Analysts warned that weaker demand could hurt margins in the coming quarters.",
        "Losses were broad, with {n} of the 11 sectors ending lower.",
        "{company} shares fell after the company cut its outlook.",
        "Strategists said recession worries and falling earnings could weigh on stocks.",
    ),
    0: (
        "{subject} traded in a narrow range as investors weighed the outlook.",
        "Analysts said markets are likely to stay range-bound until the next data release.",
        "Trading volume was close to its 30-day average.",
        "{company} is scheduled to report quarterly results next week.",
        "Strategists said investors are waiting for clearer signals from the economy.",
    ),
}

# Non-English headlines: (positive, negative, neutral) variants per language.
FOREIGN = {
    "Indonesian": {
        1: (
            "Indeks S&P 500 menguat setelah laba {company} melampaui perkiraan",
            "Saham AS naik tajam berkat optimisme investor",
            "Wall Street menguat didorong laporan keuangan {company} yang kuat",
        ),
        -1: (
            "Saham AS melemah akibat kekhawatiran resesi",
            "Indeks S&P 500 anjlok setelah laporan {company} mengecewakan",
            "Wall Street turun tajam karena data ekonomi yang lemah",
        ),
        0: (
            "Investor menunggu keputusan suku bunga The Fed",
            "Wall Street bergerak datar menjelang laporan {company}",
            "Indeks S&P 500 stagnan jelang rilis data inflasi",
        ),
    },
    "Spanish": {
        1: (
            "El S&P 500 sube con fuerza tras sólidos resultados de {company}",
            "Wall Street avanza impulsado por el optimismo de los inversores",
            "Las bolsas de EE. UU. ganan tras un buen informe de empleo",
        ),
        -1: (
            "Wall Street cae por temores de recesión",
            "El S&P 500 se desploma tras los decepcionantes resultados de {company}",
            "Las acciones estadounidenses retroceden por datos económicos débiles",
        ),
        0: (
            "Los mercados esperan la decisión de la Fed",
            "El S&P 500 cotiza sin cambios antes de los resultados de {company}",
            "Wall Street se mantiene estable a la espera de datos de inflación",
        ),
    },
    "German": {
        1: (
            "S&P 500 legt nach starken Quartalszahlen von {company} zu",
            "US-Aktien steigen dank optimistischer Anleger",
            "Wall Street im Aufwind nach robusten Arbeitsmarktdaten",
        ),
        -1: (
            "US-Aktien fallen nach schwachen Arbeitsmarktdaten",
            "S&P 500 bricht nach enttäuschenden Zahlen von {company} ein",
            "Rezessionsängste belasten die Wall Street",
        ),
        0: (
            "Anleger warten auf die Zinsentscheidung der Fed",
            "S&P 500 kaum verändert vor den Zahlen von {company}",
            "Wall Street tritt vor Inflationsdaten auf der Stelle",
        ),
    },
    "French": {
        1: (
            "Le S&P 500 progresse grâce aux solides résultats de {company}",
            "Wall Street grimpe porté par l'optimisme des investisseurs",
            "Les actions américaines montent après un bon rapport sur l'emploi",
        ),
        -1: (
            "Wall Street recule sur des craintes de récession",
            "Le S&P 500 chute après les résultats décevants de {company}",
            "Les actions américaines baissent après des données économiques faibles",
        ),
        0: (
            "Les marchés attendent la décision de la Fed",
            "Le S&P 500 stable avant les résultats de {company}",
            "Wall Street hésite avant les chiffres de l'inflation",
        ),
    },
    "Portuguese": {
        1: (
            "S&P 500 sobe após lucros fortes da {company}",
            "Bolsas de Nova York avançam com otimismo dos investidores",
            "Wall Street fecha em alta após dados sólidos de emprego",
        ),
        -1: (
            "Bolsas de Nova York caem com temor de recessão",
            "S&P 500 despenca após resultado decepcionante da {company}",
            "Ações americanas recuam com dados econômicos fracos",
        ),
        0: (
            "Investidores aguardam decisão do Fed",
            "S&P 500 opera estável antes do balanço da {company}",
            "Wall Street sem direção à espera de dados de inflação",
        ),
    },
}
FOREIGN_BODIES = {
    "Indonesian": "Para analis menilai pergerakan pasar saham Amerika Serikat masih dipengaruhi arah kebijakan bank sentral.",
    "Spanish": "Los analistas señalan que el mercado sigue pendiente de la política monetaria de la Reserva Federal.",
    "German": "Analysten zufolge bleibt die Geldpolitik der US-Notenbank das beherrschende Thema am Markt.",
    "French": "Selon les analystes, le marché reste suspendu à la politique monétaire de la Réserve fédérale.",
    "Portuguese": "Segundo analistas, o mercado segue atento à política monetária do Federal Reserve.",
}


def _english_space(tone: int) -> list[tuple[str, str, str, str]]:
    """(subject, move, connector, cause-template) combinations for a tone."""
    return [
        (s, m, c, cause)
        for s in SUBJECTS
        for m in MOVES[tone]
        for c in CONNECTORS[tone]
        for cause in CAUSES[tone]
    ]


def english_headlines(tones: np.ndarray, rng: np.random.Generator) -> tuple[list[str], list[str], np.ndarray]:
    """A headline for each tone (in order), its subject, and the index of the company it names."""
    companies = rng.integers(0, len(COMPANIES), int(tones.shape[0]))
    headlines: list[str] = [""] * tones.shape[0]
    subjects: list[str] = [""] * tones.shape[0]
    for tone in TONES:
        idx = np.flatnonzero(tones == tone)
        space = _english_space(tone)
        order = rng.permutation(len(space)).tolist()
        for k, i in enumerate(idx.tolist()):
            subject, move, connector, cause = space[order[k % len(space)]]
            headlines[i] = f"{subject} {move} {connector} {cause.format(company=COMPANIES[companies[i]])}"
            subjects[i] = subject
    return headlines, subjects, companies


def english_body(tone: int, subject: str, company: str, n_sentences: int, sentence_keys: np.ndarray, sector: int, n_sectors: int) -> str:
    """``n_sentences`` body sentences of ``tone``: the ones with the smallest keys, in order."""
    sentences = BODY_SENTENCES[tone]
    pick = sorted(np.argsort(sentence_keys[: len(sentences)])[:n_sentences].tolist())
    lead = "Stocks" if subject.startswith("S&P 500 futures") else subject
    return " ".join(
        sentences[j].format(subject=lead, sector=SECTORS[sector], n=n_sectors, company=company) for j in pick
    )


def foreign_headline(language: str, tone: int, company: str, variant: int) -> str:
    variants = FOREIGN[language][tone]
    return variants[variant % len(variants)].format(company=company)


def foreign_body(language: str, headline: str) -> str:
    return f"{headline}. {FOREIGN_BODIES[language]}"
