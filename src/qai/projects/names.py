"""Project names: random two-word kebab-case slugs such as ``purple-elephant``."""

from __future__ import annotations

import secrets

ADJECTIVES = (
    "amber", "ancient", "azure", "bold", "brave", "bright", "brisk", "calm", "clever", "cosmic",
    "crimson", "curious", "dapper", "daring", "dusty", "eager", "electric", "emerald", "fancy",
    "fearless", "fuzzy", "gentle", "giant", "golden", "happy", "hidden", "humble", "icy", "jolly",
    "kind", "lively", "lucky", "lunar", "magic", "mellow", "mighty", "misty", "modern", "nimble",
    "noble", "odd", "orange", "patient", "pink", "polite", "proud", "purple", "quick", "quiet",
    "rapid", "rosy", "royal", "rustic", "scarlet", "shiny", "silent", "silver", "sleepy", "smooth",
    "snowy", "solar", "spicy", "steady", "stellar", "sunny", "swift", "tidy", "tiny", "velvet",
    "vivid", "warm", "wild", "wise", "witty", "young", "zesty",
)
NOUNS = (
    "anchor", "badger", "beacon", "bison", "breeze", "canyon", "castle", "cedar", "comet", "coral",
    "crane", "dolphin", "dragon", "eagle", "elephant", "falcon", "fern", "forest", "fox", "galaxy",
    "garden", "glacier", "harbor", "hawk", "heron", "island", "jaguar", "koala", "lagoon", "lantern",
    "lemur", "lion", "lotus", "meadow", "meteor", "moose", "mountain", "nebula", "ocean", "orchid",
    "otter", "owl", "panda", "panther", "pebble", "penguin", "phoenix", "pine", "planet", "puffin",
    "quartz", "rabbit", "raven", "reef", "river", "rocket", "sparrow", "squirrel", "summit", "tiger",
    "tulip", "turtle", "valley", "voyager", "walrus", "willow", "wolf", "yak", "zebra",
)


def random_project_name() -> str:
    return f"{secrets.choice(ADJECTIVES)}-{secrets.choice(NOUNS)}"
