"""Word lists of the baseline lexicon scorer (written for this project; no third-party lexicon).

Valences run from -3 (very negative) to +3 (very positive). German entries are base forms; the scorer
also tries them with common inflection endings stripped. Social-media spellings map onto words the
lexicon knows. Emoji and emoticons count in every language.
"""

from __future__ import annotations


def _expand(groups: dict[float, str]) -> dict[str, float]:
    return {word: valence for valence, words in groups.items() for word in words.split()}


EN_WORDS: dict[str, float] = _expand(
    {
        3.0: "love loved loving awesome amazing excellent fantastic perfect brilliant outstanding superb "
        "wonderful incredible best favourite favorite thrilled delighted masterpiece epic flawless",
        2.0: "great good happy glad like liked enjoy enjoyed nice beautiful cool fun excited exciting "
        "recommend recommended thanks thank thankful grateful impressive impressed helpful "
        "congrats congratulations win winner winning yay wow lovely pleased proud cute sweet "
        "well-done stunning smooth fast reliable friendly satisfied",
        1.0: "ok okay fine decent better improved solid easy useful fair hope hopefully interesting "
        "support supported fixed works working clean safe welcome glad",
        -1.0: "slow meh bored boring wait waiting confusing confused unclear expensive late delay "
        "delayed problem problems issue issues bug bugs weird odd hard difficult miss missed "
        "lacking worse sorry unfortunately doubt cancelled canceled",
        -2.0: "bad poor sad angry annoyed annoying disappointed disappointing disappointment fail "
        "failed failure fails broken broke crash crashed crashes sucks suck wrong ugly "
        "unhappy useless rude complain complaint complaints waste wasted overpriced scam "
        "lost hate hated hates refund lame mess unacceptable ridiculous frustrating frustrated",
        -3.0: "terrible horrible awful worst disgusting pathetic furious disaster nightmare fraud "
        "garbage trash crap hell outrage outrageous shameful never-again",
    }
)

DE_WORDS: dict[str, float] = _expand(
    {
        3.0: "liebe lieben geliebt großartig grossartig genial hervorragend fantastisch phantastisch "
        "perfekt wunderbar wundervoll traumhaft spitze klasse hammer beste bester bestes "
        "begeistert mega-gut sensationell überragend ueberragend grandios",
        2.0: "gut schön schoen toll super freude freuen freue glücklich gluecklich froh danke dank "
        "dankbar lecker empfehlen empfehlenswert empfehle gefällt gefaellt gefallen mag mögen "
        "cool nett lustig spaß spass witzig stark schnell zuverlässig zuverlaessig freundlich "
        "zufrieden glückwunsch glueckwunsch gratulation gewonnen sieg yay juhu hurra "
        "beeindruckend beeindruckt hilfreich pünktlich puenktlich bequem lieb süß suess",
        1.0: "ok okay okey ordentlich besser verbessert solide einfach nützlich nuetzlich fair "
        "hoffentlich interessant spannend sauber sicher willkommen passt funktioniert klappt",
        -1.0: "langsam langweilig warten wartet wartezeit verwirrend teuer spät spaet verspätung "
        "verspaetung verspätet verspaetet problem probleme fehler komisch schwer schwierig "
        "leider schlechter zweifel ausfall ausgefallen umständlich umstaendlich überfüllt ueberfuellt",
        -2.0: "schlecht schlimm traurig sauer ärgerlich aergerlich ärgern aergern ärger aerger "
        "enttäuscht enttaeuscht enttäuschend enttaeuschend enttäuschung enttaeuschung "
        "kaputt defekt falsch hässlich haesslich unzufrieden nutzlos unhöflich unhoeflich "
        "beschwerde beschweren verschwendung abzocke nervt nervig nerven hasse hassen hass "
        "peinlich lächerlich laecherlich frech mies doof blöd bloed dumm versagt versagen "
        "inakzeptabel frust frustrierend chaos streik gestrichen storniert",
        -3.0: "schrecklich furchtbar katastrophe katastrophal grauenhaft grauenvoll scheiße scheisse "
        "scheiß scheiss mist müll muell skandal widerlich ekelhaft betrug unverschämt "
        "unverschaemt zumutung schlimmste schlechteste desaster albtraum alptraum wütend wuetend "
        "kacke",
    }
)

#: Social-media spellings -> words of the lexicons (applied after lower-casing and squeezing
#: letters repeated three or more times down to two).
SPELLINGS: dict[str, str] = {
    # English
    "gud": "good",
    "gd": "good",
    "luv": "love",
    "lub": "love",
    "thx": "thanks",
    "thnx": "thanks",
    "ty": "thanks",
    "tysm": "thanks",
    "gr8": "great",
    "awsome": "awesome",
    "amazin": "amazing",
    "h8": "hate",
    "wtf": "outrage",
    "smh": "disappointed",
    "ffs": "annoyed",
    "lit": "awesome",
    "fav": "favourite",
    "fave": "favourite",
    "pls": "please",
    "plz": "please",
    "u": "you",
    "cant": "can't",
    "dont": "don't",
    "doesnt": "doesn't",
    "isnt": "isn't",
    "wasnt": "wasn't",
    "wont": "won't",
    "didnt": "didn't",
    "aint": "ain't",
    "nope": "no",
    # German
    "suuper": "super",
    "subba": "super",
    "supi": "super",
    "geil": "genial",
    "geilo": "genial",
    "nich": "nicht",
    "nicht's": "nichts",
    "ned": "nicht",
    "nid": "nicht",
    "net": "nicht",
    "keene": "keine",
    "kein's": "keins",
    "dangge": "danke",
    "dankeschön": "danke",
    "vielendank": "danke",
    "schade": "leider",
    "sch***e": "scheiße",
    "sch...": "scheiße",
    "mega": "mega",
    "echt": "echt",
    "bissl": "bisschen",
    "bisl": "bisschen",
    "bissel": "bisschen",
}

#: Words that flip what follows (within :data:`NEGATION_WINDOW` tokens).
EN_NEGATIONS = frozenset(
    [
        "not",
        "no",
        "never",
        "none",
        "nobody",
        "nothing",
        "neither",
        "nor",
        "without",
        "n't",
        "can't",
        "don't",
        "doesn't",
        "isn't",
        "wasn't",
        "aren't",
        "weren't",
        "won't",
        "wouldn't",
        "couldn't",
        "shouldn't",
        "didn't",
        "hasn't",
        "haven't",
        "hadn't",
        "ain't",
        "cannot",
    ]
)
DE_NEGATIONS = frozenset(
    [
        "nicht",
        "kein",
        "keine",
        "keinen",
        "keinem",
        "keiner",
        "keines",
        "keins",
        "nie",
        "niemals",
        "nichts",
        "niemand",
        "weder",
        "ohne",
        "kaum",
    ]
)

#: Multipliers of the next sentiment word.
EN_INTENSIFIERS: dict[str, float] = {
    **dict.fromkeys(
        [
            "very",
            "really",
            "so",
            "extremely",
            "absolutely",
            "totally",
            "completely",
            "super",
            "incredibly",
            "truly",
            "highly",
            "deeply",
            "damn",
            "freaking",
            "fucking",
            "such",
            "too",
        ],
        1.5,
    ),
    **dict.fromkeys(["quite", "pretty", "rather"], 1.2),
    **dict.fromkeys(["slightly", "somewhat", "kinda", "kind-of", "a-bit", "barely", "little"], 0.5),
}
DE_INTENSIFIERS: dict[str, float] = {
    **dict.fromkeys(
        [
            "sehr",
            "echt",
            "total",
            "richtig",
            "extrem",
            "absolut",
            "voll",
            "mega",
            "ultra",
            "ober",
            "so",
            "äußerst",
            "aeusserst",
            "wirklich",
            "unglaublich",
            "besonders",
            "zu",
            "verdammt",
            "krass",
            "super",
            "höchst",
            "hoechst",
        ],
        1.5,
    ),
    **dict.fromkeys(["ziemlich", "recht", "ganz"], 1.2),
    **dict.fromkeys(["etwas", "bisschen", "wenig", "leicht", "eher", "halbwegs"], 0.5),
}

#: "But": sentiment before it counts half, after it one and a half (the clause after "but" is what
#: the writer means).
EN_CONTRAST = frozenset(["but", "however", "though", "although", "yet"])
DE_CONTRAST = frozenset(["aber", "jedoch", "doch", "allerdings", "trotzdem", "sondern"])

#: Emoji and emoticons, in every language.
EMOJI: dict[str, float] = {
    **dict.fromkeys(
        [
            "😍",
            "🥰",
            "😘",
            "❤",
            "❤️",
            "💕",
            "💖",
            "💗",
            "💯",
            "🤩",
            "🥳",
            "🎉",
            "👏",
            "🙌",
            "💪",
            "🔥",
            "⭐",
            "🌟",
            "✨",
            "🏆",
            "♥",
        ],
        2.5,
    ),
    **dict.fromkeys(
        [
            "😀",
            "😃",
            "😄",
            "😁",
            "😊",
            "🙂",
            "😉",
            "😆",
            "😋",
            "😎",
            "👍",
            "🙏",
            "👌",
            "✅",
            "😂",
            "🤣",
            "🤗",
            "☺",
        ],
        2.0,
    ),
    **dict.fromkeys(
        [":)", ":-)", ":d", ":-d", ";)", ";-)", ":p", ":-p", "=)", "^^", "xd", "<3", ":]", "(:", ":))"], 2.0
    ),
    **dict.fromkeys(["😐", "😑", "🤔", "😶", "🙄", "😬"], -0.5),
    **dict.fromkeys(
        [
            "😕",
            "😟",
            "🙁",
            "☹",
            "😞",
            "😔",
            "😒",
            "😩",
            "😫",
            "😢",
            "😥",
            "😓",
            "👎",
            "💔",
            "❌",
            "🤦",
            ":(",
            ":-(",
            ":/",
            ":-/",
            ":'(",
            ";(",
            ":((",
        ],
        -2.0,
    ),
    **dict.fromkeys(["😠", "😡", "🤬", "🤮", "🤢", "😤", "😭", "💩", "🖕"], -2.5),
}
