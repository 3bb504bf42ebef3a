"""Every prompt, its versions and labels read into the snapshot's ``PromptEntry``s (the
request path's only source), tolerant of rows a hand edit left odd."""

from __future__ import annotations

from gateway.access import registry
from gateway.features.prompts import snapshot, versions
from gateway.models.prompts import Prompt, PromptVersion


def test_the_snapshot_loads_prompts_versions_and_labels(db) -> None:
    prompt, _ = versions.create("greet", versions.draft("Hello {{name}}"), labels=("production",))
    versions.add_version(prompt, versions.draft([{"role": "system", "content": "Hi {{ name }}!"}],
                                                 model="m", params={"temperature": 0.5}))  # fmt: skip
    snap = registry.rebuild()
    entry = snap.parts["prompts"]["greet"]
    assert set(entry.versions) == {1, 2} and entry.labels == {"production": 1}
    assert entry.pick().number == 1 and entry.versions[2].variables == ("name",)
    assert entry.versions[2].params == {"temperature": 0.5}


def test_odd_rows_are_read_as_empty_and_a_prompt_without_versions_is_kept(db) -> None:
    bare = Prompt.objects.create(name="bare")
    odd = Prompt.objects.create(name="odd")
    PromptVersion.objects.create(
        prompt=odd, number=1, messages={"role": "user"}, variables=[], params=[1],
        tools=[{"name": "t"}, "not a tool"],
    )  # fmt: skip
    PromptVersion.objects.create(
        prompt=odd, number=2, messages=[{"role": "user", "content": "x"}, "stray"],
        variables=["a", 3],
    )  # fmt: skip
    loaded = snapshot.load()
    assert loaded["bare"].versions == {} and loaded["bare"].labels == {}
    first, second = loaded["odd"].versions[1], loaded["odd"].versions[2]
    assert first.messages == () and first.variables == () and first.params == {}
    assert first.tools == ({"name": "t"},)
    assert second.messages == ({"role": "user", "content": "x"},)
    assert second.variables == ("a", "3")
    assert bare.pk != odd.pk and loaded["odd"].pick() is second  # no label: the newest
