import random

import torch

from longshot_models import probe, world
from longshot_models.paraphrases import PARAPHRASES


def test_same_seed_same_clips() -> None:
    a = [world.sample_spec(random.Random(3)) for _ in range(1)]
    b = [world.sample_spec(random.Random(3)) for _ in range(1)]
    assert a == b
    fa = world.render(a[0], world.frame_times(65))
    fb = world.render(b[0], world.frame_times(65))
    assert torch.equal(fa, fb)
    assert fa.shape == (65, 3, world.SIZE, world.SIZE)
    assert fa.min() >= -1 and fa.max() <= 1


def test_world_covers_the_required_vocabulary() -> None:
    assert {"circle", "square", "triangle"} <= set(world.SHAPES)
    assert {"red", "green", "blue", "yellow", "white", "purple"} <= set(world.COLOURS)
    assert {"black", "white", "gray", "dark blue"} <= set(world.BACKGROUNDS)
    assert {"left", "right", "up", "down", "approaching", "receding"} == set(world.MOTIONS)


def test_held_out_split_is_at_least_a_fifth_and_every_factor_stays_seen() -> None:
    combos, held = world.all_combos(), world.held_out_combos()
    assert len(held) / len(combos) >= 0.20
    seen = world.seen_combos()
    assert set(seen).isdisjoint(held)
    for i, values in enumerate((world.COLOURS, world.SHAPES, world.MOTIONS)):
        assert {c[i] for c in seen} == set(values)


def test_training_never_draws_a_held_out_combination() -> None:
    rng = random.Random(0)
    for _ in range(2000):
        assert not world.is_held_out(world.sample_spec(rng, split="train").combo)
    rng = random.Random(1)
    assert all(world.is_held_out(world.sample_spec(rng, split="held_out").combo) for _ in range(200))


def test_every_prompt_parses_back_to_its_clip() -> None:
    rng = random.Random(2)
    for _ in range(500):
        spec = world.sample_spec(rng, split="any")
        assert probe.parse_prompt(spec.prompt) == {"colour": spec.colour, "shape": spec.shape, "motion": spec.motion, "background": spec.background}


def test_motion_is_the_same_at_any_frame_rate() -> None:
    spec = world.sample_spec(random.Random(4), combo=("red", "circle", "right"))
    f65 = world.render(spec, world.frame_times(65))
    f257 = world.render(spec, world.frame_times(257))
    assert torch.allclose(f65, f257[::4])


def test_the_extra_phrasings_teach_no_word_of_the_paraphrase_set() -> None:
    """Training's extra motion phrasings may reuse the world's own words, never one only the paraphrases use, so
    `evaluate --paraphrases` keeps measuring wording the models never saw."""
    words = lambda texts: {w.strip(",:") for t in texts for w in t.split()}  # noqa: E731
    own = words(p for m in world.MOTIONS for p in world._MOTION_WORDS[m]) | words(world._TEMPLATES) | set(world.COLOURS)
    extra = words(p for m in world.MOTIONS for p in world._MORE_MOTION_WORDS[m])
    paraphrased = words(p[0] for p in PARAPHRASES)
    assert extra & paraphrased <= own, sorted(extra & paraphrased - own)
    assert extra - own, "the extra phrasings add no wording"
    # and no extra phrasing is itself one of a paraphrase's motion phrases
    assert not [(p, q[0]) for m in world.MOTIONS for p in world._MORE_MOTION_WORDS[m] for q in PARAPHRASES if p in q[0]]
