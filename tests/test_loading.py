"""Reading files: encodings, .jsonl lines, and skip reasons that name the file and line."""

import json
from pathlib import Path

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


def test_an_image_header_that_decodes_as_chinese_is_still_not_a_document(tmp_path):
    path = tmp_path / "photo.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n")  # 8 bytes: no NUL, and GB18030 reads it as "塒NG"
    (item,) = read_file(path)
    assert isinstance(item, Skipped) and "PNG" in item.reason
    control = tmp_path / "control.txt"
    control.write_bytes("沁水县".encode() + b"\x1a\x1b\x02\x03\x04\x05" * 20)
    (item,) = read_file(control)
    assert isinstance(item, Skipped) and "二进制" in item.reason


def test_an_invalid_byte_costs_its_line_not_the_file(tmp_path):
    txt = tmp_path / "report.txt"
    txt.write_bytes("第一行：沁水县处罚金额394.179万元。\n".encode() + b"\xff\xfe broken\n" + "第三行：阳城县38微克。\n".encode())
    items = list(read_file(txt))
    (doc,) = [i for i in items if isinstance(i, SourceDocument)]
    assert "394.179万元" in doc.text and "阳城县38微克" in doc.text
    assert [(s.line, "字节" in s.reason) for s in items if isinstance(s, Skipped)] == [(2, True)]
    jsonl = tmp_path / "docs.jsonl"
    good = [json.dumps({"id": f"a{i}", "text": f"第{i}篇正文。"}, ensure_ascii=False).encode() for i in (1, 3)]
    jsonl.write_bytes(good[0] + b"\n" + b'{"id": "a2", "text": "\xff\xfe"}\n' + good[1] + b"\n")
    items = list(read_file(jsonl))
    assert [d.doc_id for d in items if isinstance(d, SourceDocument)] == ["a1", "a3"]
    assert [s.line for s in items if isinstance(s, Skipped)] == [2]


def test_a_named_pipe_is_skipped_by_name_instead_of_blocking(tmp_path):
    import os

    from assistant.ingest.loading import discover

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.txt").write_text("正文。", encoding="utf-8")
    os.mkfifo(folder / "pipe.txt")
    files, skipped = discover([folder, folder / "pipe.txt"])
    assert [f.name for f in files] == ["good.txt"]
    assert [Path(s.source).name for s in skipped] == ["pipe.txt", "pipe.txt"] and "命名管道" in skipped[0].reason
