"""Dataset files: JSONL and CSV rows, and bad files refused whole with the line named."""

from __future__ import annotations

import json

import pytest

from console.evals import datasets
from console.evals.models import Dataset, DatasetRow
from console.evals.parsing import MAX_BYTES, DatasetError, parse_csv, parse_file, parse_jsonl


def test_jsonl_prompt_messages_system_reference_metadata() -> None:
    data = "\n".join(
        [
            json.dumps({"prompt": "2+2?", "reference": "4", "metadata": {"topic": "math"}}),
            "",
            json.dumps(
                {
                    "messages": [
                        {"role": "system", "content": "Be terse."},
                        {"role": "user", "content": "hi"},
                        {"role": "assistant", "content": "hello"},
                        {"role": "user", "content": "bye"},
                    ],
                    "answer": "bye",
                    "lang": "en",
                }
            ),
        ]
    ).encode()
    rows = parse_jsonl(data)
    assert [r.messages[-1]["content"] for r in rows] == ["2+2?", "bye"]
    assert rows[0].reference == "4" and rows[0].metadata == {"topic": "math"}
    assert rows[1].system == "Be terse." and len(rows[1].messages) == 3
    assert rows[1].reference == "bye" and rows[1].metadata == {"lang": "en"}


def test_csv_with_header_and_quoted_commas() -> None:
    data = b'prompt,reference,system,metadata,topic\n"Say ""a, b""",a,Be nice,"{""k"": 1}",x\nsecond,,,,\n'
    rows = parse_csv(data)
    assert rows[0].messages == [{"role": "user", "content": 'Say "a, b"'}]
    assert rows[0].system == "Be nice" and rows[0].metadata == {"k": 1, "topic": "x"}
    assert rows[1].reference == ""


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("d.jsonl", b'{"prompt": "a"}\n{"prompt": "b"\n', "line 2: not valid JSON"),
        (
            "d.jsonl",
            b'{"prompt": "a"}\n\n{"reference": "x"}\n',
            "line 3: needs a 'prompt', 'messages' or 'input'",
        ),
        ("d.jsonl", b"[1, 2]\n", "line 1: expected a JSON object"),
        (
            "d.jsonl",
            b'{"messages": [{"role": "robot", "content": "x"}]}\n',
            "line 1: message 1 has role",
        ),
        (
            "d.jsonl",
            b'{"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]}',
            "line 1: the last message must be the user's",
        ),
        ("d.csv", b"question,answer\nx,y\n", "line 1: the header needs a 'prompt'"),
        ("d.csv", b"prompt,reference\nok,1\nbad,2,extra\n", "line 3: more fields than the header"),
        ("d.csv", b'prompt,metadata\nok,"{not json"\n', "line 2: metadata is not JSON"),
        ("d.jsonl", b"", "the file holds no rows"),
        ("d.jsonl", b'{"prompt": "a"}\n\xff\xfe\n', "line 2: not UTF-8"),
    ],
)
def test_bad_files_name_the_line(name: str, data: bytes, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        parse_file(name, data)


def test_fifty_megabytes_refused_with_a_clear_error() -> None:
    data = b'{"prompt": "x"}\n' * (MAX_BYTES // 16 + 1)
    assert len(data) >= MAX_BYTES
    with pytest.raises(DatasetError, match=r"the limit is 50 MB"):
        parse_jsonl(data)


@pytest.mark.django_db
def test_nothing_half_imported_and_edits_make_versions(staff_client) -> None:
    bad = b'{"prompt": "one"}\n{"prompt": "two"}\n{"prompt": \n'
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = staff_client.post(
        "/evals/datasets/upload/",
        {"file": SimpleUploadedFile("d.jsonl", bad), "name": "half"},
        follow=True,
    )
    assert b"line 3: not valid JSON" in response.content
    assert not Dataset.objects.exists() and not DatasetRow.objects.exists()

    good = b'{"prompt": "one", "reference": "1"}\n{"prompt": "two", "reference": "2"}\n'
    response = staff_client.post(
        "/evals/datasets/upload/", {"file": SimpleUploadedFile("d.jsonl", good), "name": "nums"}
    )
    dataset = Dataset.objects.get(name="nums")
    assert response.status_code == 302 and dataset.version == 1
    response = staff_client.post(
        f"/evals/datasets/{dataset.pk}/rows/1/",
        {
            "messages": '[{"role": "user", "content": "TWO"}]',
            "reference": "2",
            "system": "",
            "metadata": "{}",
        },
    )
    assert response.status_code == 302
    dataset.refresh_from_db()
    assert dataset.version == 2
    assert [r.prompt() for r in dataset.rows()] == ["one", "TWO"]
    assert [r.prompt() for r in dataset.rows(1)] == ["one", "two"]  # the old version stays
    with pytest.raises(DatasetError, match="row 0: messages is not a JSON list"):
        datasets.edit_row(dataset, 0, {"messages": "[oops"})
    dataset.refresh_from_db()
    assert dataset.version == 2


@pytest.mark.django_db
def test_api_upload_all_or_nothing(staff_client) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    bad = SimpleUploadedFile("rows.csv", b"prompt,reference\nfine,1\n")
    bad_jsonl = SimpleUploadedFile(
        "rows.jsonl", b'{"prompt": "a"}\n{"prompt": "b", "metadata": [1]}\n'
    )
    response = staff_client.post("/api/datasets/upload", {"file": bad_jsonl})
    assert (
        response.status_code == 422
        and response.json()["detail"] == "line 2: metadata must be an object"
    )
    assert not Dataset.objects.exists()
    response = staff_client.post("/api/datasets/upload", {"file": bad, "name": "csv-one"})
    assert response.status_code == 201 and response.json()["rows"] == 1
    pk = response.json()["id"]
    edited = staff_client.put(
        f"/api/datasets/{pk}/rows/0",
        {"row": {"prompt": "changed"}},
        content_type="application/json",
    )
    assert edited.status_code == 200 and edited.json()["version"] == 2
    rows = staff_client.get(f"/api/datasets/{pk}/rows?version=1").json()
    assert rows["rows"][0]["messages"][0]["content"] == "fine"
    assert staff_client.delete(f"/api/datasets/{pk}").status_code == 204


def deeply_nested_row(depth: int) -> bytes:
    """A JSONL line whose metadata holds lists nested ``depth`` levels deep."""
    return b'{"prompt": "x", "metadata": {"deep": ' + b"[" * depth + b"]" * depth + b"}}\n"


@pytest.mark.parametrize("depth", [40, 100_000])  # parsed, but too deep; past the parser
def test_deeply_nested_json_is_a_clear_error(depth: int) -> None:
    with pytest.raises(DatasetError, match=r"line 2: .*nested more than 32 levels deep"):
        parse_jsonl(b'{"prompt": "fine"}\n' + deeply_nested_row(depth))


@pytest.mark.parametrize(
    ("depth", "error"),
    [(40, "metadata: nested more than 32 levels deep"), (5000, "metadata is not JSON")],
)
def test_deeply_nested_csv_metadata_is_a_clear_error(depth: int, error: str) -> None:
    csv_data = b'prompt,metadata\nx,"{""a"": ' + b"[" * depth + b"]" * depth + b'}"\n'
    with pytest.raises(DatasetError, match=f"line 2: {error}"):
        parse_csv(csv_data)


def test_nesting_within_the_limit_is_kept() -> None:
    (row,) = parse_jsonl(deeply_nested_row(30))
    assert row.metadata["deep"] == eval("[" * 30 + "]" * 30)  # noqa: S307


@pytest.mark.django_db
def test_a_deeply_nested_upload_is_refused_and_nothing_saved(staff_client) -> None:
    """Was a 500 (RecursionError) on both the console and the API."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = b'{"prompt": "fine"}\n' + deeply_nested_row(100_000)
    response = staff_client.post(
        "/evals/datasets/upload/",
        {"file": SimpleUploadedFile("d.jsonl", data), "name": "deep"},
        follow=True,
    )
    assert response.status_code == 200
    assert b"line 2: not valid JSON (nested more than 32 levels deep)" in response.content
    response = staff_client.post(
        "/api/datasets/upload", {"file": SimpleUploadedFile("d.jsonl", data), "name": "deep"}
    )
    assert response.status_code == 422
    assert response.json()["detail"] == "line 2: not valid JSON (nested more than 32 levels deep)"
    assert not Dataset.objects.exists() and not DatasetRow.objects.exists()


@pytest.mark.parametrize(
    ("line", "messages", "reference"),
    [
        # Langfuse: input / expected_output
        ({"input": "What is 2+2?", "expected_output": "4"}, [("user", "What is 2+2?")], "4"),
        # OpenAI evals: input as chat messages, ideal as one answer or several
        (
            {
                "input": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Capital of France?"},
                ],
                "ideal": ["Paris", "paris"],
            },
            [("user", "Capital of France?")],
            "Paris",
        ),
        ({"input": "Say hi", "ideal": "hi"}, [("user", "Say hi")], "hi"),
        # input / expected, and input as an object holding messages
        (
            {"input": {"messages": [{"role": "user", "content": "x?"}]}, "expected": "y"},
            [("user", "x?")],
            "y",
        ),
    ],
)
def test_other_tools_field_names_are_read(line, messages, reference) -> None:
    (row,) = parse_file("d.jsonl", json.dumps(line).encode())
    assert [(m["role"], m["content"]) for m in row.messages] == messages
    assert row.reference == reference
    assert "input" not in row.metadata and "expected_output" not in row.metadata
    if isinstance(line.get("ideal"), list):
        assert row.system == "Be brief." and row.metadata["ideal"] == ["Paris", "paris"]


def test_a_csv_with_input_and_expected_output_columns() -> None:
    rows = parse_file("d.csv", b"input,expected_output\nHello?,Hi\n")
    assert rows[0].messages == [{"role": "user", "content": "Hello?"}]
    assert rows[0].reference == "Hi"
