"""Free-English prompts the world never says (other words, other word order), with what each asks for.

Fixed before any evaluation and never used in training: `evaluate --paraphrases` scores the pack on them to see
whether users' own wording lands near the trained prompts. Six per motion, colours, shapes and backgrounds mixed.
"""

from __future__ import annotations

# (prompt, colour, shape, motion, background)
PARAPHRASES: tuple[tuple[str, str, str, str, str], ...] = (
    ("on a black background, a green circle slides toward the left", "green", "circle", "left", "black"),
    ("the orange square travels left across a gray background", "orange", "square", "left", "gray"),
    ("watch a cyan triangle glide leftward over a dark blue background", "cyan", "triangle", "left", "dark blue"),
    ("leftward motion: a white circle on a black background", "white", "circle", "left", "black"),
    ("a purple box heads to the left, the background is white", "purple", "square", "left", "white"),
    ("yellow triangle, gray backdrop, moving towards the left side", "yellow", "triangle", "left", "gray"),
    ("a blue square slides toward the right on a white background", "blue", "square", "right", "white"),
    ("the red triangle travels right across a black background", "red", "triangle", "right", "black"),
    ("on a gray background a purple ball glides rightward", "purple", "circle", "right", "gray"),
    ("rightward motion: an orange circle over a dark blue background", "orange", "circle", "right", "dark blue"),
    ("a cyan square heads to the right, the background is black", "cyan", "square", "right", "black"),
    ("green triangle, white backdrop, moving towards the right side", "green", "triangle", "right", "white"),
    ("a yellow circle climbs upward on a dark blue background", "yellow", "circle", "up", "dark blue"),
    ("the white triangle ascends over a gray background", "white", "triangle", "up", "gray"),
    ("on a black background a blue square goes upwards", "blue", "square", "up", "black"),
    ("an orange triangle lifts off toward the top, black background", "orange", "triangle", "up", "black"),
    ("a green box climbs to the top of a white background", "green", "square", "up", "white"),
    ("red ball floating toward the top, gray backdrop", "red", "circle", "up", "gray"),
    ("a purple circle drops downward on a white background", "purple", "circle", "down", "white"),
    ("the cyan triangle descends over a black background", "cyan", "triangle", "down", "black"),
    ("on a dark blue background a yellow square goes downwards", "yellow", "square", "down", "dark blue"),
    ("a white ball sinks toward the bottom, black background", "white", "circle", "down", "black"),
    ("an orange box drops to the bottom of a gray background", "orange", "square", "down", "gray"),
    ("blue triangle heading toward the bottom, white backdrop", "blue", "triangle", "down", "white"),
    ("a red square grows larger as it comes toward the camera, black background", "red", "square", "approaching", "black"),
    ("the blue ball gets bigger and nearer over a white background", "blue", "circle", "approaching", "white"),
    ("on a gray background a green triangle comes toward the viewer", "green", "triangle", "approaching", "gray"),
    ("a yellow circle zooming in on a dark blue background", "yellow", "circle", "approaching", "dark blue"),
    ("an orange square drawing near, black backdrop", "orange", "square", "approaching", "black"),
    ("cyan ball moving toward us, white background", "cyan", "circle", "approaching", "white"),
    ("a white square shrinks as it heads off into the distance, black background", "white", "square", "receding", "black"),
    ("the purple ball gets smaller and farther over a gray background", "purple", "circle", "receding", "gray"),
    ("on a white background a red triangle goes off into the distance", "red", "triangle", "receding", "white"),
    ("a green circle zooming out on a black background", "green", "circle", "receding", "black"),
    ("an orange triangle retreating, dark blue backdrop", "orange", "triangle", "receding", "dark blue"),
    ("yellow box going off from us, gray background", "yellow", "square", "receding", "gray"),
)
