"""Text templates of the simulated network, in German and English.

Templates are plain ``str.format`` strings with these fields:

* ``{brand}``: how the brand (or a remembered search term) is written: "Resonanz", "#Resonanz", "@resonanz";
* ``{tag}``: a topical hashtag ("#Musik");
* ``{link}``: a URL;
* ``{handle}``: the handle being answered ("@anna_schmidt"), in replies.

The wording is deliberately ordinary: sentiment analysers of the scoring service should find the
positive, neutral and negative posts roughly where the world put them.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final


class Sentiment(IntEnum):
    """The ground truth the world gives each post."""

    NEGATIVE = -1
    NEUTRAL = 0
    POSITIVE = 1


LANGUAGES: Final = ("de", "en")

BRAND_POSTS: Final[dict[tuple[str, Sentiment], tuple[str, ...]]] = {
    ("de", Sentiment.POSITIVE): (
        "Ich liebe die neuen Kopfhörer von {brand}! Der Klang ist einfach großartig {tag}",
        "Ehrlich, {brand} hat den besten Kundenservice, den ich je erlebt habe. Danke!",
        "Heute mein Paket von {brand} bekommen, super schnell und perfekt verpackt {tag}",
        "Wow, {brand} überzeugt mich immer wieder. Klare Empfehlung! {link}",
        "Das neue Update von {brand} ist richtig gut geworden, alles läuft flüssig {tag}",
        "Bin total begeistert vom Konzert-Stream mit {brand}, was für ein Erlebnis!",
    ),
    ("de", Sentiment.NEUTRAL): (
        "Hat jemand Erfahrungen mit {brand}? Überlege gerade, ob ich wechseln soll {tag}",
        "{brand} hat heute ein neues Produkt angekündigt: {link}",
        "Gerade gelesen, dass {brand} in Berlin eine neue Filiale eröffnet {tag}",
        "Vergleiche gerade {brand} mit anderen Anbietern. Meinungen?",
        "Morgen gibt es bei {brand} angeblich eine Pressekonferenz {tag}",
    ),
    ("de", Sentiment.NEGATIVE): (
        "Schon wieder ist die App von {brand} abgestürzt. Echt ärgerlich {tag}",
        "Der Support von {brand} ist eine Katastrophe, seit drei Tagen keine Antwort",
        "Enttäuscht von {brand}, die Qualität ist deutlich schlechter geworden {tag}",
        "Finger weg von {brand}! Lieferung kaputt angekommen und niemand fühlt sich zuständig",
        "Warum ist {brand} so teuer geworden? Das ist einfach nur frech {link}",
    ),
    ("en", Sentiment.POSITIVE): (
        "Really love the new headphones from {brand}, the sound is amazing {tag}",
        "Shoutout to {brand} for the best customer service I have had in years. Thank you!",
        "Got my order from {brand} today, super fast delivery and great quality {tag}",
        "{brand} keeps impressing me. Highly recommended! {link}",
        "The latest {brand} update is excellent, everything feels so smooth {tag}",
    ),
    ("en", Sentiment.NEUTRAL): (
        "Anyone tried {brand} yet? Thinking about switching {tag}",
        "{brand} announced a new product today: {link}",
        "Reading that {brand} is opening a store in Munich {tag}",
        "Comparing {brand} with a few alternatives, opinions welcome",
        "Apparently {brand} has a press conference tomorrow {tag}",
    ),
    ("en", Sentiment.NEGATIVE): (
        "The {brand} app crashed again. So annoying {tag}",
        "{brand} support is terrible, no answer for three days now",
        "Really disappointed with {brand}, the quality has gotten so much worse {tag}",
        "Avoid {brand}! My delivery arrived broken and nobody cares",
        "Why is {brand} so expensive now? This is ridiculous {link}",
    ),
}

#: Posts of a crisis wave: angry, specific, repeated by many people at once.
CRISIS_POSTS: Final[dict[str, tuple[str, ...]]] = {
    "de": (
        "Datenleck bei {brand}?! Meine Daten sind offenbar im Netz. Unfassbar {tag}",
        "{brand} hat meine Kundendaten verloren und schweigt. Skandal! #Datenleck",
        "Boykott! Was {brand} da abzieht, ist eine absolute Frechheit #boykott",
        "Ich kündige sofort bei {brand}. So ein Vertrauensbruch ist unverzeihlich",
        "Schlimmster Tag für {brand}-Kunden. Totaler Ausfall, keine Informationen {tag}",
    ),
    "en": (
        "Data breach at {brand}?! My details are all over the internet. Unbelievable {tag}",
        "{brand} lost our customer data and says nothing. Disgraceful! #databreach",
        "Boycott {brand}! What they are doing is an absolute scandal #boycott",
        "Cancelling my {brand} subscription right now. Terrible breach of trust",
        "Worst day ever for {brand} customers. Total outage, zero communication {tag}",
    ),
}

#: Everyday posts that mention no brand.
CHATTER: Final[dict[str, tuple[str, ...]]] = {
    "de": (
        "Die Bahn hat mal wieder 20 Minuten Verspätung #Bahn",
        "Endlich Wochenende! Wer geht heute Abend mit ins Konzert? {tag}",
        "Kaffee Nummer drei und es ist noch nicht mal zehn Uhr",
        "Was für ein Spiel gestern! {tag}",
        "Neue Playlist für den Sommer ist fertig: {link}",
        "Regen, Regen, Regen. Typisch Hamburg",
        "Wer kennt gute Podcasts über Technik? {tag}",
    ),
    "en": (
        "Train delayed again, classic Monday #commute",
        "Finally the weekend! Who is going to the concert tonight? {tag}",
        "Third coffee and it is not even ten am",
        "What a game last night! {tag}",
        "My new summer playlist is ready: {link}",
        "Any good tech podcasts to recommend? {tag}",
        "Rainy day, perfect for staying in with some music",
    ),
}

#: Replies to a brand's own post; ``{handle}`` addresses the brand account like real networks do.
BRAND_REPLIES: Final[dict[tuple[str, Sentiment], tuple[str, ...]]] = {
    ("de", Sentiment.POSITIVE): (
        "{handle} Super, darauf habe ich gewartet! Danke euch",
        "{handle} Klingt großartig, bin dabei!",
        "{handle} Toll gemacht, weiter so",
        "{handle} Endlich! Freue mich sehr darauf",
    ),
    ("de", Sentiment.NEUTRAL): (
        "{handle} Ab wann gibt es das auch in Österreich?",
        "{handle} Gilt das auch für Bestandskunden?",
        "{handle} Wo finde ich mehr Informationen dazu?",
    ),
    ("de", Sentiment.NEGATIVE): (
        "{handle} Löst lieber erst mal die Probleme mit eurer App, das ist ärgerlich",
        "{handle} Schön und gut, aber mein Support-Ticket ist seit Wochen offen. Enttäuschend",
        "{handle} Viel zu teuer, das ist wirklich schlecht",
    ),
    ("en", Sentiment.POSITIVE): (
        "{handle} Great news, been waiting for this! Thanks",
        "{handle} Sounds awesome, count me in!",
        "{handle} Love it, well done team",
        "{handle} Finally! Really excited about this",
    ),
    ("en", Sentiment.NEUTRAL): (
        "{handle} When will this be available in the UK?",
        "{handle} Does this apply to existing customers too?",
        "{handle} Where can I find more details?",
    ),
    ("en", Sentiment.NEGATIVE): (
        "{handle} Maybe fix your broken app first, this is so annoying",
        "{handle} Nice, but my support ticket has been open for weeks. Disappointing",
        "{handle} Way too expensive, honestly terrible",
    ),
}

#: Replies between ordinary people.
CHATTER_REPLIES: Final[dict[str, tuple[str, ...]]] = {
    "de": (
        "{handle} Sehe ich genauso!",
        "{handle} Echt? Bei mir war das ganz anders",
        "{handle} Danke für den Tipp",
        "{handle} Haha, kenne ich",
    ),
    "en": (
        "{handle} Totally agree!",
        "{handle} Really? My experience was different",
        "{handle} Thanks for the tip",
        "{handle} Haha, been there",
    ),
}

TOPIC_TAGS: Final[dict[str, tuple[str, ...]]] = {
    "de": ("#Musik", "#Kundenservice", "#Technik", "#Kopfhörer", "#Streaming", "#Fußball", "#Berlin"),
    "en": ("#music", "#customerservice", "#tech", "#headphones", "#streaming", "#football", "#london"),
}

LINK_PATHS: Final = ("angebot", "news", "blog/2024", "produkte/neu", "review", "video")

FIRST_NAMES: Final[dict[str, tuple[str, ...]]] = {
    "de": (
        "Anna", "Lukas", "Mia", "Jonas", "Lena", "Felix", "Sophie", "Paul", "Marie", "Leon",
        "Hannah", "Max", "Emma", "Ben", "Laura", "Tim", "Julia", "Niklas", "Clara", "Jan",
    ),
    "en": (
        "Olivia", "James", "Amelia", "Jack", "Isla", "Harry", "Ava", "George", "Emily", "Noah",
        "Grace", "Oliver", "Chloe", "Leo", "Ruby", "Charlie", "Lily", "Oscar", "Ella", "Jacob",
    ),
}  # fmt: skip

LAST_NAMES: Final[dict[str, tuple[str, ...]]] = {
    "de": (
        "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
        "Schulz", "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Neumann", "Braun",
    ),
    "en": (
        "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies",
        "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green",
    ),
}  # fmt: skip

#: Words of the negative templates; tests and demos use them to recognise a crisis wave.
NEGATIVE_MARKERS: Final = (
    "datenleck",
    "data breach",
    "boykott",
    "boycott",
    "skandal",
    "scandal",
    "disgraceful",
    "unfassbar",
    "unbelievable",
    "kündige",
    "cancelling",
    "vertrauensbruch",
    "breach of trust",
    "ausfall",
    "outage",
)

_ASCII = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"})


def ascii_handle(text: str) -> str:
    """A handle-safe, lower-case version of a name: letters, digits and underscores only."""
    plain = text.translate(_ASCII).lower()
    return "".join(ch if ch.isascii() and (ch.isalnum() or ch == "_") else "_" for ch in plain).strip("_")
