"""Human-readable reference of the estate model, for the CLI and docs/estate.md."""

from __future__ import annotations

from .model import Entity, EstateModel

HEADER = """# The estate model

<!-- Generated from engine/estate/schemas/*.json and engine/estate/synonyms.yaml by
     `python -m dialtone.engine.estate.reference`.
     Do not edit by hand: a test fails when this file is stale. -->

Every collector maps its source into these entities. Field names are what
policy conditions use; a relation (→) is written with a dot in a condition,
e.g. `owner.status` on `lines`. Dates are `YYYY-MM-DD`; date-times are
ISO 8601 in UTC. Lists are written `a;b;c` in CSV and as arrays in JSONL.
`dialtone schema ENTITY` prints the same reference.
"""


def _type(f) -> str:
    text = {"datetime": "date-time"}.get(f.type, f.type)
    if f.enum:
        text += ": " + " / ".join(f.enum)
    if f.item_enum:
        text += " of: " + " / ".join(f.item_enum)
    if f.pattern:
        text += f" (pattern `{f.pattern}`)"
    return text


def entity_reference(entity: Entity) -> str:
    lines = [f"## {entity.name}", "", entity.description, "",
             f"Key: {', '.join(entity.key)}", ""]
    if entity.grouped_by:
        lines += [f"A policy on {entity.name} counts as evaluated one resource per `{entity.grouped_by}` "
                  "(the rows that share it; a row without one is a resource of its own). The built-in "
                  "policies judge a resource by the rows' other fields too, so rows of one "
                  f"`{entity.grouped_by}` that disagree (see [disputes.md](disputes.md)) can give more "
                  "findings than resources evaluated.", ""]
    lines += ["| field | type | required | relation | description |", "|---|---|---|---|---|"]
    for f in entity.fields:
        rel = f"`{f.relation.name}` → {f.relation.entity}" if f.relation else ""
        req = "yes" if f.required else ""
        lines.append(f"| `{f.name}` | {_type(f)} | {req} | {rel} | {f.description} |")
    return "\n".join(lines) + "\n"


GROUPS = {
    "person": "held by one person: the person rules apply (leaver, orphan, multiple lines, device "
              "management), and its cost is a saving when it is idle or a leaver's",
    "custodian": "kept for a function: it needs a custodian (an owner or a cost centre), never a "
                 "person's checks; idle-line rules apply with the function in mind",
    "life_safety": "never a saving and never an orphan to cancel: it must be active and have a "
                   "dispatchable location, and its own policy checks that",
}


def purposes_reference(model: EstateModel) -> str:
    """The line-purpose vocabulary (``x-vocabulary`` of lines.purpose) and what each group means."""
    spec = model.entity("lines").schema["properties"]["purpose"].get("x-vocabulary", {})
    lines = ["## Line purposes", "",
             "`lines.purpose` says what a line is for. It decides which policies apply: a lift phone is",
             "not a leaver's idle line. An empty purpose is unknown: policies about people treat such",
             "a line as a person's, and say so in their findings.", "",
             "| purpose | group | meaning |", "|---|---|---|"]
    lines += [f"| `{name}` | {v['group']} | {v['meaning']} |" for name, v in spec.items()]
    lines += ["", "| group | what applies |", "|---|---|"]
    lines += [f"| {group} | {text} |" for group, text in GROUPS.items()]
    return "\n".join(lines) + "\n"


def vocabulary_reference() -> str:
    """The canonical values sources' words are mapped to (engine/estate/synonyms.yaml)."""
    from .vocabulary import load_vocabulary

    vocabulary = load_vocabulary()
    lines = ["## Vocabulary", "",
             "When rows are collected, values are put in canonical form, ignoring case, spaces, `_` and",
             "`-` and through the synonyms of `engine/estate/synonyms.yaml` (docs/collectors.md,",
             "\"Normalisation\"): policies compare the canonical values. A source's own words are mapped",
             "with the `csv` collector's `values:`. `*.currency` is the `currency` of every entity",
             "that has one, and so on.", "",
             "| field | canonical value | also read as |", "|---|---|---|"]
    # A field several entities share (currency, country) is listed once, with its entities.
    groups: dict[tuple, list[str]] = {}
    for (entity, name), vocab in sorted(vocabulary.fields.items()):
        if vocab.written:
            groups.setdefault((name, vocab.canonical, tuple(sorted(
                vocab.written.items(), key=lambda kv: kv[0] or ""))), []).append(entity)
    for (name, canonical_values, written), entities in sorted(
            groups.items(), key=lambda kv: (kv[1][0], kv[0][0])):
        label = f"`{entities[0]}.{name}`" if len(entities) == 1 else f"`*.{name}`"
        words_of = dict(written)
        for canonical in (*canonical_values, None):
            words = words_of.get(canonical, ())
            if canonical is None and not words:
                continue
            shown = "(empty)" if canonical is None else f"`{canonical}`"
            lines.append(f"| {label} | {shown} | {', '.join(words)} |")
    lines += ["", "Currencies and countries are upper-cased (`usd` → `USD`). Booleans also take `On`/`Off`",
              "and `Enabled`/`Disabled`, and per field:", "",
              "| field | true | false |", "|---|---|---|"]
    for (entity, name), words in sorted(vocabulary.booleans.items()):
        extra_true = [w for w in words.true if w not in ("On", "Enabled")]
        extra_false = [w for w in words.false if w not in ("Off", "Disabled")]
        if extra_true or extra_false:
            lines.append(f"| `{entity}.{name}` | {', '.join(extra_true)} | {', '.join(extra_false)} |")
    return "\n".join(lines) + "\n"


def model_reference(model: EstateModel) -> str:
    parts = [HEADER]
    parts.append("| entity | key | what it holds |\n|---|---|---|")
    for e in model.entities.values():
        parts.append(f"| [{e.name}](#{e.name}) | {', '.join(e.key)} | {e.description} |")
    parts.append("")
    parts.append(purposes_reference(model))
    parts.append(vocabulary_reference())
    for e in model.entities.values():
        parts.append(entity_reference(e))
    return "\n".join(parts)


if __name__ == "__main__":  # regenerate docs/estate.md
    import sys

    from .model import load_model

    sys.stdout.write(model_reference(load_model()))
