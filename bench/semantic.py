"""The `semantic` family: OOLONG-style aggregation over records whose class is not written in them.

Each record is a general-knowledge question in OOLONG's layout (`Date: ... || User: ... || Instance: ...`).
Its class is one of TREC's six coarse classes, by the kind of answer the question seeks; no record
says which, so every record must be read and judged before anything is counted. Questions are written
here from templates and fillers (no dataset hub is reachable), about 860 distinct ones in all.

Question types follow OOLONG-synth: how many records of a class, the most or least common class, which
of two classes is more common, and the count restricted to one user or a date range (`semantic.count`,
`.most`, `.least`, `.compare`, `.user_count`, `.date_count`; their wordings are in bench/wordings.py,
each with the label set and its meanings in the `labels` slot). Scoring follows OOLONG: a count is of
kind "graded" (0.75 ** |error|, tasks.points), a label must be exact (kind "choice").

Seeds: tune with --seed 0 to 99; the figures in docs/semantic.md are on held-out --seed 1000 and up,
which were not run while the prompts and the classify helper were being tuned. That is the data's
held-out rule; the wordings' held-out half (--wordings heldout) is a second one, on top of it.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, timedelta
from typing import Any

from bench.common import Built, Gold, Slots

LABELS = ("abbreviation", "entity", "description", "human", "location", "numeric")
QUESTION_KINDS = ("count", "most", "least", "compare", "user_count", "date_count")
RECORD_CHARS = 82  # mean rendered record length (80) with room, so 2k gives 100 records and 6k gives 300
FIRST_DAY = date(2022, 1, 1)
DAYS = 3 * 365

_ACRONYMS = (
    "NASA", "NATO", "UNESCO", "DNA", "RAM", "CPU", "HTML", "FBI", "UNICEF", "OPEC", "AIDS", "LASER", "SCUBA",
    "RADAR", "ASAP", "BBC", "CIA", "GPS", "USB", "PDF", "JPEG", "MIT", "WHO", "IMF", "ATM", "PIN", "VIP", "DVD",
    "LED", "HIV", "NBA", "FIFA", "AWOL", "RSVP", "CEO", "ISBN", "SIM", "URL", "NAFTA", "SONAR", "GMT", "MRI",
)  # fmt: skip
_LONG_FORMS = (
    "the United Nations", "post meridiem", "Doctor of Philosophy", "the European Union", "miles per hour",
    "Bachelor of Arts", "the World Trade Organization", "Eastern Standard Time", "tablespoon",
    "the National Football League", "Member of Parliament", "intelligence quotient", "ante meridiem",
    "the Federal Reserve", "Master of Business Administration", "frequently asked questions",
    "the International Space Station", "Central Processing Unit", "personal identification number",
)  # fmt: skip
_MUSICIANS = (
    "Miles Davis", "Jimi Hendrix", "Yo-Yo Ma", "Louis Armstrong", "Ravi Shankar", "Charlie Parker",
    "Jaco Pastorius", "Thelonious Monk", "Itzhak Perlman", "Ringo Starr", "Pablo Casals", "Benny Goodman",
    "John Coltrane", "Django Reinhardt", "Keith Moon", "Dizzy Gillespie", "Andres Segovia", "Art Blakey",
)  # fmt: skip
_COUNTRIES = (
    "Brazil", "Iran", "Ethiopia", "Haiti", "Suriname", "Mozambique", "Belgium", "Malta", "Paraguay",
    "Sri Lanka", "Laos", "Kenya", "Peru", "Norway", "Mongolia", "Nigeria", "Bhutan", "Morocco", "Vietnam",
    "Chile", "Turkey", "Egypt", "Australia", "Canada", "Kazakhstan", "New Zealand", "Iceland", "Portugal",
)  # fmt: skip
_ATHLETES = (
    "Serena Williams", "Lionel Messi", "Wayne Gretzky", "Tiger Woods", "Babe Ruth", "Sachin Tendulkar",
    "Michael Phelps", "Roger Federer", "Tom Brady", "Magnus Carlsen", "Shaquille O'Neal", "Simone Biles",
    "Pele", "Muhammad Ali", "Jonah Lomu", "Nadia Comaneci",
)  # fmt: skip
_CREATURES = (
    "a dugong", "an axolotl", "a quokka", "a pangolin", "a kinkajou", "a tarsier", "a narwhal", "a capybara",
    "an okapi", "a wombat", "a gharial", "a marmoset", "a blobfish", "a fossa", "a numbat",
)  # fmt: skip
_DISHES = (
    "guacamole", "hummus", "tabbouleh", "paella", "risotto", "borscht", "falafel", "pesto", "polenta",
    "couscous", "tzatziki", "gazpacho", "baba ghanoush", "kimchi", "poutine",
)  # fmt: skip
_COLORED = (
    "a ripe mango", "a flamingo", "an emerald", "copper sulfate", "a robin's egg", "chlorophyll",
    "the planet Mars", "a polar bear's skin", "the Hope Diamond", "a lobster after cooking", "turmeric",
)  # fmt: skip
_DISEASE_CAUSES = (
    "a lack of vitamin C", "the bite of an infected mosquito", "the varicella-zoster virus",
    "a shortage of iodine", "the bacterium Vibrio cholerae", "a lack of vitamin D", "the tsetse fly",
    "eating undercooked pork", "a deficiency of vitamin B1",
)  # fmt: skip
_FAMOUS_DOGS = ("Scooby-Doo", "Lassie", "Snoopy", "Rin Tin Tin", "Marmaduke", "Toto", "Gromit", "Odie", "Brian Griffin")
_WHY_DO = (
    "cats purr", "dogs wag their tails", "leaves change color in the fall", "birds migrate south",
    "onions make people cry", "stars twinkle", "people yawn", "zebras have stripes", "camels have humps",
    "our ears pop on airplanes", "cats knead blankets", "geese fly in a V formation", "fingers wrinkle in water",
    "cats land on their feet", "we get goosebumps", "owls hoot at night", "moths fly toward light",
)  # fmt: skip
_WHY_IS = (
    "the sky blue", "the ocean salty", "the Dead Sea so salty", "ice slippery", "Venus so hot",
    "the Leaning Tower of Pisa tilted", "gold so valuable", "snow white", "the moon sometimes red",
    "the Amazon rainforest important", "Pluto no longer a planet", "the number zero important",
)  # fmt: skip
_MECHANISMS = (
    "a microwave oven", "a refrigerator", "a jet engine", "a compass", "a vaccine", "photosynthesis",
    "a touchscreen", "a hydraulic brake", "a thermostat", "a sundial", "a credit score", "a nuclear reactor",
    "a hot air balloon", "a pacemaker", "noise-cancelling headphones",
)  # fmt: skip
_TERMS = (
    "photosynthesis", "irony", "inflation", "entropy", "a sonnet", "osmosis", "democracy", "a haiku",
    "gerrymandering", "biodiversity", "a black hole", "a filibuster", "an oxymoron", "a recession",
    "plate tectonics", "a palindrome", "stoicism", "a sonata",
)  # fmt: skip
_HOW_TO = (
    "tie a bowline knot", "make a sourdough starter", "remove a red wine stain", "treat a bee sting",
    "calculate compound interest", "prune a rose bush", "get rid of hiccups", "fold a paper crane",
    "change a flat tire", "descale a kettle", "grow tomatoes indoors", "season a cast iron pan",
)  # fmt: skip
_PHENOMENA = (
    "hiccups", "the northern lights", "earthquakes", "the tides", "rainbows", "thunder", "jet lag",
    "a solar eclipse", "acid rain", "static electricity", "brain freeze", "the seasons", "tsunamis",
)  # fmt: skip
_DIFFERENCES = (
    "a virus and a bacterium", "weather and climate", "a crocodile and an alligator",
    "baking soda and baking powder", "a hurricane and a typhoon", "a comet and an asteroid",
    "a simile and a metaphor", "an ape and a monkey", "a lake and a pond", "empathy and sympathy",
)  # fmt: skip
_ARTWORKS = (
    "the Mona Lisa", "The Starry Night", "Guernica", "The Last Supper", "The Persistence of Memory",
    "Girl with a Pearl Earring", "The Scream", "American Gothic", "The Birth of Venus", "The Night Watch",
    "Las Meninas", "The Kiss", "Water Lilies", "The Garden of Earthly Delights",
)  # fmt: skip
_BOOKS = (
    "Pride and Prejudice", "One Hundred Years of Solitude", "The Old Man and the Sea", "Don Quixote",
    "Frankenstein", "The Brothers Karamazov", "Things Fall Apart", "Beloved", "Moby-Dick", "The Tale of Genji",
    "War and Peace", "Dracula", "Invisible Man", "The Little Prince", "Middlemarch", "The Divine Comedy",
)  # fmt: skip
_INVENTIONS = (
    "the telephone", "the light bulb", "the printing press", "the World Wide Web", "dynamite",
    "the cotton gin", "the jet engine", "the typewriter", "the safety pin", "the periodic table",
    "the steam engine", "the ballpoint pen", "the radio", "the hovercraft",
)  # fmt: skip
_FIRSTS = (
    "person to walk on the Moon", "woman in space", "person to climb Mount Everest", "emperor of Rome",
    "prime minister of India", "person to swim the English Channel", "woman to win a Nobel Prize",
    "president of the United States", "person to reach the South Pole", "female prime minister of Britain",
)  # fmt: skip
_DISCOVERIES = (
    "penicillin", "radium", "the structure of DNA", "Pluto", "X-rays", "the moons of Jupiter", "insulin",
    "oxygen", "the electron", "the Higgs boson", "the Rosetta Stone",
)  # fmt: skip
_PRODUCTS = (
    "the iPhone", "the PlayStation", "Lego bricks", "the Walkman", "the Model T", "Kleenex", "Nutella",
    "the Game Boy", "the Beetle car", "the Kindle", "Post-it notes",
)  # fmt: skip
_PIECES = (
    "The Four Seasons", "the Moonlight Sonata", "The Magic Flute", "Swan Lake", "Rhapsody in Blue",
    "The Rite of Spring", "Clair de Lune", "Bolero", "The Planets", "the Ode to Joy", "The Nutcracker",
)  # fmt: skip
_THEORIES = (
    "the theory of relativity", "natural selection", "the heliocentric model", "the uncertainty principle",
    "the laws of motion", "continental drift", "the germ theory of disease", "the Big Bang theory",
)  # fmt: skip
_PLACES = (
    "Lake Titicaca", "Angkor Wat", "the Great Barrier Reef", "Timbuktu", "Machu Picchu", "the Atacama Desert",
    "Mount Kilimanjaro", "Petra", "the Alhambra", "the Serengeti", "Easter Island", "the Taj Mahal",
    "Chichen Itza", "Stonehenge", "Ha Long Bay", "the Matterhorn", "Lake Bled", "Cappadocia",
    "the Okavango Delta", "Bruges", "Dubrovnik", "the Gobi Desert", "Mount Fuji",
)  # fmt: skip
_PEOPLE = (
    "Napoleon Bonaparte", "Frida Kahlo", "Nelson Mandela", "Albert Einstein", "Marie Curie",
    "Wolfgang Amadeus Mozart", "Che Guevara", "Genghis Khan", "Bob Marley", "Freddie Mercury", "Rumi",
    "Vincent van Gogh", "Cleopatra", "Ada Lovelace", "Simon Bolivar",
)  # fmt: skip
_CITIES_ON_RIVERS = (
    "Baghdad", "Budapest", "Cairo", "Paris", "Vienna", "Kyiv", "Prague", "Khartoum", "London", "Rome",
    "Shanghai", "New Orleans", "Warsaw", "Lisbon",
)  # fmt: skip
_OLYMPIC_YEARS = ("1896", "1936", "1964", "1968", "1972", "1988", "1992", "2000", "2004", "2008", "2016")
_SUPERLATIVE_PLACES = (
    "the largest desert in Asia", "the largest lake in Africa", "the longest river in Europe",
    "the highest mountain in Africa", "the largest island in the Mediterranean", "the deepest lake in the world",
    "the driest place on Earth", "the smallest country in Europe", "the coldest city in the world",
)  # fmt: skip
_FINDABLE = (
    "the Rosetta Stone", "the Liberty Bell", "the Terracotta Army", "the Venus de Milo", "koalas in the wild",
    "the world's tallest waterfall", "the Book of Kells", "the oldest university in Europe",
)  # fmt: skip
_PLANETS = ("Mars", "Jupiter", "Neptune", "Uranus", "Saturn", "Pluto")
_HOW_MANY = (
    "bones are in the adult body", "keys are on a standard piano", "players are on a rugby union team",
    "states are in Brazil", "strings does a cello have", "hearts does an octopus have",
    "teeth does an adult have", "squares are on a chessboard", "time zones does Russia span",
    "symphonies did Beethoven write", "official languages does Switzerland have", "legs does a spider have",
    "cards are in a tarot deck", "countries border Germany", "islands make up Japan",
    "amendments does the US Constitution have",
)  # fmt: skip
_WHEN_DID = (
    "the Berlin Wall fall", "the Titanic sink", "World War I begin", "the first Moon landing happen",
    "the French Revolution start", "Columbus reach the Americas", "the Great Fire of London take place",
    "the Chernobyl disaster happen", "India gain independence", "the Roman Empire fall", "the Euro come into use",
)  # fmt: skip
_WHAT_YEAR = (
    "the Eiffel Tower completed", "Harvard University founded", "the Magna Carta signed",
    "the first iPhone released", "the Golden Gate Bridge opened", "the United Nations founded",
    "the Suez Canal opened", "the Panama Canal finished", "Wikipedia launched",
)  # fmt: skip
_TALL = (
    "the Eiffel Tower", "Mount Everest", "the Burj Khalifa", "the Statue of Liberty", "Big Ben",
    "an adult giraffe", "the Great Pyramid of Giza", "a coast redwood", "Angel Falls",
)  # fmt: skip
_DISTANCES = (
    "the Moon from the Earth", "Paris from London", "the Sun from Mars", "Tokyo from Osaka",
    "New York from Boston", "Sydney from Auckland", "Cairo from Alexandria",
)  # fmt: skip
_POPULATED = ("Tokyo", "Iceland", "Lagos", "Canada", "Monaco", "Mexico City", "Australia", "Shanghai", "Luxembourg")
_LONG_THINGS = (
    "the Great Wall of China", "the Nile", "a marathon", "a day on Venus", "an Olympic swimming pool",
    "the Panama Canal", "the Golden Gate Bridge", "a blue whale", "the Channel Tunnel",
)  # fmt: skip
_HEAVY = (
    "a blue whale", "an African elephant", "the Statue of Liberty", "a gallon of water", "a newborn panda",
    "the International Space Station", "a grand piano", "an adult brain",
)  # fmt: skip
_SUBSTANCES = ("water", "ethanol", "nitrogen", "mercury", "olive oil", "liquid helium", "iron")
_RUNNERS = ("a cheetah", "an ostrich", "a greyhound", "a grizzly bear", "a racehorse", "a kangaroo", "a house cat")

# (template, fillers) per class; every question text belongs to exactly one class.
BANK: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "abbreviation": (
        ("What does {} stand for?", _ACRONYMS),
        ("What is the full form of {}?", _ACRONYMS),
        ("What is {} short for?", _ACRONYMS),
        ("What do the letters {} mean?", _ACRONYMS),
        ("What is the short form of {}?", _LONG_FORMS),
        ("What is the acronym for {}?", _LONG_FORMS),
    ),
    "entity": (
        ("What instrument did {} play?", _MUSICIANS),
        ("What language is spoken in {}?", _COUNTRIES),
        ("What is the national animal of {}?", _COUNTRIES),
        ("What currency is used in {}?", _COUNTRIES),
        ("What sport did {} play?", _ATHLETES),
        ("What kind of animal is {}?", _CREATURES),
        ("What is the main ingredient in {}?", _DISHES),
        ("What color is {}?", _COLORED),
        ("Which disease is caused by {}?", _DISEASE_CAUSES),
        ("What breed of dog is {}?", _FAMOUS_DOGS),
    ),
    "description": (
        ("Why do {}?", _WHY_DO),
        ("Why is {}?", _WHY_IS),
        ("How does {} work?", _MECHANISMS),
        ("What is the definition of {}?", _TERMS),
        ("What does the word {} mean?", _TERMS),
        ("How do you {}?", _HOW_TO),
        ("What causes {}?", _PHENOMENA),
        ("What is the difference between {}?", _DIFFERENCES),
    ),
    "human": (
        ("Who painted {}?", _ARTWORKS),
        ("Who wrote {}?", _BOOKS),
        ("Who invented {}?", _INVENTIONS),
        ("Who was the first {}?", _FIRSTS),
        ("Who discovered {}?", _DISCOVERIES),
        ("Which company makes {}?", _PRODUCTS),
        ("Who composed {}?", _PIECES),
        ("Which scientist proposed {}?", _THEORIES),
        ("What was the name of the artist who painted {}?", _ARTWORKS),
    ),
    "location": (
        ("Where is {}?", _PLACES),
        ("What is the capital of {}?", _COUNTRIES),
        ("In which country is {}?", _PLACES),
        ("Where was {} born?", _PEOPLE),
        ("What river flows through {}?", _CITIES_ON_RIVERS),
        ("Which city hosted the {} Summer Olympics?", _OLYMPIC_YEARS),
        ("Where is {}?", _SUPERLATIVE_PLACES),
        ("Where can you see {}?", _FINDABLE),
        ("What country borders {} to the north?", _COUNTRIES),
    ),
    "numeric": (
        ("How many moons does {} have?", _PLANETS),
        ("How many {}?", _HOW_MANY),
        ("When did {}?", _WHEN_DID),
        ("What year was {}?", _WHAT_YEAR),
        ("How tall is {}?", _TALL),
        ("How far is {}?", _DISTANCES),
        ("What is the population of {}?", _POPULATED),
        ("How long is {}?", _LONG_THINGS),
        ("How much does {} weigh?", _HEAVY),
        ("What is the boiling point of {}?", _SUBSTANCES),
        ("How fast can {} run?", _RUNNERS),
    ),
}


def questions(label: str) -> list[str]:
    """Every distinct question of one class, in a fixed order."""
    return list(dict.fromkeys(template.format(f) for template, fillers in BANK[label] for f in fillers))


_POOL = {label: questions(label) for label in LABELS}

MEANINGS = {
    "abbreviation": "what an abbreviation stands for, or the short form of something",
    "entity": "a thing such as an animal, instrument, language, food, color, sport or disease",
    "description": "a reason, a way of doing, or what something means",
    "human": "a person, a group or a company",
    "location": "a place",
    "numeric": "a number, an amount or a date",
}
# The label set as every wording names it: each label with a few words on what it means.
LABEL_LIST = "; ".join(f"{label} ({meaning})" for label, meaning in MEANINGS.items())


def _date(day: int) -> str:
    return (FIRST_DAY + timedelta(days=day)).isoformat()


def _weights(rng: random.Random) -> list[float]:
    """Uneven class shares, as in real question logs; some classes several times as common as others."""
    return [rng.gammavariate(2.0, 1.0) + 0.15 for _ in LABELS]


def _separated(counts: Counter[str], margin: int) -> bool:
    """Whether the most and the least common classes lead the next one by at least `margin`."""
    ranked = sorted((counts[label] for label in LABELS), reverse=True)
    return ranked[0] - ranked[1] >= margin and ranked[-2] - ranked[-1] >= margin


Row = tuple[int, str, str, str]  # (day, user, class, question)


def build(rng: random.Random, target_chars: int, salt: int) -> Built:
    """About target_chars of records and one question type about their classes, gold counted from the records."""
    n = max(20, round(target_chars / RECORD_CHARS))
    margin = max(2, n // 25)  # so that "most common" has one answer a careful reader can find
    while True:
        weights = _weights(rng)
        classes = rng.choices(LABELS, weights, k=n)
        if _separated(Counter(classes), margin):
            break
    users = [str(rng.randint(10_000, 99_999)) for _ in range(max(6, n // 15))]
    activity = [1.0 / (rank + 1) for rank in range(len(users))]  # a few users ask most questions
    records: list[Row] = sorted(
        ((rng.randrange(DAYS), rng.choices(users, activity)[0], label, rng.choice(_POOL[label])) for label in classes),
        key=lambda r: r[0],
    )
    kind = QUESTION_KINDS[salt % len(QUESTION_KINDS)]
    slots, gold, answer_kind, params = _ask(rng, kind, records, margin)
    lines = [f"Date: {_date(day)} || User: {user} || Instance: {text}" for day, user, _, text in records]
    counts = Counter(label for _, _, label, _ in records)
    meta: dict[str, Any] = {
        "question_type": kind,
        "params": params,
        "records": len(records),
        "users": len(users),
        "counts": {label: counts[label] for label in LABELS},
    }
    names = [] if answer_kind == "graded" else list(LABELS)
    files = {"questions.txt": "\n".join(lines) + "\n"}
    return Built(f"semantic.{kind}", {"labels": LABEL_LIST, **slots}, gold, answer_kind, files, names, meta)


def _ask(rng: random.Random, kind: str, records: list[Row], margin: int) -> tuple[Slots, Gold, str, dict[str, Any]]:
    """The slots of one question type, its gold answer, how it is scored, and its parameters.

    The draws are those the family made before its questions had wordings, so a seed gives the same task.
    """
    counts = Counter(label for _, _, label, _ in records)
    if kind == "count":
        x = rng.choice(LABELS)
        return {"x": x}, counts[x], "graded", {"label": x}
    if kind in ("most", "least"):
        ranked = sorted(LABELS, key=lambda label: counts[label], reverse=kind == "most")
        return {}, ranked[0], "choice", {}
    if kind == "compare":
        pairs = [(a, b) for a in LABELS for b in LABELS if a < b and abs(counts[a] - counts[b]) >= margin]
        a, b = rng.choice(pairs)
        a, b = rng.sample((a, b), 2)
        gold = a if counts[a] > counts[b] else b
        return {"a": a, "b": b}, gold, "choice", {"labels": [a, b]}
    x = rng.choice(LABELS)
    if kind == "user_count":
        by_user = Counter(user for _, user, _, _ in records)
        user = rng.choice([u for u, _ in by_user.most_common(3)])
        gold = sum(1 for _, u, label, _ in records if u == user and label == x)
        return {"x": x, "user": user}, gold, "graded", {"label": x, "user": user}
    start = rng.randrange(0, DAYS - 200)
    end = start + rng.randrange(120, 400)
    gold = sum(1 for day, _, label, _ in records if start <= day <= end and label == x)
    first, last = _date(start), _date(end)
    return {"x": x, "first": first, "last": last}, gold, "graded", {"label": x, "from": first, "to": last}
