"""Reading files: encodings, .jsonl lines, and skip reasons that name the file and line."""

import json

from assistant.ingest.loading import SourceDocument, Skipped, decode_bytes, read_file


def test_utf8_with_bom_and_gbk_decode_to_the_same_text():
    text = "沁水县处罚金额共计394.179万元。"
    assert decode_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))[0] == text
    assert decode_bytes(text.encode("gbk"))[0] == text
    assert decode_bytes(text.encode("gb18030"))[0] == text


def test_binary_file_is_skipped_with_its_name_and_reason(tmp_path):
    path = tmp_path / "photo.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    items = list(read_file(path))
    assert len(items) == 1 and isinstance(items[0], Skipped)
    assert "photo.txt" in str(items[0]) and "二进制" in items[0].reason


def test_jsonl_keeps_extra_fields_and_reports_bad_lines_by_number(tmp_path):
    path = tmp_path / "docs.jsonl"
    lines = [
        json.dumps({"id": "a1", "title": "标题", "text": "第一篇正文。", "date": "2025-04-01", "tags": ["x"]}, ensure_ascii=False),
        "{not json",
        json.dumps({"id": "a3"}, ensure_ascii=False),
        json.dumps({"id": "a4", "text": "第四篇。"}, ensure_ascii=False),
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    items = list(read_file(path))
    docs = [i for i in items if isinstance(i, SourceDocument)]
    skipped = [i for i in items if isinstance(i, Skipped)]
    assert [d.doc_id for d in docs] == ["a1", "a4"]
    assert docs[0].title == "标题" and docs[0].metadata["date"] == "2025-04-01"
    assert [s.line for s in skipped] == [2, 3]
    assert str(skipped[0]).startswith(f"{path}:2:")
