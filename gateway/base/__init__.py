"""The floor: what every layer above the spine may use, importing only the spine.

``hooks`` is where features and upper layers register what the lower ones call (start-up
tasks, warm-ups, journal pruners, counter operations, extra pipeline jobs), so that no
lower package ever imports an upper one. See docs/architecture.md, "The house"."""
